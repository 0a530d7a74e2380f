//! The state a server keeps: root keys, revocations, usage counters and rate-limit windows.
//!
//! One trait per concern ([`KeyStore`], [`RevocationStore`], [`UsageStore`], [`RateStore`]),
//! gathered by [`Store`], and three implementations: [`MemoryStore`] (one process),
//! `SqliteStore` (feature `sqlite`, the embedded default) and `PostgresStore` (feature
//! `postgres`, several instances sharing one database). One conformance suite runs against
//! all three (`tests/stores.rs`). Times are Unix seconds passed in by the caller, so the
//! stores never read a clock and tests never sleep.

use core::fmt;

use l402_token::{PaymentHash, TokenId};

use crate::keys::RootKey;
use crate::Error;

mod memory;
#[cfg(feature = "postgres")]
mod pg_tls;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore};

/// A root key as written at mint time ([`crate::KeyMode::PerToken`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `sha256(identifier)`: what the key is looked up by.
    pub key_hash: [u8; 32],
    /// The token id, so revoking a token id deletes its keys.
    pub token_id: TokenId,
    /// The payment hash of the token's invoice, so a key whose deadline passed can be checked
    /// against the node before it is forgotten (decision 0600).
    pub payment_hash: PaymentHash,
    /// The key.
    pub root_key: RootKey,
    /// Unpaid keys carry a deadline (Unix seconds): after it the paywall asks the node whether
    /// the invoice was paid, and keeps ([`KeyStore::confirm_key`]) or forgets
    /// ([`KeyStore::forget_pending`]) the key. `None` is permanent.
    pub pending_until: Option<i64>,
    /// The node that issued the invoice (its public key, hex): only an instance on that node
    /// judges the key when it is due, since another node would not know the invoice
    /// (decision 0612). `None` for keys written before this was recorded.
    pub issuer: Option<String>,
}

/// A pending key whose deadline passed, claimed for a check against the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueKey {
    /// What the key is stored under.
    pub key_hash: [u8; 32],
    /// Its invoice's payment hash; `None` for a key written before the store kept it, which
    /// is forgotten unchecked, as before.
    pub payment_hash: Option<PaymentHash>,
}

/// A root key as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key.
    pub root_key: RootKey,
    /// Still pending (never confirmed by a successful verification).
    pub pending: bool,
}

/// One use of a token, reserved but not yet counted (decisions 0603, 0813). It counts as a
/// use unless it is released, explicitly: one that lapses is counted (decision 0609).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Random id of this reservation.
    pub id: i64,
    /// The token it is for.
    pub token_id: TokenId,
    /// The allowance it was reserved under.
    pub allowance: u64,
    /// The token's uses when it was reserved, not counting this one: those counted and those
    /// other requests hold, since a held use counts unless it is given back. So
    /// `allowance - used - 1` is what is left if this one is charged, even while an earlier
    /// charge of the same client is still being written in the background.
    pub used: u64,
}

/// What a prune removed. A store's own [`Store::prune`] fills `reservations` and
/// `windows`; the paywall's prune adds what it decided about pending keys past their deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Pending root keys forgotten: their invoice was never paid.
    pub keys: u64,
    /// Pending root keys kept for good: their invoice turned out to be paid.
    pub confirmed: u64,
    /// Reservations past their lease, counted as uses.
    pub reservations: u64,
    /// Finished rate-limit windows.
    pub windows: u64,
}

/// Root keys of per-token mode ([`crate::KeyMode::PerToken`]).
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a root key. Writing the same `key_hash` twice replaces it.
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error>;

    /// Looks a root key up. A pending key is found until it is confirmed or forgotten, even
    /// past its deadline: only a paid invoice's preimage can make its token verify.
    async fn root_key(&self, key_hash: &[u8; 32]) -> Result<Option<StoredKey>, Error>;

    /// Makes a pending key permanent (the token was paid). No-op if absent.
    async fn confirm_key(&self, key_hash: &[u8; 32]) -> Result<(), Error>;

    /// Claims up to `limit` pending keys whose deadline passed (`<= now`), earliest deadline
    /// first, and moves their deadline to `recheck_at`, so that another instance does not
    /// claim them too and a claim whose check never finishes comes back later. Only keys
    /// issued by `issuer`, or with no issuer recorded, are claimed.
    async fn claim_due_keys(
        &self,
        now: i64,
        recheck_at: i64,
        limit: usize,
        issuer: Option<&str>,
    ) -> Result<Vec<DueKey>, Error>;

    /// Deletes a key if it is still pending (its invoice was not paid); returns whether it
    /// did. A key confirmed in the meantime stays.
    async fn forget_pending(&self, key_hash: &[u8; 32]) -> Result<bool, Error>;
}

/// A page of the revocation feed ([`RevocationStore::revoked_since`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    /// Token ids revoked since the cursor passed in; some may have been returned before.
    pub token_ids: Vec<TokenId>,
    /// What to pass next time.
    pub cursor: i64,
}

/// The revocation list, read as a feed: the paywall holds the whole set in memory and polls
/// for changes, so verification never asks the store (decision 0610).
#[async_trait::async_trait]
pub trait RevocationStore: Send + Sync {
    /// Revokes a token id: its root keys are deleted and the id is listed as revoked, so
    /// derived-mode tokens and every instance's memory refuse it too.
    async fn revoke(&self, token_id: &TokenId, now: i64) -> Result<(), Error>;

    /// The revocations after `cursor` (0: all of them), and the cursor for the next call.
    /// It may return an id again but never skips one, whichever instance revoked it. It is
    /// polled a few times a second, so it must cost next to nothing when nothing changed.
    async fn revoked_since(&self, cursor: i64) -> Result<Revoked, Error>;
}

/// Usage allowances (`max_uses`), counted exactly across every instance sharing the store.
#[async_trait::async_trait]
pub trait UsageStore: Send + Sync {
    /// Reserves one use of a token with `allowance` uses, in one round trip: succeeds only
    /// while counted plus reserved uses are below the allowance. The reservation lapses at
    /// `lease_until` unless committed, released or renewed, and a lapsed reservation counts
    /// as a use (a crash mid-request is charged at the next prune: decision 0609).
    async fn reserve_use(
        &self,
        token_id: &TokenId,
        allowance: u64,
        lease_until: i64,
    ) -> Result<Option<Reservation>, Error>;

    /// Counts a reserved use; returns the number of counted uses after it. Committing a
    /// reservation that lapsed or was already settled counts nothing.
    async fn commit_use(&self, reservation: &Reservation) -> Result<u64, Error>;

    /// Moves a reservation's lapse to `lease_until`, for a request that is still running (a
    /// long stream); returns false if it is no longer held (settled, or lapsed and counted).
    async fn renew_use(&self, reservation: &Reservation, lease_until: i64) -> Result<bool, Error>;

    /// Gives a reserved use back without counting it. A reservation already settled or
    /// pruned stays as it was (a lapsed one was counted).
    async fn release_use(&self, reservation: &Reservation) -> Result<(), Error>;

    /// Counted uses of a token.
    async fn uses(&self, token_id: &TokenId) -> Result<u64, Error>;
}

/// The shared rate-limit windows of unpaid challenges.
#[async_trait::async_trait]
pub trait RateStore: Send + Sync {
    /// Counts one hit in the shared rate-limit window `bucket` ending at `window_end` if it
    /// holds fewer than `limit`; returns whether it did. A full window is left as it is:
    /// nothing is written (decision 0607), so refusals cost the store no writes.
    async fn take_hit(&self, bucket: &str, window_end: i64, limit: u64) -> Result<bool, Error>;
}

/// Everything a server keeps, in one database: each concern's trait, plus the upkeep that
/// spans them. Every method is atomic on its own.
#[async_trait::async_trait]
pub trait Store: KeyStore + RevocationStore + UsageStore + RateStore + fmt::Debug {
    /// Counts lapsed reservations (`lease_until <= now`) as uses, deleting them, and drops
    /// rate-limit windows that ended, as of `now`.
    /// Pending keys are not touched: only the paywall, which can ask the node whether they
    /// were paid, forgets them.
    async fn prune(&self, now: i64) -> Result<Pruned, Error>;

    /// Whether the store answers now (one trivial round trip), for readiness checks.
    async fn ping(&self) -> Result<(), Error>;
}

/// A 32-byte column read back from a database.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn array32(v: Vec<u8>, what: &str) -> Result<[u8; 32], Error> {
    v.try_into().map_err(|_| Error::Store(format!("stored {what} is not 32 bytes")))
}

/// A due key read back from a database: `(key_hash, payment_hash)` columns.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn due_key(key_hash: Vec<u8>, payment_hash: Option<Vec<u8>>) -> Result<DueKey, Error> {
    Ok(DueKey {
        key_hash: array32(key_hash, "key hash")?,
        payment_hash: payment_hash
            .map(|h| array32(h, "payment hash").map(PaymentHash))
            .transpose()?,
    })
}

/// A random reservation id.
pub(crate) fn reservation_id() -> Result<i64, Error> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::Store(format!("no randomness: {e}")))?;
    Ok(i64::from_be_bytes(b))
}
