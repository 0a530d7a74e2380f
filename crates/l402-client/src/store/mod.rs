//! Token stores: where tokens, pending payments and the spend ledger live.
//!
//! Three implementations of one trait: [`MemoryStore`] (one process, gone at exit),
//! [`FileStore`] (one JSON file) and [`SqliteStore`]. The file and SQLite stores are safe to
//! share between processes: every update is atomic across processes, and
//! [`TokenStore::lock_scope`] takes an OS file lock (decision 0702).

mod file;
mod lock;
mod memory;
mod sqlite;
mod state;

use core::fmt;
use std::time::SystemTime;

use l402_token::PaymentHash;

pub use self::file::FileStore;
pub use self::memory::MemoryStore;
pub use self::sqlite::SqliteStore;
use crate::{Budget, Error, LedgerEntry, LedgerQuery, PendingPayment, Resolution, Scope, Token};

/// Creates a store's missing parent directories owner-only (`0700`, decision 0810). One that
/// exists is the user's (it may be their home) and is left as it is: the store's own files in
/// it are `0600`.
fn parent_dir(path: &std::path::Path) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        l402_lightning::owner_only::dir(dir)?;
    }
    Ok(())
}

/// Held while one payment for a scope is decided and made; dropping it lets the next
/// process or task in. A process that dies releases it (the OS closes its file).
pub struct ScopeGuard {
    _held: Box<dyn Send + Sync>,
}

impl ScopeGuard {
    pub(crate) fn new(held: impl Send + Sync + 'static) -> ScopeGuard {
        ScopeGuard { _held: Box::new(held) }
    }
}

impl fmt::Debug for ScopeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopeGuard")
    }
}

/// Where the client keeps tokens and the ledger. Object-safe; the middleware holds an
/// `Arc<dyn TokenStore>`.
///
/// Methods block (file and SQLite IO, waiting for locks); the middleware calls them on
/// tokio's blocking pool.
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The token cached for `scope`, if any.
    fn token(&self, scope: &Scope) -> Result<Option<Token>, Error>;

    /// Every cached token, ordered by scope.
    fn tokens(&self) -> Result<Vec<Token>, Error>;

    /// Stores `token` for its scope, replacing any older one (used by `attenuate` and
    /// imports; payments store their token through [`TokenStore::resolve_payment`]).
    fn put_token(&self, token: &Token) -> Result<(), Error>;

    /// Removes the token for `scope`; with `only` set, only if it is still that payment's
    /// token (so a token another process just bought is not thrown away). Returns whether a
    /// token was removed.
    fn remove_token(&self, scope: &Scope, only: Option<&PaymentHash>) -> Result<bool, Error>;

    /// In one atomic step: checks `budget` against the ledger (counting paid and pending
    /// payments) for a payment of `amount + max fee`, and records `pending`. Nothing is
    /// recorded if a budget would be exceeded ([`Error::OverBudget`]) or the payment hash is
    /// already in the ledger ([`Error::PaymentPending`] when it is pending, [`Error::Store`]
    /// otherwise).
    fn begin_payment(
        &self,
        pending: &PendingPayment,
        budget: &Budget,
        now: SystemTime,
    ) -> Result<(), Error>;

    /// Records how a pending payment ended; when paid, stores its token for its scope. A
    /// payment that is not pending is left alone (resolved twice by racing recoveries).
    fn resolve_payment(
        &self,
        payment_hash: &PaymentHash,
        resolution: &Resolution,
        now: SystemTime,
    ) -> Result<(), Error>;

    /// Every pending payment.
    fn pending(&self) -> Result<Vec<PendingPayment>, Error>;

    /// Marks a paid payment `rejected`: the server refused the token it sold (decision 0708).
    /// Returns whether a paid payment was found.
    fn reject_payment(&self, payment_hash: &PaymentHash) -> Result<bool, Error>;

    /// The ledger, oldest first.
    fn ledger(&self, query: &LedgerQuery) -> Result<Vec<LedgerEntry>, Error>;

    /// What budgets count since `since` (all time for `None`), for one domain or all: the
    /// same sum [`TokenStore::begin_payment`] checks.
    fn spent(&self, since: Option<SystemTime>, domain: Option<&str>) -> Result<u64, Error>;

    /// Blocks until this caller is the only one, across processes sharing the store, deciding
    /// about payments for `scope`.
    fn lock_scope(&self, scope: &Scope) -> Result<ScopeGuard, Error>;
}
