//! The one error type of this crate, with a stable machine code per variant.

use core::fmt;

/// Everything that can go wrong reading or writing L402 headers.
///
/// [`Error::code`] is the stable, machine-readable name used in spec vectors, CLI output and
/// logs; `Display` is for humans and may change. Token-level failures (an undecodable
/// macaroon, a preimage that is not 64 hex digits) keep the token crate's error and code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A `WWW-Authenticate` field value is not an RFC 9110 challenge list.
    MalformedChallenge {
        /// Byte offset in the field value where parsing stopped.
        offset: usize,
    },
    /// A parameter occurs twice in one challenge (`macaroon` and `token` count as one name
    /// unless both carry the same value).
    DuplicateParameter(String),
    /// An L402/LSAT challenge lacks its `macaroon` (or `token`) or `invoice` parameter.
    MissingParameter(&'static str),
    /// An L402/LSAT challenge names a `version` other than `"0"`.
    UnsupportedVersion(String),
    /// A value cannot be written as an HTTP field value (control characters).
    UnencodableValue,
    /// An `Authorization` value (or an Aperture alternate header) is not an L402 credential.
    MalformedCredential(&'static str),
    /// A credential lists several macaroons that are not one token's (their identifiers
    /// differ), or more than [`MAX_MACAROONS`](crate::MAX_MACAROONS); see decision 0402.
    MultipleMacaroons(usize),
    /// Several credential values were sent and they do not name the same macaroon and
    /// preimage.
    ConflictingCredentials,
    /// No L402 credential in any of the places we look.
    MissingCredential,
    /// A hex-macaroon credential has no `preimage=` caveat.
    MissingPreimage,
    /// No L402 or LSAT challenge among the challenges offered.
    MissingChallenge,
    /// A field value is longer than [`Limits::max_field_len`](crate::Limits::max_field_len).
    HeaderTooLarge {
        /// Length of the value that was seen.
        len: usize,
    },
    /// More field lines than [`Limits::max_fields`](crate::Limits::max_fields).
    TooManyHeaders {
        /// Number of lines that were seen.
        count: usize,
    },
    /// A `grpc-status-details-bin` value is not a `google.rpc.Status` carrying an L402
    /// challenge.
    MalformedStatusDetails(&'static str),
    /// A token-level failure: the macaroon or the preimage.
    Token(l402_token::Error),
}

impl Error {
    /// The stable code for this error, as used in spec vectors and on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MalformedChallenge { .. } => "malformed-challenge",
            Error::DuplicateParameter(_) => "duplicate-parameter",
            Error::MissingParameter(_) => "missing-parameter",
            Error::UnsupportedVersion(_) => "unsupported-version",
            Error::UnencodableValue => "unencodable-value",
            Error::MalformedCredential(_) => "malformed-credential",
            Error::MultipleMacaroons(_) => "multiple-macaroons",
            Error::ConflictingCredentials => "conflicting-credentials",
            Error::MissingCredential => "missing-credential",
            Error::MissingPreimage => "missing-preimage",
            Error::MissingChallenge => "missing-challenge",
            Error::HeaderTooLarge { .. } => "header-too-large",
            Error::TooManyHeaders { .. } => "too-many-headers",
            Error::MalformedStatusDetails(_) => "malformed-status-details",
            Error::Token(e) => e.code(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MalformedChallenge { offset } => {
                write!(f, "malformed challenge list at byte {offset}")
            }
            Error::DuplicateParameter(p) => write!(f, "parameter {p:?} occurs more than once"),
            Error::MissingParameter(p) => write!(f, "challenge has no {p} parameter"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported challenge version {v:?}"),
            Error::UnencodableValue => f.write_str("value cannot be written in an http field"),
            Error::MalformedCredential(why) => write!(f, "malformed credential: {why}"),
            Error::MultipleMacaroons(n) => {
                write!(
                    f,
                    "credential lists {n} macaroons that are not attenuations of one token \
                     (or more than {})",
                    crate::credential::MAX_MACAROONS
                )
            }
            Error::ConflictingCredentials => {
                f.write_str("several credentials were sent and they disagree")
            }
            Error::MissingCredential => f.write_str("no l402 credential in the request"),
            Error::MissingPreimage => f.write_str("macaroon has no preimage= caveat"),
            Error::MissingChallenge => f.write_str("no l402 or lsat challenge offered"),
            Error::HeaderTooLarge { len } => write!(f, "header field of {len} bytes is too large"),
            Error::TooManyHeaders { count } => write!(f, "{count} header fields are too many"),
            Error::MalformedStatusDetails(why) => {
                write!(f, "malformed grpc-status-details-bin: {why}")
            }
            Error::Token(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Token(e) => Some(e),
            _ => None,
        }
    }
}

impl From<l402_token::Error> for Error {
    fn from(e: l402_token::Error) -> Self {
        Error::Token(e)
    }
}
