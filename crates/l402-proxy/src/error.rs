//! The crate's one error type.

use core::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop the proxy from starting or serving.
///
/// Failures while serving one request never surface as an `Error`: they become an HTTP
/// status for that request (see `docs/proxy.md`), so this type is about configuration and
/// start-up. Each variant has a stable [`Error::code`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file is not valid TOML, or does not fit the schema.
    ConfigSyntax(String),
    /// A configuration value is out of range or inconsistent; `key` names it exactly
    /// (`services[1].price_msat`, or the environment variable that set it).
    Config {
        /// The key at fault.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// A file named by the configuration could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The data directory could not be created, or is open to group or others and could not
    /// be tightened (decision 0810).
    DataDir {
        /// The directory or file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// Certificates or keys could not be loaded, or TLS could not be set up.
    Tls {
        /// The PEM file at fault, when one is.
        path: Option<PathBuf>,
        /// What went wrong.
        source: TlsError,
    },
    /// The Lightning backend refused to start.
    Lightning(l402_lightning::Error),
    /// The L402 server library (mint, verifier or store) failed.
    Server(l402_server::Error),
}

/// Why TLS could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    Pem(rustls::pki_types::pem::Error),
    /// The certificate file holds no certificate.
    NoCertificates,
    /// rustls refused the configuration (a certificate, a key, a protocol version).
    Rustls(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem(e) => write!(f, "{e}"),
            TlsError::NoCertificates => f.write_str("no certificates"),
            TlsError::Rustls(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Pem(e) => Some(e),
            TlsError::NoCertificates => None,
            TlsError::Rustls(e) => Some(e),
        }
    }
}

impl Error {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ConfigSyntax(_) => "config-syntax",
            Error::Config { .. } => "config-invalid",
            Error::Read { .. } => "read-failed",
            Error::DataDir { .. } => "data-dir",
            Error::Bind { .. } => "bind-failed",
            Error::Tls { .. } => "tls",
            Error::Lightning(_) => "lightning",
            Error::Server(_) => "server",
        }
    }

    pub(crate) fn config(key: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Config { key: key.into(), reason: reason.into() }
    }

    /// A TLS failure, of the PEM file at `path` when there is one.
    pub(crate) fn tls(path: Option<&std::path::Path>, source: TlsError) -> Error {
        Error::Tls { path: path.map(PathBuf::from), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ConfigSyntax(m) => write!(f, "invalid configuration: {m}"),
            Error::Config { key, reason } => write!(f, "{key}: {reason}"),
            Error::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Error::DataDir { path, source } => write!(f, "data_dir {}: {source}", path.display()),
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Tls { path: Some(p), source } => write!(f, "tls: {}: {source}", p.display()),
            Error::Tls { path: None, source } => write!(f, "tls: {source}"),
            Error::Lightning(e) => write!(f, "lightning backend: {e}"),
            Error::Server(e) => write!(f, "l402 server: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. }
            | Error::DataDir { source, .. }
            | Error::Bind { source, .. } => Some(source),
            Error::Lightning(e) => Some(e),
            Error::Tls { source, .. } => Some(source),
            Error::Server(e) => Some(e),
            Error::ConfigSyntax(_) | Error::Config { .. } => None,
        }
    }
}

impl From<l402_server::Error> for Error {
    fn from(e: l402_server::Error) -> Error {
        Error::Server(e)
    }
}

impl From<l402_lightning::Error> for Error {
    fn from(e: l402_lightning::Error) -> Error {
        Error::Lightning(e)
    }
}
