//! The state a server keeps: root keys, revocations, usage counters and rate-limit windows.
//!
//! One trait, [`RootKeyStore`], three implementations: [`MemoryStore`] (one process),
//! `SqliteStore` (feature `sqlite`, the embedded default) and `PostgresStore` (feature
//! `postgres`, several instances sharing one database). One conformance suite runs against
//! all three (`tests/stores.rs`). Times are Unix seconds passed in by the caller, so the
//! stores never read a clock and tests never sleep.

use core::fmt;

use l402_token::TokenId;

use crate::keys::RootKey;
use crate::Error;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, POSTGRES_REVOCATION_POLL};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// A root key as written at mint time ([`crate::KeyMode::PerToken`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `sha256(identifier)`: what the key is looked up by.
    pub key_hash: [u8; 32],
    /// The token id, so revoking a token id deletes its keys.
    pub token_id: TokenId,
    /// The key.
    pub root_key: RootKey,
    /// Unpaid keys carry a deadline (Unix seconds): after it they are treated as absent and
    /// pruned, unless [`RootKeyStore::confirm_key`] made them permanent first. `None` is
    /// permanent.
    pub pending_until: Option<i64>,
}

/// A root key as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key.
    pub root_key: RootKey,
    /// Still pending (never confirmed by a successful verification).
    pub pending: bool,
}

/// One use of a token, reserved but not yet counted (charge on success, decision 0603).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Random id of this reservation.
    pub id: i64,
    /// The token it is for.
    pub token_id: TokenId,
    /// The allowance it was reserved under.
    pub allowance: u64,
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Pending root keys past their deadline.
    pub keys: u64,
    /// Reservations past their lease, released.
    pub reservations: u64,
    /// Finished rate-limit windows.
    pub windows: u64,
}

/// Root keys and the state verification needs. Every method is atomic on its own; usage
/// counting is exact under any concurrency, across every instance sharing the store.
#[async_trait::async_trait]
pub trait RootKeyStore: Send + Sync + fmt::Debug {
    /// Stores a root key. Writing the same `key_hash` twice replaces it.
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error>;

    /// Looks a root key up; a pending key past its deadline (`<= now`) is `None`.
    async fn root_key(&self, key_hash: &[u8; 32], now: i64) -> Result<Option<StoredKey>, Error>;

    /// Makes a pending key permanent (the token was paid and used). No-op if absent.
    async fn confirm_key(&self, key_hash: &[u8; 32]) -> Result<(), Error>;

    /// Revokes a token id: its root keys are deleted and the id is listed as revoked, so
    /// derived-mode tokens and other instances' caches refuse it too.
    async fn revoke(&self, token_id: &TokenId, now: i64) -> Result<(), Error>;

    /// Whether a token id is revoked. Must be cheap: it runs on every request.
    async fn is_revoked(&self, token_id: &TokenId) -> Result<bool, Error>;

    /// Reserves one use of a token with `allowance` uses: succeeds only while counted plus
    /// reserved uses are below the allowance. The reservation lapses at `lease_until` unless
    /// committed or released (a crash mid-request then gives the use back at the next prune).
    async fn reserve_use(
        &self,
        token_id: &TokenId,
        allowance: u64,
        lease_until: i64,
    ) -> Result<Option<Reservation>, Error>;

    /// Counts a reserved use; returns the number of counted uses after it. Committing a
    /// reservation that lapsed or was already settled counts nothing.
    async fn commit_use(&self, reservation: &Reservation) -> Result<u64, Error>;

    /// Gives a reserved use back without counting it.
    async fn release_use(&self, reservation: &Reservation) -> Result<(), Error>;

    /// Counted uses of a token.
    async fn uses(&self, token_id: &TokenId) -> Result<u64, Error>;

    /// Counts one hit in the rate-limit window `bucket` ending at `window_end`; returns the
    /// hits in that window including this one.
    async fn count_hit(&self, bucket: &str, window_end: i64) -> Result<u64, Error>;

    /// Removes pending keys past their deadline, releases lapsed reservations and drops
    /// rate-limit windows that ended, all as of `now`.
    async fn prune(&self, now: i64) -> Result<Pruned, Error>;
}

/// A random reservation id.
pub(crate) fn reservation_id() -> Result<i64, Error> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::Store(format!("no randomness: {e}")))?;
    Ok(i64::from_be_bytes(b))
}
