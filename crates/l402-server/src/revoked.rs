//! The revocation set: every revoked token id, in memory, so that verification never asks
//! the store (decision 0610).
//!
//! The set is loaded from the store's feed ([`RevocationStore::revoked_since`]) before the
//! first verification, and kept current by a task that polls the feed every
//! `revocation_poll` (250 ms by default). A revocation made through this paywall is in its set
//! at once; one made by another instance is here within one poll and one round trip. While
//! the store is unreachable the set keeps what it had: paid tokens go on verifying, and
//! revocations made meanwhile arrive when it is back.

use core::time::Duration;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};

use l402_token::TokenId;
use tokio::task::JoinHandle;

use crate::store::RevocationStore;
use crate::Error;

pub(crate) struct Revocations {
    inner: Arc<Inner>,
    poller: OnceLock<JoinHandle<()>>,
}

struct Inner {
    store: Arc<dyn RevocationStore>,
    set: RwLock<HashSet<TokenId>>,
    /// The feed's cursor; held across a read so that two reads do not interleave.
    cursor: tokio::sync::Mutex<i64>,
    /// The whole list has been read once: the set can answer.
    loaded: AtomicBool,
    /// The last poll failed (logged once per outage, not once per poll).
    failing: AtomicBool,
}

impl Drop for Revocations {
    fn drop(&mut self) {
        if let Some(p) = self.poller.get() {
            p.abort();
        }
    }
}

impl Revocations {
    pub(crate) fn new(store: Arc<dyn RevocationStore>) -> Revocations {
        let inner = Inner {
            store,
            set: RwLock::default(),
            cursor: tokio::sync::Mutex::new(0),
            loaded: AtomicBool::new(false),
            failing: AtomicBool::new(false),
        };
        Revocations { inner: Arc::new(inner), poller: OnceLock::new() }
    }

    /// Whether `id` is revoked. The first call reads the whole list (and fails `store` if it
    /// cannot: fail closed), and starts the poller; later calls only read memory. (The list
    /// may have been read already by [`Revocations::sync`], which starts no poller.)
    pub(crate) async fn contains(&self, id: &TokenId, poll: Duration) -> Result<bool, Error> {
        if !self.inner.loaded.load(Ordering::Acquire) {
            self.inner.sync(true).await?;
        }
        if self.poller.get().is_none() {
            self.start(poll);
        }
        Ok(self.inner.set.read().unwrap_or_else(|e| e.into_inner()).contains(id))
    }

    /// Revokes `id` in the store, then here.
    pub(crate) async fn revoke(&self, id: &TokenId, now: i64) -> Result<(), Error> {
        self.inner.store.revoke(id, now).await?;
        self.inner.set.write().unwrap_or_else(|e| e.into_inner()).insert(*id);
        Ok(())
    }

    /// Reads the feed now; returns how many ids it carried.
    pub(crate) async fn sync(&self) -> Result<usize, Error> {
        self.inner.sync(false).await
    }

    fn start(&self, poll: Duration) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        self.poller.get_or_init(|| {
            rt.spawn(async move {
                let mut tick = tokio::time::interval(poll.max(Duration::from_millis(10)));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(inner) = weak.upgrade() else {
                        return;
                    };
                    match inner.sync(false).await {
                        Ok(_) if inner.failing.swap(false, Ordering::AcqRel) => {
                            tracing::info!("reading revocations works again");
                        }
                        Ok(_) => {}
                        Err(e) if !inner.failing.swap(true, Ordering::AcqRel) => {
                            tracing::warn!(
                                code = e.code(),
                                "reading revocations failed; tokens verify against the last list read"
                            );
                        }
                        Err(_) => {}
                    }
                }
            })
        });
    }
}

impl Inner {
    /// Reads the feed from the cursor. With `first`, a caller that waited for another's
    /// first read finds the set loaded and reads nothing.
    async fn sync(&self, first: bool) -> Result<usize, Error> {
        let mut cursor = self.cursor.lock().await;
        if first && self.loaded.load(Ordering::Acquire) {
            return Ok(0);
        }
        let page = self.store.revoked_since(*cursor).await?;
        let n = page.token_ids.len();
        if n > 0 {
            self.set.write().unwrap_or_else(|e| e.into_inner()).extend(page.token_ids);
        }
        *cursor = page.cursor;
        self.loaded.store(true, Ordering::Release);
        Ok(n)
    }
}
