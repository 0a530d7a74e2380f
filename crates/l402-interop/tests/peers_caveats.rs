//! Caveat interop: lsat-js's caveat decoder and its services and capabilities satisfiers,
//! run on the shared caveat vectors beside `l402-caveats` configured with the same two checks.
//! Every disagreement is listed in `skips.json` (op `evaluate-caveats` or `decode-services`)
//! with its reason, and a listed case that no longer disagrees fails, so the list stays honest.
#![cfg(feature = "peers")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use l402_caveats::{Builtin, Caveat, Context, Verifier};
use l402_interop::{run_script, skipped, skips, Peer};
use serde_json::{json, Value};

const LSAT_JS: (&str, &str) = ("node", "js/caveats_lsat.mjs");

/// Compares verdicts; returns the problems (unlisted differences and stale skips).
fn compare(op: &str, cases: &[(String, bool, Value)]) -> Vec<String> {
    let skips = skips().unwrap();
    let inputs: Vec<Value> = cases.iter().map(|(_, _, input)| input.clone()).collect();
    let results = run_script(LSAT_JS, &inputs).unwrap();
    let mut bad = Vec::new();
    for ((name, ours, _), theirs) in cases.iter().zip(results) {
        let theirs_ok = theirs["ok"] == true && theirs.get("valid").is_none_or(|v| v == true);
        let listed = skipped(&skips, Peer::LsatJs, op, name).is_some();
        if theirs_ok != *ours && !listed {
            bad.push(format!("{op} {name}: ours {ours}, lsat-js {theirs}"));
        }
        if theirs_ok == *ours && listed {
            bad.push(format!("{op} {name}: listed in skips.json but lsat-js now agrees"));
        }
    }
    bad
}

#[test]
fn lsat_js_satisfiers_on_the_evaluation_vectors() {
    // lsat-js knows services and capabilities (its expiry is `expiration` in milliseconds,
    // which nothing of ours mints), so ours runs with exactly those two checks.
    let ours = Verifier::with_builtins(&[Builtin::Services, Builtin::Capabilities]);
    let mut cases = Vec::new();
    for e in l402_vectors::caveats().evaluations {
        let bytes: Vec<Vec<u8>> = e.caveats.iter().map(|h| hex::decode(h).unwrap()).collect();
        let Ok(text) =
            bytes.iter().map(|b| String::from_utf8(b.clone())).collect::<Result<Vec<_>, _>>()
        else {
            l402_vectors::skip("lsat-js", &e.name, "lsat-js takes caveats as strings; not UTF-8");
            continue;
        };
        let mut ctx = Context::new();
        ctx.service = e.context.service.clone();
        ctx.capability = e.context.capability.clone();
        let valid = ours.verify_caveats(bytes.iter().map(Vec::as_slice), &ctx).is_ok();
        let input = json!({
            "op": "evaluate",
            "caveats": text,
            "service": e.context.service,
            "capability": e.context.capability,
        });
        cases.push((e.name, valid, input));
    }
    assert!(cases.len() > 20);
    let bad = compare("evaluate-caveats", &cases);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn lsat_js_services_decoder_on_the_parse_vectors() {
    let mut cases = Vec::new();
    for p in l402_vectors::caveats().parse {
        if p.condition.as_deref() != Some(hex::encode("services").as_str()) {
            continue;
        }
        let bytes = hex::decode(&p.caveat).unwrap();
        let value = String::from_utf8(hex::decode(p.value.unwrap()).unwrap()).unwrap();
        let ours = Caveat::parse(&bytes).is_ok();
        cases.push((p.name, ours, json!({"op": "decode-services", "value": value})));
    }
    assert!(cases.len() >= 8);
    let bad = compare("decode-services", &cases);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
