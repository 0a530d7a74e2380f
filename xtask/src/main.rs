//! `cargo xtask <command>`: the single entry point for repository chores.
//!
//! - `vectors [--check]`: regenerate `spec-vectors/` (or fail when stale)
//! - `interop`: install the npm/PyPI peers into `target/interop` and run the peer tests
//! - `fuzz [--seconds N]`: smoke-run every fuzz target
//! - `bench [--quick]`: run the criterion benchmarks
//! - `ci`: everything CI runs, in order
#![forbid(unsafe_code)]
#![allow(missing_docs, reason = "a binary")]
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    reason = "generator code: a bad literal is a bug to surface at once"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod ci;
mod fuzz;
mod interop;
mod postgres;
mod vectors;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["vectors"] => vectors::run(&root(), false),
        ["vectors", "--check"] => vectors::run(&root(), true),
        ["ci"] => ci::ci(),
        ["interop"] => interop::interop(),
        ["fuzz"] => fuzz::fuzz(10),
        ["fuzz", "--seconds", n] => n.parse().map_err(|_| USAGE.to_owned()).and_then(fuzz::fuzz),
        ["bench"] => bench::bench(false),
        ["bench", "--quick"] => bench::bench(true),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str =
    "usage: cargo xtask vectors [--check] | interop | fuzz [--seconds N] | bench [--quick] | ci";

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs a command in the repository root, failing with its name when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    println!("$ {shown}");
    let status = cmd.current_dir(root()).status().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed: {status}"))
    }
}
