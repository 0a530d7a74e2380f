//! `l402 tokens list|show|remove|attenuate`: the tokens `l402 get` bought.

use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use clap::{Args, Subcommand};
use l402_caveats::{Attenuate as _, Caveat};
use l402_client::{Bearer, Scope, Token};
use serde_json::json;

use super::get::set;
use super::wallet::{ClientArgs, ClientConfig};
use crate::out;

#[derive(Subcommand, Debug)]
pub(crate) enum TokensCommand {
    /// List stored tokens (no secrets).
    List(StoreArgs),
    /// Show one token; with --secret also the macaroon, preimage and Authorization value.
    Show {
        /// The token's scope, as `list` prints it (e.g. `https://api.example:443`).
        scope: String,
        /// Include the bearer secrets.
        #[arg(long)]
        secret: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a stored token.
    Remove {
        /// The token's scope.
        scope: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print a narrowed copy of a stored token for delegation (the stored token is unchanged).
    Attenuate(AttenuateArgs),
}

#[derive(Args, Debug)]
pub(crate) struct StoreArgs {
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Debug)]
pub(crate) struct AttenuateArgs {
    /// The token's scope.
    scope: String,
    /// A raw first-party caveat `condition=value` (repeatable); checked so it only narrows.
    #[arg(long = "caveat", value_name = "CAVEAT")]
    caveats: Vec<String>,
    /// `path_prefix=<prefix>`.
    #[arg(long, value_name = "PREFIX")]
    path_prefix: Option<String>,
    /// `methods=A,B` (repeatable).
    #[arg(long = "method", value_name = "METHOD")]
    methods: Vec<String>,
    /// `expires_at=<RFC 3339>` from a Unix time in seconds.
    #[arg(long, value_name = "UNIX")]
    expires_at: Option<i64>,
    /// `max_uses=<n>`.
    #[arg(long, value_name = "N")]
    max_uses: Option<u64>,
    #[command(flatten)]
    store: StoreArgs,
}

fn store_of(a: &StoreArgs) -> Result<std::sync::Arc<dyn l402_client::TokenStore>, ExitCode> {
    let cfg = ClientConfig::load(&a.client, None, None)
        .map_err(|e| out::fail("config", &e.0, out::REFUSED))?;
    cfg.open_store().map_err(|e| out::refused(e.code(), &e))
}

fn summary(t: &Token) -> serde_json::Value {
    // An opaque token has no caveats anyone can read.
    let caveats: Vec<String> = t
        .bearer
        .macaroon()
        .map(|m| m.first_party_caveats().map(|c| String::from_utf8_lossy(c).into_owned()).collect())
        .unwrap_or_default();
    json!({
        "scope": t.scope.as_str(),
        "scheme": t.scheme.as_str(),
        "kind": t.bearer.kind(),
        "payment_hash": t.payment_hash.to_string(),
        "amount_msat": t.amount_msat,
        "fee_msat": t.fee_msat,
        "created_at": t.created_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "caveats": caveats,
    })
}

fn secrets(v: &mut serde_json::Value, t: &Token) -> Result<(), l402_client::Error> {
    let authorization = String::from_utf8_lossy(t.authorization()?.as_bytes()).into_owned();
    let name = match t.bearer {
        Bearer::Opaque(_) => "token",
        _ => "macaroon",
    };
    set(v, name, json!(t.bearer.to_text()));
    set(v, "preimage", json!(t.preimage.to_hex()));
    set(v, "authorization", json!(authorization));
    Ok(())
}

fn find(a: &StoreArgs, scope: &str) -> Result<Token, ExitCode> {
    let scope = Scope::parse(scope).map_err(|e| out::usage(&e.to_string()))?;
    let store = store_of(a)?;
    match store.token(&scope) {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(out::fail("not-found", &format!("no token for {scope}"), out::REFUSED)),
        Err(e) => Err(out::refused(e.code(), &e)),
    }
}

pub(crate) fn run(c: TokensCommand) -> ExitCode {
    match c {
        TokensCommand::List(a) => {
            let store = match store_of(&a) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match store.tokens() {
                Ok(tokens) => out::json(&tokens.iter().map(summary).collect::<Vec<_>>()),
                Err(e) => out::refused(e.code(), &e),
            }
        }
        TokensCommand::Show { scope, secret, store } => match find(&store, &scope) {
            Ok(t) => {
                let mut v = summary(&t);
                if secret {
                    if let Err(e) = secrets(&mut v, &t) {
                        return out::refused(e.code(), &e);
                    }
                }
                out::json(&v)
            }
            Err(code) => code,
        },
        TokensCommand::Remove { scope, store } => {
            let parsed = match Scope::parse(&scope) {
                Ok(s) => s,
                Err(e) => return out::usage(&e.to_string()),
            };
            let s = match store_of(&store) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match s.remove_token(&parsed, None) {
                Ok(removed) => out::json(&json!({ "scope": parsed.as_str(), "removed": removed })),
                Err(e) => out::refused(e.code(), &e),
            }
        }
        TokensCommand::Attenuate(a) => attenuate(a),
    }
}

fn attenuate(a: AttenuateArgs) -> ExitCode {
    if a.caveats.is_empty()
        && a.path_prefix.is_none()
        && a.methods.is_empty()
        && a.expires_at.is_none()
        && a.max_uses.is_none()
    {
        return out::usage("give at least one --caveat or typed caveat (see --help)");
    }
    let t = match find(&a.store, &a.scope) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let Some(mut m) = t.bearer.macaroon().cloned() else {
        return out::fail(
            "opaque-token",
            "this token is not a macaroon: it cannot be attenuated",
            out::REFUSED,
        );
    };
    let narrowed = (|| -> Result<l402_token::Macaroon, l402_caveats::Error> {
        for raw in &a.caveats {
            m = m.attenuate(&Caveat::parse(raw.as_bytes())?)?;
        }
        if let Some(p) = &a.path_prefix {
            m = m.limit_paths(p)?;
        }
        if !a.methods.is_empty() {
            let methods: Vec<&str> = a.methods.iter().map(String::as_str).collect();
            m = m.limit_methods(&methods)?;
        }
        if let Some(unix) = a.expires_at {
            m = m.expire_at(unix)?;
        }
        if let Some(n) = a.max_uses {
            m = m.limit_uses(n)?;
        }
        Ok(m)
    })();
    match narrowed {
        Ok(m) => {
            let narrowed = Token { bearer: Bearer::Macaroon(m), ..t };
            let mut v = summary(&narrowed);
            match secrets(&mut v, &narrowed) {
                Ok(()) => out::json(&v),
                Err(e) => out::refused(e.code(), &e),
            }
        }
        Err(e) => out::refused(e.code(), &e),
    }
}
