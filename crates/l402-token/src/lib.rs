//! L402 tokens: the bottom of the `l402` stack.
//!
//! An L402 token is a macaroon whose identifier embeds the payment hash of a Lightning
//! invoice. This crate holds everything about the token itself and nothing about HTTP,
//! caveat meaning or Lightning:
//!
//! - [`Macaroon`]: the V2 binary codec exactly as gopkg.in/macaroon.v2 (Aperture), js-macaroon
//!   and pymacaroons write it, V1 on read, byte-exact round trips, explicit [`Limits`];
//! - [`Identifier`]: the 66-byte `version || payment_hash || token_id` layout;
//! - the HMAC-SHA256 chain with libmacaroons' key derivation, verified in constant time;
//! - [`text`]: the base64 and hex forms, and which ones we accept;
//! - [`json`]: a serde view for tools.
//!
//! It does no IO and never panics on input.
//!
//! ```
//! use l402_token::{Identifier, Macaroon, Preimage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root_key = [7u8; 32];
//! let preimage = Preimage::from_bytes([0x11; 32]);
//! let id = Identifier::random(preimage.payment_hash())?;
//!
//! // Server: mint and add caveats.
//! let mac = Macaroon::new_l402(&root_key, &id).with_caveat("services=weather:0");
//! let sent = mac.to_base64();
//!
//! // Later, the client comes back with the token and the preimage it paid for.
//! let back = Macaroon::from_base64(&sent)?;
//! let checked = back.verify(&root_key, Some(&preimage))?;
//! assert_eq!(checked.token_id, id.token_id);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod crypto;
mod error;
mod identifier;
pub mod json;
mod macaroon;
mod reader;
pub mod text;
mod v1;
mod v2;

pub use crate::error::{Error, FormatError, TextError};
pub use crate::identifier::{
    HexError, Identifier, IdentifierEncoding, PaymentHash, Preimage, TokenId,
};
pub use crate::macaroon::{Caveat, Limits, Macaroon};

/// The raw primitives of the chain, for benchmarks and peers' test harnesses.
pub mod chain {
    pub use crate::crypto::{
        chain_first_party, chain_third_party, derive_key, hmac, sha256, HmacKey,
    };
}
