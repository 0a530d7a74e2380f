//! `spec-vectors/caveats.json`: caveat grammar, typed parsing and verdict vectors.

use serde::{Deserialize, Serialize};

/// All caveat-layer vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaveatVectors {
    /// Format version of this file.
    pub version: u32,
    /// Single caveats: how they split and whether they decode.
    pub parse: Vec<ParseCase>,
    /// Caveat lists judged against a request.
    pub evaluations: Vec<EvaluationCase>,
    /// Whole tokens: signature first, then caveats.
    pub tokens: Vec<TokenCase>,
}

/// One caveat through the grammar and the typed parser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParseCase {
    /// Unique name.
    pub name: String,
    /// Where it came from: `ours` or the independent source.
    pub source: String,
    /// The caveat bytes, hex.
    pub caveat: String,
    /// The caveat as text when it is UTF-8.
    pub text: Option<String>,
    /// Condition bytes, hex; `null` when the caveat has no `=`.
    pub condition: Option<String>,
    /// Value bytes, hex; `null` when the caveat has no `=`.
    pub value: Option<String>,
    /// `ok` or `malformed-caveat`.
    pub outcome: String,
    /// On success: `services`, `capabilities`, `valid_until`, `expires_at`, `methods`,
    /// `path_prefix`, `client_ip`, `max_uses`, `other` (unknown condition) or `opaque` (no
    /// `=`).
    pub kind: Option<String>,
}

/// The request side of an evaluation. Absent fields are absent from the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextCase {
    /// Target service.
    pub service: Option<String>,
    /// Capability.
    pub capability: Option<String>,
    /// Now, Unix seconds.
    pub now: Option<i64>,
    /// HTTP method.
    pub method: Option<String>,
    /// Request path.
    pub path: Option<String>,
    /// Client address.
    pub client_ip: Option<String>,
    /// Prior uses reported by the server.
    pub prior_uses: Option<u64>,
}

/// A caveat list judged against a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluationCase {
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Caveats in token order, hex.
    pub caveats: Vec<String>,
    /// The same caveats as text (lossy UTF-8, for reading).
    pub text: Vec<String>,
    /// `all` (every built-in check) or `aperture` (only `services` and
    /// `<service>_valid_until`).
    pub builtins: String,
    /// Strict mode: unknown conditions are refused.
    pub strict: bool,
    /// The request.
    pub context: ContextCase,
    /// `valid` or the stable code.
    pub outcome: String,
    /// On `valid`: the effective usage allowance.
    pub max_uses: Option<u64>,
    /// On `valid`: the earliest applicable deadline (valid while `now < deadline`).
    pub deadline: Option<i64>,
    /// On `valid`: positions of caveats that were not judged.
    pub skipped: Vec<usize>,
}

/// A whole token: verify the signature (and preimage) under `root_key`, then the caveats
/// with every built-in check, lenient mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenCase {
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Standard padded base64.
    pub token: String,
    /// Root key, hex.
    pub root_key: String,
    /// Preimage, hex.
    pub preimage: String,
    /// The request.
    pub context: ContextCase,
    /// `valid` or the stable code.
    pub outcome: String,
}
