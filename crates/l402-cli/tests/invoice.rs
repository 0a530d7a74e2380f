//! `l402 invoice decode` on public invoices (lsat-js test data, Aperture fixtures) and on garbage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

use std::process::{Command, Output};

fn l402(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_l402")).args(args).output().expect("run l402")
}

// lsat-js tests/data.ts @ d902b95: a testnet invoice for 1000 sat with its payment hash.
const LNTB10U: &str = "lntb10u1pw7kfm8pp50nhe8uk9r2n9yz97c9z8lsu0ckxehnsnwkjn9mdsmnffpgkrxzhqdq5w3jhxapqd9h8vmmfvdjscqzpgllq2qvdlgkllc27kpd87lz8pdfsfmtteyc3kwq734jpwnvqt96e4nuy0yauzdrtkumxsvawgda8dlljxu3nnjlhs6w75390wy7ukj6cpfmygah";

#[test]
fn decodes_a_public_invoice() {
    let o = l402(&["invoice", "decode", LNTB10U]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["payment_hash"],
        "7cef93f2c51aa65208bec1447fc38fc58d9bce1375a532edb0dcd290a2c330ae"
    );
    assert_eq!(v["amount_msat"], 1_000_000);
    assert_eq!(v["network"], "testnet");
    for field in ["timestamp", "expiry", "payee", "description"] {
        assert!(v.get(field).is_some(), "{field}");
    }
}

#[test]
fn refuses_garbage_and_tampering_with_a_code() {
    let mut tampered = LNTB10U.to_owned();
    tampered.replace_range(40..41, if &LNTB10U[40..41] == "q" { "p" } else { "q" });
    for bad in ["lnbc1garbage", "", tampered.as_str()] {
        let o = l402(&["invoice", "decode", bad]);
        assert_eq!(o.status.code(), Some(1), "{bad}");
        let e: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap();
        let code = e["code"].as_str().unwrap();
        assert!(
            ["malformed-invoice", "invalid-invoice-signature"].contains(&code),
            "{bad}: {code}"
        );
    }
}
