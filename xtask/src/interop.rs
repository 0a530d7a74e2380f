//! `cargo xtask interop`: installs the npm and PyPI peers into `target/interop` (ignored by
//! git, so a fresh machine does the same), builds the `l402` binary the server tests drive, and
//! runs the peer tests against them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{cargo, root, run};

pub(crate) fn interop() -> Result<(), String> {
    let src = root().join("crates/l402-interop");
    let dir = root().join("target/interop");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Local stand-ins for packages that cannot be fetched (`file:./stubs/...` in package.json)
    // must sit beside the installed package.json for npm to resolve them.
    let stubs_changed = sync_tree(&src.join("stubs"), &dir.join("stubs"))?;
    let manifest = std::fs::read(src.join("package.json")).map_err(|e| e.to_string())?;
    // Reinstall only when the pinned set or a stub changed; npm is slow even when there is
    // nothing to do.
    let installed = std::fs::read(dir.join("package.json")).unwrap_or_default();
    if installed != manifest || stubs_changed || !dir.join("node_modules/macaroon").exists() {
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
    // The server tests run the real client; another package's binary has no
    // CARGO_BIN_EXE_ in l402-interop's tests, so it is built here and named in L402_BIN.
    let l402 = build_bin("l402-cli", "l402")?;
    run(cargo()
        .args(["test", "-p", "l402-interop", "--features", "peers"])
        .env("L402_INTEROP_DIR", &dir)
        .env("L402_BIN", &l402))
}

/// Builds one binary and returns its path, wherever the target directory is
/// (`CARGO_TARGET_DIR` included): cargo names it in its JSON messages.
fn build_bin(package: &str, bin: &str) -> Result<PathBuf, String> {
    let mut cmd = cargo();
    cmd.args(["build", "-p", package, "--bin", bin, "--message-format=json-render-diagnostics"]);
    let shown = format!("{cmd:?}");
    println!("$ {shown}");
    let out = cmd
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} failed: {}", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("{shown}: cargo named no executable for {bin}"))
}

/// Makes `to` a copy of the tree at `from`; true when anything had to change.
fn sync_tree(from: &Path, to: &Path) -> Result<bool, String> {
    let (want, have) = (files(from)?, files(to).unwrap_or_default());
    if want == have {
        return Ok(false);
    }
    for (rel, _) in have.iter().filter(|(rel, _)| !want.iter().any(|(w, _)| w == rel)) {
        let path = to.join(rel);
        std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    for (rel, bytes) in &want {
        let path = to.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(true)
}

/// Every file under `dir` (relative path, contents), sorted by path; `node_modules` is npm's
/// (a stub with dependencies gets its own), not part of the tree.
fn files(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let path = entry.map_err(|e| format!("{}: {e}", d.display()))?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "node_modules") {
                    pending.push(path);
                }
            } else {
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let rel = path.strip_prefix(dir).map_err(|e| e.to_string())?.to_path_buf();
                out.push((rel, bytes));
            }
        }
    }
    out.sort();
    Ok(out)
}
