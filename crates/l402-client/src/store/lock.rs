//! Scope locks: an OS file lock per scope, and an in-process lock for the memory store.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use crate::store::ScopeGuard;
use crate::{Error, Scope};

/// Takes the exclusive lock on `dir/<hash of scope>.lock`, blocking until it is free.
///
/// `flock` locks belong to the open file description, so two opens in one process exclude
/// each other too, and the kernel releases the lock when a holder dies.
pub(crate) fn lock_file_for_scope(dir: &Path, scope: &Scope) -> Result<ScopeGuard, Error> {
    std::fs::create_dir_all(dir)?;
    let name = hex::encode(l402_token::chain::sha256(scope.as_str().as_bytes()));
    let path = dir.join(format!("{}.lock", name.get(..32).unwrap_or(&name)));
    let file = exclusive(&path)?;
    Ok(ScopeGuard::new(file))
}

/// Opens (creating) `path` and takes its exclusive lock, blocking.
pub(crate) fn exclusive(path: &PathBuf) -> Result<File, Error> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::Store(format!("cannot open lock file {}: {e}", path.display())))?;
    // Named through the trait: std's own `File::lock` is newer than our minimum Rust.
    fs4::FileExt::lock(&file)
        .map_err(|e| Error::Store(format!("cannot lock {}: {e}", path.display())))?;
    Ok(file)
}

/// Scopes held in this process, for stores that are not shared between processes.
#[derive(Debug, Default, Clone)]
pub(crate) struct LocalLocks {
    inner: Arc<(Mutex<HashSet<Scope>>, Condvar)>,
}

struct LocalGuard {
    locks: LocalLocks,
    scope: Scope,
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        let (set, cv) = &*self.locks.inner;
        set.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.scope);
        cv.notify_all();
    }
}

impl LocalLocks {
    pub(crate) fn lock(&self, scope: &Scope) -> ScopeGuard {
        let (set, cv) = &*self.inner;
        // The set is only inserted into and removed from: a poisoned lock still holds a set.
        let mut held = set.lock().unwrap_or_else(|e| e.into_inner());
        while held.contains(scope) {
            held = cv.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        held.insert(scope.clone());
        ScopeGuard::new(LocalGuard { locks: self.clone(), scope: scope.clone() })
    }
}
