//! The one error type of this crate, with a stable machine code per variant.

use core::fmt;

use l402_token::PaymentHash;

use crate::budget::BudgetKind;

/// Whether money left the wallet when a payment went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Paid {
    /// The payer reported a definite failure: nothing was spent.
    No,
    /// The outcome is not known yet (timeout, node unreachable, payment in flight). The
    /// pending record stays in the store and is resolved through the payer's status lookup
    /// before anything is paid again for the same scope.
    Unknown,
}

impl Paid {
    /// `"no"` or `"unknown"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Paid::No => "no",
            Paid::Unknown => "unknown",
        }
    }
}

/// Everything the client can refuse or fail at.
///
/// [`Error::code`] is stable and meant for programs (CLI exit codes, JSON output, retries);
/// `Display` is for humans. Details never carry secrets (macaroons, preimages, keys).
///
/// The middleware returns these wrapped in [`reqwest_middleware::Error::Middleware`];
/// [`Error::from_middleware`] gets them back.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Paying would exceed a budget; nothing was paid.
    OverBudget {
        /// Which budget.
        budget: BudgetKind,
        /// The budget's limit in millisatoshis.
        limit_msat: u64,
        /// What is already spent or reserved in the budget's window, in millisatoshis.
        spent_msat: u64,
        /// What this payment would add: amount plus the fee limit, in millisatoshis.
        needed_msat: u64,
    },
    /// The invoice asks for more than the configured maximum price; nothing was paid.
    OverMaxCost {
        /// The invoice amount in millisatoshis.
        amount_msat: u64,
        /// The configured maximum in millisatoshis.
        max_cost_msat: u64,
    },
    /// The payment failed. `paid` says whether money may have left the wallet.
    PaymentFailed {
        /// The invoice's payment hash, to look the payment up later.
        payment_hash: PaymentHash,
        /// Whether money may have been spent.
        paid: Paid,
        /// The payer's error.
        source: l402_lightning::Error,
    },
    /// An earlier payment for this scope is still unresolved (in flight, or the payer could
    /// not be asked); the client does not pay again until it is resolved.
    PaymentPending {
        /// The unresolved payment's hash.
        payment_hash: PaymentHash,
    },
    /// The server answered a freshly paid token with another challenge or a 401.
    TokenRejected {
        /// The rejected token's payment hash.
        payment_hash: PaymentHash,
        /// The HTTP status of the rejection.
        status: u16,
    },
    /// The 402 response carried no usable L402 challenge.
    InvalidChallenge(l402_http::Error),
    /// The server's token is not a macaroon, and opaque tokens were not allowed
    /// ([`Config::opaque_tokens`](crate::Config::opaque_tokens), decision 0711); nothing was
    /// paid. Wraps why it is not a macaroon.
    OpaqueToken(l402_http::Error),
    /// The challenge's invoice is unusable: malformed, bad signature, no amount, expired, or
    /// for another network (the wrapped error's code says which).
    InvalidInvoice(l402_lightning::Error),
    /// The invoice's payment hash is not the one in the challenge's macaroon.
    InvoiceMismatch,
    /// The request's body is a stream and cannot be sent again after paying, so nothing was
    /// paid.
    BodyNotReplayable,
    /// A credential would be sent over plain HTTP to a host that is not loopback.
    InsecureTransport,
    /// The server refused a token paid for this scope within the back-off
    /// (`Config::rejected_backoff`), so it is not paid again; nothing is paid
    /// (`Config::retry_rejected` overrides).
    RejectedRecently {
        /// The payment whose token was refused.
        payment_hash: PaymentHash,
        /// When the scope may be paid again.
        until: std::time::SystemTime,
    },
    /// The challenge came from another origin than the request's, after redirects: the
    /// token would be stored and sent for the wrong origin (and HTTP clients drop
    /// `Authorization` on such redirects), so nothing is paid. Request `url` directly.
    RedirectedChallenge {
        /// The URL that issued the challenge.
        url: String,
    },
    /// The token store failed (IO, SQLite, corrupt file).
    Store(String),
    /// Tokens at rest could not be encrypted or decrypted (no key, wrong key, bad key file).
    TokenKey(String),
    /// The payer could not be asked about a payment.
    Lightning(l402_lightning::Error),
    /// The client's configuration is unusable.
    Config(String),
}

impl Error {
    /// The stable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::OverBudget { .. } => "over-budget",
            Error::OverMaxCost { .. } => "over-max-cost",
            Error::PaymentFailed { .. } => "payment-failed",
            Error::PaymentPending { .. } => "payment-pending",
            Error::TokenRejected { .. } => "token-rejected",
            Error::InvalidChallenge(_) => "invalid-challenge",
            Error::OpaqueToken(_) => "opaque-token",
            Error::InvalidInvoice(_) => "invalid-invoice",
            Error::InvoiceMismatch => "invoice-mismatch",
            Error::BodyNotReplayable => "body-not-replayable",
            Error::InsecureTransport => "insecure-transport",
            Error::RedirectedChallenge { .. } => "redirected-challenge",
            Error::RejectedRecently { .. } => "rejected-recently",
            Error::Store(_) => "store",
            Error::TokenKey(_) => "token-key",
            Error::Lightning(_) => "lightning",
            Error::Config(_) => "config",
        }
    }

    /// Every code [`Error::code`] can return.
    pub const CODES: &'static [&'static str] = &[
        "over-budget",
        "over-max-cost",
        "payment-failed",
        "payment-pending",
        "token-rejected",
        "invalid-challenge",
        "opaque-token",
        "invalid-invoice",
        "invoice-mismatch",
        "body-not-replayable",
        "insecure-transport",
        "redirected-challenge",
        "rejected-recently",
        "store",
        "token-key",
        "lightning",
        "config",
    ];

    /// The code of the lower layer's error this one wraps, if any: which header rule a
    /// challenge broke, which invoice check failed, why a payment failed.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Error::InvalidChallenge(e) | Error::OpaqueToken(e) => Some(e.code()),
            Error::InvalidInvoice(e) | Error::Lightning(e) => Some(e.code()),
            Error::PaymentFailed { source, .. } => Some(source.code()),
            Error::OverBudget { budget, .. } => Some(budget.as_str()),
            _ => None,
        }
    }

    /// True when this error guarantees nothing was spent on the request that failed.
    pub fn nothing_paid(&self) -> bool {
        match self {
            Error::PaymentFailed { paid, .. } => *paid == Paid::No,
            Error::PaymentPending { .. } | Error::TokenRejected { .. } => false,
            Error::Store(_) | Error::Lightning(_) => false,
            _ => true,
        }
    }

    /// The client error inside a middleware error, if the middleware produced it.
    pub fn from_middleware(e: &reqwest_middleware::Error) -> Option<&Error> {
        match e {
            reqwest_middleware::Error::Middleware(inner) => inner.downcast_ref::<Error>(),
            reqwest_middleware::Error::Reqwest(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::OverBudget { budget, limit_msat, spent_msat, needed_msat } => write!(
                f,
                "over the {} budget: {spent_msat} msat spent of {limit_msat} msat, this payment needs {needed_msat} msat",
                budget.as_str()
            ),
            Error::OverMaxCost { amount_msat, max_cost_msat } => write!(
                f,
                "invoice asks {amount_msat} msat, more than the maximum of {max_cost_msat} msat"
            ),
            Error::PaymentFailed { payment_hash, paid, source } => write!(
                f,
                "payment {payment_hash} failed (paid: {}): {source}",
                paid.as_str()
            ),
            Error::PaymentPending { payment_hash } => {
                write!(f, "payment {payment_hash} for this scope is still unresolved")
            }
            Error::TokenRejected { payment_hash, status } => {
                write!(f, "server rejected the token paid by {payment_hash} (status {status})")
            }
            Error::InvalidChallenge(e) => write!(f, "invalid L402 challenge: {e}"),
            Error::OpaqueToken(e) => write!(
                f,
                "the server's token is not a macaroon ({e}), so its invoice cannot be checked \
                 against it; allow opaque tokens to pay it anyway"
            ),
            Error::InvalidInvoice(e) => write!(f, "refused the challenge's invoice: {e}"),
            Error::InvoiceMismatch => {
                f.write_str("the invoice's payment hash differs from the macaroon's")
            }
            Error::BodyNotReplayable => {
                f.write_str("the request body is a stream and cannot be replayed after paying")
            }
            Error::InsecureTransport => {
                f.write_str("refusing to send an L402 credential over plain HTTP to a non-loopback host")
            }
            Error::RejectedRecently { payment_hash, .. } => write!(
                f,
                "this server refused the token it sold (payment {payment_hash}); not paying it again within the back-off"
            ),
            Error::RedirectedChallenge { url } => write!(
                f,
                "the challenge came from another origin after a redirect ({url}); nothing paid: request it directly"
            ),
            Error::Store(d) => write!(f, "token store: {d}"),
            Error::TokenKey(d) => write!(f, "token encryption: {d}"),
            Error::Lightning(e) => write!(f, "payer: {e}"),
            Error::Config(d) => write!(f, "unusable client configuration: {d}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::PaymentFailed { source, .. } => Some(source),
            Error::InvalidInvoice(e) | Error::Lightning(e) => Some(e),
            Error::InvalidChallenge(e) | Error::OpaqueToken(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Store(e.to_string())
    }
}
