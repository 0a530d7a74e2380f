//! The in-memory store: one process, gone at exit.

use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use l402_token::PaymentHash;

use crate::seal::Sealer;
use crate::store::lock::LocalLocks;
use crate::store::state::State;
use crate::store::{ScopeGuard, TokenStore};
use crate::{Budget, Error, LedgerEntry, LedgerQuery, PendingPayment, Resolution, Scope, Token};

/// Keeps everything in memory. Budgets and the ledger last as long as the value; scope locks
/// exclude tasks and threads of this process only.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    locks: LocalLocks,
    sealer: Sealer,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update replaces whole rows; a poisoned lock still holds a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl TokenStore for MemoryStore {
    fn token(&self, scope: &Scope) -> Result<Option<Token>, Error> {
        self.state().token(scope, &self.sealer)
    }

    fn tokens(&self) -> Result<Vec<Token>, Error> {
        self.state().tokens(&self.sealer)
    }

    fn put_token(&self, token: &Token) -> Result<(), Error> {
        self.state().put_token(token, &self.sealer)
    }

    fn remove_token(&self, scope: &Scope, only: Option<&PaymentHash>) -> Result<bool, Error> {
        Ok(self.state().remove_token(scope, only))
    }

    fn begin_payment(
        &self,
        pending: &PendingPayment,
        budget: &Budget,
        now: SystemTime,
    ) -> Result<(), Error> {
        self.state().begin_payment(pending, budget, now, &self.sealer)
    }

    fn resolve_payment(
        &self,
        payment_hash: &PaymentHash,
        resolution: &Resolution,
        now: SystemTime,
    ) -> Result<(), Error> {
        self.state().resolve_payment(payment_hash, resolution, now, &self.sealer)
    }

    fn reject_payment(&self, payment_hash: &PaymentHash) -> Result<bool, Error> {
        Ok(self.state().reject_payment(payment_hash))
    }

    fn pending(&self) -> Result<Vec<PendingPayment>, Error> {
        self.state().pending(&self.sealer)
    }

    fn ledger(&self, query: &LedgerQuery) -> Result<Vec<LedgerEntry>, Error> {
        self.state().ledger(query)
    }

    fn spent(&self, since: Option<SystemTime>, domain: Option<&str>) -> Result<u64, Error> {
        Ok(self.state().spent(since, domain))
    }

    fn lock_scope(&self, scope: &Scope) -> Result<ScopeGuard, Error> {
        Ok(self.locks.lock(scope))
    }
}
