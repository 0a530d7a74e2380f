//! The macaroon: identifier, caveats and the HMAC chain that binds them.

use core::fmt;

use subtle::ConstantTimeEq;

use crate::crypto::{chain_first_party, chain_third_party, derive_key, hmac};
use crate::text::{self, Base64Form};
use crate::{v1, v2, Error, FormatError, Identifier, Preimage};

/// Size limits applied while decoding. Every limit is checked before allocating.
///
/// The defaults are far above anything a real L402 server mints (an Aperture token is about
/// 230 bytes; one with 50 caveats about 3 KiB) and far below what would let a hostile client
/// make a server allocate much per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted binary macaroon, in bytes.
    pub max_len: usize,
    /// Most caveats accepted.
    pub max_caveats: usize,
    /// Largest location, identifier, caveat id or verification id, in bytes.
    pub max_field_len: usize,
}

impl Limits {
    /// 16 KiB in all, 256 caveats, 4 KiB per field.
    pub const DEFAULT: Limits =
        Limits { max_len: 16 * 1024, max_caveats: 256, max_field_len: 4096 };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Binary macaroons up to this size are decoded from base64 on the stack: an Aperture token
/// with a dozen caveats fits.
const STACK_DECODE_LEN: usize = 1024;

/// One caveat. A first-party caveat has only an id (`condition=value` in L402); a
/// third-party caveat also has a verification id and usually a location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caveat {
    pub(crate) location: Option<Vec<u8>>,
    pub(crate) id: Vec<u8>,
    pub(crate) vid: Option<Vec<u8>>,
}

impl Caveat {
    /// The caveat id: the predicate for a first-party caveat.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The verification id of a third-party caveat.
    pub fn vid(&self) -> Option<&[u8]> {
        self.vid.as_deref()
    }

    /// The location hint of a third-party caveat.
    pub fn location(&self) -> Option<&[u8]> {
        self.location.as_deref()
    }

    /// True for a first-party caveat (no verification id).
    pub fn is_first_party(&self) -> bool {
        self.vid.is_none()
    }
}

/// A macaroon. Decoding keeps every byte that affects the encoding, so
/// `Macaroon::decode(b)?.encode() == b` for every V2 input that decodes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Macaroon {
    pub(crate) location: Option<Vec<u8>>,
    pub(crate) identifier: Vec<u8>,
    pub(crate) caveats: Vec<Caveat>,
    pub(crate) signature: [u8; 32],
}

impl fmt::Debug for Macaroon {
    // The signature is a bearer secret once paired with the preimage: keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Macaroon")
            .field("location", &self.location.as_deref().map(String::from_utf8_lossy))
            .field("identifier", &hex::encode(&self.identifier))
            .field("caveats", &self.caveats.len())
            .finish_non_exhaustive()
    }
}

impl Macaroon {
    /// Mints a macaroon under `root_key`. L402 servers pass the 66-byte identifier and the
    /// location `"lsat"`, as Aperture does. An empty location is no location: Go's and
    /// js-macaroon's encoders write no location field for it, and neither do we.
    pub fn new(root_key: &[u8], identifier: &[u8], location: Option<&[u8]>) -> Macaroon {
        Macaroon {
            location: location.filter(|l| !l.is_empty()).map(<[u8]>::to_vec),
            identifier: identifier.to_vec(),
            caveats: Vec::new(),
            signature: hmac(&derive_key(root_key), identifier),
        }
    }

    /// Mints an L402 macaroon with Aperture's location `"lsat"`.
    pub fn new_l402(root_key: &[u8], identifier: &Identifier) -> Macaroon {
        Macaroon::new(root_key, &identifier.encode(), Some(b"lsat"))
    }

    /// Appends a first-party caveat. Anyone holding the macaroon can do this; nobody can undo it.
    pub fn add_first_party_caveat(&mut self, caveat: impl Into<Vec<u8>>) {
        let id = caveat.into();
        self.signature = chain_first_party(&self.signature, &id);
        self.caveats.push(Caveat { location: None, id, vid: None });
    }

    /// Returns a copy with one more first-party caveat.
    #[must_use]
    pub fn with_caveat(mut self, caveat: impl Into<Vec<u8>>) -> Macaroon {
        self.add_first_party_caveat(caveat);
        self
    }

    /// The location, if one was written.
    pub fn location(&self) -> Option<&[u8]> {
        self.location.as_deref()
    }

    /// The raw identifier bytes.
    pub fn identifier(&self) -> &[u8] {
        &self.identifier
    }

    /// The identifier decoded as an L402 identifier.
    pub fn l402_identifier(&self) -> Result<Identifier, Error> {
        Identifier::decode(&self.identifier)
    }

    /// The caveats, in order.
    pub fn caveats(&self) -> &[Caveat] {
        &self.caveats
    }

    /// The first-party caveat ids, in order.
    pub fn first_party_caveats(&self) -> impl Iterator<Item = &[u8]> {
        self.caveats.iter().filter(|c| c.is_first_party()).map(|c| c.id.as_slice())
    }

    /// The signature: the last link of the HMAC chain.
    pub fn signature(&self) -> &[u8; 32] {
        &self.signature
    }

    /// Decodes V2 binary (or V1, when the first byte is an ASCII hex digit) with default limits.
    pub fn decode(bytes: &[u8]) -> Result<Macaroon, Error> {
        Macaroon::decode_with(bytes, &Limits::DEFAULT)
    }

    /// Decodes binary with explicit limits.
    pub fn decode_with(bytes: &[u8], limits: &Limits) -> Result<Macaroon, Error> {
        if bytes.len() > limits.max_len {
            return Err(FormatError::TooLong.into());
        }
        match bytes.first() {
            None => Err(FormatError::Empty.into()),
            Some(2) => Ok(v2::decode(bytes, limits)?),
            Some(b) if b.is_ascii_hexdigit() => Ok(v1::decode(bytes, limits)?),
            Some(&b) => Err(FormatError::UnknownVersion(b).into()),
        }
    }

    /// The V2 binary encoding.
    pub fn encode(&self) -> Vec<u8> {
        v2::encode(self)
    }

    pub(crate) fn encoded_len_hint(&self) -> usize {
        let fields: usize = self.caveats.iter().map(|c| c.id.len() + 4).sum();
        fields + self.identifier.len() + 48
    }

    /// Decodes any accepted base64 form (see [`crate::text`]).
    pub fn from_base64(s: &str) -> Result<Macaroon, Error> {
        Macaroon::from_base64_with(s, &Limits::DEFAULT).map(|(m, _)| m)
    }

    /// Decodes base64 with explicit limits, also telling which form was used.
    pub fn from_base64_with(s: &str, limits: &Limits) -> Result<(Macaroon, Base64Form), Error> {
        // Servers decode a token per request; typical tokens fit on the stack.
        let mut stack = [0u8; STACK_DECODE_LEN];
        if let Some((bytes, form)) = text::decode_base64_into(s, limits.max_len, &mut stack) {
            return Ok((Macaroon::decode_with(bytes, limits)?, form));
        }
        let (bytes, form) = text::decode_base64(s, limits.max_len)?;
        Ok((Macaroon::decode_with(&bytes, limits)?, form))
    }

    /// Standard base64 with padding: the form every peer parses.
    pub fn to_base64(&self) -> String {
        text::encode_base64(&self.encode())
    }

    /// Decodes hex (the `Macaroon` header and gRPC metadata form).
    pub fn from_hex(s: &str) -> Result<Macaroon, Error> {
        let bytes = text::decode_hex(s, Limits::DEFAULT.max_len)?;
        Macaroon::decode(&bytes)
    }

    /// Lower-case hex of the V2 encoding.
    pub fn to_hex(&self) -> String {
        text::encode_hex(&self.encode())
    }

    /// Recomputes the HMAC chain under `root_key` and compares it with the signature in
    /// constant time.
    ///
    /// A third-party caveat makes this fail with `missing-discharge` even when the chain is
    /// right: L402 never issues them and we take no discharges. The chain is checked first so
    /// that a forged macaroon is always `invalid-signature`.
    pub fn verify_signature(&self, root_key: &[u8]) -> Result<(), Error> {
        let mut sig = hmac(&derive_key(root_key), &self.identifier);
        for c in &self.caveats {
            sig = match &c.vid {
                None => chain_first_party(&sig, &c.id),
                Some(vid) => chain_third_party(&sig, vid, &c.id),
            };
        }
        if !bool::from(sig.ct_eq(&self.signature)) {
            return Err(Error::InvalidSignature);
        }
        if self.caveats.iter().any(|c| !c.is_first_party()) {
            return Err(Error::MissingDischarge);
        }
        Ok(())
    }

    /// The token checks in their documented order: identifier, preimage against the payment
    /// hash (when given), then signature. Caveats are the caller's next step (`l402-caveats`).
    pub fn verify(
        &self,
        root_key: &[u8],
        preimage: Option<&Preimage>,
    ) -> Result<Identifier, Error> {
        let id = self.l402_identifier()?;
        if let Some(p) = preimage {
            p.check(&id.payment_hash)?;
        }
        self.verify_signature(root_key)?;
        Ok(id)
    }
}
