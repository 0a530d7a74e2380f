//! Forwarding, the service inside the pipeline: a request the layer let through goes to its
//! service's upstream with streamed bodies, WebSocket upgrades tunnelled, within the
//! service's timeouts and body limits. When the upstream gives no answer, the proxy answers
//! (in the one renderer's forms) and says in the response's [`Reason`] whether that charges
//! the use (decision 0813).

use core::convert::Infallible;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use l402_http::grpc::Flavor;
use l402_server::tower::{grpc_code, PeerAddr, Problem, Reason};
use l402_server::{Route, VerifiedToken};

use crate::body_limit::{BodyLimits, Bounded, OnCut, Refusal as BodyRefusal};
use crate::config::ServiceConfig;
use crate::headers;
use crate::idle::{Ending, Idle};
use crate::metrics::Metrics;
use crate::route::Routed;
use crate::upstream::{empty, whole, Body, BoxError, Failure, Unanswered, Upstream};

/// One configured service, ready to serve.
pub(crate) struct Service {
    pub(crate) config: ServiceConfig,
    pub(crate) route: Arc<Route>,
    pub(crate) scheme: http::uri::Scheme,
    pub(crate) authority: http::uri::Authority,
    /// The upstream URL's path, without a trailing `/` (empty for the root).
    pub(crate) base_path: String,
    pub(crate) upstream: Upstream,
    pub(crate) body_limits: BodyLimits,
}

/// Whether the client reached the proxy over TLS (for `Forwarded: proto=`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverTls(pub(crate) bool);

fn own(problem: &Problem, grpc: Option<Flavor>, reason: Reason) -> Response<Body> {
    let mut r = problem.response::<String>(grpc).map(whole);
    r.extensions_mut().insert(reason);
    r
}

/// An upstream failure as a problem: 504/502 with the failure's code, DEADLINE_EXCEEDED or
/// UNAVAILABLE for gRPC (decisions 0806, 0808).
fn failed(failure: &Failure) -> Problem {
    let (status, grpc, message) = match failure {
        Failure::Timeout => {
            (StatusCode::GATEWAY_TIMEOUT, grpc_code::DEADLINE_EXCEEDED, "upstream timeout")
        }
        Failure::Unreachable(_) => {
            (StatusCode::BAD_GATEWAY, grpc_code::UNAVAILABLE, "upstream unreachable")
        }
        Failure::Broken(_) => (StatusCode::BAD_GATEWAY, grpc_code::UNAVAILABLE, "upstream error"),
    };
    Problem::new(status, failure.code()).grpc(grpc, message)
}

/// A refused request body as a problem (decision 0811): 413 `body-too-large` or 408
/// `body-timeout`; RESOURCE_EXHAUSTED for gRPC.
pub(crate) fn body_refused(refusal: BodyRefusal) -> Problem {
    let (status, message) = match refusal {
        BodyRefusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        BodyRefusal::Timeout => (StatusCode::REQUEST_TIMEOUT, "request body too slow"),
    };
    Problem::new(status, refusal.code()).grpc(grpc_code::RESOURCE_EXHAUSTED, message)
}

/// The pipeline's inner service.
#[derive(Clone)]
pub(crate) struct Forward {
    pub(crate) services: Arc<[Service]>,
    pub(crate) metrics: Arc<Metrics>,
}

impl tower::Service<Request<Incoming>> for Forward {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.forward(req).await) })
    }
}

impl Forward {
    /// Counts and logs a request body cut mid-stream.
    fn on_body_cut(&self, service: &str) -> OnCut {
        let metrics = Arc::clone(&self.metrics);
        let service = service.to_owned();
        Box::new(move |refusal| {
            let labels = [("service", service.as_str()), ("code", refusal.code())];
            metrics.inc("l402_proxy_request_bodies_refused_total", &labels);
            tracing::debug!(service, code = refusal.code(), "request body cut");
        })
    }

    async fn forward(&self, mut req: Request<Incoming>) -> Response<Body> {
        let grpc = l402_http::grpc::flavor(req.headers());
        let ext = req.extensions();
        let tls = ext.get::<OverTls>().is_some_and(|t| t.0);
        let paid = ext.get::<VerifiedToken>().is_some();
        let found = ext.get::<Routed>().cloned().zip(ext.get::<PeerAddr>().copied());
        let found = found
            .and_then(|(routed, peer)| Some((self.services.get(routed.index)?, routed, peer.0)));
        // Only the pipeline calls this, and it always routes first.
        let Some((service, routed, peer)) = found else {
            let p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-routed");
            return own(&p, grpc, Reason::NotSent);
        };
        let name = service.config.name.as_str();

        let upgrade = headers::wants_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();

        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = format!("{}{}", service.base_path, path_and_query);
        let uri = Uri::builder()
            .scheme(service.scheme.clone())
            .authority(service.authority.clone())
            .path_and_query(target.as_str())
            .build();
        let Ok(uri) = uri else {
            let p = Problem::new(StatusCode::BAD_REQUEST, "invalid-target");
            return own(&p, grpc, Reason::NotSent);
        };
        parts.uri = uri;
        // What only the pipeline needs stays here.
        parts.extensions = http::Extensions::new();
        let upgrade_proto = parts.headers.get(header::UPGRADE).cloned();
        headers::remove_hop_by_hop(&mut parts.headers, upgrade);
        if upgrade {
            parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        if !service.config.forward_credentials {
            headers::strip_credentials(&mut parts.headers);
        }
        headers::add_forwarded(&mut parts.headers, peer.ip(), tls, routed.host.as_deref());
        // The client sets Host from the upstream URL (SNI and virtual hosts expect it).
        parts.headers.remove(header::HOST);
        let use_h2 = !upgrade && (grpc.is_some() || service.config.upstream_http2);
        parts.version = if use_h2 { Version::HTTP_2 } else { Version::HTTP_11 };
        // A request without a body (most of them) has nothing to bound or to wait for.
        let (body, tripwire) = if hyper::body::Body::is_end_stream(&body) {
            (empty(), None)
        } else {
            let body: Body = body.map_err(|e| -> BoxError { Box::new(e) }).boxed();
            let (body, tripwire) = Bounded::new(body, service.body_limits, self.on_body_cut(name));
            (body.boxed(), Some(tripwire))
        };
        let request = Request::from_parts(parts, body);

        let started = Instant::now();
        let result = service.upstream.send(request, use_h2).await;
        self.metrics.observe(
            "l402_proxy_upstream_latency_seconds",
            &[("service", name)],
            started.elapsed(),
        );
        let mut response = match result {
            Ok(r) => r,
            Err(_) if tripwire.as_ref().is_some_and(|t| t.get().is_some()) => {
                let cut = tripwire.as_ref().and_then(|t| t.get().copied());
                let refusal = cut.unwrap_or(BodyRefusal::Timeout);
                return own(&body_refused(refusal), grpc, Reason::BodyCut);
            }
            Err(Unanswered { failure, maybe_sent }) => {
                let label = match failure {
                    Failure::Timeout => "timeout",
                    Failure::Unreachable(_) | Failure::Broken(_) => "error",
                };
                self.metrics.inc(
                    "l402_proxy_upstream_responses_total",
                    &[("service", name), ("status", label)],
                );
                match &failure {
                    Failure::Timeout => {
                        tracing::warn!(service = name, code = failure.code(), "upstream timed out");
                    }
                    Failure::Unreachable(e) | Failure::Broken(e) => {
                        tracing::warn!(service = name, code = failure.code(), error = %e, "upstream failed");
                    }
                }
                // Given back only if the upstream provably never had the request.
                let reason = match (&failure, maybe_sent) {
                    (_, false) => Reason::NotSent,
                    (Failure::Timeout, true) => Reason::Timeout,
                    (Failure::Unreachable(_) | Failure::Broken(_), true) => Reason::UpstreamError,
                };
                return own(&failed(&failure), grpc, reason);
            }
        };
        let status = response.status();
        self.metrics.inc(
            "l402_proxy_upstream_responses_total",
            &[("service", name), ("status", status.as_str())],
        );

        if status == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                let failure = Failure::Broken("upstream switched protocols unasked".into());
                tracing::warn!(service = name, code = failure.code(), "unexpected upgrade");
                return own(&failed(&failure), grpc, Reason::UpstreamError);
            };
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let service_name = name.to_owned();
            tokio::spawn(async move {
                match (client_upgrade.await, upstream_upgrade.await) {
                    (Ok(c), Ok(u)) => {
                        let mut c = TokioIo::new(c);
                        let mut u = TokioIo::new(u);
                        if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut u).await {
                            tracing::debug!(service = service_name, error = %e, "upgraded connection ended");
                        }
                    }
                    (c, u) => tracing::info!(
                        service = service_name,
                        client = c.is_ok(),
                        upstream = u.is_ok(),
                        "upgrade failed"
                    ),
                }
            });
            let (mut parts, _) = response.into_parts();
            headers::remove_hop_by_hop(&mut parts.headers, true);
            parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(p) = upgrade_proto {
                parts.headers.entry(header::UPGRADE).or_insert(p);
            }
            return Response::from_parts(parts, empty());
        }

        let (mut parts, body) = response.into_parts();
        headers::remove_hop_by_hop(&mut parts.headers, false);
        let mut body: Body = body.map_err(|e| -> BoxError { Box::new(e) }).boxed();
        if let Some(limit) = service.upstream.timeouts.idle {
            // A gRPC status still to come is written by the proxy (by the layer's settling
            // body when a use rides on it); anything else is cut, so the client cannot take
            // part of a body for all of it.
            let ending = if l402_http::grpc::status_pending(&parts.headers) && !paid {
                Ending::Trailers(l402_server::tower::IdleTimeout::trailers())
            } else {
                Ending::Cut
            };
            let metrics = Arc::clone(&self.metrics);
            let service_name = name.to_owned();
            let on_idle = Box::new(move || {
                metrics.inc("l402_proxy_upstream_idle_total", &[("service", &service_name)]);
                tracing::warn!(
                    service = service_name,
                    code = "upstream-idle",
                    "upstream went quiet mid-body"
                );
            });
            body = Idle::new(body, limit, ending, on_idle).boxed();
        }
        Response::from_parts(parts, body)
    }
}
