//! `cargo xtask tomcat`: the proxy in front of a real servlet container. Installs Debian's
//! `tomcat10` when it is missing, then runs the ignored test in
//! `crates/l402-proxy/tests/paths.rs` that starts a throwaway Tomcat from it (its own
//! `CATALINA_BASE`, a free loopback port), proves the `;`-parameter walk-around works against
//! Tomcat directly, and that through the proxy no spelling serves the secret unpaid.

use std::path::Path;
use std::process::Command;

use crate::{cargo, run, run_within};

/// Where the Debian package puts Tomcat (`CATALINA_HOME`).
const HOME: &str = "/usr/share/tomcat10";

/// The test is over in seconds; the bound is for a Tomcat that hangs. `--workspace` selects
/// the packages `cargo test --workspace` does, so CI's test step has already built it.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(20 * 60);

pub(crate) fn tomcat() -> Result<(), String> {
    if Path::new(HOME).join("bin/bootstrap.jar").is_file() {
        println!("tomcat: {HOME} found");
    } else {
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "tomcat10"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        if !Path::new(HOME).join("bin/bootstrap.jar").is_file() {
            return Err(format!("tomcat10 installed but no {HOME}/bin/bootstrap.jar"));
        }
    }
    run_within(
        cargo()
            .args(["test", "--workspace", "--test", "paths", "--", "--ignored", "--exact"])
            .arg("behind_the_proxy_tomcat_never_serves_the_secret_unpaid")
            .env("L402_TOMCAT_HOME", HOME),
        LIMIT,
    )
}
