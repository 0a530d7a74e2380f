//! `cargo xtask vectors [--check]`: rebuilds every file in `spec-vectors/` from fixed seeds.
//!
//! With `--check`, nothing is written and the command fails when a committed file differs
//! from what the generator produces now.

use std::path::Path;

use l402_token::chain::sha256;

mod caveats;
mod http;
mod token;

/// Deterministic 32 bytes for a label: every "random" value in the vectors comes from here.
pub(crate) fn seeded(label: &str) -> [u8; 32] {
    sha256(format!("l402-spec-vectors/{label}").as_bytes())
}

/// Collects every independent value our code failed to reproduce.
#[derive(Default)]
pub(crate) struct Check {
    failures: Vec<String>,
}

impl Check {
    pub(crate) fn expect(&mut self, vector: &str, what: &str, ok: bool) {
        if !ok {
            self.failures.push(format!("{vector}: {what}"));
        }
    }
}

/// Every vector file, as (file name, pretty JSON with a trailing newline).
pub(crate) fn generate() -> Result<Vec<(&'static str, String)>, String> {
    let mut check = Check::default();
    let token = token::build(&mut check);
    let caveats = caveats::build(&mut check);
    let http = http::build(&mut check);
    if !check.failures.is_empty() {
        return Err(format!(
            "independent values not reproduced:\n  {}",
            check.failures.join("\n  ")
        ));
    }
    Ok(vec![
        ("token.json", to_json(&token)?),
        ("caveats.json", to_json(&caveats)?),
        ("http.json", to_json(&http)?),
    ])
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v).map(|s| s + "\n").map_err(|e| e.to_string())
}

pub(crate) fn run(root: &Path, check_only: bool) -> Result<(), String> {
    let dir = root.join("spec-vectors");
    let mut stale = Vec::new();
    for (name, json) in generate()? {
        let path = dir.join(name);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == json {
            continue;
        }
        if check_only {
            stale.push(name);
        } else {
            std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!("stale vectors (run `cargo xtask vectors`): {}", stale.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_vectors_are_fresh() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(super::run(&root, true), Ok(()));
    }
}
