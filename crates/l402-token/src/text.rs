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
    let [(std, std_form), (url, url_form)] = engines(s);
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

/// [`decode_base64`] into `buf`, for the verify path, which decodes a token on every
/// request: a few hundred bytes on the stack instead of a zeroed heap buffer. `None` when
/// `buf` may be too small or the text does not decode; [`decode_base64`] then decides, so
/// that errors are reported exactly as there.
pub(crate) fn decode_base64_into<'b>(
    s: &str,
    max_len: usize,
    buf: &'b mut [u8],
) -> Option<(&'b [u8], Base64Form)> {
    // The base64 crate refuses an output slice shorter than this estimate.
    if s.is_empty() || s.len().div_ceil(4).saturating_mul(3) > buf.len() {
        return None;
    }
    let [(std, std_form), (url, url_form)] = engines(s);
    let (len, form) = match std.decode_slice(s, buf) {
        Ok(len) => (len, std_form),
        Err(_) => (url.decode_slice(s, buf).ok()?, url_form),
    };
    if len > max_len {
        return None;
    }
    Some((buf.get(..len)?, form))
}

/// The two engines to try, standard first. Each refuses the other alphabet's two characters,
/// so trying both accepts exactly the two alphabets and refuses a mix, without a scan of its
/// own on the common path. Padding is canonical when present, absent otherwise.
fn engines(s: &str) -> [(&'static GeneralPurpose, Base64Form); 2] {
    if s.ends_with('=') {
        [(&STD_PAD, Base64Form::Standard), (&URL_PAD, Base64Form::UrlSafe)]
    } else {
        [(&STD_NOPAD, Base64Form::StandardUnpadded), (&URL_NOPAD, Base64Form::UrlSafeUnpadded)]
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The stack path accepts exactly what `decode_base64` accepts (when the buffer is
        /// big enough) and gives the same bytes and form.
        #[test]
        fn decoding_into_a_buffer_agrees(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            form in 0..4usize,
            noise in prop::option::of((0..90usize, prop::sample::select(vec!['=', '-', '+', '*', 'A']))),
            buf_len in prop::sample::select(vec![0usize, 8, 48, 128]),
            max_len in prop::sample::select(vec![0usize, 16, 1024]),
        ) {
            let engine = [&STD_PAD, &STD_NOPAD, &URL_PAD, &URL_NOPAD];
            let mut s = engine.get(form).map(|e| e.encode(&bytes)).unwrap_or_default();
            if let Some((at, c)) = noise {
                if at <= s.len() {
                    s.insert(at, c);
                }
            }
            let mut buf = vec![0u8; buf_len];
            let fast = decode_base64_into(&s, max_len, &mut buf).map(|(b, f)| (b.to_vec(), f));
            let slow = decode_base64(&s, max_len);
            match fast {
                Some(got) => prop_assert_eq!(Ok(got), slow),
                // The fallback decides: it may accept only when the buffer was too small.
                None => prop_assert!(slow.is_err() || s.len().div_ceil(4) * 3 > buf_len),
            }
        }
    }
}
