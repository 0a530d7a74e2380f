//! The one error type of this crate, with a stable machine code per variant.

use core::fmt;
use std::net::IpAddr;

/// Why a caveat list was refused, or why an attenuation was refused.
///
/// [`Error::code`] is the stable, machine-readable name used in spec vectors, CLI output and
/// (through the server) on the wire; `Display` is for humans and may change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A later caveat widens an earlier caveat with the same condition (or an attenuation
    /// helper was asked to add such a caveat). Code `caveat-escalation`.
    Escalation {
        /// Position of the widening caveat among the first-party caveats.
        index: usize,
        /// Its condition (lossy UTF-8).
        condition: String,
    },
    /// The value of a known condition does not decode. Code `malformed-caveat`.
    Malformed {
        /// Position of the caveat among the first-party caveats, when it came from a token.
        index: Option<usize>,
        /// Its condition (lossy UTF-8).
        condition: String,
        /// What is wrong with the value.
        reason: &'static str,
    },
    /// Strict mode: a caveat that no registered satisfier judges. Code `unknown-caveat`.
    Unknown {
        /// Position of the caveat among the first-party caveats.
        index: usize,
        /// Its condition, or the whole caveat when it has no `=` (lossy UTF-8).
        condition: String,
    },
    /// The target service is not in the `services` caveat. Code `wrong-service`.
    WrongService {
        /// The service the request is for.
        service: String,
    },
    /// The named capability is not in the service's capabilities caveat. Code
    /// `wrong-capability`.
    WrongCapability {
        /// The service whose caveat refused.
        service: String,
        /// The capability the request needs.
        capability: String,
    },
    /// The service's capabilities caveat names capabilities, and the request names none: a
    /// narrowing the server cannot judge is refused, not skipped (decision 0306). Code
    /// `missing-capability`.
    MissingCapability {
        /// The service whose caveat refused.
        service: String,
    },
    /// A `<service>_valid_until` or `expires_at` caveat has passed. Code `expired`.
    Expired {
        /// The condition that expired.
        condition: String,
        /// The first second at which the token is no longer valid (Unix seconds).
        deadline: i64,
    },
    /// The request method is not in the `methods` caveat. Code `wrong-method`.
    WrongMethod {
        /// The request's method.
        method: String,
    },
    /// The request path does not start with the `path_prefix` caveat. Code `wrong-path`.
    WrongPath {
        /// The request's path.
        path: String,
    },
    /// The client address is in none of the `client_ip` caveat's networks. Code
    /// `wrong-client`.
    WrongClient {
        /// The client's address.
        client: IpAddr,
    },
    /// The server reports as many prior uses as the `max_uses` caveat allows. Code
    /// `uses-exhausted`.
    UsesExhausted {
        /// The effective allowance.
        allowance: u64,
        /// Prior uses reported by the server.
        used: u64,
    },
    /// A satisfier registered by the server refused; the code is the satisfier's.
    Rejected {
        /// The condition of the refusing satisfier.
        condition: String,
        /// The satisfier's stable code.
        code: &'static str,
        /// The satisfier's explanation.
        reason: String,
    },
}

impl Error {
    /// The stable code for this error, as used in spec vectors and on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Escalation { .. } => "caveat-escalation",
            Error::Malformed { .. } => "malformed-caveat",
            Error::Unknown { .. } => "unknown-caveat",
            Error::WrongService { .. } => "wrong-service",
            Error::WrongCapability { .. } => "wrong-capability",
            Error::MissingCapability { .. } => "missing-capability",
            Error::Expired { .. } => "expired",
            Error::WrongMethod { .. } => "wrong-method",
            Error::WrongPath { .. } => "wrong-path",
            Error::WrongClient { .. } => "wrong-client",
            Error::UsesExhausted { .. } => "uses-exhausted",
            Error::Rejected { code, .. } => code,
        }
    }

    /// Every code a built-in check can produce (custom satisfiers add their own).
    pub const CODES: &'static [&'static str] = &[
        "caveat-escalation",
        "malformed-caveat",
        "unknown-caveat",
        "wrong-service",
        "wrong-capability",
        "missing-capability",
        "expired",
        "wrong-method",
        "wrong-path",
        "wrong-client",
        "uses-exhausted",
    ];
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Escalation { index, condition } => {
                write!(f, "caveat {index} ({condition}) widens an earlier caveat")
            }
            Error::Malformed { index: Some(i), condition, reason } => {
                write!(f, "caveat {i} ({condition}) is malformed: {reason}")
            }
            Error::Malformed { index: None, condition, reason } => {
                write!(f, "caveat {condition} is malformed: {reason}")
            }
            Error::Unknown { index, condition } => {
                write!(f, "caveat {index} ({condition}) has no satisfier (strict mode)")
            }
            Error::WrongService { service } => {
                write!(f, "service {service:?} is not allowed by the token")
            }
            Error::WrongCapability { service, capability } => {
                write!(f, "capability {capability:?} of service {service:?} is not allowed")
            }
            Error::MissingCapability { service } => write!(
                f,
                "the token allows only some capabilities of service {service:?}, and the request names none"
            ),
            Error::Expired { condition, deadline } => {
                write!(f, "token expired ({condition}, valid before unix {deadline})")
            }
            Error::WrongMethod { method } => write!(f, "method {method:?} is not allowed"),
            Error::WrongPath { path } => write!(f, "path {path:?} is not allowed"),
            Error::WrongClient { client } => write!(f, "client {client} is not allowed"),
            Error::UsesExhausted { allowance, used } => {
                write!(f, "token used {used} times, allowance is {allowance}")
            }
            Error::Rejected { condition, code, reason } => {
                write!(f, "caveat {condition} refused ({code}): {reason}")
            }
        }
    }
}

impl std::error::Error for Error {}
