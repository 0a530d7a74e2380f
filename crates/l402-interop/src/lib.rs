//! Runs independent implementations (npm, PyPI, and the Rust `macaroon` crate) against ours.
//!
//! Peers are scripts under `js/` and `py/` that read `{"cases": [...]}` on standard input and
//! write `{"results": [...]}`, one result per case. `cargo xtask interop` installs the peers
//! into `target/interop` and runs `cargo test -p l402-interop --features peers` with
//! `L402_INTEROP_DIR` pointing there. Known peer bugs are listed, with a reason each, in
//! `skips.json`; a skip that no test uses any more fails the run, so the list stays honest.
//!
//! ```no_run
//! use l402_interop::Peer;
//! let results = Peer::JsMacaroon.run(&[serde_json::json!({"op": "decode", "token": "AgE..."})])?;
//! # Ok::<(), String>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::Value;

/// An independent implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// npm `macaroon` (js-macaroon), Go-compatible V2.
    JsMacaroon,
    /// PyPI `pymacaroons`.
    PyMacaroons,
    /// npm `lsat-js`.
    LsatJs,
    /// npm `@getalby/lightning-tools`.
    Alby,
}

impl Peer {
    /// The name used in `skips.json`.
    pub fn name(self) -> &'static str {
        match self {
            Peer::JsMacaroon => "js-macaroon",
            Peer::PyMacaroons => "pymacaroons",
            Peer::LsatJs => "lsat-js",
            Peer::Alby => "alby",
        }
    }

    fn script(self) -> (&'static str, &'static str) {
        match self {
            Peer::JsMacaroon => ("node", "js/macaroon.mjs"),
            Peer::PyMacaroons => ("python3", "py/macaroon.py"),
            Peer::LsatJs => ("node", "js/lsat.mjs"),
            Peer::Alby => ("node", "js/alby.mjs"),
        }
    }

    /// Runs a batch of cases through the peer; one JSON result per case, in order.
    pub fn run(self, cases: &[Value]) -> Result<Vec<Value>, String> {
        run_script(self.script(), cases)
    }
}

/// Runs any peer script (path relative to this crate) on a batch of cases.
pub fn run_script((program, script): (&str, &str), cases: &[Value]) -> Result<Vec<Value>, String> {
    let dir = interop_dir();
    let mut child = Command::new(program)
        .arg(crate_dir().join(script))
        .env("L402_INTEROP_DIR", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program} {script}: {e}"))?;
    let input = serde_json::json!({ "cases": cases }).to_string();
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(input.as_bytes())
        .map_err(|e| format!("{script}: writing input: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("{script}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{script} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    #[derive(Deserialize)]
    struct Out {
        results: Vec<Value>,
    }
    let parsed: Out = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!("{script}: bad output ({e}): {}", String::from_utf8_lossy(&out.stdout))
    })?;
    if parsed.results.len() != cases.len() {
        return Err(format!(
            "{script}: {} results for {} cases",
            parsed.results.len(),
            cases.len()
        ));
    }
    Ok(parsed.results)
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the peers are installed: `$L402_INTEROP_DIR`, else `target/interop`.
pub fn interop_dir() -> PathBuf {
    std::env::var_os("L402_INTEROP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("../../target/interop"))
}

/// One reviewed exception: a peer that cannot run a case, and why.
#[derive(Debug, Clone, Deserialize)]
pub struct Skip {
    /// Peer name ([`Peer::name`]).
    pub peer: String,
    /// The operation (`mint`, `verify`, `parse-challenge`, ...).
    pub op: String,
    /// The vector or case name.
    pub case: String,
    /// Why: the peer's bug or the decision that makes us differ.
    pub reason: String,
}

/// The reviewed skip manifest, `skips.json`.
pub fn skips() -> Result<Vec<Skip>, String> {
    let path: &Path = &crate_dir().join("skips.json");
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The reason a peer skips a case, printing it when there is one.
pub fn skipped<'a>(skips: &'a [Skip], peer: Peer, op: &str, case: &str) -> Option<&'a str> {
    let s = skips.iter().find(|s| s.peer == peer.name() && s.op == op && s.case == case)?;
    println!("skip {}/{op}/{case}: {}", s.peer, s.reason);
    Some(&s.reason)
}
