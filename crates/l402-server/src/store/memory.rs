//! The in-memory store: one process, nothing survives a restart.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use l402_token::TokenId;

use crate::store::{
    reservation_id, DueKey, KeyRecord, KeyStore, Pruned, RateStore, Reservation, RevocationStore,
    Revoked, Store, StoredKey, UsageStore,
};
use crate::Error;

/// Everything in a mutex-guarded map. Share it between layers with an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<[u8; 32], KeyRecord>,
    /// Pending keys by deadline, so the prune's claim reads only the due ones instead of
    /// scanning every key while verifiers wait for the lock.
    due: BTreeSet<(i64, [u8; 32])>,
    revoked: HashSet<TokenId>,
    /// Revocations in order: the feed's cursor is an index into it.
    feed: Vec<TokenId>,
    used: HashMap<TokenId, u64>,
    reservations: HashMap<i64, (TokenId, i64)>,
    windows: HashMap<(String, i64), u64>,
}

impl State {
    /// Sets a key's pending deadline, keeping the index in step.
    fn set_pending(&mut self, key_hash: &[u8; 32], until: Option<i64>) {
        if let Some(r) = self.keys.get_mut(key_hash) {
            if let Some(old) = r.pending_until {
                self.due.remove(&(old, *key_hash));
            }
            r.pending_until = until;
            if let Some(new) = until {
                self.due.insert((new, *key_hash));
            }
        }
    }

    fn remove_key(&mut self, key_hash: &[u8; 32]) {
        if let Some(r) = self.keys.remove(key_hash) {
            if let Some(old) = r.pending_until {
                self.due.remove(&(old, *key_hash));
            }
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the maps half-updated: every update is one insert.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl KeyStore for MemoryStore {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        let mut s = self.lock();
        let (hash, until) = (record.key_hash, record.pending_until);
        s.remove_key(&hash);
        s.keys.insert(hash, record);
        if let Some(u) = until {
            s.due.insert((u, hash));
        }
        Ok(())
    }

    async fn root_key(&self, key_hash: &[u8; 32]) -> Result<Option<StoredKey>, Error> {
        Ok(self.lock().keys.get(key_hash).map(|r| StoredKey {
            root_key: r.root_key.clone(),
            pending: r.pending_until.is_some(),
        }))
    }

    async fn confirm_key(&self, key_hash: &[u8; 32]) -> Result<(), Error> {
        self.lock().set_pending(key_hash, None);
        Ok(())
    }

    async fn claim_due_keys(
        &self,
        now: i64,
        recheck_at: i64,
        limit: usize,
        issuer: Option<&str>,
    ) -> Result<Vec<DueKey>, Error> {
        let mut s = self.lock();
        let ours = |h: &[u8; 32]| {
            s.keys.get(h).is_some_and(|r| r.issuer.is_none() || r.issuer.as_deref() == issuer)
        };
        let due: Vec<[u8; 32]> = s
            .due
            .range(..=(now, [0xff; 32]))
            .map(|(_, h)| *h)
            .filter(|h| ours(h))
            .take(limit)
            .collect();
        let mut out = Vec::with_capacity(due.len());
        for h in due {
            s.set_pending(&h, Some(recheck_at));
            if let Some(r) = s.keys.get(&h) {
                out.push(DueKey { key_hash: h, payment_hash: Some(r.payment_hash) });
            }
        }
        Ok(out)
    }

    async fn forget_pending(&self, key_hash: &[u8; 32]) -> Result<bool, Error> {
        let mut s = self.lock();
        let pending = s.keys.get(key_hash).is_some_and(|r| r.pending_until.is_some());
        if pending {
            s.remove_key(key_hash);
        }
        Ok(pending)
    }
}

#[async_trait::async_trait]
impl RevocationStore for MemoryStore {
    async fn revoke(&self, token_id: &TokenId, _now: i64) -> Result<(), Error> {
        let mut s = self.lock();
        let gone: Vec<[u8; 32]> =
            s.keys.values().filter(|r| r.token_id == *token_id).map(|r| r.key_hash).collect();
        for h in gone {
            s.remove_key(&h);
        }
        if s.revoked.insert(*token_id) {
            s.feed.push(*token_id);
        }
        Ok(())
    }

    async fn revoked_since(&self, cursor: i64) -> Result<Revoked, Error> {
        let s = self.lock();
        let from = usize::try_from(cursor).unwrap_or(0).min(s.feed.len());
        let token_ids = s.feed.get(from..).unwrap_or_default().to_vec();
        Ok(Revoked { token_ids, cursor: i64::try_from(s.feed.len()).unwrap_or(i64::MAX) })
    }
}

#[async_trait::async_trait]
impl UsageStore for MemoryStore {
    async fn reserve_use(
        &self,
        token_id: &TokenId,
        allowance: u64,
        lease_until: i64,
    ) -> Result<Option<Reservation>, Error> {
        let id = reservation_id()?;
        let mut s = self.lock();
        let used = s.used.get(token_id).copied().unwrap_or(0);
        let reserved = s.reservations.values().filter(|(t, _)| t == token_id).count() as u64;
        if used.saturating_add(reserved) >= allowance {
            return Ok(None);
        }
        s.reservations.insert(id, (*token_id, lease_until));
        let used = used.saturating_add(reserved);
        Ok(Some(Reservation { id, token_id: *token_id, allowance, used }))
    }

    async fn commit_use(&self, reservation: &Reservation) -> Result<u64, Error> {
        let mut s = self.lock();
        let counted = s.reservations.remove(&reservation.id).is_some();
        let used = s.used.entry(reservation.token_id).or_insert(0);
        if counted {
            *used = used.saturating_add(1);
        }
        Ok(*used)
    }

    async fn renew_use(&self, reservation: &Reservation, lease_until: i64) -> Result<bool, Error> {
        Ok(self
            .lock()
            .reservations
            .get_mut(&reservation.id)
            .map(|(_, lease)| *lease = lease_until)
            .is_some())
    }

    async fn release_use(&self, reservation: &Reservation) -> Result<(), Error> {
        self.lock().reservations.remove(&reservation.id);
        Ok(())
    }

    async fn uses(&self, token_id: &TokenId) -> Result<u64, Error> {
        Ok(self.lock().used.get(token_id).copied().unwrap_or(0))
    }
}

#[async_trait::async_trait]
impl RateStore for MemoryStore {
    async fn take_hit(&self, bucket: &str, window_end: i64, limit: u64) -> Result<bool, Error> {
        if limit == 0 {
            return Ok(false);
        }
        let mut s = self.lock();
        let n = s.windows.entry((bucket.to_owned(), window_end)).or_insert(0);
        if *n >= limit {
            return Ok(false);
        }
        *n += 1;
        Ok(true)
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn prune(&self, now: i64) -> Result<Pruned, Error> {
        let mut s = self.lock();
        let (r, w) = (s.reservations.len(), s.windows.len());
        // A lapsed reservation counts as a use (decision 0609).
        let lapsed: Vec<i64> = s
            .reservations
            .iter()
            .filter(|(_, (_, lease))| *lease <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            if let Some((token, _)) = s.reservations.remove(&id) {
                let used = s.used.entry(token).or_insert(0);
                *used = used.saturating_add(1);
            }
        }
        s.windows.retain(|(_, end), _| *end > now);
        Ok(Pruned {
            reservations: (r - s.reservations.len()) as u64,
            windows: (w - s.windows.len()) as u64,
            ..Pruned::default()
        })
    }

    async fn ping(&self) -> Result<(), Error> {
        Ok(())
    }
}
