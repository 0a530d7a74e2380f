//! `cargo xtask ci`: everything CI runs, in order. The first failing step stops the run.

use crate::{cargo, fuzz, interop, postgres, run, run_within, tomcat, vectors};

/// How long `cargo test --workspace` may run in CI before it is killed as hung.
const TEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(35 * 60);

pub(crate) fn ci() -> Result<(), String> {
    step("fmt", || run(cargo().args(["fmt", "--all", "--", "--check"])))?;
    step("clippy", || {
        run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
    })?;
    step("build", || run(cargo().args(["build", "--workspace", "--all-targets"])))?;
    step("postgres", postgres::ensure)?;
    // The test step takes minutes; the bound is for a hang, far above any honest run.
    step("test", || run_within(cargo().args(["test", "--workspace"]), TEST_LIMIT))?;
    // Seconds once the test step has built everything (same features: `--workspace`), plus
    // the tomcat10 install on a fresh machine (8 s measured).
    step("tomcat", tomcat::tomcat)?;
    step("vectors", || vectors::run(&crate::root(), true))?;
    step("interop", interop::interop)?;
    step("fuzz", || fuzz::fuzz(10))?;
    step("doc", || {
        run(cargo().args(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings"))
    })?;
    println!("xtask ci: all steps passed");
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    println!("==> {name}");
    let started = std::time::Instant::now();
    let r = f().map_err(|e| format!("step {name}: {e}"));
    println!("<== {name} ({:.0?})", started.elapsed());
    r
}
