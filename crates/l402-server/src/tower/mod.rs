//! tower glue: [`L402Layer`] protects a service with one [`Route`](crate::Route).
//!
//! The tower quartet, as in `tower::timeout`: [`L402Layer`] (layer.rs) wraps a service in
//! [`L402Service`] (also layer.rs), whose calls return a [`ResponseFuture`] (future.rs);
//! error.rs is the one place where an [`Error`](crate::Error) becomes an HTTP response
//! ([`Disposition`], decision 0602). The layer never fails a call itself: every refusal is a
//! response, and the inner service's own errors pass through unchanged.

mod error;
mod future;
mod layer;

pub use error::{problem_response, Disposition};
pub use future::ResponseFuture;
pub use layer::{L402Layer, L402Service, PeerAddr};
