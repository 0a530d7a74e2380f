//! The usage meter: one reserved use per metered request, settled once the answer is known
//! (decisions 0603, 0609, 0813).
//!
//! A request costs one store round trip: the reservation, which also reads the counted uses
//! (for `remaining`). Charging does not wait for the store: a reservation already holds the
//! use durably (one never settled counts when its lease lapses), so the commit is written in
//! the background, retried while the store refuses it (decision 0610). Giving a use back is
//! waited for, so that a client retrying at once finds its use free again.

use core::time::Duration;
use std::sync::Arc;

use l402_lightning::clock::Clock;
use l402_token::TokenId;

use crate::settle::{retry, Op, Settlement};
use crate::store::{Reservation, UsageStore};
use crate::Error;

pub(crate) struct Meter {
    store: Arc<dyn UsageStore>,
    lease: Duration,
    clock: Arc<dyn Clock>,
}

/// A reserved use riding on a request. Dropped unsettled (the request was abandoned after it
/// was let through), it is charged.
pub(crate) struct Held {
    reservation: Option<Reservation>,
    store: Arc<dyn UsageStore>,
    lease: Duration,
    /// Renews the lease while the request runs (a long stream would otherwise outlive it
    /// and be counted early by a prune, with no way left to give it back).
    keeper: Option<tokio::task::JoinHandle<()>>,
}

impl Meter {
    pub(crate) fn new(store: Arc<dyn UsageStore>, lease: Duration, clock: Arc<dyn Clock>) -> Meter {
        Meter { store, lease, clock }
    }

    /// Reserves a use of `token_id` under `allowance`; `None` when it is used up.
    pub(crate) async fn reserve(
        &self,
        token_id: &TokenId,
        allowance: u64,
        now: i64,
    ) -> Result<Option<Held>, Error> {
        let until = now.saturating_add(secs(self.lease));
        let Some(r) = self.store.reserve_use(token_id, allowance, until).await? else {
            return Ok(None);
        };
        let keeper = self.keep(&r);
        Ok(Some(Held {
            reservation: Some(r),
            store: Arc::clone(&self.store),
            lease: self.lease,
            keeper,
        }))
    }

    /// Counted uses of a token (for the refusal of a used-up one).
    pub(crate) async fn uses(&self, token_id: &TokenId) -> Result<u64, Error> {
        self.store.uses(token_id).await
    }

    /// A task renewing `r`'s lease every third of it, until the request is settled or
    /// dropped (which abort it) or the reservation is gone. `None` without a tokio runtime:
    /// a request outliving the lease is then counted by the next prune, whatever its end.
    fn keep(&self, r: &Reservation) -> Option<tokio::task::JoinHandle<()>> {
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let (store, clock, r) = (Arc::clone(&self.store), Arc::clone(&self.clock), r.clone());
        let lease = self.lease;
        Some(rt.spawn(async move {
            loop {
                tokio::time::sleep((lease / 3).max(Duration::from_secs(1))).await;
                let until = crate::paywall::unix_now(&*clock).saturating_add(secs(lease));
                match store.renew_use(&r, until).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(code = e.code(), "renewing a reserved use failed"),
                }
            }
        }))
    }
}

impl core::fmt::Debug for Held {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Held").field("reservation", &self.reservation).finish_non_exhaustive()
    }
}

impl Held {
    /// The token's counted uses when the use was reserved.
    pub(crate) fn used_before(&self) -> u64 {
        self.reservation.as_ref().map_or(0, |r| r.used)
    }

    /// Settles the use: charged (`charge`) or given back. Returns how, and what the token
    /// still buys as far as known.
    pub(crate) async fn settle(mut self, charge: bool) -> (Settlement, Option<u64>) {
        if let Some(k) = self.keeper.take() {
            k.abort();
        }
        let Some(r) = self.reservation.take() else {
            return (Settlement::Unmetered, None);
        };
        if charge {
            let remaining = r.allowance.saturating_sub(r.used.saturating_add(1));
            commit_later(Arc::clone(&self.store), r, self.lease);
            return (Settlement::Charged, Some(remaining));
        }
        match self.store.release_use(&r).await {
            Ok(()) => {
                // Rare, so worth a read: a reservation that lapsed meanwhile was counted.
                let used = self.store.uses(&r.token_id).await.unwrap_or(r.used);
                (Settlement::GivenBack, Some(r.allowance.saturating_sub(used)))
            }
            Err(e) => {
                tracing::warn!(code = e.code(), "giving a use back failed; retrying");
                let remaining = r.allowance.saturating_sub(r.used.saturating_add(1));
                retry(Arc::clone(&self.store), r, Op::Release, self.lease);
                (Settlement::GiveBackRetried, Some(remaining))
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(k) = self.keeper.take() {
            k.abort();
        }
        // The request was abandoned (client gone, handler panicked or cancelled) after it was
        // let through: the work may be done, so the use is charged.
        if let Some(r) = self.reservation.take() {
            commit_later(Arc::clone(&self.store), r, self.lease);
        }
    }
}

/// Writes the commit in the background, retried while the store refuses it. Without a
/// runtime nothing is written and the lease alone settles the reservation, as a use.
fn commit_later(store: Arc<dyn UsageStore>, r: Reservation, lease: Duration) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        if let Err(e) = store.commit_use(&r).await {
            tracing::warn!(code = e.code(), "counting a use failed; retrying");
            retry(store, r, Op::Commit, lease);
        }
    });
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
