//! One request at the front door: probes and metrics are answered here; everything else goes
//! through the one L402 pipeline (`l402_server::tower`: normalise, route, authorize or
//! challenge, settle) around [`Forward`](crate::forward::Forward).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use l402_server::tower::{L402Service, PeerAddr};
use l402_server::Paywall;
use tower::Service as _;

use crate::forward::{Forward, OverTls};
use crate::health;
use crate::metrics::Metrics;
use crate::upstream::{whole, Body};

/// What every request needs.
pub(crate) struct Shared {
    pub(crate) pipeline: L402Service<Forward>,
    pub(crate) paywall: Arc<Paywall>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) health_path: String,
    pub(crate) ready_path: String,
    pub(crate) live_path: String,
    pub(crate) metrics_path: String,
    pub(crate) in_flight: AtomicU64,
}

pub(crate) fn full(
    status: StatusCode,
    content_type: &'static str,
    text: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(whole(text));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shared {
    /// Serves one request from `peer`.
    pub(crate) async fn handle(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        tls: bool,
    ) -> Response<Body> {
        // Counted here, read into the gauge only when scraped.
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _guard = InFlight(self);
        let raw_path = req.uri().path();
        let probe = if raw_path == self.live_path {
            Some(health::Probe::Live)
        } else if raw_path == self.ready_path {
            Some(health::Probe::Ready)
        } else if raw_path == self.health_path {
            Some(health::Probe::Health)
        } else {
            None
        };
        if let Some(probe) = probe {
            let readiness = match probe {
                health::Probe::Live => None,
                _ => Some(self.paywall.readiness().await),
            };
            return health::answer(probe, readiness);
        }
        if !self.metrics_path.is_empty() && raw_path == self.metrics_path {
            // This request included.
            let n = self.in_flight.load(Ordering::Relaxed);
            self.metrics.set("l402_proxy_in_flight_requests", n);
            return full(StatusCode::OK, "text/plain; version=0.0.4", self.metrics.render());
        }
        req.extensions_mut().insert(PeerAddr(peer));
        req.extensions_mut().insert(OverTls(tls));
        // Forward is always ready and never fails: its refusals are responses.
        let answer = self.pipeline.clone().call(req).await;
        match answer {
            Ok(r) => r.map(BodyExt::boxed),
            Err(never) => match never {},
        }
    }
}
