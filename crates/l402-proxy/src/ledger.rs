//! What this instance sold: recent tokens and revenue, for the admin API and the metrics.
//!
//! Kept in memory, per instance (decision 0803): the store knows keys, not sales, and the
//! Lightning node is the book of record for money.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use l402_token::{PaymentHash, TokenId};
use serde::Serialize;

/// How many recent tokens are kept.
pub(crate) const RECENT: usize = 1000;

/// One minted token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRecord {
    /// Token id, hex.
    pub token_id: String,
    /// Payment hash, hex.
    pub payment_hash: String,
    /// The service it was minted for.
    pub service: String,
    /// The invoice amount.
    pub amount_msat: u64,
    /// Mint time, Unix seconds.
    pub minted_at: i64,
    /// Whether its invoice was seen settled.
    pub paid: bool,
    /// Whether it was revoked through the admin API of this instance.
    pub revoked: bool,
}

/// Revenue totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Revenue {
    /// Settled invoices.
    pub settled: u64,
    /// Millisatoshis received.
    pub total_msat: u64,
    /// Millisatoshis by service.
    pub by_service: BTreeMap<String, u64>,
}

/// The ledger.
#[derive(Debug, Default)]
pub struct Ledger {
    inner: Mutex<(VecDeque<TokenRecord>, Revenue)>,
    changed: tokio::sync::Notify,
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<TokenRecord>, Revenue)> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a minted token.
    pub(crate) fn minted(
        &self,
        token_id: &TokenId,
        payment_hash: &PaymentHash,
        service: &str,
        amount_msat: u64,
        now: i64,
    ) {
        let mut inner = self.lock();
        if inner.0.len() >= RECENT {
            inner.0.pop_front();
        }
        inner.0.push_back(TokenRecord {
            token_id: hex::encode(token_id.as_bytes()),
            payment_hash: hex::encode(payment_hash.as_bytes()),
            service: service.to_owned(),
            amount_msat,
            minted_at: now,
            paid: false,
            revoked: false,
        });
    }

    /// Records a settlement; returns the service it paid for when the invoice is one of ours
    /// and was not counted yet.
    pub(crate) fn settled(&self, payment_hash: &PaymentHash, amount_msat: u64) -> Option<String> {
        let hash = hex::encode(payment_hash.as_bytes());
        let mut inner = self.lock();
        let (tokens, revenue) = &mut *inner;
        let record = tokens.iter_mut().find(|t| t.payment_hash == hash && !t.paid)?;
        record.paid = true;
        revenue.settled += 1;
        revenue.total_msat = revenue.total_msat.saturating_add(amount_msat);
        let by = revenue.by_service.entry(record.service.clone()).or_insert(0);
        *by = by.saturating_add(amount_msat);
        Some(record.service.clone())
    }

    /// Wakes [`Ledger::wait_settled`] callers; the settlement watcher calls it once the
    /// metrics are updated too, so waiters see both.
    pub(crate) fn notify(&self) {
        self.changed.notify_waiters();
    }

    /// Marks a token revoked.
    pub(crate) fn revoked(&self, token_id: &TokenId) {
        let hex = hex::encode(token_id.as_bytes());
        for t in self.lock().0.iter_mut().filter(|t| t.token_id == hex) {
            t.revoked = true;
        }
    }

    /// The most recent tokens, newest first.
    pub fn recent(&self, limit: usize) -> Vec<TokenRecord> {
        self.lock().0.iter().rev().take(limit).cloned().collect()
    }

    /// Waits until at least `n` settlements were counted (settlements are watched in the
    /// background, so a payment shows up here shortly after it happened).
    pub async fn wait_settled(&self, n: u64) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a settlement between the check and the wait
            // still wakes us.
            notified.as_mut().enable();
            if self.lock().1.settled >= n {
                return;
            }
            notified.await;
        }
    }

    /// Revenue so far.
    pub fn revenue(&self) -> Revenue {
        self.lock().1.clone()
    }
}
