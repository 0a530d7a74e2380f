//! L402 headers: `WWW-Authenticate` challenges and `Authorization` credentials in every form
//! seen in the wild, and the gRPC flavour.
//!
//! Header mismatches are the most common L402 bug, and they lose money: the client pays, then
//! the server does not understand the credential. This crate reads every documented and
//! observed form and writes the forms the most clients read:
//!
//! - challenges: an RFC 9110 challenge-list parser (several challenges per line, several
//!   lines, other schemes kept as [`OtherChallenge`]), `L402` and legacy `LSAT`, `macaroon=`
//!   and `token=`, `version` ([`parse_challenges`], [`challenges_from_headers`]); which one a
//!   client answers ([`select`]); what a server sends ([`ChallengeStyle`], default: Aperture's
//!   `LSAT` then `L402` lines);
//! - credentials: `Authorization: L402|LSAT <macaroon>:<preimage>` and Aperture's hex
//!   alternates ([`Credential`]); several values must agree;
//! - gRPC: Aperture's status-13 challenge and the older `grpc-status-details-bin` form
//!   ([`grpc`]);
//! - the `L402-Token-Status` response header, what a token still buys ([`TokenStatus`]);
//! - request paths in one normal form, the spelling a paywall judges ([`path`]);
//! - [`Limits`] on field size and count. Every error has a stable [`Error::code`].
//!
//! It does no IO: it reads and writes [`http::HeaderMap`]s. Choices where the L402 texts and
//! implementations disagree are recorded in `docs/decisions/04*.md`; every form is listed in
//! `docs/http.md`.
//!
//! ```
//! use http::HeaderMap;
//! use l402_http::{challenges_from_headers, select, write_challenges, ChallengeStyle, Credential};
//! use l402_token::{Identifier, Macaroon, Preimage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let preimage = Preimage::from_bytes([0x11; 32]);
//! let minted = Macaroon::new_l402(&[7; 32], &Identifier::random(preimage.payment_hash())?);
//!
//! // Server: answer an unpaid request with the challenge.
//! let mut response = HeaderMap::new();
//! write_challenges(&mut response, &minted, "lnbc10n1...", ChallengeStyle::default())?;
//!
//! // Client: pick the challenge to answer, pay its invoice, send the credential.
//! let offered = challenges_from_headers(&response)?;
//! let chosen = select(&offered)?;
//! let mut request = HeaderMap::new();
//! Credential::new(chosen.macaroon.clone(), preimage).write_authorization(&mut request);
//!
//! // Server: read the credential back; verifying it is the next layer's job.
//! let credential = Credential::from_headers(&request)?;
//! assert_eq!(credential.macaroon, minted);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod challenge;
mod credential;
mod error;
pub mod grpc;
mod limits;
pub mod path;
mod scheme;
mod status;
mod syntax;

pub use crate::challenge::{
    challenge_values, challenges_from_headers, challenges_from_headers_with, parse_challenge_lines,
    parse_challenges, parse_challenges_with, select, select_opaque, write_challenges, Challenge,
    ChallengeStyle, MacaroonParam, OpaqueChallenge, OtherChallenge, ParsedChallenge,
    RejectedChallenge, VERSION_0,
};
pub use crate::credential::{
    Credential, CredentialSource, GRPC_METADATA_MACAROON, MACAROON, MAX_MACAROONS, TOKEN,
};
pub use crate::error::Error;
pub use crate::limits::Limits;
pub use crate::scheme::Scheme;
pub use crate::status::{TokenStatus, TOKEN_STATUS};
pub use crate::syntax::Param;
