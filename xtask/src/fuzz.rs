//! `cargo xtask fuzz [--seconds N]`: builds every target in `fuzz/` and runs each for N seconds
//! (default 10), seeded with its committed regression inputs. cargo-fuzz needs nightly flags;
//! `RUSTC_BOOTSTRAP=1` lets the stable toolchain accept them.

use std::process::Command;

use crate::{root, run};

fn cargo_fuzz() -> Command {
    let mut c = Command::new("cargo");
    c.arg("fuzz").env("RUSTC_BOOTSTRAP", "1").current_dir(root().join("fuzz"));
    c
}

pub(crate) fn fuzz(seconds: u32) -> Result<(), String> {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let list = cargo_fuzz().arg("list").output().map_err(|e| e.to_string())?;
    let targets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if targets.is_empty() {
        return Err("no fuzz targets found".into());
    }
    run(cargo_fuzz().args(["build", "-O"]))?;
    for t in &targets {
        let corpus = root().join("fuzz/corpus").join(t);
        let regressions = root().join("fuzz/regressions").join(t);
        for d in [&corpus, &regressions] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        seed(t, &corpus)?;
        // New inputs go to the ignored corpus; committed regressions are read as seeds.
        run(cargo_fuzz()
            .args(["run", "-O", t])
            .arg(&corpus)
            .arg(&regressions)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-rss_limit_mb=2048"))?;
    }
    println!("fuzz: {} targets ran {seconds}s each without a crash", targets.len());
    Ok(())
}

/// Starts each corpus from the spec vectors, so a short smoke run already explores deep
/// inside valid tokens instead of spending its seconds finding the first valid byte.
fn seed(target: &str, corpus: &std::path::Path) -> Result<(), String> {
    let token = l402_vectors::token();
    let inputs: Vec<Vec<u8>> = match target {
        "token_binary" => token.tokens.iter().filter_map(|t| hex::decode(&t.binary).ok()).collect(),
        "token_text" => token.tokens.iter().map(|t| t.text.clone().into_bytes()).collect(),
        "identifier" => {
            token.identifiers.iter().filter_map(|i| hex::decode(&i.bytes).ok()).collect()
        }
        "http_token_status" => l402_vectors::http()
            .token_status
            .iter()
            .map(|c| c.lines.join(", ").into_bytes())
            .collect(),
        _ => Vec::new(),
    };
    for (i, input) in inputs.iter().enumerate() {
        let path = corpus.join(format!("vector-{i}"));
        std::fs::write(&path, input).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
