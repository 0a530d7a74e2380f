//! The key ring part of the paywall: where each token's root key comes from and where it is
//! found again (decision 0601). Per-token keys are written at mint time and looked up through
//! a cache of confirmed keys; derived keys need neither store nor cache.

use std::sync::{Arc, RwLock};

use l402_token::{Identifier, PaymentHash, TokenId};

use crate::cache::Generations;
use crate::keys::{key_hash, KeyMode, RootKey};
use crate::store::{KeyRecord, KeyStore};
use crate::Error;

pub(crate) struct RootKeys {
    mode: RwLock<KeyMode>,
    cache: RwLock<Generations<Identifier, RootKey>>,
    store: Arc<dyn KeyStore>,
}

/// A root key found for an identifier.
pub(crate) struct Found {
    pub(crate) key: RootKey,
    /// Its token was never used: the first verification confirms it.
    pub(crate) pending: bool,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl RootKeys {
    pub(crate) fn new(mode: KeyMode, cache_capacity: usize, store: Arc<dyn KeyStore>) -> RootKeys {
        RootKeys {
            mode: RwLock::new(mode),
            cache: RwLock::new(Generations::new(cache_capacity)),
            store,
        }
    }

    /// A fresh identifier for `payment_hash` and its root key. A per-token key is written to
    /// the store as pending until `pending_until` (Unix seconds).
    pub(crate) async fn mint(
        &self,
        payment_hash: PaymentHash,
        now: i64,
        pending_until: i64,
        issuer: Option<String>,
    ) -> Result<(Identifier, RootKey), Error> {
        let derived = match &*read(&self.mode) {
            KeyMode::PerToken => None,
            KeyMode::Derived(ring) => {
                let identifier = Identifier { payment_hash, token_id: ring.token_id()? };
                let key = ring
                    .root_key(&identifier, now)
                    .ok_or_else(|| Error::Config("current key id has no key".into()))?;
                Some((identifier, key))
            }
        };
        if let Some(d) = derived {
            return Ok(d);
        }
        let token_id =
            TokenId::random().map_err(|e| Error::Config(format!("no randomness: {e}")))?;
        let identifier = Identifier { payment_hash, token_id };
        let key = RootKey::random()?;
        self.store
            .insert_key(KeyRecord {
                key_hash: key_hash(&identifier),
                token_id,
                payment_hash,
                root_key: key.clone(),
                pending_until: Some(pending_until),
                issuer,
            })
            .await?;
        Ok((identifier, key))
    }

    /// The root key of `identifier`, if this server has one: derived (no IO), cached, or
    /// read from the store.
    pub(crate) async fn find(
        &self,
        identifier: &Identifier,
        now: i64,
    ) -> Result<Option<Found>, Error> {
        if let KeyMode::Derived(ring) = &*read(&self.mode) {
            return Ok(ring.root_key(identifier, now).map(|key| Found { key, pending: false }));
        }
        // The cache is keyed by the identifier itself: a hit then costs no SHA-256, only the
        // store's key needs `sha256(identifier)`, and only on a miss.
        if let Some(k) = read(&self.cache).get(identifier) {
            return Ok(Some(Found { key: k.clone(), pending: false }));
        }
        let Some(stored) = self.store.root_key(&key_hash(identifier)).await? else {
            return Ok(None);
        };
        if !stored.pending {
            write(&self.cache).insert(*identifier, stored.root_key.clone());
        }
        Ok(Some(Found { key: stored.root_key, pending: stored.pending }))
    }

    /// Keeps a pending key for good: its token was paid and used.
    pub(crate) async fn confirm(
        &self,
        identifier: &Identifier,
        key: &RootKey,
    ) -> Result<(), Error> {
        self.store.confirm_key(&key_hash(identifier)).await?;
        write(&self.cache).insert(*identifier, key.clone());
        Ok(())
    }

    /// Forgets every cached key (after a revocation: its keys are deleted in the store).
    pub(crate) fn forget_cached(&self) {
        write(&self.cache).clear();
    }

    /// Rotates the derived-mode master key; a [`Error::Config`] in per-token mode.
    pub(crate) fn rotate(&self, key_id: u32, secret: [u8; 32], now: i64) -> Result<(), Error> {
        match &mut *write(&self.mode) {
            KeyMode::Derived(ring) => ring.rotate(key_id, secret, now),
            KeyMode::PerToken => Err(Error::Config("per-token keys do not rotate".into())),
        }
    }
}
