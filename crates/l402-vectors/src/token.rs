//! `spec-vectors/token.json`: macaroon codec, identifier and signature vectors.

use serde::{Deserialize, Serialize};

/// All token-layer vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenVectors {
    /// Format version of this file.
    pub version: u32,
    /// Tokens that must decode (and verify, when a root key is given).
    pub tokens: Vec<TokenCase>,
    /// Inputs that must fail with a given code.
    pub failures: Vec<FailureCase>,
    /// Identifier layouts.
    pub identifiers: Vec<IdentifierCase>,
}

/// A token that decodes; with `root_key` it also verifies (with `preimage` when given).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenCase {
    /// Unique name.
    pub name: String,
    /// Where it came from: `ours` (generated from a fixed seed) or the independent source.
    pub source: String,
    /// The text form as given (any accepted base64 form).
    pub text: String,
    /// The binary form, hex.
    pub binary: String,
    /// What we emit for it: standard padded base64 of the V2 encoding.
    pub canonical: String,
    /// Root key, hex, when known.
    pub root_key: Option<String>,
    /// Preimage, hex, when known.
    pub preimage: Option<String>,
    /// Location, when present (UTF-8).
    pub location: Option<String>,
    /// Identifier bytes, hex.
    pub identifier: String,
    /// Payment hash, hex, when the identifier is an L402 identifier (raw or hex text).
    pub payment_hash: Option<String>,
    /// Token id, hex, likewise.
    pub token_id: Option<String>,
    /// Caveats in order.
    pub caveats: Vec<CaveatCase>,
    /// Signature, hex.
    pub signature: String,
    /// Code of the strict L402 identifier decode when it fails (`null` when it succeeds).
    pub identifier_code: Option<String>,
    /// Code of the signature check under `root_key` (`valid`, or e.g. `missing-discharge`);
    /// `null` when no root key is known.
    pub signature_check: Option<String>,
}

/// One caveat of a [`TokenCase`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaveatCase {
    /// Caveat id, hex.
    pub id: String,
    /// Verification id, hex (third-party only).
    pub vid: Option<String>,
    /// Location (third-party only).
    pub location: Option<String>,
}

/// An input that must fail. Exactly one of `text` and `binary` is set. The check runs in the
/// documented order: text, binary, identifier, preimage format, preimage hash, signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureCase {
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Text input.
    pub text: Option<String>,
    /// Binary input, hex.
    pub binary: Option<String>,
    /// Root key, hex, for signature failures.
    pub root_key: Option<String>,
    /// Preimage as given (may be malformed on purpose).
    pub preimage: Option<String>,
    /// The expected stable code.
    pub code: String,
}

/// An identifier layout case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentifierCase {
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// The identifier bytes, hex.
    pub bytes: String,
    /// Expected payment hash on success.
    pub payment_hash: Option<String>,
    /// Expected token id on success.
    pub token_id: Option<String>,
    /// Expected code on failure (`null` on success).
    pub code: Option<String>,
}
