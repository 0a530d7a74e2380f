//! Makes sure PostgreSQL's server tools are installed before the tests, which start a
//! throwaway server from them (`crates/l402-server/tests/support/pg.rs`) and fail in CI
//! when they cannot.

use std::path::Path;
use std::process::Command;

use crate::run;

fn initdb_found() -> bool {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.filter_map(Result::ok).any(|d| d.path().join("bin/initdb").is_file()))
        .unwrap_or(false);
    debian
        || std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|p| Path::new(&p).join("initdb").is_file())
        })
}

/// Installs the Debian `postgresql` package when no `initdb` is found; does nothing otherwise.
pub(crate) fn ensure() -> Result<(), String> {
    if initdb_found() {
        println!("postgres: initdb found");
        return Ok(());
    }
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "postgresql"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if initdb_found() {
        Ok(())
    } else {
        Err("postgresql installed but no initdb found".into())
    }
}
