//! The one error type of this crate, with a stable machine code per variant.

use core::fmt;

/// Everything that can go wrong decoding or verifying a token.
///
/// [`Error::code`] is the stable, machine-readable name used in spec vectors, CLI output and
/// HTTP responses; `Display` is for humans and may change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The text form is not base64 in an accepted alphabet and padding.
    MalformedText(TextError),
    /// The bytes are not a well-formed V2 (or V1) macaroon.
    MalformedMacaroon(FormatError),
    /// The identifier is shorter than its version field, or a version-0 identifier is not
    /// exactly 66 bytes.
    MalformedIdentifier {
        /// Length of the identifier that was seen.
        len: usize,
    },
    /// The identifier names a version other than 0.
    UnknownIdentifierVersion(u16),
    /// The preimage is not exactly 64 hex digits.
    MalformedPreimage,
    /// `sha256(preimage)` is not the payment hash in the identifier.
    WrongPreimage,
    /// The HMAC chain under the root key does not end in the macaroon's signature.
    InvalidSignature,
    /// The macaroon has a third-party caveat, and no discharge macaroon was supplied.
    MissingDischarge,
}

impl Error {
    /// The stable code for this error, as used in spec vectors and on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            // Text and binary failures share one code: for a caller both mean "not a token".
            Error::MalformedText(_) | Error::MalformedMacaroon(_) => "malformed-macaroon",
            Error::MalformedIdentifier { .. } => "malformed-identifier",
            Error::UnknownIdentifierVersion(_) => "unknown-identifier-version",
            Error::MalformedPreimage => "malformed-preimage",
            Error::WrongPreimage => "wrong-preimage",
            Error::InvalidSignature => "invalid-signature",
            Error::MissingDischarge => "missing-discharge",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MalformedText(e) => write!(f, "macaroon text is not accepted base64: {e}"),
            Error::MalformedMacaroon(e) => write!(f, "malformed macaroon: {e}"),
            Error::MalformedIdentifier { len } => {
                write!(f, "malformed L402 identifier: {len} bytes, version 0 needs 66")
            }
            Error::UnknownIdentifierVersion(v) => write!(f, "unknown L402 identifier version {v}"),
            Error::MalformedPreimage => f.write_str("preimage is not 64 hex digits"),
            Error::WrongPreimage => f.write_str("sha256(preimage) does not match the payment hash"),
            Error::InvalidSignature => f.write_str("macaroon signature does not verify"),
            Error::MissingDischarge => {
                f.write_str("macaroon has a third-party caveat and no discharge was supplied")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::MalformedText(e) => Some(e),
            Error::MalformedMacaroon(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::MalformedMacaroon(e)
    }
}

impl From<TextError> for Error {
    fn from(e: TextError) -> Self {
        Error::MalformedText(e)
    }
}

/// Why a text form was refused. See `docs/decisions/0002-base64-forms.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextError {
    /// No characters at all.
    Empty,
    /// Longer than the decoder's size limit allows.
    TooLong,
    /// Both `+/` and `-_` appear: no peer writes that, so it is refused as ambiguous.
    MixedAlphabet,
    /// A character outside both base64 alphabets (whitespace included).
    InvalidCharacter,
    /// Padding is present but not canonical, or the length is impossible.
    BadPadding,
    /// The last character carries bits that a canonical encoder leaves zero.
    NonCanonical,
    /// Hex text (for the `Macaroon` header forms) with an odd length or a non-hex digit.
    InvalidHex,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextError::Empty => "empty",
            TextError::TooLong => "longer than the size limit",
            TextError::MixedAlphabet => "mixes the standard and url-safe alphabets",
            TextError::InvalidCharacter => "character outside the base64 alphabet",
            TextError::BadPadding => "bad padding or length",
            TextError::NonCanonical => "non-canonical trailing bits",
            TextError::InvalidHex => "not an even number of hex digits",
        })
    }
}

impl std::error::Error for TextError {}

/// Why a binary macaroon was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// No bytes at all.
    Empty,
    /// The first byte is neither `0x02` (V2) nor an ASCII hex digit (V1).
    UnknownVersion(u8),
    /// The input ends inside a field, a section or before the signature.
    Truncated,
    /// Bytes follow the signature.
    TrailingBytes,
    /// A varint is longer than needed, or exceeds `0x7fffffff` (Go's limit).
    BadVarint,
    /// A field type that is not allowed where it appears, or fields out of order.
    UnexpectedField(u64),
    /// A section has no identifier field.
    MissingIdentifier,
    /// A first-party caveat carries a location (Go rejects this too).
    LocationInFirstPartyCaveat,
    /// The signature is not 32 bytes.
    BadSignatureLength(usize),
    /// A field is longer than [`Limits::max_field_len`](crate::Limits::max_field_len).
    FieldTooLong,
    /// More caveats than [`Limits::max_caveats`](crate::Limits::max_caveats).
    TooManyCaveats,
    /// The whole macaroon is longer than [`Limits::max_len`](crate::Limits::max_len).
    TooLong,
    /// A V1 packet header or body is malformed.
    BadPacket,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Empty => f.write_str("no bytes"),
            FormatError::UnknownVersion(b) => write!(f, "unknown format byte {b:#04x}"),
            FormatError::Truncated => f.write_str("truncated"),
            FormatError::TrailingBytes => f.write_str("bytes after the signature"),
            FormatError::BadVarint => f.write_str("non-minimal or oversized varint"),
            FormatError::UnexpectedField(t) => write!(f, "unexpected field type {t}"),
            FormatError::MissingIdentifier => f.write_str("section without an identifier"),
            FormatError::LocationInFirstPartyCaveat => {
                f.write_str("location not allowed in a first-party caveat")
            }
            FormatError::BadSignatureLength(n) => write!(f, "signature is {n} bytes, not 32"),
            FormatError::FieldTooLong => f.write_str("field longer than the limit"),
            FormatError::TooManyCaveats => f.write_str("more caveats than the limit"),
            FormatError::TooLong => f.write_str("macaroon longer than the limit"),
            FormatError::BadPacket => f.write_str("malformed v1 packet"),
        }
    }
}

impl std::error::Error for FormatError {}
