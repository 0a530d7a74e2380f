//! `spec-vectors/http.json`: challenge, credential and gRPC header vectors.

use serde::{Deserialize, Serialize};

/// All header-layer vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpVectors {
    /// Format version of this file.
    pub version: u32,
    /// `WWW-Authenticate` field lines and what they parse to.
    pub challenges: Vec<ChallengeCase>,
    /// What we emit for a macaroon and invoice, per style.
    pub emitted_challenges: Vec<EmitChallengeCase>,
    /// Request headers and the credential (or code) they give.
    pub credentials: Vec<CredentialCase>,
    /// What we emit for a credential.
    pub emitted_credentials: Vec<EmitCredentialCase>,
    /// gRPC response header blocks and the challenge (or code) they give.
    pub grpc: Vec<GrpcCase>,
    /// `L402-Token-Status` response header lines and what a client reads from them.
    pub token_status: Vec<TokenStatusCase>,
}

/// Field lines of `WWW-Authenticate` (each string is one line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeCase {
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// The field lines, in order.
    pub lines: Vec<String>,
    /// Every element of the parsed list, in order.
    pub parsed: Vec<ParsedCase>,
    /// The challenge a client answers, if any.
    pub selected: Option<SelectedCase>,
    /// The code when no challenge can be answered.
    pub select_code: Option<String>,
    /// Where independent peers disagree with this outcome, and how.
    pub peers: Option<String>,
}

/// One element of a parsed challenge list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedCase {
    /// `l402` (usable), `rejected` (L402/LSAT with a code), `other` (another scheme) or
    /// `malformed` (a line that is not a challenge list).
    pub kind: String,
    /// The scheme: `L402`/`LSAT` canonical, other schemes as written.
    pub scheme: Option<String>,
    /// Usable: the macaroon as written.
    pub macaroon: Option<String>,
    /// Usable: the invoice.
    pub invoice: Option<String>,
    /// Usable: the version (`"0"` when absent).
    pub version: Option<String>,
    /// Usable: `macaroon`, `token` or `both`.
    pub macaroon_param: Option<String>,
    /// Rejected or malformed: the stable code.
    pub code: Option<String>,
    /// Malformed: index of the line.
    pub line: Option<usize>,
    /// Other: the token68 body.
    pub token68: Option<String>,
    /// Other and rejected: the parameters, `[name, value]`.
    pub params: Vec<(String, String)>,
}

/// The challenge a client answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedCase {
    /// `L402` or `LSAT`.
    pub scheme: String,
    /// The macaroon as written.
    pub macaroon: String,
    /// The invoice.
    pub invoice: String,
}

/// What we emit for one macaroon and invoice in one style.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmitChallengeCase {
    /// Unique name.
    pub name: String,
    /// Where the inputs came from.
    pub source: String,
    /// Standard padded base64 of the macaroon.
    pub macaroon: String,
    /// The invoice.
    pub invoice: String,
    /// `aperture`, `l402` or `version-token`.
    pub style: String,
    /// The field lines, in order.
    pub lines: Vec<String>,
}

/// Request headers and what reading a credential from them gives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialCase {
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Header lines `[name, value]`, in order.
    pub headers: Vec<(String, String)>,
    /// On success: `L402` or `LSAT`.
    pub scheme: Option<String>,
    /// On success: the macaroon, standard padded base64.
    pub macaroon: Option<String>,
    /// On success: the preimage, lower-case hex.
    pub preimage: Option<String>,
    /// On success: `authorization`, `grpc-metadata-macaroon`, `macaroon` or `token`.
    pub credential_source: Option<String>,
    /// On failure: the stable code.
    pub code: Option<String>,
    /// Where independent peers disagree with this outcome, and how.
    pub peers: Option<String>,
}

/// What we emit for a credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmitCredentialCase {
    /// Unique name.
    pub name: String,
    /// Where the inputs came from.
    pub source: String,
    /// The macaroon, standard padded base64.
    pub macaroon: String,
    /// The preimage, lower-case hex.
    pub preimage: String,
    /// The `Authorization` value.
    pub authorization: String,
    /// The gRPC metadata `macaroon` value (hex, with the `preimage=` caveat).
    pub grpc_metadata: String,
}

/// A gRPC response header block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrpcCase {
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Header lines `[name, value]`, in order.
    pub headers: Vec<(String, String)>,
    /// Whether a client must treat it as a payment challenge.
    pub payment_required: bool,
    /// The challenge a client answers.
    pub selected: Option<SelectedCase>,
    /// The code when payment is required but no challenge can be answered.
    pub code: Option<String>,
}

/// `L402-Token-Status` field lines (each string is one line) and what they read as.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenStatusCase {
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// The field lines, in order; several lines are one RFC 8941 dictionary.
    pub lines: Vec<String>,
    /// What a reader gets: `None` when the header is unreadable or says nothing, which a
    /// client treats as never sent.
    pub read: Option<TokenStatusValue>,
    /// True when the single line is exactly what a server writes for `read`.
    pub emitted: bool,
}

/// What a token still buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenStatusValue {
    /// Unix seconds at which the token stops being accepted.
    pub expires: Option<i64>,
    /// Requests the token may still make.
    pub remaining: Option<u64>,
}
