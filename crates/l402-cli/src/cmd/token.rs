//! `l402 token decode|mint|attenuate|verify`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use l402_caveats::{Attenuate, Caveat, Context, IpNet, Timestamp, Verifier};
use l402_token::json::TokenView;
use l402_token::{Error, Identifier, Macaroon, PaymentHash, Preimage, TokenId};
use serde::Serialize;

use super::arg_or_stdin;
use crate::out;

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Print a token as JSON (`-` reads standard input).
    Decode {
        /// The token: base64 (any accepted form), or `-`.
        token: String,
    },
    /// Mint a token (standard padded base64).
    Mint(MintArgs),
    /// Append caveats to a token; anyone holding it can narrow it, nobody can widen it.
    ///
    /// Raw `--caveat`s are appended first, verbatim and in order; then the typed forms, in
    /// the order listed here, each refused (`caveat-escalation`, `malformed-caveat`) when it
    /// would widen the token or cannot be encoded.
    Attenuate(AttenuateArgs),
    /// Verify a token: prints `{"verdict", "detail"}`; exit 0 only when valid.
    Verify(VerifyArgs),
}

#[derive(Args)]
pub(crate) struct MintArgs {
    /// Root key, hex.
    #[arg(long)]
    root_key: String,
    /// Payment hash, 64 hex digits.
    #[arg(long)]
    payment_hash: String,
    /// Token id, 64 hex digits (random when absent).
    #[arg(long)]
    token_id: Option<String>,
    /// Location (Aperture writes `lsat`).
    #[arg(long, default_value = "lsat")]
    location: String,
    /// A caveat, `condition=value`; repeatable.
    #[arg(long = "caveat")]
    caveats: Vec<String>,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The token, or `-`.
    token: String,
    /// Root key, hex.
    #[arg(long)]
    root_key: String,
    /// Preimage, 64 hex digits. Without it the preimage checks are skipped.
    #[arg(long)]
    preimage: Option<String>,
    /// The request the caveats are judged against (checked after the signature).
    #[command(flatten)]
    request: RequestArgs,
}

/// The request side of `verify`. An absent flag leaves the caveats that need it unchecked
/// (listed in the output), as Aperture does for capabilities; `--now` defaults to the clock.
#[derive(Args)]
pub(crate) struct RequestArgs {
    /// Now, Unix seconds (default: the system clock).
    #[arg(long)]
    now: Option<i64>,
    /// The service the request is for.
    #[arg(long)]
    service: Option<String>,
    /// The capability the request needs.
    #[arg(long)]
    capability: Option<String>,
    /// The HTTP method.
    #[arg(long)]
    method: Option<String>,
    /// The request path.
    #[arg(long)]
    path: Option<String>,
    /// The client's IP address.
    #[arg(long)]
    client_ip: Option<std::net::IpAddr>,
    /// How many requests the token already made (checked against `max_uses`).
    #[arg(long)]
    prior_uses: Option<u64>,
    /// Refuse caveats no check knows (`unknown-caveat`) instead of skipping them.
    #[arg(long)]
    strict: bool,
}

#[derive(Args)]
pub(crate) struct AttenuateArgs {
    /// The token, or `-`.
    token: String,
    /// A caveat to append verbatim, `condition=value`; repeatable, applied in order.
    #[arg(long = "caveat")]
    caveats: Vec<String>,
    /// `services=<name>:<tier>`, keeping the tier the token gives the service.
    #[arg(long)]
    service: Option<String>,
    /// `<service>_capabilities=a,b` (needs `--service`).
    #[arg(long, requires = "service", value_delimiter = ',')]
    capabilities: Vec<String>,
    /// `<service>_valid_until=<unix>`, the expiry Aperture enforces (needs `--service`).
    #[arg(long, requires = "service")]
    valid_until: Option<i64>,
    /// `expires_at=`: an RFC 3339 time, or Unix seconds.
    #[arg(long)]
    expires_at: Option<String>,
    /// `methods=`; repeatable or comma-separated.
    #[arg(long = "method", value_delimiter = ',')]
    methods: Vec<String>,
    /// `path_prefix=`.
    #[arg(long)]
    path_prefix: Option<String>,
    /// `client_ip=`: an address or CIDR network; repeatable or comma-separated.
    #[arg(long = "client-ip", value_delimiter = ',')]
    client_ips: Vec<String>,
    /// `max_uses=`.
    #[arg(long)]
    max_uses: Option<u64>,
}

pub(crate) fn run(c: TokenCommand) -> ExitCode {
    match c {
        TokenCommand::Decode { token } => match read(&token) {
            Ok(m) => out::json(&TokenView::from(&m)),
            Err(e) => e,
        },
        TokenCommand::Mint(a) => mint(a),
        TokenCommand::Attenuate(a) => attenuate(a),
        TokenCommand::Verify(a) => verify(a),
    }
}

fn read(token: &str) -> Result<Macaroon, ExitCode> {
    let text = arg_or_stdin(token).map_err(|e| out::usage(&format!("reading stdin: {e}")))?;
    Macaroon::from_base64(&text).map_err(|e| out::refused(e.code(), &e))
}

fn hex_arg(name: &str, s: &str) -> Result<Vec<u8>, ExitCode> {
    match hex::decode(s) {
        Ok(b) if !b.is_empty() => Ok(b),
        _ => Err(out::usage(&format!("--{name} must be non-empty hex"))),
    }
}

fn mint(a: MintArgs) -> ExitCode {
    let root = match hex_arg("root-key", &a.root_key) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Ok(payment_hash) = a.payment_hash.parse::<PaymentHash>() else {
        return out::usage("--payment-hash must be 64 hex digits");
    };
    let token_id = match a.token_id.as_deref().map(str::parse::<TokenId>) {
        Some(Ok(t)) => t,
        Some(Err(_)) => return out::usage("--token-id must be 64 hex digits"),
        None => match TokenId::random() {
            Ok(t) => t,
            Err(e) => return out::fail("rng", &e.to_string(), out::REFUSED),
        },
    };
    let id = Identifier { payment_hash, token_id };
    let m = Macaroon::new(&root, &id.encode(), Some(a.location.as_bytes()));
    out::line(&a.caveats.into_iter().fold(m, Macaroon::with_caveat).to_base64())
}

#[derive(Serialize)]
struct Verdict {
    verdict: &'static str,
    detail: String,
    /// False when no `--preimage` was given and the preimage steps were skipped.
    preimage_checked: bool,
    /// What the caveats allow, when they were judged and passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    caveats: Option<CaveatReport>,
}

#[derive(Serialize)]
struct CaveatReport {
    /// The effective usage allowance.
    max_uses: Option<u64>,
    /// Earliest applicable expiry, Unix seconds (valid while now < deadline).
    deadline: Option<i64>,
    /// Positions of caveats no check judged.
    skipped: Vec<usize>,
    /// Conditions left unchecked because the request flag they need was absent.
    unchecked: Vec<String>,
}

/// A token-layer or caveat-layer refusal, each with its stable code.
enum Refusal {
    Token(Error),
    Caveat(l402_caveats::Error),
}

impl Refusal {
    fn code(&self) -> &'static str {
        match self {
            Refusal::Token(e) => e.code(),
            Refusal::Caveat(e) => e.code(),
        }
    }

    fn detail(&self) -> String {
        match self {
            Refusal::Token(e) => e.to_string(),
            Refusal::Caveat(e) => e.to_string(),
        }
    }
}

fn attenuate(mut a: AttenuateArgs) -> ExitCode {
    let mut m = match read(&a.token) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let typed = [
        a.service.is_some(),
        !a.capabilities.is_empty(),
        a.valid_until.is_some(),
        a.expires_at.is_some(),
        !a.methods.is_empty(),
        a.path_prefix.is_some(),
        !a.client_ips.is_empty(),
        a.max_uses.is_some(),
    ];
    if a.caveats.is_empty() && !typed.contains(&true) {
        return out::usage("give at least one --caveat or typed caveat (see --help)");
    }
    // Raw caveats get the same narrowing check as the typed ones: a widening would only
    // produce a token that every verifier refuses, so refuse it here, where it is typed.
    for raw in std::mem::take(&mut a.caveats) {
        match Caveat::parse(raw.as_bytes()).and_then(|c| m.attenuate(&c)) {
            Ok(next) => m = next,
            Err(e) => return out::refused(e.code(), &e),
        }
    }
    match typed_caveats(m, &a) {
        Ok(m) => out::line(&m.to_base64()),
        Err(Ok(e)) => out::refused(e.code(), &e),
        Err(Err(usage)) => out::usage(&usage),
    }
}

/// Applies the typed forms in their documented order. `Err(Err(_))` is a usage error.
fn typed_caveats(
    mut m: Macaroon,
    a: &AttenuateArgs,
) -> Result<Macaroon, Result<l402_caveats::Error, String>> {
    if let Some(s) = &a.service {
        m = m.restrict_to_service(s).map_err(Ok)?;
        if !a.capabilities.is_empty() {
            let caps: Vec<&str> = a.capabilities.iter().map(String::as_str).collect();
            m = m.restrict_capabilities(s, &caps).map_err(Ok)?;
        }
        if let Some(t) = a.valid_until {
            m = m.valid_until(s, t).map_err(Ok)?;
        }
    }
    if let Some(t) = &a.expires_at {
        m = match t.parse::<i64>() {
            Ok(unix) => m.expire_at(unix),
            Err(_) => match Timestamp::parse(t) {
                Some(ts) => m.attenuate(&Caveat::ExpiresAt(ts)),
                None => return Err(Err("--expires-at must be RFC 3339 or Unix seconds".into())),
            },
        }
        .map_err(Ok)?;
    }
    if !a.methods.is_empty() {
        let ms: Vec<&str> = a.methods.iter().map(String::as_str).collect();
        m = m.limit_methods(&ms).map_err(Ok)?;
    }
    if let Some(p) = &a.path_prefix {
        m = m.limit_paths(p).map_err(Ok)?;
    }
    if !a.client_ips.is_empty() {
        let nets = a
            .client_ips
            .iter()
            .map(|s| {
                IpNet::parse(s).ok_or_else(|| {
                    Err(format!("--client-ip {s:?} is not a canonical address or CIDR network"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        m = m.limit_clients(&nets).map_err(Ok)?;
    }
    if let Some(n) = a.max_uses {
        m = m.limit_uses(n).map_err(Ok)?;
    }
    Ok(m)
}

fn verify(a: VerifyArgs) -> ExitCode {
    let root = match hex_arg("root-key", &a.root_key) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let text = match arg_or_stdin(&a.token) {
        Ok(t) => t,
        Err(e) => return out::usage(&format!("reading stdin: {e}")),
    };
    let (context, verifier) = request(&a.request);
    let result = check(&text, &root, a.preimage.as_deref())
        .map_err(Refusal::Token)
        .and_then(|m| verifier.verify(&m, &context).map_err(Refusal::Caveat));
    let preimage_checked = a.preimage.is_some();
    let v = match &result {
        Ok(c) => Verdict {
            verdict: "valid",
            detail: if preimage_checked {
                "signature and preimage valid".into()
            } else {
                "signature valid; preimage not checked (no --preimage)".into()
            },
            preimage_checked,
            caveats: Some(CaveatReport {
                max_uses: c.max_uses,
                deadline: c.deadline,
                skipped: c.skipped.clone(),
                unchecked: c.unchecked.clone(),
            }),
        },
        Err(e) => {
            Verdict { verdict: e.code(), detail: e.detail(), preimage_checked, caveats: None }
        }
    };
    let code = out::json(&v);
    if result.is_ok() {
        code
    } else {
        ExitCode::from(out::REFUSED)
    }
}

/// The request context and verifier from the flags; `--now` defaults to the system clock,
/// as Aperture judges expiry against its clock.
fn request(r: &RequestArgs) -> (Context, Verifier) {
    let mut c = Context::new();
    c.now = r.now.or_else(|| {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(since.as_secs()).ok()
    });
    c.service = r.service.clone();
    c.capability = r.capability.clone();
    c.method = r.method.clone();
    c.path = r.path.clone();
    c.client = r.client_ip;
    c.prior_uses = r.prior_uses;
    (c, Verifier::new().strict(r.strict))
}

/// The documented order: text, binary, identifier, preimage format, preimage hash, signature.
/// Caveats come after, in `verify`.
fn check(text: &str, root: &[u8], preimage: Option<&str>) -> Result<Macaroon, Error> {
    let m = Macaroon::from_base64(text)?;
    let preimage = match preimage {
        Some(p) => {
            // The identifier is checked before the preimage's format.
            m.l402_identifier()?;
            Some(Preimage::from_hex(p)?)
        }
        None => None,
    };
    m.verify(root, preimage.as_ref())?;
    Ok(m)
}
