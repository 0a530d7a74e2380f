//! The L402 macaroon identifier: `u16be(version) || payment_hash || token_id`.

use core::fmt;
use core::str::FromStr;

use subtle::ConstantTimeEq;

use crate::crypto::sha256;
use crate::Error;

macro_rules! hash32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                parse_hex32(s).map($name)
            }
        }

        impl From<[u8; 32]> for $name {
            fn from(b: [u8; 32]) -> Self {
                $name(b)
            }
        }
    };
}

hash32!(
    /// A Lightning payment hash: `sha256(preimage)`.
    PaymentHash
);
hash32!(
    /// The 32-byte token id: a stable id for the buyer that survives macaroon rotation.
    TokenId
);

impl TokenId {
    /// A fresh token id from the operating system's random number generator.
    pub fn random() -> Result<TokenId, getrandom::Error> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b)?;
        Ok(TokenId(b))
    }
}

/// A 64-hex-digit string did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HexError;

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected exactly 64 hex digits")
    }
}

impl std::error::Error for HexError {}

/// Exactly 64 hex digits, either case, nothing else (decision 0003).
///
/// Hand-written rather than `hex::decode_to_slice` because every verified request parses a
/// preimage: one validity check at the end instead of error bookkeeping per digit measured
/// about 40 ns against 65 ns. It is not constant time and need not be: the preimage arrives
/// in a request header next to the token it unlocks.
fn parse_hex32(s: &str) -> Result<[u8; 32], HexError> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err(HexError);
    }
    let mut invalid = 0u8;
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (nibble(*hi), nibble(*lo)),
            _ => return Err(HexError),
        };
        invalid |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    if invalid & 0xf0 != 0 {
        return Err(HexError);
    }
    Ok(out)
}

/// The value of a hex digit in either case, or `0xff`.
fn nibble(c: u8) -> u8 {
    let digit = c.wrapping_sub(b'0');
    let letter = (c | 0x20).wrapping_sub(b'a');
    if digit < 10 {
        digit
    } else if letter < 6 {
        letter + 10
    } else {
        0xff
    }
}

/// A payment preimage: the secret the payer learns. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Preimage([u8; 32]);

impl Preimage {
    /// Wraps raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Preimage(b)
    }

    /// Parses exactly 64 hex digits in either case; anything else is `malformed-preimage`.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        parse_hex32(s).map(Preimage).map_err(|_| Error::MalformedPreimage)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, the form every peer parses.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `sha256(preimage)`.
    pub fn payment_hash(&self) -> PaymentHash {
        PaymentHash(sha256(&self.0))
    }

    /// Checks `sha256(self) == hash` in constant time.
    pub fn check(&self, hash: &PaymentHash) -> Result<(), Error> {
        if bool::from(sha256(&self.0).ct_eq(&hash.0)) {
            Ok(())
        } else {
            Err(Error::WrongPreimage)
        }
    }
}

impl fmt::Debug for Preimage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Preimage(..)")
    }
}

impl PartialEq for Preimage {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Preimage {}

/// A decoded version-0 L402 identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identifier {
    /// The payment hash of the invoice this token was sold for.
    pub payment_hash: PaymentHash,
    /// The buyer's token id.
    pub token_id: TokenId,
}

impl Identifier {
    /// The only identifier version that exists.
    pub const VERSION: u16 = 0;
    /// Length of a version-0 identifier in bytes.
    pub const LEN: usize = 66;

    /// An identifier for `payment_hash` with a fresh random token id.
    pub fn random(payment_hash: PaymentHash) -> Result<Self, getrandom::Error> {
        Ok(Identifier { payment_hash, token_id: TokenId::random()? })
    }

    /// Decodes the raw 66-byte form exactly as Aperture writes it.
    ///
    /// Fewer than 2 bytes, or a version-0 identifier that is not exactly 66 bytes, is
    /// `malformed-identifier`; any other version is `unknown-identifier-version`.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let malformed = Error::MalformedIdentifier { len: bytes.len() };
        let (version, rest) = match bytes {
            [hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]), rest),
            _ => return Err(malformed),
        };
        if version != Self::VERSION {
            return Err(Error::UnknownIdentifierVersion(version));
        }
        let (hash, id) = match rest.split_at_checked(32) {
            Some((h, i)) if i.len() == 32 => (h, i),
            _ => return Err(malformed),
        };
        let mut out = Identifier { payment_hash: PaymentHash([0; 32]), token_id: TokenId([0; 32]) };
        out.payment_hash.0.copy_from_slice(hash);
        out.token_id.0.copy_from_slice(id);
        Ok(out)
    }

    /// Decodes the raw form, or the 132-character hex text that lsat-js and boltwall put in
    /// the identifier field instead (decision 0004). Never used for verification.
    pub fn decode_lenient(bytes: &[u8]) -> Result<(Self, IdentifierEncoding), Error> {
        match Self::decode(bytes) {
            Ok(id) => Ok((id, IdentifierEncoding::Raw)),
            Err(first) => {
                let mut raw = [0u8; Self::LEN];
                if bytes.len() == 2 * Self::LEN && hex::decode_to_slice(bytes, &mut raw).is_ok() {
                    Self::decode(&raw).map(|id| (id, IdentifierEncoding::HexText))
                } else {
                    Err(first)
                }
            }
        }
    }

    /// The raw 66-byte form.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        let (version, rest) = out.split_at_mut(2);
        version.copy_from_slice(&Self::VERSION.to_be_bytes());
        let (hash, id) = rest.split_at_mut(32);
        hash.copy_from_slice(&self.payment_hash.0);
        id.copy_from_slice(&self.token_id.0);
        out
    }
}

/// How an identifier was found encoded inside a macaroon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierEncoding {
    /// The 66 raw bytes (Aperture, and what we mint).
    Raw,
    /// 132 ASCII hex characters (lsat-js, boltwall).
    HexText,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Accepts and decodes exactly what the `hex` crate does, for 64-byte strings of
        /// digits, letters either side of `a-f`/`A-F`, and bytes that differ from digits only
        /// in the case bit.
        #[test]
        fn parse_hex32_agrees_with_the_hex_crate(
            chars in prop::collection::vec(
                prop::sample::select(b"0123456789abcdefABCDEFgG@`/:\x01\xe1".to_vec()), 64)
        ) {
            let s = String::from_utf8_lossy(&chars).into_owned();
            let mut want = [0u8; 32];
            let want = (s.len() == 64 && hex::decode_to_slice(&s, &mut want).is_ok()).then_some(want);
            prop_assert_eq!(parse_hex32(&s).ok(), want);
        }
    }
}
