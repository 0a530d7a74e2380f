//! Text forms of a macaroon: base64 for `Authorization` and challenges, hex for the
//! `Macaroon` / `Grpc-Metadata-Macaroon` headers and gRPC metadata.
//!
//! We emit standard base64 with padding (the only form Aperture decodes). We accept both
//! alphabets, padded or not, because boltwall-era tokens are URL-safe and unpadded; we refuse
//! mixed alphabets, partial padding, whitespace and non-canonical trailing bits, so every
//! accepted string names exactly one byte string. See `docs/decisions/0002-base64-forms.md`.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use crate::TextError;

const fn engine(a: &alphabet::Alphabet, padded: bool) -> GeneralPurpose {
    let mode =
        if padded { DecodePaddingMode::RequireCanonical } else { DecodePaddingMode::RequireNone };
    GeneralPurpose::new(
        a,
        GeneralPurposeConfig::new().with_encode_padding(true).with_decode_padding_mode(mode),
    )
}

const STD_PAD: GeneralPurpose = engine(&alphabet::STANDARD, true);
const STD_NOPAD: GeneralPurpose = engine(&alphabet::STANDARD, false);
const URL_PAD: GeneralPurpose = engine(&alphabet::URL_SAFE, true);
const URL_NOPAD: GeneralPurpose = engine(&alphabet::URL_SAFE, false);

/// Which base64 form a string was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Base64Form {
    /// `+/` with `=` padding: what we emit and what Aperture requires.
    Standard,
    /// `+/` without padding.
    StandardUnpadded,
    /// `-_` with `=` padding.
    UrlSafe,
    /// `-_` without padding (boltwall, the `macaroon` crate).
    UrlSafeUnpadded,
}

/// Standard base64 with padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    STD_PAD.encode(bytes)
}

/// Decodes any accepted base64 form, refusing output longer than `max_len` bytes.
pub fn decode_base64(s: &str, max_len: usize) -> Result<(Vec<u8>, Base64Form), TextError> {
    if s.is_empty() {
        return Err(TextError::Empty);
    }
    if s.len() / 4 * 3 > max_len.saturating_add(3) {
        return Err(TextError::TooLong);
    }
    // Each engine refuses the other alphabet's two characters, so trying the standard form
    // first and the URL-safe form second accepts exactly the two alphabets and refuses a mix,
    // without a scan of its own on the common path.
    let padded = s.ends_with('=');
    let (std, std_form, url, url_form) = if padded {
        (&STD_PAD, Base64Form::Standard, &URL_PAD, Base64Form::UrlSafe)
    } else {
        (&STD_NOPAD, Base64Form::StandardUnpadded, &URL_NOPAD, Base64Form::UrlSafeUnpadded)
    };
    let (out, form) = match std.decode(s) {
        Ok(out) => (out, std_form),
        Err(first) => match url.decode(s) {
            Ok(out) => (out, url_form),
            Err(_) => return Err(classify(s, &first)),
        },
    };
    if out.len() > max_len {
        return Err(TextError::TooLong);
    }
    Ok((out, form))
}

/// Names why a string neither engine accepts was refused.
fn classify(s: &str, std_error: &base64::DecodeError) -> TextError {
    let (mut std, mut url) = (false, false);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'=' => {}
            b'+' | b'/' => std = true,
            b'-' | b'_' => url = true,
            _ => return TextError::InvalidCharacter,
        }
    }
    if std && url {
        return TextError::MixedAlphabet;
    }
    match std_error {
        base64::DecodeError::InvalidLastSymbol(..) => TextError::NonCanonical,
        _ => TextError::BadPadding,
    }
}

/// Lower-case hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Hex in either case, refusing output longer than `max_len` bytes.
pub fn decode_hex(s: &str, max_len: usize) -> Result<Vec<u8>, TextError> {
    if s.is_empty() {
        return Err(TextError::Empty);
    }
    if s.len() / 2 > max_len {
        return Err(TextError::TooLong);
    }
    hex::decode(s).map_err(|_| TextError::InvalidHex)
}
