//! Spending limits, checked against the store's ledger before every payment.

use core::time::Duration;
use std::time::SystemTime;

use crate::Error;

/// Which budget a payment would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BudgetKind {
    /// The most one payment may cost (amount plus fee limit).
    PerRequest,
    /// The most spent in any rolling hour.
    Hour,
    /// The most spent in any rolling 24 hours.
    Day,
    /// The most spent ever, by this store.
    Total,
    /// The most spent on one domain (host) in any rolling 24 hours.
    Domain,
}

impl BudgetKind {
    /// The stable name: `per-request`, `hour`, `day`, `total`, `domain`.
    pub fn as_str(&self) -> &'static str {
        match self {
            BudgetKind::PerRequest => "per-request",
            BudgetKind::Hour => "hour",
            BudgetKind::Day => "day",
            BudgetKind::Total => "total",
            BudgetKind::Domain => "domain",
        }
    }
}

/// What the ledger counts since a time (all time for `None`), for one domain or all, in
/// millisatoshis.
pub type SpentFn<'a> = dyn FnMut(Option<SystemTime>, Option<&str>) -> Result<u64, Error> + 'a;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Spending limits in millisatoshis; `None` means unlimited.
///
/// What counts against a budget: every payment that succeeded (amount plus the fee actually
/// paid) and every payment still pending (amount plus its fee limit, since it may yet succeed
/// with the whole fee). Failed payments do not count. The sums come from the store, so they
/// hold across restarts and across processes sharing a store; the check and the pending
/// record that reserves the money are one atomic step of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Budget {
    /// Per payment: amount plus fee limit.
    pub per_request_msat: Option<u64>,
    /// Per rolling hour.
    pub per_hour_msat: Option<u64>,
    /// Per rolling 24 hours.
    pub per_day_msat: Option<u64>,
    /// For the store's whole life.
    pub total_msat: Option<u64>,
    /// Per domain (host), per rolling 24 hours.
    pub per_domain_day_msat: Option<u64>,
}

impl Budget {
    /// No limits.
    pub fn unlimited() -> Budget {
        Budget::default()
    }

    /// Sets the per-payment limit.
    pub fn per_request(mut self, msat: u64) -> Budget {
        self.per_request_msat = Some(msat);
        self
    }

    /// Sets the rolling-hour limit.
    pub fn per_hour(mut self, msat: u64) -> Budget {
        self.per_hour_msat = Some(msat);
        self
    }

    /// Sets the rolling-day limit.
    pub fn per_day(mut self, msat: u64) -> Budget {
        self.per_day_msat = Some(msat);
        self
    }

    /// Sets the lifetime limit.
    pub fn total(mut self, msat: u64) -> Budget {
        self.total_msat = Some(msat);
        self
    }

    /// Sets the per-domain rolling-day limit.
    pub fn per_domain_day(mut self, msat: u64) -> Budget {
        self.per_domain_day_msat = Some(msat);
        self
    }

    /// Checks a payment of `needed_msat` (amount plus fee limit) to `domain` at `now`.
    ///
    /// `spent(since, domain)` returns what the ledger counts since `since` (all time for
    /// `None`), for one domain or all. Stores call this inside their atomic section.
    pub fn check(
        &self,
        needed_msat: u64,
        domain: &str,
        now: SystemTime,
        spent: &mut SpentFn<'_>,
    ) -> Result<(), Error> {
        if let Some(limit) = self.per_request_msat {
            if needed_msat > limit {
                return Err(Error::OverBudget {
                    budget: BudgetKind::PerRequest,
                    limit_msat: limit,
                    spent_msat: 0,
                    needed_msat,
                });
            }
        }
        let windows = [
            (BudgetKind::Hour, self.per_hour_msat, Some(HOUR), None),
            (BudgetKind::Day, self.per_day_msat, Some(DAY), None),
            (BudgetKind::Total, self.total_msat, None, None),
            (BudgetKind::Domain, self.per_domain_day_msat, Some(DAY), Some(domain)),
        ];
        for (budget, limit, window, domain) in windows {
            let Some(limit) = limit else { continue };
            // Before the epoch plus a window there is nothing to exclude.
            let since = window.map(|w| now.checked_sub(w).unwrap_or(SystemTime::UNIX_EPOCH));
            let spent_msat = spent(since, domain)?;
            if spent_msat.saturating_add(needed_msat) > limit {
                return Err(Error::OverBudget {
                    budget,
                    limit_msat: limit,
                    spent_msat,
                    needed_msat,
                });
            }
        }
        Ok(())
    }

    /// What is left in each configured budget at `now` for `domain`, given the same `spent`
    /// function as [`Budget::check`]: `(kind, limit, remaining)`. For `--dry-run` output.
    pub fn headroom(
        &self,
        domain: &str,
        now: SystemTime,
        spent: &mut SpentFn<'_>,
    ) -> Result<Vec<(BudgetKind, u64, u64)>, Error> {
        let mut out = Vec::new();
        if let Some(limit) = self.per_request_msat {
            out.push((BudgetKind::PerRequest, limit, limit));
        }
        let windows = [
            (BudgetKind::Hour, self.per_hour_msat, Some(HOUR), None),
            (BudgetKind::Day, self.per_day_msat, Some(DAY), None),
            (BudgetKind::Total, self.total_msat, None, None),
            (BudgetKind::Domain, self.per_domain_day_msat, Some(DAY), Some(domain)),
        ];
        for (kind, limit, window, domain) in windows {
            let Some(limit) = limit else { continue };
            let since = window.map(|w| now.checked_sub(w).unwrap_or(SystemTime::UNIX_EPOCH));
            out.push((kind, limit, limit.saturating_sub(spent(since, domain)?)));
        }
        Ok(out)
    }
}
