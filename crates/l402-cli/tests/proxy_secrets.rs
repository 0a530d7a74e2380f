//! `l402 proxy --check` with a syntax error on the admin token's line: the error names the
//! position, never the token (decision 0816).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

use std::process::Command;

#[test]
fn check_does_not_print_the_token_of_a_broken_line() {
    const TOKEN: &str = "s3cret-admin-token-0123456789";
    let dir = std::env::temp_dir().join(format!("l402-cli-proxy-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("proxy.toml");
    let broken = format!(
        "[admin]\ntoken = \"{TOKEN}\" oops\n\n[[services]]\nname = \"a\"\nupstream = \"http://127.0.0.1:1\"\nprice_msat = 1\n"
    );
    std::fs::write(&file, broken).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_l402"))
        .args(["proxy", "--check", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN), "{stdout}{stderr}");
    let err: serde_json::Value = serde_json::from_str(&stderr).unwrap();
    assert_eq!(err["code"], "config-syntax");
    assert!(err["message"].as_str().unwrap().contains("line 2, column"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
