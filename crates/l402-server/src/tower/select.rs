//! Which route a request is for: one fixed route, or chosen per request.

use std::sync::Arc;

use http::request::Parts;

use super::Problem;
use crate::mint::Route;

/// What a request is, once its route is known.
#[derive(Debug, Clone)]
pub enum Selected {
    /// Sold by this route: a credential is needed.
    Paid(Arc<Route>),
    /// Free, on this route's service (observers see its name).
    Free(Arc<Route>),
    /// On this route's service, but refused before anything else (a body over the
    /// service's limit): no challenge is minted.
    Refused(Arc<Route>, Problem),
}

impl Selected {
    /// The route.
    pub fn route(&self) -> &Arc<Route> {
        match self {
            Selected::Paid(r) | Selected::Free(r) | Selected::Refused(r, _) => r,
        }
    }
}

/// Chooses the route of each request, after the path is normalised. It may refuse (an
/// unknown host, no service here) with a [`Problem`], which the layer renders in the
/// client's form, and may leave what the inner service needs in `request.extensions`.
pub trait Select: Send + Sync + 'static {
    /// The route of `request`, or why it is refused.
    fn select(&self, request: &mut Parts) -> Result<Selected, Problem>;
}

/// One route for every request.
#[derive(Debug, Clone)]
pub(crate) struct Fixed(pub(crate) Arc<Route>);

impl Select for Fixed {
    fn select(&self, _: &mut Parts) -> Result<Selected, Problem> {
        Ok(Selected::Paid(Arc::clone(&self.0)))
    }
}

impl<F> Select for F
where
    F: Fn(&mut Parts) -> Result<Selected, Problem> + Send + Sync + 'static,
{
    fn select(&self, request: &mut Parts) -> Result<Selected, Problem> {
        self(request)
    }
}
