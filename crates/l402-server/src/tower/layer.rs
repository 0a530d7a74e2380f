//! [`L402Layer`] and the service it wraps.

use core::task::{Context, Poll};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{Request, Response};
use tower::{Layer, Service};

use super::error::{problem_response, Disposition};
use super::future::ResponseFuture;
use crate::mint::Route;
use crate::paywall::Paywall;
use crate::Error;
use l402_http::TOKEN_STATUS;

/// The TCP peer of a request, for servers that are not axum: insert it into the request
/// extensions (axum's `ConnectInfo<SocketAddr>` is read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Protects a service with one route's price, service name and caveats.
///
/// Every request must carry its client's address (axum's `ConnectInfo<SocketAddr>`, or a
/// [`PeerAddr`] extension): rate limits count per client and `client_ip` caveats need it. A
/// request without one is refused `client-address-unknown` (503), unless the operator opts
/// out with [`L402Layer::without_client_addresses`].
#[derive(Debug, Clone)]
pub struct L402Layer {
    paywall: Arc<Paywall>,
    route: Arc<Route>,
    addresses: bool,
}

impl L402Layer {
    /// A layer selling `route` through `paywall`.
    pub fn new(paywall: Arc<Paywall>, route: Route) -> L402Layer {
        L402Layer { paywall, route: Arc::new(route), addresses: true }
    }

    /// Serves requests that carry no client address: every such client then shares one
    /// rate-limit bucket, and a token with a `client_ip` caveat is refused
    /// `unverifiable-caveat` (it can never pass unjudged).
    pub fn without_client_addresses(mut self) -> L402Layer {
        self.addresses = false;
        self
    }
}

impl<S> Layer<S> for L402Layer {
    type Service = L402Service<S>;

    fn layer(&self, inner: S) -> L402Service<S> {
        L402Service {
            inner,
            paywall: Arc::clone(&self.paywall),
            route: Arc::clone(&self.route),
            addresses: self.addresses,
        }
    }
}

/// A service behind the paywall. Authenticated requests reach `inner` with the
/// [`VerifiedToken`](crate::VerifiedToken) in their extensions; everything else is answered
/// here.
#[derive(Debug, Clone)]
pub struct L402Service<S> {
    inner: S,
    paywall: Arc<Paywall>,
    route: Arc<Route>,
    addresses: bool,
}

fn peer<B>(req: &Request<B>) -> Option<IpAddr> {
    let ext = req.extensions();
    ext.get::<PeerAddr>()
        .map(|p| p.0.ip())
        .or_else(|| ext.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for L402Service<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone that was driven ready serves this call; the fresh clone waits for the
        // next poll_ready (tower's usual pattern).
        let clone = self.inner.clone();
        let mut inner = core::mem::replace(&mut self.inner, clone);
        let paywall = Arc::clone(&self.paywall);
        let route = Arc::clone(&self.route);
        let addresses = self.addresses;
        ResponseFuture::new(async move {
            let peer = peer(&req);
            if peer.is_none() && addresses {
                return Ok(problem_response(&Error::NoClientAddress, None));
            }
            let client = paywall.client_addr(peer, req.headers());
            let (mut parts, body) = req.into_parts();
            let authorized = match paywall.authorize(&route, &parts, client).await {
                Ok(a) => a,
                Err(e) => return Ok(refuse(&paywall, &route, &parts, client, e).await),
            };
            parts.extensions.insert(authorized.token.clone());
            // Charged unless the handler's status says the work was not done (decision
            // 0813). An inner error has no status: charged. If this future is dropped while
            // the handler runs, dropping `authorized` charges the use too.
            match inner.call(Request::from_parts(parts, body)).await {
                Ok(mut response) => {
                    let charge = !route.not_delivered.http(response.status());
                    let finished = paywall.finish(authorized, charge).await;
                    if let Some(v) = finished.status.to_header_value() {
                        response.headers_mut().insert(TOKEN_STATUS, v);
                    }
                    Ok(response)
                }
                Err(e) => {
                    paywall.finish(authorized, true).await;
                    Err(e)
                }
            }
        })
    }
}

async fn refuse<B: From<String>>(
    paywall: &Paywall,
    route: &Route,
    parts: &http::request::Parts,
    client: Option<IpAddr>,
    error: Error,
) -> Response<B> {
    if Disposition::from(&error) != Disposition::PaymentRequired {
        return problem_response(&error, None);
    }
    match paywall.challenge(route, parts, client).await {
        Ok(challenge) => problem_response(&error, Some(&challenge)),
        // No challenge could be minted (rate limit, node down): say that instead.
        Err(mint_error) => problem_response(&mint_error, None),
    }
}
