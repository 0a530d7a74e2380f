//! The server side of L402: mint challenges, verify credentials, keep state, and protect
//! tower/axum services.
//!
//! - [`Route`] and [`Price`]: what a route sells (service, price in msat, static or computed
//!   from the request, capabilities, validity, usage allowance, extension caveats);
//! - [`Paywall`]: the IO shell. [`Paywall::challenge`] rate-limits per client address, prices
//!   the request, asks the [`InvoiceBackend`](l402_lightning::InvoiceBackend) for an invoice,
//!   mints the macaroon and the `WWW-Authenticate` lines; [`Paywall::authorize`] looks the
//!   root key up (with a cache), runs the sans-IO core, checks the in-memory revocation set
//!   and reserves a use (only for a token with an allowance: decision 0610);
//!   [`Paywall::finish`] counts the use, or gives it back when the answer says the work was
//!   not done ([`NotDelivered`], decision 0813), durably ([`Settlement`], decision 0609);
//! - [`verify`]: the sans-IO core, credential + request context + root key → verdict;
//! - [`KeyMode`]: one random root key per token in the store, or keys derived from a
//!   rotating master secret ([`KeyRing`]) with no store read to verify;
//! - [`store`]: the [`Store`] traits, one per concern, in memory, SQLite (default feature
//!   `sqlite`) and PostgreSQL (feature `postgres`);
//! - [`tower`]: [`L402Layer`](tower::L402Layer), and an axum extractor for
//!   [`VerifiedToken`];
//! - [`TokenStatus`]: the `L402-Token-Status: expires=…, remaining=…` response header.
//!
//! Every refusal has a stable [`Error::code`] and reaches the wire in one place
//! ([`tower::Disposition`]): 402 with a fresh challenge when paying again helps, 401 when
//! it does not, never a 500 for anything a client sends. See `docs/server.md`.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use l402_lightning::dev::{DevNode, DevPayer};
//! use l402_lightning::{PayRequest, Payer};
//! use l402_server::store::MemoryStore;
//! use l402_server::{Paywall, Price, Route};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::new()?; // NOT FOR REAL MONEY
//! let paywall = Paywall::builder(Arc::new(node.clone()), Arc::new(MemoryStore::new())).build();
//! let route = Route::new("weather", Price::msat(2_000)).max_uses(3);
//!
//! // An unpaid request gets a challenge.
//! let (request, _) = http::Request::get("/forecast").body(())?.into_parts();
//! let challenge = paywall.challenge(&route, &request, None).await?;
//!
//! // The client pays and comes back with the credential.
//! let paid = DevPayer::new(&node, 10_000)
//!     .pay(PayRequest {
//!         bolt11: challenge.invoice.bolt11.clone(),
//!         max_fee_msat: 0,
//!         timeout: Duration::from_secs(5),
//!     })
//!     .await?;
//! let credential = l402_http::Credential::new(challenge.macaroon.clone(), paid.preimage);
//! let (mut request, _) = http::Request::get("/forecast").body(())?.into_parts();
//! credential.write_authorization(&mut request.headers);
//!
//! let authorized = paywall.authorize(&route, &request, None).await?;
//! assert_eq!(authorized.token.service, "weather");
//! let finished = paywall.finish(authorized, true).await;
//! assert_eq!(finished.status.remaining, Some(2));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod axum;
mod cache;
mod charge;
pub mod client;
mod error;
mod keys;
mod meter;
mod mint;
mod paywall;
mod proven;
mod prune;
mod rate;
mod ready;
mod revoked;
mod root_keys;
mod settle;
pub mod store;
pub mod tower;
pub mod verify;

pub use crate::axum::NotProtected;
pub use crate::charge::NotDelivered;
pub use crate::client::TrustedProxies;
pub use crate::error::Error;
pub use crate::keys::{key_hash, KeyMode, KeyRing, RootKey, KEY_ID_LEN};
pub use crate::mint::{macaroon, MintedChallenge, Price, PriceFuture, Route};
pub use crate::paywall::{Authorized, Finished, Paywall, PaywallBuilder, PaywallConfig, RateLimit};
pub use crate::ready::Readiness;
pub use crate::settle::Settlement;
pub use crate::store::Store;
pub use crate::verify::VerifiedToken;
pub use l402_http::{TokenStatus, TOKEN_STATUS};
