//! A serde view of a decoded token, for tools and humans. Binary values are hex; text
//! values are also given as UTF-8 when they are valid UTF-8.

use serde::Serialize;

use crate::{Identifier, IdentifierEncoding, Macaroon};

/// The whole token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    /// The location, as UTF-8 (lossy) when present.
    pub location: Option<String>,
    /// The identifier.
    pub identifier: IdentifierView,
    /// The caveats, in order.
    pub caveats: Vec<CaveatView>,
    /// The signature, hex.
    pub signature: String,
}

/// The identifier, raw and decoded.
#[derive(Debug, Clone, Serialize)]
pub struct IdentifierView {
    /// The raw identifier bytes, hex.
    pub hex: String,
    /// The decoded L402 fields, when the identifier is one.
    pub l402: Option<L402View>,
    /// Why the identifier is not an L402 identifier (a stable code), when it is not.
    pub error: Option<&'static str>,
}

/// A decoded L402 identifier.
#[derive(Debug, Clone, Serialize)]
pub struct L402View {
    /// Always 0.
    pub version: u16,
    /// The payment hash, hex.
    pub payment_hash: String,
    /// The token id, hex.
    pub token_id: String,
    /// `raw` (66 bytes) or `hex-text` (lsat-js).
    pub encoding: IdentifierEncoding,
}

/// One caveat.
#[derive(Debug, Clone, Serialize)]
pub struct CaveatView {
    /// `first-party` or `third-party`.
    pub kind: &'static str,
    /// The caveat id as UTF-8, when it is valid UTF-8.
    pub id: Option<String>,
    /// The caveat id, hex.
    pub id_hex: String,
    /// The verification id, hex (third-party only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vid: Option<String>,
    /// The location (third-party only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl From<&Macaroon> for TokenView {
    fn from(m: &Macaroon) -> Self {
        let (l402, error) = match Identifier::decode_lenient(m.identifier()) {
            Ok((id, encoding)) => (
                Some(L402View {
                    version: Identifier::VERSION,
                    payment_hash: id.payment_hash.to_string(),
                    token_id: id.token_id.to_string(),
                    encoding,
                }),
                None,
            ),
            Err(e) => (None, Some(e.code())),
        };
        TokenView {
            location: m.location().map(|l| String::from_utf8_lossy(l).into_owned()),
            identifier: IdentifierView { hex: hex::encode(m.identifier()), l402, error },
            caveats: m
                .caveats()
                .iter()
                .map(|c| CaveatView {
                    kind: if c.is_first_party() { "first-party" } else { "third-party" },
                    id: String::from_utf8(c.id().to_vec()).ok(),
                    id_hex: hex::encode(c.id()),
                    vid: c.vid().map(hex::encode),
                    location: c.location().map(|l| String::from_utf8_lossy(l).into_owned()),
                })
                .collect(),
            signature: hex::encode(m.signature()),
        }
    }
}
