//! The rate gate: the one owner of this instance's challenge windows (decision 0607).
//!
//! A request without a credential is counted here, in memory, before anything else: a client
//! over its allowance is refused without a store round trip, so a flood of refused requests
//! writes nothing. Only a request the gate lets through goes on to the shared window in the
//! store ([`crate::store::RateStore::take_hit`]), which counts across instances: the two
//! together are the paywall's [`Limiter`].
//!
//! Windows are fixed and shared by every bucket (they end at the same multiple of the window
//! length), so the whole table is dropped when a window ends. The table holds at most
//! `capacity` buckets; when it is full a bucket not yet in it is refused until the window ends
//! (fail closed): the gate never forgets a counted bucket early, so an attacker with many
//! addresses cannot buy their own (or anyone's) allowance back by filling the table.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::client::bucket;
use crate::paywall::RateLimit;
use crate::store::RateStore;
use crate::Error;

/// The challenge rate limit: this instance's gate first, in memory; only a request it lets
/// through counts in the store's shared window, which writes nothing once that window is
/// full (decision 0607).
pub(crate) struct Limiter {
    gate: RateGate,
    store: Arc<dyn RateStore>,
    limit: u64,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit, capacity: usize, store: Arc<dyn RateStore>) -> Limiter {
        Limiter { gate: RateGate::new(limit, capacity), store, limit: limit.challenges }
    }

    /// Counts one challenge for `client` at `now`, or refuses it `rate-limited`.
    pub(crate) async fn check(&self, client: Option<IpAddr>, now: i64) -> Result<(), Error> {
        let bucket = bucket(client);
        let window_end = self.gate.admit(&bucket, now)?;
        if !self.store.take_hit(&bucket, window_end, self.limit).await? {
            let retry_after = u64::try_from(window_end.saturating_sub(now)).unwrap_or(1);
            return Err(Error::RateLimited { retry_after: retry_after.max(1) });
        }
        Ok(())
    }
}

/// This instance's challenge windows.
#[derive(Debug)]
pub(crate) struct RateGate {
    limit: RateLimit,
    capacity: usize,
    windows: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    /// When the current window ends, Unix seconds; every bucket shares it.
    end: i64,
    hits: HashMap<String, u64>,
}

/// The end (Unix seconds) of the fixed window of `len` seconds holding `now`.
pub(crate) fn window_end(now: i64, len: i64) -> i64 {
    let len = len.max(1);
    now.div_euclid(len).saturating_add(1).saturating_mul(len)
}

impl RateGate {
    /// A gate allowing `limit` per bucket and window, tracking at most `capacity` buckets.
    pub(crate) fn new(limit: RateLimit, capacity: usize) -> RateGate {
        RateGate { limit, capacity, windows: Mutex::default() }
    }

    /// Counts one challenge for `bucket` at `now` (Unix seconds). Returns the end of the
    /// window it was counted in, or [`Error::RateLimited`] when the bucket used its allowance
    /// on this instance, or when the table is full and the bucket is not in it.
    pub(crate) fn admit(&self, bucket: &str, now: i64) -> Result<i64, Error> {
        let len = i64::try_from(self.limit.window.as_secs()).unwrap_or(i64::MAX);
        let end = window_end(now, len);
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        // A clock stepping back keeps counting in the later window rather than reopening
        // an earlier one.
        if end > w.end {
            w.end = end;
            w.hits.clear();
        }
        let end = w.end;
        let refused = || {
            let retry_after = u64::try_from(end.saturating_sub(now)).unwrap_or(1).max(1);
            Err(Error::RateLimited { retry_after })
        };
        if !w.hits.contains_key(bucket) {
            if w.hits.len() >= self.capacity {
                return refused();
            }
            w.hits.insert(bucket.to_owned(), 0);
        }
        let Some(hits) = w.hits.get_mut(bucket) else { return refused() };
        if *hits >= self.limit.challenges {
            return refused();
        }
        *hits += 1;
        Ok(w.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn gate(challenges: u64, capacity: usize) -> RateGate {
        RateGate::new(RateLimit { challenges, window: Duration::from_secs(60) }, capacity)
    }

    fn retry_after(r: Result<i64, Error>) -> u64 {
        match r {
            Err(Error::RateLimited { retry_after }) => retry_after,
            other => panic!("expected rate-limited, got {other:?}"),
        }
    }

    #[test]
    fn a_bucket_gets_its_allowance_per_window() {
        let g = gate(2, 10);
        assert_eq!(g.admit("a", 100).ok(), Some(120));
        assert_eq!(g.admit("a", 101).ok(), Some(120));
        assert_eq!(retry_after(g.admit("a", 110)), 10);
        assert_eq!(g.admit("b", 110).ok(), Some(120), "buckets are separate");
        assert_eq!(g.admit("a", 120).ok(), Some(180), "a new window starts empty");
    }

    #[test]
    fn a_full_table_refuses_new_buckets_until_the_window_ends() {
        let g = gate(2, 2);
        assert!(g.admit("a", 0).is_ok());
        assert!(g.admit("b", 0).is_ok());
        assert_eq!(retry_after(g.admit("c", 15)), 45, "fail closed");
        assert!(g.admit("a", 15).is_ok(), "known buckets keep their allowance");
        assert!(g.admit("c", 60).is_ok(), "the next window has room again");
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        assert_eq!(retry_after(gate(0, 10).admit("a", 59)), 1);
    }

    #[test]
    fn a_clock_stepping_back_does_not_reopen_a_window() {
        let g = gate(1, 10);
        assert!(g.admit("a", 130).is_ok());
        assert!(g.admit("a", 100).is_err());
    }

    #[test]
    fn windows_end_on_multiples_of_their_length() {
        assert_eq!(window_end(0, 60), 60);
        assert_eq!(window_end(59, 60), 60);
        assert_eq!(window_end(60, 60), 120);
        assert_eq!(window_end(-1, 60), 0);
        assert_eq!(window_end(5, 0), 6, "a zero length counts as one second");
        assert_eq!(window_end(i64::MAX, 60), i64::MAX);
    }
}
