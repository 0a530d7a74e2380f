//! The one error type of this crate, with a stable machine code per variant.

use core::fmt;

use crate::Network;

/// Everything that can go wrong creating, checking, paying or watching an invoice.
///
/// [`Error::code`] is the stable, machine-readable name (CLI output, logs, the dev node's
/// pairing protocol); `Display` is for humans and may change. Detail strings never carry
/// secrets (preimages, macaroons).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The node could not be reached (connection refused, TLS failure, node shutting down).
    Unreachable(String),
    /// The operation did not finish within its deadline. For a payment the outcome is unknown:
    /// ask [`Payer::payment_status`](crate::Payer::payment_status) before paying again.
    Timeout,
    /// The invoice's expiry has passed.
    InvoiceExpired,
    /// No route to the payee was found, or every route failed.
    NoRoute,
    /// The payer's balance does not cover amount plus fee limit.
    InsufficientBalance,
    /// This invoice was already paid (by us, or it is settled at the payee).
    AlreadyPaid,
    /// A payment for this payment hash is already in flight.
    PaymentInFlight,
    /// The backend knows no invoice with this payment hash.
    InvoiceNotFound,
    /// The invoice has no amount, and a price is required.
    AmountRequired,
    /// The invoice (or the configured node) is for another network than the one expected.
    WrongNetwork {
        /// The network the caller expected.
        expected: Network,
        /// The network that was found.
        found: Network,
    },
    /// The string is not a well-formed BOLT 11 invoice, or breaks a BOLT 11 rule.
    MalformedInvoice(String),
    /// The invoice's signature does not verify.
    InvalidInvoiceSignature,
    /// The invoice's payment hash is not the one in the challenge's macaroon.
    PaymentHashMismatch,
    /// The node refused the call: missing or wrong macaroon, or missing permission.
    PermissionDenied(String),
    /// The payment failed at the payer's node for a reason other than the ones above.
    PaymentFailed(String),
    /// The fee limit is too low for every route found.
    FeeLimitExceeded,
    /// A request parameter is out of range (for example an expiry of zero).
    InvalidRequest(String),
    /// The backend's configuration is unusable (unreadable certificate, bad macaroon file,
    /// or a dev node asked to run on mainnet).
    Config(String),
    /// The node answered something this crate does not understand.
    Backend(String),
    /// The challenge's macaroon is not a valid L402 token.
    Token(l402_token::Error),
}

impl Error {
    /// The stable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unreachable(_) => "unreachable",
            Error::Timeout => "timeout",
            Error::InvoiceExpired => "invoice-expired",
            Error::NoRoute => "no-route",
            Error::InsufficientBalance => "insufficient-balance",
            Error::AlreadyPaid => "already-paid",
            Error::PaymentInFlight => "payment-in-flight",
            Error::InvoiceNotFound => "invoice-not-found",
            Error::AmountRequired => "amount-required",
            Error::WrongNetwork { .. } => "wrong-network",
            Error::MalformedInvoice(_) => "malformed-invoice",
            Error::InvalidInvoiceSignature => "invalid-invoice-signature",
            Error::PaymentHashMismatch => "payment-hash-mismatch",
            Error::PermissionDenied(_) => "permission-denied",
            Error::PaymentFailed(_) => "payment-failed",
            Error::FeeLimitExceeded => "fee-limit-exceeded",
            Error::InvalidRequest(_) => "invalid-request",
            Error::Config(_) => "config",
            Error::Backend(_) => "backend",
            // The token crate's own codes are already stable and more precise.
            Error::Token(e) => e.code(),
        }
    }

    /// Every code [`Error::code`] can return for errors of this crate (not counting wrapped
    /// token errors), for documentation and exhaustive tests.
    pub const CODES: &'static [&'static str] = &[
        "unreachable",
        "timeout",
        "invoice-expired",
        "no-route",
        "insufficient-balance",
        "already-paid",
        "payment-in-flight",
        "invoice-not-found",
        "amount-required",
        "wrong-network",
        "malformed-invoice",
        "invalid-invoice-signature",
        "payment-hash-mismatch",
        "permission-denied",
        "payment-failed",
        "fee-limit-exceeded",
        "invalid-request",
        "config",
        "backend",
    ];

    /// The variant's detail text, without the Display prefix (empty for variants without one).
    pub(crate) fn detail(&self) -> String {
        match self {
            Error::Unreachable(d)
            | Error::MalformedInvoice(d)
            | Error::PermissionDenied(d)
            | Error::PaymentFailed(d)
            | Error::InvalidRequest(d)
            | Error::Config(d)
            | Error::Backend(d) => d.clone(),
            other => other.to_string(),
        }
    }

    /// Rebuilds an error from its code and detail, as carried over the dev node's pairing
    /// protocol. `None` for a code this crate does not define.
    pub(crate) fn from_code(code: &str, detail: String) -> Option<Error> {
        Some(match code {
            "unreachable" => Error::Unreachable(detail),
            "timeout" => Error::Timeout,
            "invoice-expired" => Error::InvoiceExpired,
            "no-route" => Error::NoRoute,
            "insufficient-balance" => Error::InsufficientBalance,
            "already-paid" => Error::AlreadyPaid,
            "payment-in-flight" => Error::PaymentInFlight,
            "invoice-not-found" => Error::InvoiceNotFound,
            "amount-required" => Error::AmountRequired,
            "malformed-invoice" => Error::MalformedInvoice(detail),
            "invalid-invoice-signature" => Error::InvalidInvoiceSignature,
            "payment-hash-mismatch" => Error::PaymentHashMismatch,
            "permission-denied" => Error::PermissionDenied(detail),
            "payment-failed" => Error::PaymentFailed(detail),
            "fee-limit-exceeded" => Error::FeeLimitExceeded,
            "invalid-request" => Error::InvalidRequest(detail),
            "config" => Error::Config(detail),
            "backend" => Error::Backend(detail),
            // Networks are not carried on the wire; the detail keeps the human text.
            _ => return None,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unreachable(d) => write!(f, "lightning node unreachable: {d}"),
            Error::Timeout => f.write_str("lightning operation timed out"),
            Error::InvoiceExpired => f.write_str("invoice expired"),
            Error::NoRoute => f.write_str("no route to the payee"),
            Error::InsufficientBalance => f.write_str("insufficient balance"),
            Error::AlreadyPaid => f.write_str("invoice already paid"),
            Error::PaymentInFlight => f.write_str("a payment for this invoice is in flight"),
            Error::InvoiceNotFound => f.write_str("invoice not found"),
            Error::AmountRequired => f.write_str("invoice has no amount and a price is required"),
            Error::WrongNetwork { expected, found } => {
                write!(f, "wrong network: expected {expected}, found {found}")
            }
            Error::MalformedInvoice(d) => write!(f, "malformed BOLT 11 invoice: {d}"),
            Error::InvalidInvoiceSignature => f.write_str("invoice signature does not verify"),
            Error::PaymentHashMismatch => {
                f.write_str("invoice payment hash differs from the macaroon's")
            }
            Error::PermissionDenied(d) => write!(f, "permission denied: {d}"),
            Error::PaymentFailed(d) => write!(f, "payment failed: {d}"),
            Error::FeeLimitExceeded => f.write_str("no route within the fee limit"),
            Error::InvalidRequest(d) => write!(f, "invalid request: {d}"),
            Error::Config(d) => write!(f, "unusable lightning configuration: {d}"),
            Error::Backend(d) => write!(f, "unexpected answer from the lightning node: {d}"),
            Error::Token(e) => write!(f, "challenge macaroon: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Token(e) => Some(e),
            _ => None,
        }
    }
}

impl From<l402_token::Error> for Error {
    fn from(e: l402_token::Error) -> Self {
        Error::Token(e)
    }
}
