//! The file store: one JSON file, safe to share between processes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use l402_token::PaymentHash;

use crate::seal::{Sealer, TokenKey};
use crate::store::lock::{exclusive, lock_file_for_scope};
use crate::store::state::State;
use crate::store::{ScopeGuard, TokenStore};
use crate::{Budget, Error, LedgerEntry, LedgerQuery, PendingPayment, Resolution, Scope, Token};

/// Keeps tokens and the ledger in one JSON file (mode 0600 on Unix).
///
/// Every operation takes an exclusive lock on `<file>.lock`, reads the file, and for updates
/// writes a new file and renames it into place, so readers never see half a file and two
/// processes never lose each other's updates. Scope locks live in `<file>.locks/`. Fine for
/// a person's CLI; for many tokens or busy services use [`SqliteStore`](crate::SqliteStore).
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    sealer: Sealer,
}

impl FileStore {
    /// A store in `path` (created on first write), with tokens sealed by `key` if given.
    pub fn open(path: impl Into<PathBuf>, key: Option<TokenKey>) -> Result<FileStore, Error> {
        let path = path.into();
        super::parent_dir(&path)?;
        // A file an earlier release wrote 0644 (decision 0810); new ones are written 0600.
        l402_lightning::owner_only::file(&path, false)?;
        let store = FileStore { path, sealer: Sealer::new(key) };
        // Fail now, not at the first payment, if the file is unreadable.
        store.read(|_| Ok(()))?;
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(suffix);
        PathBuf::from(s)
    }

    fn load(&self) -> Result<State, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let state: State = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Store(format!("corrupt store {}: {e}", self.path.display()))
                })?;
                state.check_version()?;
                Ok(state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e.into()),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> Result<R, Error>) -> Result<R, Error> {
        let _lock = exclusive(&self.sibling(".lock"))?;
        f(&self.load()?)
    }

    fn update<R>(&self, f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
        let _lock = exclusive(&self.sibling(".lock"))?;
        let mut state = self.load()?;
        let out = f(&mut state)?;
        let tmp = self.sibling(&format!(".tmp{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Tokens are bearer credentials even when sealed (the ledger is not sealed).
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| Error::Store(e.to_string()))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(out)
    }
}

impl TokenStore for FileStore {
    fn token(&self, scope: &Scope) -> Result<Option<Token>, Error> {
        self.read(|s| s.token(scope, &self.sealer))
    }

    fn tokens(&self) -> Result<Vec<Token>, Error> {
        self.read(|s| s.tokens(&self.sealer))
    }

    fn put_token(&self, token: &Token) -> Result<(), Error> {
        self.update(|s| s.put_token(token, &self.sealer))
    }

    fn remove_token(&self, scope: &Scope, only: Option<&PaymentHash>) -> Result<bool, Error> {
        self.update(|s| Ok(s.remove_token(scope, only)))
    }

    fn begin_payment(
        &self,
        pending: &PendingPayment,
        budget: &Budget,
        now: SystemTime,
    ) -> Result<(), Error> {
        self.update(|s| s.begin_payment(pending, budget, now, &self.sealer))
    }

    fn resolve_payment(
        &self,
        payment_hash: &PaymentHash,
        resolution: &Resolution,
        now: SystemTime,
    ) -> Result<(), Error> {
        self.update(|s| s.resolve_payment(payment_hash, resolution, now, &self.sealer))
    }

    fn reject_payment(&self, payment_hash: &PaymentHash) -> Result<bool, Error> {
        self.update(|s| Ok(s.reject_payment(payment_hash)))
    }

    fn pending(&self) -> Result<Vec<PendingPayment>, Error> {
        self.read(|s| s.pending(&self.sealer))
    }

    fn ledger(&self, query: &LedgerQuery) -> Result<Vec<LedgerEntry>, Error> {
        self.read(|s| s.ledger(query))
    }

    fn spent(&self, since: Option<SystemTime>, domain: Option<&str>) -> Result<u64, Error> {
        self.read(|s| Ok(s.spent(since, domain)))
    }

    fn lock_scope(&self, scope: &Scope) -> Result<ScopeGuard, Error> {
        lock_file_for_scope(&self.sibling(".locks"), scope)
    }
}
