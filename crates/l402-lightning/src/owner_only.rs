//! Directories and files that hold secrets (root keys, tokens, the dev node's pairing secret)
//! are for their owner only: directories `0700`, files `0600` (decision 0810).
//!
//! Every crate that writes such state goes through these two functions, so the rule has one
//! owner. A directory or file that already exists with looser permissions (an earlier release
//! created them `0755`/`0644` under the usual umask) is tightened, with a warning naming the
//! old mode; one that cannot be tightened (not ours) is refused with an error saying what to
//! do. A directory with the sticky bit, a shared one such as `/tmp`, is refused rather than
//! tightened: it is not ours to close. On other platforms than Unix both are plain
//! create-if-missing.

use std::io;
use std::path::Path;

/// Makes `dir` (and missing parents) owner-only: created `0700`, or tightened to `0700`.
pub fn dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 == 0 {
            return Ok(());
        }
        if mode & 0o1000 != 0 {
            return Err(refused(
                dir,
                mode,
                "is a shared directory (sticky bit); choose a directory of its own",
            ));
        }
        tighten(dir, mode, 0o700)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Makes the file `path` owner-only: created empty with `0600` when missing and `create` is
/// set, tightened to `0600` when it exists. A missing file with `create` unset is left alone
/// (an SQLite `-wal` that does not exist yet).
pub fn file(path: &Path, create: bool) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if create {
            // `create_new`: a file made now never had a looser mode, not even for a moment.
            match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        let mode = match std::fs::metadata(path) {
            Ok(m) => m.permissions().mode(),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(()),
            Err(e) => return Err(e),
        };
        if mode & 0o077 == 0 {
            return Ok(());
        }
        tighten(path, mode, 0o600)
    }
    #[cfg(not(unix))]
    {
        if create {
            std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn tighten(path: &Path, mode: u32, to: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(to)) {
        Ok(()) => {
            tracing::warn!(
                path = %path.display(),
                was = format_args!("{:o}", mode & 0o7777),
                now = format_args!("{to:o}"),
                "tightened permissions: it holds secrets"
            );
            Ok(())
        }
        Err(e) => Err(refused(path, mode, &format!("cannot be tightened ({e}); chmod {to:o} it"))),
    }
}

#[cfg(unix)]
fn refused(path: &Path, mode: u32, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} is accessible by group or others (mode {:o}) and holds secrets: it {why}",
            path.display(),
            mode & 0o7777
        ),
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("l402-owner-only-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_file(&p);
        p
    }

    fn mode(p: &Path) -> io::Result<u32> {
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o7777)
    }

    fn set(p: &Path, m: u32) -> io::Result<()> {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
    }

    #[test]
    fn directories_are_created_and_tightened_to_0700() -> io::Result<()> {
        let d = temp("dir");
        dir(&d.join("a/b"))?;
        assert_eq!(mode(&d.join("a/b"))?, 0o700);
        assert_eq!(mode(&d.join("a"))?, 0o700, "missing parents too");
        set(&d, 0o755)?;
        dir(&d)?;
        assert_eq!(mode(&d)?, 0o700);
        std::fs::remove_dir_all(&d)?;
        Ok(())
    }

    #[test]
    fn a_shared_directory_is_refused_not_tightened() -> io::Result<()> {
        let d = temp("sticky");
        std::fs::create_dir(&d)?;
        set(&d, 0o1777)?;
        let e = dir(&d).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("sticky"), "{e}");
        assert_eq!(mode(&d)?, 0o1777, "left as it was");
        std::fs::remove_dir_all(&d)?;
        Ok(())
    }

    #[test]
    fn files_are_created_and_tightened_to_0600() -> io::Result<()> {
        let d = temp("files");
        dir(&d)?;
        let f = d.join("secret");
        file(&f, false)?;
        assert!(!f.exists(), "not created without `create`");
        file(&f, true)?;
        assert_eq!(mode(&f)?, 0o600);
        set(&f, 0o644)?;
        file(&f, false)?;
        assert_eq!(mode(&f)?, 0o600);
        std::fs::remove_dir_all(&d)?;
        Ok(())
    }
}
