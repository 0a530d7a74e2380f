//! L402 caveats: the one place where caveats are parsed and judged. No IO, no async.
//!
//! - [`grammar`]: `condition=value`, split at the first `=`, conditions compared byte for
//!   byte;
//! - [`Caveat`]: the standard conditions (`services`, `<service>_capabilities`,
//!   `<service>_valid_until`) and our extensions (`expires_at`, `methods`, `path_prefix`,
//!   `client_ip`, `max_uses`), parsed and printed losslessly;
//! - [`Verifier`]: judges a token's caveats against a [`Context`] with the built-in checks
//!   and any [`Satisfier`] the server registers; a later caveat may only narrow an earlier
//!   one with the same condition (`caveat-escalation` otherwise); unknown conditions are
//!   skipped, or rejected in strict mode;
//! - [`Attenuate`]: narrowing helpers on [`l402_token::Macaroon`] that refuse to widen.
//!
//! Every failure is an [`Error`] with a stable [`Error::code`]. The syntax and meaning of
//! each condition are in `docs/caveats.md`.
//!
//! ```
//! use l402_caveats::{Attenuate, Context, Verifier};
//! use l402_token::{Identifier, Macaroon, Preimage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root_key = [7u8; 32];
//! let preimage = Preimage::from_bytes([0x11; 32]);
//! let id = Identifier::random(preimage.payment_hash())?;
//! let minted = Macaroon::new_l402(&root_key, &id)
//!     .with_caveat("services=weather:0")
//!     .with_caveat("weather_capabilities=");
//!
//! // The buyer hands a narrowed token to a sub-agent: one service, GET only, one hour.
//! let delegated = minted
//!     .restrict_capabilities("weather", &["forecast"])?
//!     .limit_methods(&["GET"])?
//!     .valid_until("weather", 1_700_003_600)?;
//! // Widening is refused.
//! assert!(delegated.limit_methods(&["GET", "POST"]).is_err());
//!
//! // The server: signature and preimage first, caveats last.
//! delegated.verify(&root_key, Some(&preimage))?;
//! let request = Context::new()
//!     .with_service("weather")
//!     .with_capability("forecast")
//!     .with_method("GET")
//!     .with_now(1_700_000_000);
//! let verdict = Verifier::new().verify(&delegated, &request)?;
//! assert_eq!(verdict.deadline, Some(1_700_003_600));
//!
//! let post = request.clone().with_method("POST");
//! let refused = Verifier::new().verify(&delegated, &post).unwrap_err();
//! assert_eq!(refused.code(), "wrong-method");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attenuate;
pub mod caveat;
mod context;
mod error;
pub mod grammar;
mod net;
pub mod satisfier;
mod time;
mod verifier;
mod view;

pub use crate::attenuate::Attenuate;
pub use crate::caveat::{Builtin, Caveat, ServiceTier};
pub use crate::context::Context;
pub use crate::error::Error;
pub use crate::net::IpNet;
pub use crate::satisfier::{Rejection, Satisfier};
pub use crate::time::Timestamp;
pub use crate::verifier::{Verdict, Verifier};
