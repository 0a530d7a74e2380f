//! The two sides of a Lightning backend: [`InvoiceBackend`] (server) and [`Payer`] (client).

use core::fmt;
use core::pin::Pin;
use core::time::Duration;
use std::time::SystemTime;

use futures_core::Stream;
use l402_token::{PaymentHash, Preimage};

use crate::Error;

/// A Bitcoin network, as named in BOLT 11 prefixes (`lnbc`, `lntb`, `lnbcrt`, `lnsb`, `lntbs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Network {
    /// Real money.
    Mainnet,
    /// testnet (`lntb`).
    Testnet,
    /// signet (`lntbs`).
    Signet,
    /// regtest (`lnbcrt`): local test chains, and the dev node.
    Regtest,
    /// simnet (`lnsb`).
    Simnet,
}

impl Network {
    /// The lower-case name used in JSON and configuration.
    pub fn as_str(&self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
            Network::Simnet => "simnet",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for Network {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "mainnet" | "bitcoin" => Network::Mainnet,
            "testnet" => Network::Testnet,
            "signet" => Network::Signet,
            "regtest" => Network::Regtest,
            "simnet" => Network::Simnet,
            other => return Err(Error::Config(format!("unknown network {other:?}"))),
        })
    }
}

/// What the server asks for: an invoice of `amount_msat` with a memo and an expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRequest {
    /// The price in millisatoshis; must be above zero (a priced resource has no amountless
    /// invoice).
    pub amount_msat: u64,
    /// The description shown to the payer.
    pub memo: String,
    /// How long the invoice can be paid; must be at least one second.
    pub expiry: Duration,
}

/// An invoice the backend created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedInvoice {
    /// The BOLT 11 payment request.
    pub bolt11: String,
    /// Its payment hash (what goes into the L402 identifier).
    pub payment_hash: PaymentHash,
    /// When it stops being payable.
    pub expires_at: SystemTime,
}

/// Where an invoice stands, as seen by the payee's node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvoiceState {
    /// Created and payable.
    Open,
    /// Paid: the preimage was released.
    Settled(Settlement),
    /// Canceled by the node's owner; can no longer be paid.
    Canceled,
    /// Its expiry passed before it was paid.
    Expired,
}

/// One settled invoice, as delivered by lookups and the settlement stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The settled invoice's payment hash.
    pub payment_hash: PaymentHash,
    /// The amount received in millisatoshis (can exceed the invoice amount).
    pub amount_paid_msat: u64,
    /// Position in the node's settle order, starting at 1; resumes a subscription.
    pub settle_index: u64,
}

/// A stream of settlements that outlives reconnects to the node: it only ends when the backend
/// is dropped or shut down.
pub type SettlementStream = Pin<Box<dyn Stream<Item = Settlement> + Send + 'static>>;

/// The server side: create invoices and learn when they are paid.
///
/// Object-safe, so the server holds an `Arc<dyn InvoiceBackend>` and never names a node.
#[async_trait::async_trait]
pub trait InvoiceBackend: Send + Sync {
    /// Creates an invoice. An `amount_msat` of zero is [`Error::AmountRequired`]; an expiry
    /// under one second is [`Error::InvalidRequest`].
    async fn create_invoice(&self, request: InvoiceRequest) -> Result<CreatedInvoice, Error>;

    /// Looks up an invoice's state; an unknown hash is [`Error::InvoiceNotFound`].
    async fn lookup_invoice(&self, payment_hash: &PaymentHash) -> Result<InvoiceState, Error>;

    /// Subscribes to settlements. With `after_settle_index = n > 0`, settlements with a settle
    /// index above `n` that already happened are delivered first, then new ones; with 0, only
    /// new ones.
    async fn subscribe_settlements(
        &self,
        after_settle_index: u64,
    ) -> Result<SettlementStream, Error>;
}

/// What the client asks for: pay this invoice, spending at most `max_fee_msat` on fees and
/// giving up after `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    /// The BOLT 11 payment request. Amountless invoices are refused
    /// ([`Error::AmountRequired`]).
    pub bolt11: String,
    /// The most the payer may spend on routing fees, in millisatoshis.
    pub max_fee_msat: u64,
    /// How long to try before giving up; the outcome after a timeout may still be a success,
    /// so look up [`Payer::payment_status`] before paying again.
    pub timeout: Duration,
}

/// A completed payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The payment hash paid.
    pub payment_hash: PaymentHash,
    /// The proof of payment.
    pub preimage: Preimage,
    /// The amount delivered to the payee, in millisatoshis.
    pub amount_msat: u64,
    /// The routing fee paid, in millisatoshis.
    pub fee_msat: u64,
}

/// Where a payment stands, as seen by the payer's node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaymentStatus {
    /// The payer's node never attempted this payment hash.
    Unknown,
    /// Attempted and not yet resolved.
    InFlight,
    /// Paid.
    Succeeded(Payment),
    /// Failed for good; the error says why. Paying again is safe.
    Failed(Error),
}

/// The client side: pay invoices and find out afterwards what happened.
///
/// Object-safe, so the client holds an `Arc<dyn Payer>`.
#[async_trait::async_trait]
pub trait Payer: Send + Sync {
    /// Pays an invoice and returns the preimage. Implementations refuse an invoice they have
    /// already paid ([`Error::AlreadyPaid`]) or are paying ([`Error::PaymentInFlight`]).
    async fn pay(&self, request: PayRequest) -> Result<Payment, Error>;

    /// Looks up what became of a payment, so a client that crashed or timed out mid-payment
    /// can find out whether it paid instead of paying twice.
    async fn payment_status(&self, payment_hash: &PaymentHash) -> Result<PaymentStatus, Error>;
}

/// Converts a price configured in satoshis to millisatoshis, the unit used everywhere inside
/// (decision 0200). Zero is [`Error::AmountRequired`]; an overflow is [`Error::Config`].
pub fn sat_to_msat(sat: u64) -> Result<u64, Error> {
    if sat == 0 {
        return Err(Error::AmountRequired);
    }
    sat.checked_mul(1000)
        .ok_or_else(|| Error::Config(format!("{sat} sat does not fit in millisatoshis")))
}

/// Checks an [`InvoiceRequest`] the same way for every backend.
pub(crate) fn check_invoice_request(request: &InvoiceRequest) -> Result<(), Error> {
    if request.amount_msat == 0 {
        return Err(Error::AmountRequired);
    }
    if request.expiry < Duration::from_secs(1) {
        return Err(Error::InvalidRequest("invoice expiry must be at least one second".into()));
    }
    // BOLT 11 descriptions are at most 639 bytes in a single tagged field.
    if request.memo.len() > 639 {
        return Err(Error::InvalidRequest("memo longer than 639 bytes".into()));
    }
    Ok(())
}
