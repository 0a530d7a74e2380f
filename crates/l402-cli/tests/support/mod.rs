//! Running the real `l402` binary, shared by the CLI test files.
#![allow(dead_code, reason = "each test binary uses the helpers it needs")]

use std::process::{Command, Output};

/// Runs `l402 <args>` to completion.
pub(crate) fn l402(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_l402")).args(args).output().expect("run l402")
}

/// Standard output as JSON.
pub(crate) fn stdout_json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// The stable `code` of the one JSON error object on standard error.
pub(crate) fn stderr_code(o: &Output) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&o.stderr).expect("stderr is one JSON object");
    v["code"].as_str().expect("code").to_owned()
}
