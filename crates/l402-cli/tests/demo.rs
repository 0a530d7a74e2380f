//! `l402 demo` run as a user would: every step printed, exit 0.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::process::Command;

#[test]
fn demo_walks_through_the_whole_loop_and_exits_zero() {
    let dev = std::env::temp_dir().join(format!("l402-cli-demo-test-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_l402"))
        .arg("demo")
        .env("L402_DEV_DIR", &dev)
        // As on a machine without a CA bundle: the demo is plain HTTP on loopback and must not
        // need one (decision 0706).
        .env("SSL_CERT_FILE", dev.join("no-such-bundle"))
        .env("SSL_CERT_DIR", dev.join("no-such-bundle"))
        .output()
        .expect("run l402 demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = [
        "[1] GET http://127.0.0.1:",
        "<- 402 Payment Required",
        "WWW-Authenticate: LSAT macaroon=",
        "WWW-Authenticate: L402 macaroon=",
        "[2] Pick the challenge",
        "amount:       10000 msat",
        "network:      regtest",
        "[3] Pay the invoice",
        "preimage: ",
        "[4] Retry with Authorization: L402",
        "<- 200 OK",
        "L402-Token-Status: expires=",
        "\"credential_seen\":false",
        "[5] Request again with the same token: no new payment",
        "wallet balance unchanged (990000 msat); challenges issued so far: 1",
        "[6] The same with l402-client",
        "request 1: 200 OK, wallet 990000 msat",
        "request 2: 200 OK, wallet 990000 msat",
        "Done: 2 invoice(s) settled, 20000 msat earned by the proxy.",
    ];
    let mut rest: &str = &stdout;
    for e in expected {
        let at = rest.find(e).unwrap_or_else(|| panic!("{e:?} missing (in order) from:\n{stdout}"));
        rest = &rest[at + e.len()..];
    }
    let _ = std::fs::remove_dir_all(&dev);
}

#[test]
fn demo_serve_keeps_running_for_l402_get_in_another_process() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = std::env::temp_dir().join(format!("l402-cli-demo-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_l402"))
        .args(["demo", "--serve", "--dev-dir", dir.join("dev").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    // The walkthrough runs first, then the command to use is printed.
    let command = loop {
        let line = lines.next().expect("demo exited before serving").unwrap();
        if line.contains(" l402 get http://") {
            break line;
        }
    };
    assert!(
        command.trim_start().starts_with(&format!("L402_DEV_DIR={}", dir.join("dev").display())),
        "{command}"
    );
    let url = command.split_whitespace().last().unwrap().to_owned();
    for paid_now in [true, false] {
        let out = Command::new(env!("CARGO_BIN_EXE_l402"))
            .args(["get", "--json", "--store", dir.join("client.db").to_str().unwrap(), &url])
            .env("L402_DEV_DIR", dir.join("dev"))
            .env("HOME", &dir)
            .env_remove("L402_CONFIG")
            .env_remove("L402_STORE")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], 200, "{v}");
        assert_eq!(v["payment"]["paid_now"], paid_now, "{v}");
        // The proxy's L402-Token-Status, read by the client: 100 uses, one hour.
        let status = &v["payment"]["token_status"];
        assert_eq!(status["remaining"], if paid_now { 99 } else { 98 }, "{v}");
        assert!(status["expires_at"].as_u64().is_some_and(|t| t > 1_700_000_000), "{v}");
    }
    demo.kill().unwrap();
    let _ = demo.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
