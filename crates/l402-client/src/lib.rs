//! An L402 client that pays for HTTP APIs unattended, and can be trusted to.
//!
//! [`L402Middleware`] is a [`reqwest_middleware`] middleware. On a `402 Payment Required` it
//! reads the challenges ([`l402_http`]), picks the one to answer, checks the invoice before
//! any money moves (an amount is present and within [`Config::max_cost_msat`], its payment
//! hash is the macaroon's, it has not expired, it is for [`Config::network`]), checks the
//! [`Budget`]s and writes a pending record in one atomic store step, pays through an
//! `Arc<dyn `[`Payer`](l402_lightning::Payer)`>` with a fee limit, stores the token, and
//! sends the request again with the credential, replaying its body.
//!
//! - **Tokens are reused** for later requests in their [`Scope`] (the origin by default,
//!   decision 0700). A cached token the server rejects is dropped and paid again at most
//!   once per request.
//! - **Never twice**: concurrent requests for one scope share one payment, in one process
//!   and across processes sharing a store ([`TokenStore::lock_scope`], decision 0702).
//! - **Never lost**: the pending record is written before paying; after a crash or an
//!   unknown outcome it is resolved through the payer's status lookup
//!   ([`L402Middleware::recover`], or automatically before the next payment for the scope),
//!   never paid again blindly (decision 0701).
//! - **Stores**: [`MemoryStore`], [`FileStore`] (JSON), [`SqliteStore`]; budgets and the spend
//!   [ledger](TokenStore::ledger) live in the store, so they hold across restarts.
//! - **Tokens at rest** can be sealed with a [`TokenKey`] (XChaCha20-Poly1305, decision 0703).
//! - **Errors** carry stable [`Error::code`]s a program can act on.
//! - Responses obtained with a token carry a [`Receipt`] in their extensions (paid now or
//!   reused, amount, fee, and the [`TokenStatus`] the server reported: expiry, uses left);
//!   [`L402Middleware::quote`] prices a 402 without paying.
//!
//! ```
//! use std::sync::Arc;
//! use l402_client::{Budget, L402Middleware, MemoryStore};
//! use l402_lightning::dev::{DevNode, DevPayer};
//! use l402_lightning::Network;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::new()?; // NOT FOR REAL MONEY
//! let payer = Arc::new(DevPayer::new(&node, 1_000_000));
//! let l402 = L402Middleware::builder(payer, Arc::new(MemoryStore::new()))
//!     .network(Network::Regtest)
//!     .max_cost_msat(50_000)
//!     .budget(Budget::unlimited().per_hour(200_000).per_domain_day(100_000))
//!     .build();
//! # // Built inside this workspace, reqwest may have no default TLS provider.
//! # let _ = rustls::crypto::ring::default_provider().install_default();
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(l402).build();
//! // client.get("https://api.example/weather").send().await? pays when asked, within limits.
//! # drop(client);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod budget;
mod config;
mod error;
mod middleware;
mod record;
mod scope;
mod seal;
pub mod store;

pub use crate::budget::{Budget, BudgetKind, SpentFn};
pub use crate::config::{Builder, Config};
pub use crate::error::{Error, Paid};
pub use crate::middleware::{L402Middleware, Quote, Receipt, Recovered};
pub use crate::record::{
    Bearer, LedgerEntry, LedgerQuery, Outcome, PendingPayment, Resolution, SpendSummary, Token,
};
pub use crate::scope::{Scope, ScopePolicy};
pub use crate::seal::TokenKey;
pub use crate::store::{FileStore, MemoryStore, ScopeGuard, SqliteStore, TokenStore};
pub use l402_http::Scheme;
pub use l402_http::TokenStatus;
