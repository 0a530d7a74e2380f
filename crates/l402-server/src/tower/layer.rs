//! [`L402Layer`] and the service it wraps: the one L402 request pipeline.

use core::task::{Context, Poll};
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Extensions, Request, Response, StatusCode, Uri};
use l402_http::grpc::Flavor;
use tower::{Layer, Service};

use super::body::L402Body;
use super::future::ResponseFuture;
use super::observe::{Nothing, Observe};
use super::select::{Fixed, Select, Selected};
use super::settle::Use;
use super::{Problem, Reason};
use crate::mint::Route;
use crate::paywall::Paywall;
use crate::Error;
use l402_http::TOKEN_STATUS;

/// The TCP peer of a request, for servers that are not axum: insert it into the request
/// extensions (axum's `ConnectInfo<SocketAddr>` is read too, and any other source through
/// [`L402Layer::peer_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Reads a request's client address from its extensions (for example tonic's
/// `TcpConnectInfo`).
pub type PeerFrom = fn(&Extensions) -> Option<SocketAddr>;

/// Protects a service: every request is normalised, routed, and let through with a valid
/// credential, or answered here (a challenge, a refusal) in its client's form, HTTP or gRPC.
///
/// Every request must carry its client's address (axum's `ConnectInfo<SocketAddr>`, a
/// [`PeerAddr`] extension, or what [`L402Layer::peer_from`] reads): rate limits count per
/// client and `client_ip` caveats need it. A request without one is refused
/// `client-address-unknown` (503), unless the operator opts out with
/// [`L402Layer::without_client_addresses`].
#[derive(Clone)]
pub struct L402Layer {
    paywall: Arc<Paywall>,
    select: Arc<dyn Select>,
    observe: Arc<dyn Observe>,
    addresses: bool,
    peer_from: Option<PeerFrom>,
}

impl core::fmt::Debug for L402Layer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("L402Layer").field("addresses", &self.addresses).finish_non_exhaustive()
    }
}

impl L402Layer {
    /// A layer selling `route` through `paywall` on every request.
    pub fn new(paywall: Arc<Paywall>, route: Route) -> L402Layer {
        L402Layer::with_selector(paywall, Fixed(Arc::new(route)))
    }

    /// A layer that chooses each request's route with `select` (free or paid, and which
    /// price), after normalising its path.
    pub fn with_selector(paywall: Arc<Paywall>, select: impl Select) -> L402Layer {
        L402Layer {
            paywall,
            select: Arc::new(select),
            observe: Arc::new(Nothing),
            addresses: true,
            peer_from: None,
        }
    }

    /// Tells `observe` about every verdict, challenge and settlement (metrics, logs).
    pub fn observe(mut self, observe: impl Observe) -> L402Layer {
        self.observe = Arc::new(observe);
        self
    }

    /// Reads the client address with `peer_from` when the request has neither a
    /// [`PeerAddr`] nor axum's `ConnectInfo`.
    pub fn peer_from(mut self, peer_from: PeerFrom) -> L402Layer {
        self.peer_from = Some(peer_from);
        self
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
        let pipeline = Pipeline {
            paywall: Arc::clone(&self.paywall),
            select: Arc::clone(&self.select),
            observe: Arc::clone(&self.observe),
            addresses: self.addresses,
            peer_from: self.peer_from,
        };
        L402Service { inner, pipeline: Arc::new(pipeline) }
    }
}

/// What every request of one layer shares.
pub(crate) struct Pipeline {
    pub(crate) paywall: Arc<Paywall>,
    select: Arc<dyn Select>,
    pub(crate) observe: Arc<dyn Observe>,
    addresses: bool,
    peer_from: Option<PeerFrom>,
}

/// A service behind the paywall. Authenticated requests reach `inner` with the
/// [`VerifiedToken`](crate::VerifiedToken) in their extensions and their path in normal
/// form; everything else is answered here.
#[derive(Clone)]
pub struct L402Service<S> {
    inner: S,
    pipeline: Arc<Pipeline>,
}

impl<S> core::fmt::Debug for L402Service<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("L402Service").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for L402Service<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<L402Body<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<L402Body<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone that was driven ready serves this call; the fresh clone waits for the
        // next poll_ready (tower's usual pattern).
        let clone = self.inner.clone();
        let inner = core::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(Arc::clone(&self.pipeline).serve(req, inner))
    }
}

/// The request's path in normal form (decisions 0801, 0809), its query kept as sent.
fn normalize(parts: &mut Parts) -> Result<(), Problem> {
    let path = parts.uri.path();
    let normal = l402_http::path::normalize(path)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.code()).detail(e.to_string()))?;
    let Cow::Owned(normal) = normal else {
        return Ok(());
    };
    let target = match parts.uri.query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal,
    };
    let bad = || Problem::new(StatusCode::BAD_REQUEST, "invalid-target");
    let mut uri = core::mem::take(&mut parts.uri).into_parts();
    uri.path_and_query = Some(PathAndQuery::try_from(target).map_err(|_| bad())?);
    parts.uri = Uri::from_parts(uri).map_err(|_| bad())?;
    Ok(())
}

impl Pipeline {
    fn peer(&self, ext: &Extensions) -> Option<IpAddr> {
        ext.get::<PeerAddr>()
            .map(|p| p.0)
            .or_else(|| ext.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0))
            .or_else(|| self.peer_from.and_then(|f| f(ext)))
            .map(|a| a.ip())
    }

    fn refused<B>(&self, problem: &Problem, grpc: Option<Flavor>) -> Response<L402Body<B>> {
        self.observe.refused(problem);
        problem.response(grpc)
    }

    async fn serve<S, ReqBody, ResBody>(
        self: Arc<Self>,
        req: Request<ReqBody>,
        mut inner: S,
    ) -> Result<Response<L402Body<ResBody>>, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        let grpc = l402_http::grpc::flavor(req.headers());
        let peer = self.peer(req.extensions());
        if peer.is_none() && self.addresses {
            return Ok(self.refused(&Problem::from(&Error::NoClientAddress), grpc));
        }
        let (mut parts, body) = req.into_parts();
        if let Err(problem) = normalize(&mut parts) {
            return Ok(self.refused(&problem, grpc));
        }
        let route = match self.select.select(&mut parts) {
            Ok(Selected::Paid(route)) => route,
            Ok(Selected::Free(route)) => {
                self.observe.verdict(&route, "free");
                let response = inner.call(Request::from_parts(parts, body)).await?;
                return Ok(response.map(L402Body::inner));
            }
            Ok(Selected::Refused(route, problem)) => {
                self.observe.verdict(&route, problem.code());
                return Ok(problem.response(grpc));
            }
            Err(problem) => return Ok(self.refused(&problem, grpc)),
        };
        let client = self.paywall.client_addr(peer, &parts.headers);
        let authorized = match self.paywall.authorize(&route, &parts, client).await {
            Ok(a) => a,
            Err(e) => {
                self.observe.verdict(&route, e.code());
                return Ok(self.refuse(&route, &parts, client, &e, grpc).await);
            }
        };
        self.observe.verdict(&route, "ok");
        parts.extensions.insert(authorized.token.clone());
        // Held from here on: if this future is dropped (the client went away), the use is
        // charged (decision 0813).
        let paid = Use::new(authorized, Arc::clone(&self), Arc::clone(&route));
        let response = match inner.call(Request::from_parts(parts, body)).await {
            Ok(r) => r,
            Err(e) => {
                // No status says the work was not done: charged.
                paid.settle(Reason::UpstreamError).await;
                return Err(e);
            }
        };
        let (mut head, body) = response.into_parts();
        let said = head.extensions.remove::<Reason>();
        if said.is_none() && l402_http::grpc::status_pending(&head.headers) {
            // The call's outcome comes in the trailers: settled there (decision 0807).
            return Ok(Response::from_parts(head, L402Body::settling(body, paid)));
        }
        let reason = said.unwrap_or_else(|| {
            Reason::at_headers(head.status, &head.headers, &route.not_delivered)
        });
        if let Some(v) = paid.settle(reason).await {
            head.headers.insert(TOKEN_STATUS, v);
        }
        Ok(Response::from_parts(head, L402Body::inner(body)))
    }

    /// Answers a refused request: with a fresh challenge when paying helps (decision 0602),
    /// in its client's form.
    async fn refuse<B>(
        &self,
        route: &Route,
        parts: &Parts,
        client: Option<IpAddr>,
        error: &Error,
        grpc: Option<Flavor>,
    ) -> Response<L402Body<B>> {
        let problem = Problem::from(error);
        if !problem.wants_payment() {
            return problem.response(grpc);
        }
        match self.paywall.challenge(route, parts, client).await {
            Ok(c) => {
                self.observe.challenged(route, &c);
                problem.challenge_response(&c, grpc, self.paywall.config().style)
            }
            // No challenge could be minted (rate limit, node down): say that instead.
            Err(e) => {
                self.observe.challenge_failed(route, &e);
                Problem::from(&e).response(grpc)
            }
        }
    }
}
