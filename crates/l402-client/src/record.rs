//! What the store keeps: paid tokens, and the ledger of payments (pending, paid, failed).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use l402_http::Scheme;
use l402_token::{Macaroon, PaymentHash, Preimage};
use serde::{Deserialize, Serialize};

use crate::seal::Sealer;
use crate::{Error, Scope};

/// What a token sends before `:<preimage>`: the challenge's macaroon or, where the client was
/// told to accept them (decision 0711), a server's own token that is not a macaroon.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bearer {
    /// A macaroon whose identifier names the invoice's payment hash (checked before paying).
    Macaroon(Macaroon),
    /// A token sent back exactly as the server wrote it (token68 characters); nothing ties it
    /// to the invoice.
    Opaque(String),
}

impl Bearer {
    /// The macaroon, for a macaroon token.
    pub fn macaroon(&self) -> Option<&Macaroon> {
        match self {
            Bearer::Macaroon(m) => Some(m),
            Bearer::Opaque(_) => None,
        }
    }

    /// `macaroon` or `opaque`.
    pub fn kind(&self) -> &'static str {
        match self {
            Bearer::Macaroon(_) => "macaroon",
            Bearer::Opaque(_) => "opaque",
        }
    }

    /// The text sent on the wire: standard base64 for a macaroon, the token as received.
    pub fn to_text(&self) -> String {
        match self {
            Bearer::Macaroon(m) => m.to_base64(),
            Bearer::Opaque(t) => t.clone(),
        }
    }

    /// How a sealed secret holds it: a macaroon as base64, an opaque token after `opaque `
    /// (base64 has no space, so the two never meet).
    fn seal_text(&self) -> String {
        match self {
            Bearer::Macaroon(m) => m.to_base64(),
            Bearer::Opaque(t) => format!("{OPAQUE}{t}"),
        }
    }

    fn open_text(text: &str) -> Result<Bearer, Error> {
        match text.strip_prefix(OPAQUE) {
            Some(t) if !t.is_empty() && !t.contains([' ', ':']) => Ok(Bearer::Opaque(t.to_owned())),
            Some(_) => Err(corrupt("opaque token")),
            None => {
                Macaroon::from_base64(text).map(Bearer::Macaroon).map_err(|_| corrupt("macaroon"))
            }
        }
    }
}

const OPAQUE: &str = "opaque ";

impl core::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Bearer::Macaroon(m) => f.debug_tuple("Macaroon").field(m).finish(),
            // A bearer secret: its length only.
            Bearer::Opaque(t) => write!(f, "Opaque({} bytes)", t.len()),
        }
    }
}

/// A paid token: the macaroon (or opaque token), the preimage that proves payment, and where
/// it applies. `Debug` shows neither secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The requests it is sent with.
    pub scope: Scope,
    /// The scheme of the challenge it was bought from, which it is sent under: a server that
    /// offers only `LSAT` refuses `L402` (decision 0707).
    pub scheme: Scheme,
    /// The macaroon (or opaque token) from the challenge.
    pub bearer: Bearer,
    /// The proof of payment.
    pub preimage: Preimage,
    /// The invoice's payment hash.
    pub payment_hash: PaymentHash,
    /// What it cost, without fees, in millisatoshis.
    pub amount_msat: u64,
    /// The routing fee paid, in millisatoshis.
    pub fee_msat: u64,
    /// When it was paid.
    pub created_at: SystemTime,
}

impl Token {
    /// The `Authorization` value that sends it: `<scheme> <macaroon or token>:<preimage>`,
    /// under the scheme of the challenge it was bought from.
    pub fn authorization(&self) -> Result<http::HeaderValue, Error> {
        match &self.bearer {
            Bearer::Macaroon(m) => Ok(l402_http::Credential::new(m.clone(), self.preimage.clone())
                .with_scheme(self.scheme)
                .to_authorization_value()),
            // Only token68 text is ever stored, so this encodes unless the store was damaged.
            Bearer::Opaque(t) => {
                let value = format!("{} {t}:{}", self.scheme.as_str(), self.preimage.to_hex());
                http::HeaderValue::try_from(value).map_err(|_| corrupt("opaque token"))
            }
        }
    }
}

/// Where a payment in the ledger stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Recorded before paying; not resolved yet.
    Pending,
    /// Paid; the token was stored.
    Paid,
    /// Not paid; the code says why (a `l402_lightning::Error` code, or `not-attempted` for a
    /// pending record the payer had never heard of).
    Failed(String),
    /// Paid, but the server refused the token it sold: the money is spent, and the scope is
    /// not paid again within the back-off (decision 0708).
    Rejected,
}

impl Outcome {
    /// `pending`, `paid`, `failed` or `rejected`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Paid => "paid",
            Outcome::Failed(_) => "failed",
            Outcome::Rejected => "rejected",
        }
    }
}

/// One payment in the spend ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// When the payment was started.
    pub time: SystemTime,
    /// The request URL without query, fragment or user info.
    pub url: String,
    /// The host paid.
    pub domain: String,
    /// The scope the token was bought for.
    pub scope: Scope,
    /// The invoice's payment hash.
    pub payment_hash: PaymentHash,
    /// The invoice amount in millisatoshis.
    pub amount_msat: u64,
    /// The fee: paid (for `Paid`), the fee limit still reserved (for `Pending`), 0 (for
    /// `Failed`).
    pub fee_msat: u64,
    /// Where it stands.
    pub outcome: Outcome,
}

impl LedgerEntry {
    /// What this entry counts against budgets: amount plus fee for paid (also rejected) and
    /// pending payments, nothing for failed ones.
    pub fn counted_msat(&self) -> u64 {
        match self.outcome {
            Outcome::Paid | Outcome::Rejected | Outcome::Pending => {
                self.amount_msat.saturating_add(self.fee_msat)
            }
            Outcome::Failed(_) => 0,
        }
    }
}

/// A payment about to be made, recorded (with the budget check) before the payer is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPayment {
    /// When it was started.
    pub time: SystemTime,
    /// The request URL without query, fragment or user info.
    pub url: String,
    /// The scope the token is bought for.
    pub scope: Scope,
    /// The invoice's payment hash.
    pub payment_hash: PaymentHash,
    /// The invoice amount in millisatoshis.
    pub amount_msat: u64,
    /// The fee limit in millisatoshis.
    pub max_fee_msat: u64,
    /// When the invoice expires.
    pub expires_at: SystemTime,
    /// The challenge's macaroon (or opaque token), kept so a payment resolved after a crash
    /// still yields a token.
    pub bearer: Bearer,
    /// The challenge's scheme, which the token will be sent under.
    pub scheme: Scheme,
}

/// How a pending payment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// Paid: store the token.
    Paid {
        /// The proof of payment.
        preimage: Preimage,
        /// The fee paid in millisatoshis.
        fee_msat: u64,
    },
    /// Not paid, with the reason's code.
    Failed(String),
}

/// Which ledger entries to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerQuery {
    /// Only entries started at or after this time.
    pub since: Option<SystemTime>,
    /// Only entries for this domain.
    pub domain: Option<String>,
}

impl LedgerQuery {
    /// Everything.
    pub fn all() -> LedgerQuery {
        LedgerQuery::default()
    }

    /// Entries started within the last `window` before `now`.
    pub fn within(mut self, now: SystemTime, window: Duration) -> LedgerQuery {
        self.since = Some(now.checked_sub(window).unwrap_or(UNIX_EPOCH));
        self
    }

    /// Entries for one domain.
    pub fn domain(mut self, domain: impl Into<String>) -> LedgerQuery {
        self.domain = Some(domain.into());
        self
    }
}

/// Totals over ledger entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpendSummary {
    /// Amounts of paid entries (rejected ones included: they were paid), in millisatoshis.
    pub amount_msat: u64,
    /// Fees of paid entries, in millisatoshis.
    pub fee_msat: u64,
    /// Number of paid entries, rejected ones included.
    pub paid: u64,
    /// Of those, the number whose token the server refused (`rejected`).
    pub rejected: u64,
    /// Number of pending entries.
    pub pending: u64,
    /// Number of failed entries.
    pub failed: u64,
    /// Amount plus fee reserved by pending entries, in millisatoshis.
    pub reserved_msat: u64,
    /// Amount plus fee of paid entries per domain, in millisatoshis.
    pub by_domain_msat: BTreeMap<String, u64>,
}

impl SpendSummary {
    /// Adds up entries.
    pub fn of(entries: &[LedgerEntry]) -> SpendSummary {
        let mut s = SpendSummary::default();
        for e in entries {
            match &e.outcome {
                Outcome::Paid | Outcome::Rejected => {
                    s.paid += 1;
                    s.rejected += u64::from(e.outcome == Outcome::Rejected);
                    s.amount_msat = s.amount_msat.saturating_add(e.amount_msat);
                    s.fee_msat = s.fee_msat.saturating_add(e.fee_msat);
                    let d = s.by_domain_msat.entry(e.domain.clone()).or_insert(0);
                    *d = d.saturating_add(e.counted_msat());
                }
                Outcome::Pending => {
                    s.pending += 1;
                    s.reserved_msat = s.reserved_msat.saturating_add(e.counted_msat());
                }
                Outcome::Failed(_) => s.failed += 1,
            }
        }
        s
    }
}

/// Seconds since the epoch, as stored.
pub(crate) fn to_unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn from_unix(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A token as the memory and file stores keep it, and as SQLite columns hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenRow {
    pub(crate) scope: String,
    pub(crate) payment_hash: String,
    pub(crate) amount_msat: u64,
    pub(crate) fee_msat: u64,
    pub(crate) created: u64,
    /// `<macaroon base64>:<preimage hex>`, sealed.
    pub(crate) secret: String,
}

/// A ledger entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PaymentRow {
    pub(crate) time: u64,
    pub(crate) url: String,
    pub(crate) domain: String,
    pub(crate) scope: String,
    pub(crate) payment_hash: String,
    pub(crate) amount_msat: u64,
    pub(crate) max_fee_msat: u64,
    pub(crate) fee_msat: u64,
    pub(crate) outcome: String,
    pub(crate) error: Option<String>,
    pub(crate) expires: u64,
    /// The macaroon in base64, sealed; dropped once the payment is resolved.
    pub(crate) secret: Option<String>,
}

fn context(scope: &str, hash: &str) -> String {
    format!("{scope}|{hash}")
}

/// A sealed secret carries its scheme in front (`LSAT <base64>…`); base64 has no space, and a
/// secret written before schemes were kept has none and is `L402`.
fn with_scheme(scheme: Scheme, secret: &str) -> String {
    format!("{} {secret}", scheme.as_str())
}

fn split_scheme(secret: &str) -> Result<(Scheme, &str), Error> {
    match secret.split_once(' ') {
        None => Ok((Scheme::L402, secret)),
        Some((name, rest)) => {
            Scheme::from_name(name).map(|s| (s, rest)).ok_or_else(|| corrupt("token scheme"))
        }
    }
}

fn corrupt(what: &str) -> Error {
    Error::Store(format!("corrupt store: {what}"))
}

impl TokenRow {
    pub(crate) fn seal(token: &Token, sealer: &Sealer) -> Result<TokenRow, Error> {
        let scope = token.scope.as_str().to_owned();
        let payment_hash = token.payment_hash.to_string();
        let secret = format!("{}:{}", token.bearer.seal_text(), token.preimage.to_hex());
        let secret = with_scheme(token.scheme, &secret);
        Ok(TokenRow {
            secret: sealer.seal(&secret, &context(&scope, &payment_hash))?,
            scope,
            payment_hash,
            amount_msat: token.amount_msat,
            fee_msat: token.fee_msat,
            created: to_unix(token.created_at),
        })
    }

    pub(crate) fn open(&self, sealer: &Sealer) -> Result<Token, Error> {
        let secret = sealer.open(&self.secret, &context(&self.scope, &self.payment_hash))?;
        let (scheme, secret) = split_scheme(&secret)?;
        let (mac, pre) = secret.rsplit_once(':').ok_or_else(|| corrupt("token secret"))?;
        let bearer = Bearer::open_text(mac)?;
        let preimage = Preimage::from_hex(pre).map_err(|_| corrupt("token preimage"))?;
        let payment_hash: PaymentHash =
            self.payment_hash.parse().map_err(|_| corrupt("payment hash"))?;
        // A row whose proof does not match its hash is useless to send: treat it as damage.
        preimage.check(&payment_hash).map_err(|_| corrupt("preimage does not match hash"))?;
        Ok(Token {
            scope: Scope::parse(&self.scope)?,
            scheme,
            bearer,
            preimage,
            payment_hash,
            amount_msat: self.amount_msat,
            fee_msat: self.fee_msat,
            created_at: from_unix(self.created),
        })
    }
}

impl PaymentRow {
    pub(crate) fn pending(p: &PendingPayment, sealer: &Sealer) -> Result<PaymentRow, Error> {
        let scope = p.scope.as_str().to_owned();
        let payment_hash = p.payment_hash.to_string();
        Ok(PaymentRow {
            time: to_unix(p.time),
            url: p.url.clone(),
            domain: p.scope.domain().to_owned(),
            secret: Some(sealer.seal(
                &with_scheme(p.scheme, &p.bearer.seal_text()),
                &context(&scope, &payment_hash),
            )?),
            scope,
            payment_hash,
            amount_msat: p.amount_msat,
            max_fee_msat: p.max_fee_msat,
            fee_msat: p.max_fee_msat,
            outcome: "pending".into(),
            error: None,
            expires: to_unix(p.expires_at),
        })
    }

    pub(crate) fn entry(&self) -> Result<LedgerEntry, Error> {
        let outcome = match self.outcome.as_str() {
            "pending" => Outcome::Pending,
            "paid" => Outcome::Paid,
            "failed" => Outcome::Failed(self.error.clone().unwrap_or_default()),
            "rejected" => Outcome::Rejected,
            _ => return Err(corrupt("payment outcome")),
        };
        Ok(LedgerEntry {
            time: from_unix(self.time),
            url: self.url.clone(),
            domain: self.domain.clone(),
            scope: Scope::parse(&self.scope)?,
            payment_hash: self.payment_hash.parse().map_err(|_| corrupt("payment hash"))?,
            amount_msat: self.amount_msat,
            fee_msat: self.fee_msat,
            outcome,
        })
    }

    pub(crate) fn open_pending(&self, sealer: &Sealer) -> Result<PendingPayment, Error> {
        let secret = self.secret.as_deref().ok_or_else(|| corrupt("pending without macaroon"))?;
        let opened = sealer.open(secret, &context(&self.scope, &self.payment_hash))?;
        let (scheme, mac) = split_scheme(&opened)?;
        Ok(PendingPayment {
            time: from_unix(self.time),
            url: self.url.clone(),
            scope: Scope::parse(&self.scope)?,
            payment_hash: self.payment_hash.parse().map_err(|_| corrupt("payment hash"))?,
            amount_msat: self.amount_msat,
            max_fee_msat: self.max_fee_msat,
            expires_at: from_unix(self.expires),
            bearer: Bearer::open_text(mac)?,
            scheme,
        })
    }

    /// What this row counts against budgets.
    pub(crate) fn counted_msat(&self) -> u64 {
        match self.outcome.as_str() {
            "paid" | "pending" | "rejected" => self.amount_msat.saturating_add(self.fee_msat),
            _ => 0,
        }
    }

    /// Applies a resolution; returns the token to store when paid.
    pub(crate) fn resolve(
        &mut self,
        resolution: &Resolution,
        sealer: &Sealer,
        now: SystemTime,
    ) -> Result<Option<TokenRow>, Error> {
        let token = match resolution {
            Resolution::Paid { preimage, fee_msat } => {
                let pending = self.open_pending(sealer)?;
                preimage
                    .check(&pending.payment_hash)
                    .map_err(|_| Error::Store("preimage does not match the payment hash".into()))?;
                self.outcome = "paid".into();
                self.fee_msat = *fee_msat;
                Some(TokenRow::seal(
                    &Token {
                        scope: pending.scope,
                        scheme: pending.scheme,
                        bearer: pending.bearer,
                        preimage: preimage.clone(),
                        payment_hash: pending.payment_hash,
                        amount_msat: self.amount_msat,
                        fee_msat: *fee_msat,
                        created_at: now,
                    },
                    sealer,
                )?)
            }
            Resolution::Failed(code) => {
                self.outcome = "failed".into();
                self.error = Some(code.clone());
                self.fee_msat = 0;
                None
            }
        };
        self.secret = None;
        Ok(token)
    }
}
