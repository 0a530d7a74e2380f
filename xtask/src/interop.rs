//! `cargo xtask interop`: installs the npm and PyPI peers into `target/interop` (ignored by
//! git, so a fresh machine does the same) and runs the peer tests against them.

use std::process::Command;

use crate::{cargo, root, run};

pub(crate) fn interop() -> Result<(), String> {
    let src = root().join("crates/l402-interop");
    let dir = root().join("target/interop");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let manifest = std::fs::read(src.join("package.json")).map_err(|e| e.to_string())?;
    // Reinstall only when the pinned set changed; npm is slow even when there is nothing to do.
    let installed = std::fs::read(dir.join("package.json")).unwrap_or_default();
    if installed != manifest || !dir.join("node_modules/macaroon").exists() {
        std::fs::write(dir.join("package.json"), &manifest).map_err(|e| e.to_string())?;
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
            .arg(&dir))?;
    }
    // The same for the PyPI peers: reinstalled when their pinned set changed.
    let wanted = std::fs::read(src.join("requirements.txt")).map_err(|e| e.to_string())?;
    let stamp = dir.join("py/requirements.txt");
    if std::fs::read(&stamp).unwrap_or_default() != wanted {
        run(Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade"])
            .arg("--target")
            .arg(dir.join("py"))
            .arg("-r")
            .arg(src.join("requirements.txt")))?;
        std::fs::write(&stamp, &wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    run(cargo()
        .args(["test", "-p", "l402-interop", "--features", "peers"])
        .env("L402_INTEROP_DIR", &dir))
}
