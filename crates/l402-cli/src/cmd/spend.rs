//! `l402 spend`: what `l402 get` spent, by period and domain, from the store's ledger.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use l402_client::{LedgerQuery, SpendSummary};
use serde_json::json;

use super::get::set;
use super::wallet::{ClientArgs, ClientConfig};
use crate::out;

#[derive(Args, Debug)]
pub(crate) struct SpendArgs {
    /// Only this domain (host).
    #[arg(long)]
    domain: Option<String>,
    /// Also list every ledger entry of the last 24 hours.
    #[arg(long)]
    entries: bool,
    /// JSON output (the default when stdout is not a terminal).
    #[arg(long, conflicts_with = "table")]
    json: bool,
    /// Table output (the default on a terminal).
    #[arg(long)]
    table: bool,
    #[command(flatten)]
    client: ClientArgs,
}

const PERIODS: [(&str, Option<u64>); 4] =
    [("hour", Some(3600)), ("day", Some(86_400)), ("week", Some(7 * 86_400)), ("total", None)];

fn summary_json(s: &SpendSummary) -> serde_json::Value {
    json!({
        "amount_msat": s.amount_msat,
        "fee_msat": s.fee_msat,
        "paid": s.paid,
        "rejected": s.rejected,
        "pending": s.pending,
        "failed": s.failed,
        "reserved_msat": s.reserved_msat,
        "by_domain_msat": s.by_domain_msat,
    })
}

pub(crate) fn run(a: SpendArgs) -> ExitCode {
    let cfg = match ClientConfig::load(&a.client, None, None) {
        Ok(c) => c,
        Err(e) => return out::fail("config", &e.0, out::REFUSED),
    };
    let store = match cfg.open_store() {
        Ok(s) => s,
        Err(e) => return out::refused(e.code(), &e),
    };
    let now = SystemTime::now();
    let mut periods = serde_json::Map::new();
    let mut rows = Vec::new();
    for (name, window) in PERIODS {
        let mut q = LedgerQuery::all();
        if let Some(w) = window {
            q = q.within(now, Duration::from_secs(w));
        }
        if let Some(d) = &a.domain {
            q = q.domain(d.clone());
        }
        let entries = match store.ledger(&q) {
            Ok(e) => e,
            Err(e) => return out::refused(e.code(), &e),
        };
        let s = SpendSummary::of(&entries);
        periods.insert(name.to_owned(), summary_json(&s));
        rows.push((name, s));
    }
    let entries = if a.entries {
        let mut q = LedgerQuery::all().within(now, Duration::from_secs(86_400));
        if let Some(d) = &a.domain {
            q = q.domain(d.clone());
        }
        match store.ledger(&q) {
            Ok(list) => list
                .iter()
                .map(|e| {
                    json!({
                        "time": e.time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
                        "url": e.url,
                        "domain": e.domain,
                        "payment_hash": e.payment_hash.to_string(),
                        "amount_msat": e.amount_msat,
                        "fee_msat": e.fee_msat,
                        "outcome": e.outcome.as_str(),
                        "reason": match &e.outcome { l402_client::Outcome::Failed(c) => Some(c.clone()), _ => None },
                    })
                })
                .collect::<Vec<_>>(),
            Err(e) => return out::refused(e.code(), &e),
        }
    } else {
        Vec::new()
    };
    let as_json = a.json || (!a.table && !std::io::stdout().is_terminal());
    if as_json {
        let mut v = json!({ "periods": periods });
        if a.entries {
            set(&mut v, "entries", json!(entries));
        }
        return out::json(&v);
    }
    println!(
        "{:<6} {:>14} {:>12} {:>5} {:>8} {:>8} {:>7}",
        "period", "spent_msat", "fees_msat", "paid", "rejected", "pending", "failed"
    );
    for (name, s) in &rows {
        println!(
            "{name:<6} {:>14} {:>12} {:>5} {:>8} {:>8} {:>7}",
            s.amount_msat + s.fee_msat,
            s.fee_msat,
            s.paid,
            s.rejected,
            s.pending,
            s.failed
        );
    }
    if let Some((_, total)) = rows.last() {
        if !total.by_domain_msat.is_empty() {
            println!();
            println!("{:<40} {:>14}", "domain (all time)", "spent_msat");
            for (domain, msat) in &total.by_domain_msat {
                println!("{domain:<40} {msat:>14}");
            }
        }
    }
    for e in &entries {
        println!("{e}");
    }
    ExitCode::SUCCESS
}
