//! The one error type of this crate, with a stable machine code per variant.

use core::fmt;

/// Everything that can refuse a request or fail a server operation.
///
/// [`Error::code`] is the stable, machine-readable name sent in problem bodies and used in
/// logs; lower crates' errors are wrapped and keep their own codes. How each error reaches the
/// wire (402 + fresh challenge, 401, 429 or 503) is decided in exactly one place,
/// [`crate::tower::Disposition`] (decision 0602).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The request's headers hold no usable credential, or a malformed one.
    Http(l402_http::Error),
    /// The token itself: malformed macaroon or identifier, wrong preimage, bad signature.
    Token(l402_token::Error),
    /// A caveat refused the request (expired, wrong service, uses exhausted, …).
    Caveat(l402_caveats::Error),
    /// No root key is known for this token: never minted here, pruned while unpaid, or its
    /// key id was rotated out. Code `unknown-token`.
    UnknownToken,
    /// The token was revoked. Code `revoked`.
    Revoked,
    /// A caveat needs a fact about the request this server does not know (the client's
    /// address, when the operator opted out of them): it never passes unjudged. Code
    /// `unverifiable-caveat`.
    Unverifiable {
        /// The caveat's condition.
        condition: String,
    },
    /// The layer found no client address on the request (no `ConnectInfo`, no
    /// [`PeerAddr`](crate::tower::PeerAddr)) and the operator did not opt out of them: a
    /// server set-up mistake, refused rather than served with rate limits and `client_ip`
    /// caveats blind. Code `client-address-unknown`.
    NoClientAddress,
    /// The route's own `methods` caveat does not sell this request's method: no token minted
    /// for it could be used, so none is offered (405). Code `method-not-sold`.
    MethodNotSold {
        /// The request's method.
        method: String,
    },
    /// Too many challenges were asked for from this client address. Code `rate-limited`.
    RateLimited {
        /// Seconds until the current window ends.
        retry_after: u64,
    },
    /// The Lightning backend failed to create an invoice.
    Lightning(l402_lightning::Error),
    /// The pricing function failed. Code `pricing`.
    Pricing(String),
    /// The state store failed. Code `store`.
    Store(String),
    /// The configuration is unusable (no key, bad price). Code `config`.
    Config(String),
}

impl Error {
    /// The stable code for this error, as sent in problem bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Http(e) => e.code(),
            Error::Token(e) => e.code(),
            Error::Caveat(e) => e.code(),
            Error::UnknownToken => "unknown-token",
            Error::Revoked => "revoked",
            Error::Unverifiable { .. } => "unverifiable-caveat",
            Error::NoClientAddress => "client-address-unknown",
            Error::MethodNotSold { .. } => "method-not-sold",
            Error::RateLimited { .. } => "rate-limited",
            Error::Lightning(e) => e.code(),
            Error::Pricing(_) => "pricing",
            Error::Store(_) => "store",
            Error::Config(_) => "config",
        }
    }

    /// True when the client caused this error (its credential or request), false when the
    /// server or its backends did.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            Error::Lightning(_)
                | Error::Pricing(_)
                | Error::Store(_)
                | Error::Config(_)
                | Error::NoClientAddress
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Http(e) => write!(f, "{e}"),
            Error::Token(e) => write!(f, "{e}"),
            Error::Caveat(e) => write!(f, "{e}"),
            Error::UnknownToken => f.write_str("no root key is known for this token"),
            Error::Revoked => f.write_str("token was revoked"),
            Error::Unverifiable { condition } => {
                write!(f, "caveat {condition} needs a fact this server does not know")
            }
            Error::NoClientAddress => f.write_str("the request carries no client address"),
            Error::MethodNotSold { method } => write!(f, "{method} is not sold here"),
            Error::RateLimited { retry_after } => {
                write!(f, "too many challenges from this client; retry in {retry_after} s")
            }
            Error::Lightning(e) => write!(f, "lightning backend: {e}"),
            Error::Pricing(e) => write!(f, "pricing failed: {e}"),
            Error::Store(e) => write!(f, "store failed: {e}"),
            Error::Config(e) => write!(f, "bad configuration: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Http(e) => Some(e),
            Error::Token(e) => Some(e),
            Error::Caveat(e) => Some(e),
            Error::Lightning(e) => Some(e),
            _ => None,
        }
    }
}

impl From<l402_http::Error> for Error {
    fn from(e: l402_http::Error) -> Self {
        // A token failure found while reading headers is the token's, whoever found it.
        match e {
            l402_http::Error::Token(t) => Error::Token(t),
            other => Error::Http(other),
        }
    }
}

impl From<l402_token::Error> for Error {
    fn from(e: l402_token::Error) -> Self {
        Error::Token(e)
    }
}

impl From<l402_caveats::Error> for Error {
    fn from(e: l402_caveats::Error) -> Self {
        Error::Caveat(e)
    }
}

impl From<l402_lightning::Error> for Error {
    fn from(e: l402_lightning::Error) -> Self {
        Error::Lightning(e)
    }
}
