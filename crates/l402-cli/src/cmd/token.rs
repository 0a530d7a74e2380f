//! `l402 token decode|mint|attenuate|verify`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
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
    Attenuate {
        /// The token, or `-`.
        token: String,
        /// A caveat to append, `condition=value`; repeatable, applied in order.
        #[arg(long = "caveat", required = true)]
        caveats: Vec<String>,
    },
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
}

pub(crate) fn run(c: TokenCommand) -> ExitCode {
    match c {
        TokenCommand::Decode { token } => match read(&token) {
            Ok(m) => out::json(&TokenView::from(&m)),
            Err(e) => e,
        },
        TokenCommand::Mint(a) => mint(a),
        TokenCommand::Attenuate { token, caveats } => match read(&token) {
            Ok(m) => out::line(&caveats.into_iter().fold(m, Macaroon::with_caveat).to_base64()),
            Err(e) => e,
        },
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
    let result = check(&text, &root, a.preimage.as_deref());
    let preimage_checked = a.preimage.is_some();
    let v = match &result {
        Ok(()) if preimage_checked => Verdict {
            verdict: "valid",
            detail: "signature and preimage valid".into(),
            preimage_checked,
        },
        Ok(()) => Verdict {
            verdict: "valid",
            detail: "signature valid; preimage not checked (no --preimage)".into(),
            preimage_checked,
        },
        Err(e) => Verdict { verdict: e.code(), detail: e.to_string(), preimage_checked },
    };
    let code = out::json(&v);
    if result.is_ok() {
        code
    } else {
        ExitCode::from(out::REFUSED)
    }
}

/// The documented order: text, binary, identifier, preimage format, preimage hash, signature.
fn check(text: &str, root: &[u8], preimage: Option<&str>) -> Result<(), Error> {
    let m = Macaroon::from_base64(text)?;
    let preimage = match preimage {
        Some(p) => {
            // The identifier is checked before the preimage's format.
            m.l402_identifier()?;
            Some(Preimage::from_hex(p)?)
        }
        None => None,
    };
    m.verify(root, preimage.as_ref()).map(|_| ())
}
