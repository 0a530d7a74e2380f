//! Token interop: js-macaroon and pymacaroons against our codec and HMAC chain.
#![cfg(feature = "peers")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use l402_interop::{skipped, skips, Peer};
use l402_token::Macaroon;
use serde_json::{json, Value};

const MACAROON_PEERS: [Peer; 2] = [Peer::JsMacaroon, Peer::PyMacaroons];

fn ok(v: &Value) -> bool {
    v["ok"] == true
}

#[test]
fn our_tokens_verify_in_peers_exactly_when_they_verify_in_ours() {
    let v = l402_vectors::token();
    let skips = skips().unwrap();
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for t in v.tokens.iter().filter(|t| t.root_key.is_some()) {
        cases.push((
            t.name.clone(),
            json!({"op": "verify", "token": t.canonical, "root_key": t.root_key}),
        ));
        expected.push(t.signature_check.as_deref() == Some("valid"));
    }
    for f in v.failures.iter().filter(|f| f.code == "invalid-signature") {
        cases.push((
            f.name.clone(),
            json!({"op": "verify", "token": f.text, "root_key": f.root_key}),
        ));
        expected.push(false);
    }
    assert!(cases.len() > 20);
    let mut bad = Vec::new();
    for peer in MACAROON_PEERS {
        let results = peer.run(&cases.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>()).unwrap();
        for (((name, _), want), got) in cases.iter().zip(&expected).zip(&results) {
            if skipped(&skips, peer, "verify", name).is_some() {
                continue;
            }
            if ok(got) != *want {
                bad.push(format!("{} verify {name}: want ok={want}, got {got}", peer.name()));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn peers_mint_the_same_bytes_and_we_verify_theirs() {
    let v = l402_vectors::token();
    let skips = skips().unwrap();
    let mintable: Vec<_> = v
        .tokens
        .iter()
        .filter(|t| t.root_key.is_some() && t.signature_check.as_deref() == Some("valid"))
        .collect();
    let cases: Vec<Value> = mintable
        .iter()
        .map(|t| {
            let caveats: Vec<String> =
                t.caveats.iter().map(|c| String::from_utf8(hex::decode(&c.id).unwrap()).unwrap()).collect();
            json!({"op": "mint", "root_key": t.root_key, "identifier": t.identifier, "location": t.location, "caveats": caveats})
        })
        .collect();
    let mut bad = Vec::new();
    for peer in MACAROON_PEERS {
        let results = peer.run(&cases).unwrap();
        for (t, got) in mintable.iter().zip(&results) {
            if skipped(&skips, peer, "mint", &t.name).is_some() {
                continue;
            }
            if !ok(got) {
                bad.push(format!("{} mint {}: {got}", peer.name(), t.name));
                continue;
            }
            let theirs = hex::decode(got["binary"].as_str().unwrap()).unwrap();
            let verified = Macaroon::decode(&theirs).map_err(|e| e.to_string()).and_then(|m| {
                m.verify_signature(&hex::decode(t.root_key.as_ref().unwrap()).unwrap())
                    .map_err(|e| e.to_string())
            });
            if let Err(e) = verified {
                bad.push(format!("{} mint {}: ours refuses theirs: {e}", peer.name(), t.name));
            }
            let ours = Macaroon::from_base64(&t.canonical).unwrap().encode();
            if theirs != ours && skipped(&skips, peer, "mint-bytes", &t.name).is_none() {
                bad.push(format!(
                    "{} mint {}: bytes differ: theirs {} ours {}",
                    peer.name(),
                    t.name,
                    hex::encode(&theirs),
                    hex::encode(&ours)
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn peers_decode_every_text_form_we_accept_like_we_do() {
    let v = l402_vectors::token();
    let skips = skips().unwrap();
    let cases: Vec<Value> =
        v.tokens.iter().map(|t| json!({"op": "decode", "token": t.text})).collect();
    let mut bad = Vec::new();
    for peer in MACAROON_PEERS {
        let results = peer.run(&cases).unwrap();
        for (t, got) in v.tokens.iter().zip(&results) {
            if skipped(&skips, peer, "decode", &t.name).is_some() {
                continue;
            }
            let ids: Vec<&str> = t.caveats.iter().map(|c| c.id.as_str()).collect();
            let want = json!({"ok": true, "identifier": t.identifier, "signature": t.signature, "caveats": ids});
            let got = json!({"ok": got["ok"], "identifier": got["identifier"], "signature": got["signature"], "caveats": got["caveats"], "error": got["error"]});
            if got.get("error").is_some_and(|e| !e.is_null())
                || got["identifier"] != want["identifier"]
                || got["signature"] != want["signature"]
                || got["caveats"] != want["caveats"]
            {
                bad.push(format!("{} decode {}: {got}", peer.name(), t.name));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_skip_names_a_known_peer_and_has_a_reason() {
    for s in skips().unwrap() {
        assert!(
            ["js-macaroon", "pymacaroons", "lsat-js", "alby"].contains(&s.peer.as_str()),
            "{s:?}"
        );
        assert!(s.reason.len() > 20, "{s:?}: give a real reason");
    }
}

#[test]
fn empty_location_forms_of_both_peers_decode_and_round_trip() {
    // pymacaroons writes an empty location field (`01 00`); js-macaroon and Go omit it.
    let root = "42".repeat(32);
    let id = "00".repeat(66);
    let case = json!({"op": "mint", "root_key": root, "identifier": id, "location": null, "caveats": ["a=b"]});
    let ours = Macaroon::new(&hex::decode(&root).unwrap(), &hex::decode(&id).unwrap(), None)
        .with_caveat("a=b");
    for (peer, location) in [(Peer::JsMacaroon, None), (Peer::PyMacaroons, Some(&b""[..]))] {
        let got = &peer.run(std::slice::from_ref(&case)).unwrap()[0];
        let theirs = hex::decode(got["binary"].as_str().unwrap()).unwrap();
        let m = Macaroon::decode(&theirs).unwrap();
        assert_eq!(m.location(), location, "{}", peer.name());
        assert_eq!(m.encode(), theirs, "{}: byte-exact", peer.name());
        assert_eq!(m.signature(), ours.signature(), "{}", peer.name());
        m.verify_signature(&hex::decode(&root).unwrap()).unwrap();
        if location.is_none() {
            // Minted with an empty location, ours are the peer's bytes (`token mint`).
            let empty =
                Macaroon::new(&hex::decode(&root).unwrap(), &hex::decode(&id).unwrap(), Some(b""));
            assert_eq!(empty.with_caveat("a=b").encode(), theirs, "{}", peer.name());
        }
    }
}
