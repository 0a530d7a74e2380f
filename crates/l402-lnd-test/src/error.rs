//! The test server's one error type.

use core::fmt;

/// Starting or restarting a test node failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Binding or serving on loopback failed.
    Io(std::io::Error),
    /// Generating the certificate or configuring TLS failed.
    Tls(String),
    /// The embedded dev node refused.
    Lightning(l402_lightning::Error),
}

impl Error {
    /// A stable code: `io`, `tls` or the dev node's own code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io(_) => "io",
            Error::Tls(_) => "tls",
            Error::Lightning(e) => e.code(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "test lnd i/o: {e}"),
            Error::Tls(e) => write!(f, "test lnd tls: {e}"),
            Error::Lightning(e) => write!(f, "test lnd node: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Lightning(e) => Some(e),
            Error::Tls(_) => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<l402_lightning::Error> for Error {
    fn from(e: l402_lightning::Error) -> Self {
        Error::Lightning(e)
    }
}
