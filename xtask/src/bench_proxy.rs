//! `cargo xtask bench proxy [SECONDS ROUNDS]`: the proxy beside nginx, and axum with and
//! without `L402Layer`, each measured side by side in one run, written into
//! `docs/benchmarks.md` as ratios against their targets (issue 13).
//!
//! The nginx rows come from `../shared/bench/proxy-vs-nginx.sh` (or `L402_PROXY_BENCH`), the
//! axum rows from `xtask/bench/axum-layer.sh` in the same layout: wrk on core 0, the server
//! under test alone on core 1 with one tokio worker.

use std::path::PathBuf;
use std::process::Command;

use crate::{cargo, root, run};

const BEGIN: &str = "<!-- cargo xtask bench proxy: begin -->";
const END: &str = "<!-- cargo xtask bench proxy: end -->";

/// Ratios of one run.
#[derive(Debug, PartialEq)]
struct Figures {
    /// req/s medians: nginx, paid, free.
    nginx: f64,
    paid: f64,
    free: f64,
    /// p99 of the paid row over nginx's.
    p99_paid: f64,
    /// axum with the layer over axum without it: req/s and p99.
    layer: f64,
    p99_layer: f64,
}

pub(crate) fn bench_proxy(secs: u32, rounds: u32) -> Result<(), String> {
    run(cargo().args(["build", "--release", "-p", "l402-cli"]))?;
    run(cargo().args(["build", "--release", "-p", "l402-server", "--example", "bench_axum"]))?;
    let script = std::env::var_os("L402_PROXY_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/bench/proxy-vs-nginx.sh"));
    if !script.is_file() {
        return Err(format!(
            "{}: the side-by-side script is missing (set L402_PROXY_BENCH)",
            script.display()
        ));
    }
    let (secs, rounds) = (secs.to_string(), rounds.to_string());
    let nginx =
        output(Command::new("bash").arg(&script).args(["target/release/l402", &secs, &rounds]))?;
    let axum = output(Command::new("bash").arg("xtask/bench/axum-layer.sh").args([
        "target/release/examples/bench_axum",
        &secs,
        &rounds,
    ]))?;
    let figures = parse(&nginx, &axum)?;
    let today = output(Command::new("date").arg("-u").arg("+%Y-%m-%d"))?;
    let section = render(&figures, today.trim(), &secs, &rounds);
    println!("{section}");
    let path = root().join("docs/benchmarks.md");
    let doc = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        return Err(format!("{}: no {BEGIN} … {END} markers", path.display()));
    };
    let updated = format!("{}{BEGIN}\n{section}{}", &doc[..b], &doc[e..]);
    std::fs::write(&path, updated).map_err(|e| format!("{}: {e}", path.display()))
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    println!("$ {shown}");
    let out = cmd.current_dir(root()).output().map_err(|e| format!("{shown}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    if !out.status.success() {
        return Err(format!(
            "{shown} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(text)
}

/// Every number in `line`, in order (`1.23x` reads as 1.23).
fn numbers(line: &str) -> Vec<f64> {
    line.split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|w| w.trim_end_matches('x').parse().ok())
        .collect()
}

fn line<'a>(text: &'a str, prefix: &str) -> Result<&'a str, String> {
    text.lines().rev().find(|l| l.starts_with(prefix)).ok_or(format!("no `{prefix}` line"))
}

fn parse(nginx: &str, axum: &str) -> Result<Figures, String> {
    let bad = |what: &str| format!("unreadable `{what}` line");
    let m = numbers(line(nginx, "medians req/s:")?);
    let [nginx_rps, paid, free] = m[..] else { return Err(bad("medians req/s")) };
    let r = numbers(line(nginx, "proxy-vs-nginx:")?);
    let [_, _, p99_paid] = r[..] else { return Err(bad("proxy-vs-nginx")) };
    let a = numbers(line(axum, "axum-layer:")?);
    let [layer, p99_layer] = a[..] else { return Err(bad("axum-layer")) };
    Ok(Figures { nginx: nginx_rps, paid, free, p99_paid, layer, p99_layer })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

fn render(f: &Figures, date: &str, secs: &str, rounds: &str) -> String {
    let (paid, free, of_free) = (f.paid / f.nginx, f.free / f.nginx, f.paid / f.free);
    let rows = [
        ("paid path, req/s of nginx", paid, "≥ 0.80x", paid >= 0.8),
        ("paid path, p99 of nginx", f.p99_paid, "≤ 1.50x", f.p99_paid <= 1.5),
        ("free path, req/s of nginx", free, "≥ 0.90x", free >= 0.9),
        ("paid path, req/s of the free path", of_free, "≥ 0.90x", of_free >= 0.9),
        ("axum + `L402Layer`, req/s of axum alone", f.layer, "≥ 0.90x", f.layer >= 0.9),
        ("axum + `L402Layer`, p99 of axum alone", f.p99_layer, "(none)", true),
    ];
    let mut s = format!(
        "Written by `cargo xtask bench proxy {secs} {rounds}` on {date} ({rounds} alternating \
         rounds of {secs} s per row, medians compared):\n\n| row | ratio | target | |\n|---|---|---|---|\n"
    );
    for (name, ratio, target, ok) in rows {
        let v = if target == "(none)" { "" } else { verdict(ok) };
        s.push_str(&format!("| {name} | {ratio:.2}x | {target} | {v} |\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_scripts() {
        let nginx =
            "nginx 20000 1.5\nmedians req/s: nginx 20000, l402 paid 16000, l402 free 18000\n\
                     proxy-vs-nginx: paid 0.80x free 0.90x of nginx req/s; p99 paid/nginx 1.40x\n";
        let axum = "medians req/s: axum 50000, axum + L402Layer 46000\n\
                    axum-layer: layer 0.92x of plain req/s; p99 layer/plain 1.10x\n";
        let f = parse(nginx, axum).unwrap();
        assert_eq!(
            f,
            Figures {
                nginx: 20000.0,
                paid: 16000.0,
                free: 18000.0,
                p99_paid: 1.4,
                layer: 0.92,
                p99_layer: 1.1
            }
        );
        let table = render(&f, "2026-12-08", "5", "3");
        assert!(
            table.contains("| paid path, req/s of the free path | 0.89x | ≥ 0.90x | **not met** |"),
            "{table}"
        );
        assert!(table.contains("| paid path, req/s of nginx | 0.80x | ≥ 0.80x | met |"), "{table}");
        assert!(parse("nothing", axum).is_err());
    }
}
