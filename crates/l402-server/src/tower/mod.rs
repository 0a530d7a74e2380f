//! The one L402 request pipeline, as a tower layer: [`L402Layer`] protects a service, an
//! axum router or a tonic server.
//!
//! Each request, in order (layer.rs): its client address (503 `client-address-unknown`
//! without one, decision 0611); its path in normal form (`l402_http::path`, decision 0801);
//! its route, from one fixed [`Route`](crate::Route) or a [`Select`]or that may refuse it;
//! for a paid route, [`Paywall::authorize`](crate::Paywall::authorize), or a refusal with a
//! fresh challenge when paying helps. A let-through request reaches the inner service with
//! its [`VerifiedToken`](crate::VerifiedToken); its use is settled at the answer's status,
//! or for gRPC at the trailers (settle.rs, decisions 0807, 0813), with a [`Reason`], and
//! `L402-Token-Status` goes back with it.
//!
//! problem.rs is the one place where a refusal reaches the wire ([`Problem`],
//! [`Disposition`], decision 0602), in problem+json for HTTP and as a Trailers-Only status
//! for gRPC ([`l402_http::grpc::flavor`] is the one rule telling them apart). An
//! [`Observe`]r hears every decision (metrics, sampled logs). The layer never fails a call
//! itself: every refusal is a response, and the inner service's own errors pass through.

mod body;
mod future;
mod layer;
mod observe;
mod problem;
mod reason;
mod select;
mod settle;

pub use body::L402Body;
pub use future::ResponseFuture;
pub use layer::{L402Layer, L402Service, PeerAddr, PeerFrom};
pub use observe::Observe;
pub use problem::{grpc_code, Disposition, Problem};
pub use reason::{IdleTimeout, Reason};
pub use select::{Select, Selected};
pub use settle::BoxError;
