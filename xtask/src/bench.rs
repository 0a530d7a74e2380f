//! `cargo xtask bench [--quick]`: runs the criterion benches and prints every result as a
//! ratio to the baseline measured in the same run (the HMAC floor, or a peer). Absolute
//! times on shared machines are noise; ratios taken in one run are not.

use std::path::Path;

use crate::{cargo, root, run};

/// (package, bench target, criterion group, baseline id, compared ids)
const TABLES: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "l402-token",
        "verify",
        "token",
        "hmac-floor",
        &["decode-verify-binary", "decode-verify-base64"],
    ),
    ("l402-interop", "oracle", "oracle", "ours", &["hmac-floor", "macaroon-crate"]),
    ("l402-caveats", "evaluate", "caveats", "hmac-chain", &["evaluate"]),
    (
        "l402-server",
        "verify",
        "verify",
        "hmac-floor",
        &[
            "core-derived-key",
            "core-warm-cache",
            "part-parse-header",
            "part-caveats",
            "paywall-derived",
            "paywall-per-token-cached",
        ],
    ),
];

pub(crate) fn bench(quick: bool) -> Result<(), String> {
    for (package, target, ..) in TABLES {
        let mut c = cargo();
        c.args(["bench", "-p", package, "--bench", target, "--"]);
        if quick {
            c.args(["--warm-up-time", "1", "--measurement-time", "2"]);
        }
        run(&mut c)?;
    }
    report(&root().join("target/criterion"))
}

fn mean_ns(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn report(criterion: &Path) -> Result<(), String> {
    for (_, _, group, base, others) in TABLES {
        println!("\n{group}: time as a multiple of `{base}` (same run)\n");
        let base_dir = criterion.join(group).join(base);
        if base_dir.join("new").is_dir() {
            // One token, no parameter: a row per bench.
            let b = mean_ns(&base_dir).ok_or("missing baseline estimate")?;
            println!("| bench | time / {base} |\n|---|---|");
            for o in *others {
                println!("| {o} | {} |", ratio(mean_ns(&criterion.join(group).join(o)), b));
            }
            continue;
        }
        println!("| n | {} |", others.join(" | "));
        println!("|---|{}", "---|".repeat(others.len()));
        let mut params: Vec<u64> = std::fs::read_dir(&base_dir)
            .map_err(|e| format!("{}: {e}", base_dir.display()))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        params.sort_unstable();
        for n in params {
            let b = mean_ns(&base_dir.join(n.to_string())).ok_or("missing baseline estimate")?;
            let cells: Vec<String> = others
                .iter()
                .map(|o| ratio(mean_ns(&criterion.join(group).join(o).join(n.to_string())), b))
                .collect();
            println!("| {n} | {} |", cells.join(" | "));
        }
    }
    Ok(())
}

fn ratio(x: Option<f64>, base: f64) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{:.2}x", x / base))
}
