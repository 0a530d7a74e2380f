//! Lightning for L402: the traits the server and client use, BOLT 11 checks, and backends.
//!
//! - [`InvoiceBackend`] (server side): create invoices, look them up, stream settlements.
//! - [`Payer`] (client side): pay an invoice for its preimage, look up a payment later.
//! - [`Invoice`]: a checked BOLT 11 invoice, its JSON view ([`decode_to_json`]) and
//!   [`check_against_macaroon`], which the client runs before paying.
//! - [`dev`]: the embedded dev node and wallet, **NOT FOR REAL MONEY**, for demos and tests
//!   (also across processes, through a loopback pairing endpoint: decision 0201).
//! - `lnd` (feature `lnd`): `LndInvoiceBackend` and `LndPayer`, LND over gRPC with TLS pinned
//!   to the node's certificate and the macaroon in the `macaroon` metadata (decision 0203).
//!
//! - [`owner_only`]: directories `0700` and files `0600` for whatever holds secrets, used by
//!   every crate that stores some (decision 0810).
//!
//! Amounts are millisatoshis everywhere (`*_msat`, decision 0200). Both traits are
//! object-safe: layers above hold `Arc<dyn InvoiceBackend>` / `Arc<dyn Payer>` and never name
//! a concrete node. Every [`Error`] has a stable [`Error::code`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use l402_lightning::dev::{DevNode, DevPayer};
//! use l402_lightning::{InvoiceBackend, InvoiceRequest, InvoiceState, PayRequest, Payer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::new()?; // regtest, NOT FOR REAL MONEY
//! let backend: Arc<dyn InvoiceBackend> = Arc::new(node.clone());
//! let payer: Arc<dyn Payer> = Arc::new(DevPayer::new(&node, 1_000_000));
//!
//! let invoice = backend
//!     .create_invoice(InvoiceRequest {
//!         amount_msat: 21_000,
//!         memo: "weather API".into(),
//!         expiry: Duration::from_secs(600),
//!     })
//!     .await?;
//! let paid = payer
//!     .pay(PayRequest { bolt11: invoice.bolt11, max_fee_msat: 100, timeout: Duration::from_secs(30) })
//!     .await?;
//! paid.preimage.check(&invoice.payment_hash)?;
//! assert!(matches!(backend.lookup_invoice(&invoice.payment_hash).await?, InvoiceState::Settled(_)));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
pub mod bolt11;
pub mod clock;
pub mod dev;
mod error;
#[cfg(feature = "lnd")]
pub mod lnd;
pub mod owner_only;

pub use crate::backend::{
    sat_to_msat, CreatedInvoice, InvoiceBackend, InvoiceRequest, InvoiceState, Network, PayRequest,
    Payer, Payment, PaymentStatus, Settlement, SettlementStream,
};
pub use crate::bolt11::{check_against_macaroon, decode_to_json, Invoice, InvoiceView};
pub use crate::error::Error;
