//! Settling a reserved use so that a store outage delays the count but never loses it
//! (decision 0609).
//!
//! A reservation is durable from the moment it is made: one that is never settled counts as
//! a use when its lease lapses (the stores' prune commits it). So a commit the store refuses
//! is already safe; it is retried in memory with backoff only so that the count, and the
//! `remaining` clients see, catch up as soon as the store is back. A give-back is retried the
//! same way, within the lease: after it, the use stays counted (fail closed).

use core::time::Duration;
use std::sync::Arc;

use crate::store::{Reservation, UsageStore};
use crate::Error;

/// How a request's reserved use was settled (see [`crate::Paywall::finish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Settlement {
    /// The use is counted: the reservation holds it durably, and the count is written in
    /// the background, retried while the store refuses it (it counts as a use if its lease
    /// lapses first: decision 0610).
    Charged,
    /// The use was given back.
    GivenBack,
    /// The store refused the give-back: it is retried within the lease; if the lease lapses
    /// first, the use stays counted (fail closed).
    GiveBackRetried,
    /// The token has no allowance: there was nothing to count.
    Unmetered,
}

impl Settlement {
    /// A stable code for logs and metric labels.
    pub fn code(self) -> &'static str {
        match self {
            Settlement::Charged => "charged",
            Settlement::GivenBack => "given-back",
            Settlement::GiveBackRetried => "give-back-retried",
            Settlement::Unmetered => "unmetered",
        }
    }
}

/// What to do with a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Commit,
    Release,
}

impl Op {
    async fn run(self, store: &dyn UsageStore, r: &Reservation) -> Result<(), Error> {
        match self {
            Op::Commit => store.commit_use(r).await.map(drop),
            Op::Release => store.release_use(r).await,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Op::Commit => "commit",
            Op::Release => "release",
        }
    }
}

/// The first retry waits this long; each next one twice as long, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Retries `op` on `r` in the background until the store takes it, for at most `within`
/// (the lease: after it, the stores' prune has counted the reservation). Without a tokio
/// runtime nothing is retried and the lease alone settles the reservation, as a use.
pub(crate) fn retry(store: Arc<dyn UsageStore>, r: Reservation, op: Op, within: Duration) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        let give_up = tokio::time::Instant::now() + within;
        let mut backoff = FIRST_BACKOFF;
        loop {
            tokio::time::sleep(backoff).await;
            match op.run(&*store, &r).await {
                Ok(()) => {
                    tracing::info!(op = op.what(), code = "use-settled-on-retry", "store took it");
                    return;
                }
                Err(e) if tokio::time::Instant::now() >= give_up => {
                    // The reservation has lapsed: the prune counts it whatever happens here.
                    tracing::warn!(
                        op = op.what(),
                        code = e.code(),
                        "settling a use kept failing; its lapsed reservation counts as a use"
                    );
                    return;
                }
                Err(e) => tracing::debug!(op = op.what(), code = e.code(), "retrying a use"),
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
}
