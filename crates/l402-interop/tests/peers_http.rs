//! Header interop: lsat-js, @getalby/lightning-tools (including its real `fetchWithL402` client
//! against a loopback server), Aperture's and lnget's challenge regexes, against l402-http.
#![cfg(feature = "peers")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use l402_http::{parse_challenge_lines, select, Credential, Limits, Scheme};
use l402_interop::{run_script, skipped, skips, Peer};
use l402_token::Macaroon;
use l402_vectors::http::{EmitChallengeCase, EmitCredentialCase};
use serde_json::{json, Value};

const LSAT_JS: (&str, &str) = ("node", "js/http_lsat.mjs");
const ALBY: (&str, &str) = ("node", "js/http_alby.mjs");
const REGEX: (&str, &str) = ("node", "js/http_regex.mjs");

/// Our emitted challenges for our own token: lsat-js decodes the invoice and the L402
/// identifier, so only a real invoice and an L402 macaroon make a fair case.
fn our_challenges() -> Vec<EmitChallengeCase> {
    let v = l402_vectors::http();
    let out: Vec<_> =
        v.emitted_challenges.into_iter().filter(|e| e.name.starts_with("ours-")).collect();
    assert_eq!(out.len(), 3);
    out
}

fn our_credential() -> EmitCredentialCase {
    l402_vectors::http().emitted_credentials.into_iter().find(|c| c.name == "ours").unwrap()
}

fn same_challenge(got: &Value, e: &EmitChallengeCase) -> bool {
    got["ok"] == true
        && got["macaroon"] == e.macaroon.as_str()
        && got["invoice"] == e.invoice.as_str()
}

#[test]
fn lsat_js_and_alby_parse_the_challenges_we_emit() {
    let skips = skips().unwrap();
    let ours = our_challenges();
    let mut bad = Vec::new();
    // lsat-js is given one value, as a client reading the first WWW-Authenticate line does.
    let cases: Vec<Value> =
        ours.iter().map(|e| json!({"op": "parse-challenge", "header": e.lines[0]})).collect();
    for (e, got) in ours.iter().zip(run_script(LSAT_JS, &cases).unwrap()) {
        if skipped(&skips, Peer::LsatJs, "parse-challenge", &e.name).is_none()
            && !same_challenge(&got, e)
        {
            bad.push(format!("lsat-js {}: {got}", e.name));
        }
    }
    // Alby reads `headers.get("www-authenticate")`, which joins the lines with ", ".
    let cases: Vec<Value> = ours
        .iter()
        .map(|e| json!({"op": "parse-challenge", "header": e.lines.join(", ")}))
        .collect();
    for (e, got) in ours.iter().zip(run_script(ALBY, &cases).unwrap()) {
        if skipped(&skips, Peer::Alby, "parse-challenge", &e.name).is_none()
            && !same_challenge(&got, e)
        {
            bad.push(format!("alby {}: {got}", e.name));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn apertures_and_lnget_regexes_match_our_default_and_one_line_forms() {
    let v = l402_vectors::http();
    let mut bad = Vec::new();
    for client in ["aperture", "lnget"] {
        let cases: Vec<Value> = v
            .emitted_challenges
            .iter()
            .map(|e| json!({"client": client, "lines": e.lines}))
            .collect();
        for (e, got) in v.emitted_challenges.iter().zip(run_script(REGEX, &cases).unwrap()) {
            // The version/token form is opt-in precisely because these clients cannot read it
            // (decision 0401); that they do not is part of what this test pins.
            let want = e.style != "version-token";
            let ok = if want { same_challenge(&got, e) } else { got["ok"] == false };
            if !ok {
                bad.push(format!("{client} {}: want match={want}, got {got}", e.name));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn alby_pays_our_challenges_and_answers_with_a_credential_we_accept() {
    let cred = our_credential();
    let ours = our_challenges();
    let cases: Vec<Value> = ours
        .iter()
        .map(|e| json!({"op": "fetch", "lines": e.lines, "preimage": cred.preimage}))
        .collect();
    let mut bad = Vec::new();
    for (e, got) in ours.iter().zip(run_script(ALBY, &cases).unwrap()) {
        if got["ok"] != true || got["paid"] != json!([e.invoice]) {
            bad.push(format!("alby fetch {}: {got}", e.name));
            continue;
        }
        let auth = got["authorization"].as_str().unwrap();
        match Credential::parse_authorization(auth) {
            Ok(c) => {
                // Against Aperture's pair Alby pays the L402 line but answers `LSAT` (it keeps the
                // scheme of the joined header's start); we accept both names.
                let scheme = if e.style == "aperture" { Scheme::Lsat } else { Scheme::L402 };
                if c.macaroon.to_base64() != cred.macaroon
                    || c.preimage.to_hex() != cred.preimage
                    || c.scheme != scheme
                {
                    bad.push(format!("alby fetch {}: read {c:?} from {auth}", e.name));
                }
            }
            Err(err) => {
                bad.push(format!("alby fetch {}: we refuse {auth}: {}", e.name, err.code()))
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn we_parse_the_challenges_peers_emit() {
    // lsat-js refuses an invoice whose payment hash is not the macaroon's, so it gets its own
    // test data's matching pair (boltwall macaroon, lsat-js invoice).
    let v = l402_vectors::http();
    let boltwall =
        v.challenges.iter().find(|c| c.name == "lsat-js-challenge-without-space").unwrap();
    let boltwall = boltwall.selected.clone().unwrap();
    let cred = our_credential();
    let ours_invoice = our_challenges()[0].invoice.clone();
    let mut bad = Vec::new();
    for (peer, script, mac, invoice) in [
        (Peer::LsatJs, LSAT_JS, boltwall.macaroon.as_str(), boltwall.invoice.as_str()),
        (Peer::Alby, ALBY, cred.macaroon.as_str(), ours_invoice.as_str()),
    ] {
        let case = json!({"op": "make-challenge", "macaroon": mac, "invoice": invoice});
        let got = &run_script(script, &[case]).unwrap()[0];
        assert_eq!(got["ok"], true, "{}: {got}", peer.name());
        let header = got["header"].as_str().unwrap();
        let offered = parse_challenge_lines([header], &Limits::DEFAULT).unwrap();
        let want = Macaroon::from_base64(mac).unwrap();
        match select(&offered) {
            Ok(c) if c.macaroon == want && c.invoice == invoice => {}
            other => bad.push(format!("{}: {header} gave {other:?}", peer.name())),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn credentials_cross_both_ways() {
    let skips = skips().unwrap();
    let cred = our_credential();
    let mut bad = Vec::new();

    // lsat-js writes `LSAT <mac>:<preimage>`; we read it.
    let made = &run_script(
        LSAT_JS,
        &[json!({"op": "make-authorization", "macaroon": cred.macaroon, "preimage": cred.preimage})],
    )
    .unwrap()[0];
    assert_eq!(made["ok"], true, "{made}");
    let value = made["value"].as_str().unwrap();
    match Credential::parse_authorization(value) {
        Ok(c) if c.scheme == Scheme::Lsat && c.macaroon.to_base64() == cred.macaroon => {}
        other => bad.push(format!("lsat-js token {value}: {other:?}")),
    }

    // Both peers read what we write.
    let case = json!({"op": "parse-authorization", "value": cred.authorization});
    for (peer, script) in [(Peer::LsatJs, LSAT_JS), (Peer::Alby, ALBY)] {
        if skipped(&skips, peer, "parse-authorization", &cred.name).is_some() {
            continue;
        }
        let got = &run_script(script, std::slice::from_ref(&case)).unwrap()[0];
        if got["ok"] != true
            || got["macaroon"] != cred.macaroon.as_str()
            || got["preimage"] != cred.preimage.as_str()
        {
            bad.push(format!("{} reading {}: {got}", peer.name(), cred.authorization));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
