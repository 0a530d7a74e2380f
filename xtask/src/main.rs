//! `cargo xtask <command>`: the single entry point for repository chores.
//!
//! - `vectors [--check]`: regenerate `spec-vectors/` (or fail when stale)
//! - `interop`: install the npm/PyPI peers into `target/interop` and run the peer tests
//! - `fuzz [--seconds N]`: smoke-run every fuzz target
//! - `bench [--quick]`: run the criterion benchmarks
//! - `bench proxy [SECONDS ROUNDS]`: the proxy beside nginx and axum with the layer, into
//!   `docs/benchmarks.md`
//! - `tomcat`: the proxy in front of Debian's Tomcat 10 (installed when missing)
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
mod bench_proxy;
mod ci;
mod fuzz;
mod interop;
mod postgres;
mod tomcat;
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
        ["bench", "proxy"] => bench_proxy::bench_proxy(6, 3),
        ["bench", "proxy", secs, rounds] => match (secs.parse(), rounds.parse()) {
            (Ok(s), Ok(r)) => bench_proxy::bench_proxy(s, r),
            _ => Err(USAGE.to_owned()),
        },
        ["tomcat"] => tomcat::tomcat(),
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
    "usage: cargo xtask vectors [--check] | interop | fuzz [--seconds N] | bench [--quick] | bench proxy [SECONDS ROUNDS] | tomcat | ci";

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Like [`run`], but a command still running after `limit` is killed with every process it
/// started (its process group), so one hung test fails CI with its output instead of holding
/// the job until CI's own time limit cuts off everything.
pub(crate) fn run_within(cmd: &mut Command, limit: std::time::Duration) -> Result<(), String> {
    // Its own group, so it can be killed whole; not on a terminal, where Ctrl-C must still
    // reach it (the foreground group is ours).
    bounded(cmd, limit, !std::io::IsTerminal::is_terminal(&std::io::stdin()))
}

fn bounded(cmd: &mut Command, limit: std::time::Duration, grouped: bool) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    println!("$ {shown} (limit {limit:?})");
    #[cfg(unix)]
    if grouped {
        std::os::unix::process::CommandExt::process_group(cmd, 0);
    }
    let mut child = cmd.current_dir(root()).spawn().map_err(|e| format!("{shown}: {e}"))?;
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{shown}: {e}"))? {
            return exited(&shown, status);
        }
        if started.elapsed() > limit {
            // Test binaries and the processes they spawn are in the group; killing only
            // cargo would leave them running with CI's output pipe open.
            #[cfg(unix)]
            if grouped {
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{shown} still running after {limit:?}: killed (the last `Running` line above names the test binary that hung)"
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Runs a command in the repository root, failing with its name when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    println!("$ {shown}");
    let status = cmd.current_dir(root()).status().map_err(|e| format!("{shown}: {e}"))?;
    exited(&shown, status)
}

fn exited(shown: &str, status: std::process::ExitStatus) -> Result<(), String> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed: {status}"))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_hung_command_is_killed_with_the_processes_it_started() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("xtask-bounded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let pid_file = dir.join("pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]);
        let r = bounded(&mut cmd, std::time::Duration::from_secs(2), true);
        assert!(r.is_err_and(|e| e.contains("killed")));
        let pid = std::fs::read_to_string(&pid_file).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&dir);
        // The grandchild got the same SIGKILL; once reaped it is gone or a zombie.
        let stat = format!("/proc/{}/stat", pid.trim());
        for _ in 0..100 {
            match std::fs::read_to_string(&stat) {
                Err(_) => return Ok(()),
                Ok(s) if s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')) => {
                    return Ok(());
                }
                Ok(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
        Err(format!("process {} outlived its group", pid.trim()))
    }

    #[test]
    fn a_command_within_its_limit_reports_its_status() {
        let limit = std::time::Duration::from_secs(60);
        assert!(bounded(&mut Command::new("true"), limit, true).is_ok());
        assert!(
            bounded(&mut Command::new("false"), limit, true).is_err_and(|e| e.contains("failed"))
        );
    }
}
