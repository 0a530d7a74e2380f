//! The two names of the scheme.

use core::fmt;

/// The authentication scheme: `L402`, or `LSAT`, its name before 2023.
///
/// Scheme names are case-insensitive (RFC 9110 §11.1); we always write them upper-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// `L402`, the current name.
    L402,
    /// `LSAT`, the legacy name, still sent first by Aperture.
    Lsat,
}

impl Scheme {
    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::L402 => "L402",
            Scheme::Lsat => "LSAT",
        }
    }

    /// Recognises either name in any case.
    pub fn from_name(name: &str) -> Option<Scheme> {
        if name.eq_ignore_ascii_case("L402") {
            Some(Scheme::L402)
        } else if name.eq_ignore_ascii_case("LSAT") {
            Some(Scheme::Lsat)
        } else {
            None
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
