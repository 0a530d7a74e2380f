//! `l402 token …` driven as a user would: the real binary, the shared vectors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::process::Command;

use support::{l402, stderr_code, stdout_json};

#[test]
fn decode_prints_the_json_view_of_every_vector() {
    for t in l402_vectors::token().tokens {
        let o = l402(&["token", "decode", &t.text]);
        assert_eq!(o.status.code(), Some(0), "{}", t.name);
        let v = stdout_json(&o);
        assert_eq!(v["signature"], t.signature, "{}", t.name);
        assert_eq!(v["identifier"]["hex"], t.identifier, "{}", t.name);
        assert_eq!(
            v["identifier"]["l402"]["payment_hash"].as_str(),
            t.payment_hash.as_deref(),
            "{}",
            t.name
        );
        assert_eq!(v["caveats"].as_array().map(Vec::len), Some(t.caveats.len()), "{}", t.name);
    }
}

#[test]
fn decode_refuses_non_macaroons_with_a_code() {
    let o = l402(&["token", "decode", "not a macaroon"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr_code(&o), "malformed-macaroon");
}

#[test]
fn verify_gives_each_failure_vector_its_code() {
    for f in l402_vectors::token().failures {
        let (Some(text), Some(root)) = (&f.text, &f.root_key) else {
            l402_vectors::skip("cli", &f.name, "binary-only or keyless vector: covered by decode");
            continue;
        };
        let mut args = vec!["token", "verify", text.as_str(), "--root-key", root.as_str()];
        if let Some(p) = &f.preimage {
            args.extend(["--preimage", p.as_str()]);
        }
        let o = l402(&args);
        assert_eq!(o.status.code(), Some(1), "{}", f.name);
        assert_eq!(stdout_json(&o)["verdict"], f.code, "{}", f.name);
    }
}

#[test]
fn mint_attenuate_verify_round_trip() {
    let root = "11".repeat(32);
    let preimage = "22".repeat(32);
    let hash =
        hex::encode(l402_token::Preimage::from_hex(&preimage).unwrap().payment_hash().as_bytes());
    let minted = l402(&[
        "token",
        "mint",
        "--root-key",
        &root,
        "--payment-hash",
        &hash,
        "--token-id",
        &"33".repeat(32),
        "--caveat",
        "services=demo:0",
    ]);
    assert_eq!(minted.status.code(), Some(0));
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let narrowed = l402(&["token", "attenuate", &token, "--caveat", "demo_capabilities=read"]);
    let narrowed = String::from_utf8(narrowed.stdout).unwrap().trim().to_owned();
    let decoded = stdout_json(&l402(&["token", "decode", &narrowed]));
    assert_eq!(decoded["caveats"][1]["id"], "demo_capabilities=read");
    assert_eq!(decoded["identifier"]["l402"]["token_id"], "33".repeat(32));
    assert_eq!(decoded["location"], "lsat");

    let verify = |extra: &[&str]| {
        let mut args = vec!["token", "verify", narrowed.as_str(), "--root-key", root.as_str()];
        args.extend_from_slice(extra);
        l402(&args)
    };
    let ok = verify(&["--preimage", &preimage, "--capability", "read"]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(stdout_json(&ok)["verdict"], "valid");
    // A capability list needs the request's capability (decision 0306).
    let unnamed = verify(&["--preimage", &preimage]);
    assert_eq!(unnamed.status.code(), Some(1));
    assert_eq!(stdout_json(&unnamed)["verdict"], "missing-capability");
    let no_preimage = verify(&["--capability", "read"]);
    assert_eq!(no_preimage.status.code(), Some(0));
    assert_eq!(stdout_json(&no_preimage)["preimage_checked"], false);
    let wrong_key = l402(&["token", "verify", &narrowed, "--root-key", &"12".repeat(32)]);
    assert_eq!(wrong_key.status.code(), Some(1));
    assert_eq!(stdout_json(&wrong_key)["verdict"], "invalid-signature");
}

#[test]
fn usage_errors_exit_2_with_json() {
    for args in [
        vec!["token", "verify", "AgE="],
        vec!["token", "mint", "--root-key", "zz", "--payment-hash", "00"],
        vec!["token", "mint", "--root-key", "00", "--payment-hash", "00"],
        vec!["no-such-command"],
    ] {
        let o = l402(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr_code(&o), "usage", "{args:?}");
    }
}

#[test]
fn decode_reads_standard_input() {
    use std::io::Write;
    let t = &l402_vectors::token().tokens[0];
    let mut child = Command::new(env!("CARGO_BIN_EXE_l402"))
        .args(["token", "decode", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{}\n", t.text).as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout_json(&o)["signature"], t.signature);
}
