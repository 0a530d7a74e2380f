//! The whole store as one value: what the memory store holds and the file store writes.

use std::collections::BTreeMap;
use std::time::SystemTime;

use l402_token::PaymentHash;
use serde::{Deserialize, Serialize};

use crate::record::{to_unix, PaymentRow, TokenRow};
use crate::seal::Sealer;
use crate::{Budget, Error, LedgerEntry, LedgerQuery, PendingPayment, Resolution, Scope, Token};

/// Format version of the file store.
const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    v: u32,
    tokens: BTreeMap<String, TokenRow>,
    payments: Vec<PaymentRow>,
}

impl Default for State {
    fn default() -> Self {
        State { v: VERSION, tokens: BTreeMap::new(), payments: Vec::new() }
    }
}

impl State {
    pub(crate) fn check_version(&self) -> Result<(), Error> {
        if self.v == VERSION {
            Ok(())
        } else {
            Err(Error::Store(format!("unsupported store version {}", self.v)))
        }
    }

    pub(crate) fn token(&self, scope: &Scope, sealer: &Sealer) -> Result<Option<Token>, Error> {
        self.tokens.get(scope.as_str()).map(|row| row.open(sealer)).transpose()
    }

    pub(crate) fn tokens(&self, sealer: &Sealer) -> Result<Vec<Token>, Error> {
        self.tokens.values().map(|row| row.open(sealer)).collect()
    }

    pub(crate) fn put_token(&mut self, token: &Token, sealer: &Sealer) -> Result<(), Error> {
        let row = TokenRow::seal(token, sealer)?;
        self.tokens.insert(row.scope.clone(), row);
        Ok(())
    }

    pub(crate) fn remove_token(&mut self, scope: &Scope, only: Option<&PaymentHash>) -> bool {
        let matches = match (self.tokens.get(scope.as_str()), only) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(row), Some(hash)) => row.payment_hash == hash.to_string(),
        };
        if matches {
            self.tokens.remove(scope.as_str());
        }
        matches
    }

    pub(crate) fn reject_payment(&mut self, hash: &PaymentHash) -> bool {
        let hash = hash.to_string();
        let row = self.payments.iter_mut().find(|p| p.payment_hash == hash && p.outcome == "paid");
        row.map(|p| p.outcome = "rejected".into()).is_some()
    }

    pub(crate) fn spent(&self, since: Option<SystemTime>, domain: Option<&str>) -> u64 {
        let since = since.map(to_unix);
        self.payments
            .iter()
            .filter(|p| since.is_none_or(|s| p.time >= s))
            .filter(|p| domain.is_none_or(|d| p.domain == d))
            .fold(0u64, |acc, p| acc.saturating_add(p.counted_msat()))
    }

    pub(crate) fn begin_payment(
        &mut self,
        pending: &PendingPayment,
        budget: &Budget,
        now: SystemTime,
        sealer: &Sealer,
    ) -> Result<(), Error> {
        let hash = pending.payment_hash.to_string();
        if let Some(existing) = self.payments.iter().find(|p| p.payment_hash == hash) {
            return Err(already_recorded(existing, pending.payment_hash));
        }
        let needed = pending.amount_msat.saturating_add(pending.max_fee_msat);
        budget.check(needed, pending.scope.domain(), now, &mut |since, domain| {
            Ok(self.spent(since, domain))
        })?;
        self.payments.push(PaymentRow::pending(pending, sealer)?);
        Ok(())
    }

    pub(crate) fn resolve_payment(
        &mut self,
        hash: &PaymentHash,
        resolution: &Resolution,
        now: SystemTime,
        sealer: &Sealer,
    ) -> Result<(), Error> {
        let hash = hash.to_string();
        let Some(row) =
            self.payments.iter_mut().find(|p| p.payment_hash == hash && p.outcome == "pending")
        else {
            return Ok(());
        };
        // Work on a copy so a failure (wrong key) leaves the row pending.
        let mut updated = row.clone();
        let token = updated.resolve(resolution, sealer, now)?;
        *row = updated;
        if let Some(token) = token {
            self.tokens.insert(token.scope.clone(), token);
        }
        Ok(())
    }

    pub(crate) fn pending(&self, sealer: &Sealer) -> Result<Vec<PendingPayment>, Error> {
        self.payments
            .iter()
            .filter(|p| p.outcome == "pending")
            .map(|p| p.open_pending(sealer))
            .collect()
    }

    pub(crate) fn ledger(&self, query: &LedgerQuery) -> Result<Vec<LedgerEntry>, Error> {
        let since = query.since.map(to_unix);
        self.payments
            .iter()
            .filter(|p| since.is_none_or(|s| p.time >= s))
            .filter(|p| query.domain.as_deref().is_none_or(|d| p.domain == d))
            .map(PaymentRow::entry)
            .collect()
    }
}

/// The error for a payment hash already in the ledger.
pub(crate) fn already_recorded(existing: &PaymentRow, hash: PaymentHash) -> Error {
    if existing.outcome == "pending" {
        Error::PaymentPending { payment_hash: hash }
    } else {
        Error::Store(format!("payment {hash} is already in the ledger ({})", existing.outcome))
    }
}
