//! One request, from the client to the upstream and back: normalise, route, authorize (or
//! challenge), forward streaming, count.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use l402_server::tower::{problem_response, Disposition};
use l402_server::{MintedChallenge, Paywall, Route, TOKEN_STATUS};

use crate::body_limit::{self, BodyLimits, Bounded, OnCut, Refusal as BodyRefusal};
use crate::charge::{self, Reason, Use};
use crate::config::ServiceConfig;
use crate::grpc_settle;
use crate::headers;
use crate::health;
use crate::idle::{Ending, Idle};
use crate::ledger::Ledger;
use crate::log_sampler::LogSampler;
use crate::metrics::Metrics;
use crate::path::normalize;
use crate::upstream::{Body, BoxError, Failure, Unanswered, Upstream};

/// gRPC status codes the proxy answers with.
const GRPC_UNAUTHENTICATED: u32 = 16;
const GRPC_RESOURCE_EXHAUSTED: u32 = 8;
const GRPC_UNAVAILABLE: u32 = 14;
const GRPC_NOT_FOUND: u32 = 5;
const GRPC_INVALID_ARGUMENT: u32 = 3;
const GRPC_DEADLINE_EXCEEDED: u32 = 4;

/// What forwarding produced.
enum Outcome {
    /// The upstream's own answer (headers received).
    Upstream(Response<Body>),
    /// The proxy's answer when the upstream gave none (timeout, failure, bad target), and
    /// whether that charges the use (decision 0813).
    Proxy(Response<Body>, Reason),
}

/// One configured service, ready to serve.
pub(crate) struct Service {
    pub(crate) config: ServiceConfig,
    pub(crate) route: Route,
    pub(crate) scheme: http::uri::Scheme,
    pub(crate) authority: http::uri::Authority,
    /// The upstream URL's path, without a trailing `/` (empty for the root).
    pub(crate) base_path: String,
    pub(crate) upstream: Upstream,
    pub(crate) body_limits: BodyLimits,
}

/// What every request needs.
pub(crate) struct Shared {
    pub(crate) services: Vec<Service>,
    pub(crate) configs: Vec<ServiceConfig>,
    pub(crate) paywall: Arc<Paywall>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) health_path: String,
    pub(crate) ready_path: String,
    pub(crate) live_path: String,
    pub(crate) metrics_path: String,
    pub(crate) in_flight: AtomicU64,
    /// Refusal log lines, sampled per code (decision 0608).
    pub(crate) refusal_logs: LogSampler,
}

pub(crate) fn full(
    status: StatusCode,
    content_type: &'static str,
    text: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(
        Full::new(text.into()).map_err(|never| -> BoxError { match never {} }).boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The proxy's own failures, in the problem shape the paywall's refusals use (RFC 9457 with a
/// stable `code`), so clients parse one format.
fn problem(status: StatusCode, code: &'static str) -> Response<Body> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "code": code,
    });
    let mut r = full(status, "application/problem+json", body.to_string());
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn empty() -> Body {
    Empty::new().map_err(|never| -> BoxError { match never {} }).boxed()
}

/// A Trailers-Only gRPC answer.
fn grpc_status(code: u32, message: &'static str) -> Response<Body> {
    let mut r = Response::new(empty());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert("grpc-status", HeaderValue::from(code));
    h.insert("grpc-message", HeaderValue::from_static(message));
    r
}

/// The one place an upstream failure reaches the wire: the problem body with the failure's
/// code for HTTP, a gRPC status for gRPC (decisions 0806, 0808).
fn failed(failure: &Failure, grpc: bool) -> Response<Body> {
    let (status, grpc_code, message) = match failure {
        Failure::Timeout => {
            (StatusCode::GATEWAY_TIMEOUT, GRPC_DEADLINE_EXCEEDED, "upstream timeout")
        }
        Failure::Unreachable(_) => {
            (StatusCode::BAD_GATEWAY, GRPC_UNAVAILABLE, "upstream unreachable")
        }
        Failure::Broken(_) => (StatusCode::BAD_GATEWAY, GRPC_UNAVAILABLE, "upstream error"),
    };
    if grpc {
        grpc_status(grpc_code, message)
    } else {
        problem(status, failure.code())
    }
}

/// The one place a refused request body reaches the wire (decision 0811): 413
/// `body-too-large` or 408 `body-timeout` in the problem form; gRPC status 8
/// (RESOURCE_EXHAUSTED) for both.
fn body_refused(refusal: BodyRefusal, grpc: bool) -> Response<Body> {
    match (refusal, grpc) {
        (BodyRefusal::TooLarge, true) => {
            grpc_status(GRPC_RESOURCE_EXHAUSTED, "request body too large")
        }
        (BodyRefusal::Timeout, true) => {
            grpc_status(GRPC_RESOURCE_EXHAUSTED, "request body too slow")
        }
        (BodyRefusal::TooLarge, false) => problem(StatusCode::PAYLOAD_TOO_LARGE, refusal.code()),
        (BodyRefusal::Timeout, false) => problem(StatusCode::REQUEST_TIMEOUT, refusal.code()),
    }
}

struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let n = self.0.in_flight.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        self.0.metrics.set("l402_proxy_in_flight_requests", n);
    }
}

impl Shared {
    /// Serves one request from `peer`.
    pub(crate) async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        tls: bool,
    ) -> Response<Body> {
        let n = self.in_flight.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        self.metrics.set("l402_proxy_in_flight_requests", n);
        let _guard = InFlight(self);
        let grpc = headers::is_grpc(req.headers());
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
            return full(StatusCode::OK, "text/plain; version=0.0.4", self.metrics.render());
        }
        let host = match crate::host::request_host(req.uri(), req.headers()) {
            Ok(h) => h,
            Err(e) => return self.bad_request(e.code(), grpc),
        };
        let path = match normalize(raw_path) {
            Ok(p) => p,
            Err(e) => return self.bad_request(e.code(), grpc),
        };
        let m = match crate::route::route(&self.configs, host.as_deref(), &path) {
            Ok(Some(m)) => m,
            Ok(None) => {
                self.metrics.inc("l402_proxy_requests_total", &[("service", "-")]);
                return if grpc {
                    grpc_status(GRPC_NOT_FOUND, "no service")
                } else {
                    full(
                        StatusCode::NOT_FOUND,
                        "text/plain; charset=utf-8",
                        "no service for this host and path\n",
                    )
                };
            }
            Err(e) => return self.bad_request(e.code(), grpc),
        };
        let Some(service) = self.services.get(m.index) else {
            return full(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "");
        };
        let name = service.config.name.as_str();
        self.metrics.inc("l402_proxy_requests_total", &[("service", name)]);
        if let Err(refusal) = body_limit::check_declared(req.headers(), &service.body_limits) {
            let labels = [("service", name), ("code", refusal.code())];
            self.metrics.inc("l402_proxy_request_bodies_refused_total", &labels);
            tracing::debug!(service = name, code = refusal.code(), "request body refused");
            return body_refused(refusal, grpc);
        }

        // The normal form is what the paywall judges and what the upstream receives.
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let mut req = req;
        match Uri::builder().path_and_query(path_and_query.as_str()).build() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                return full(
                    StatusCode::BAD_REQUEST,
                    "text/plain; charset=utf-8",
                    "invalid request target\n",
                )
            }
        }
        let client = self.paywall.client_addr(Some(peer.ip()), req.headers());

        // Held from here on: if this future is dropped (the client went away), the use is
        // charged (decision 0813).
        let paid = if m.free {
            self.metrics.inc("l402_proxy_verdicts_total", &[("service", name), ("code", "free")]);
            None
        } else {
            let (parts, body) = req.into_parts();
            match self.paywall.authorize(&service.route, &parts, client).await {
                Ok(a) => {
                    self.metrics
                        .inc("l402_proxy_verdicts_total", &[("service", name), ("code", "ok")]);
                    req = Request::from_parts(parts, body);
                    let paywall = Arc::clone(&self.paywall);
                    Some(Use::new(a, paywall, Arc::clone(&self.metrics), name))
                }
                Err(e) => {
                    self.metrics
                        .inc("l402_proxy_verdicts_total", &[("service", name), ("code", e.code())]);
                    self.refusal_logs.log(e.code(), || {
                        tracing::info!(service = name, code = e.code(), "refused")
                    });
                    return self.refuse(service, &parts, client, &e, grpc).await;
                }
            }
        };
        let outcome =
            self.forward(service, req, peer, tls, host.as_deref(), grpc, paid.is_some()).await;
        let Some(paid) = paid else {
            return match outcome {
                Outcome::Upstream(r) | Outcome::Proxy(r, _) => r,
            };
        };
        let rule = &service.route.not_delivered;
        let (mut response, reason) = match outcome {
            Outcome::Proxy(r, reason) => (r, reason),
            Outcome::Upstream(r) if grpc_settle::status_pending(r.headers()) => {
                // The call's outcome comes in the trailers: settle there (decision 0807).
                let rule = rule.clone();
                return r.map(|body| grpc_settle::Settled::new(body, paid, rule).boxed());
            }
            Outcome::Upstream(r) => {
                let reason = charge::at_headers(r.status(), r.headers(), rule);
                (r, reason)
            }
        };
        if let Some(v) = paid.settle(reason).await {
            response.headers_mut().insert(TOKEN_STATUS, v);
        }
        response
    }

    /// A request refused before any service saw it (its host or path): 400 with the stable
    /// code in the problem body, gRPC INVALID_ARGUMENT with the code as its message, and the
    /// code as the verdict label of service "-" (decision 0809).
    fn bad_request(&self, code: &'static str, grpc: bool) -> Response<Body> {
        self.metrics.inc("l402_proxy_requests_total", &[("service", "-")]);
        self.metrics.inc("l402_proxy_verdicts_total", &[("service", "-"), ("code", code)]);
        self.refusal_logs.log(code, || tracing::info!(code, "refused request"));
        if grpc {
            grpc_status(GRPC_INVALID_ARGUMENT, code)
        } else {
            problem(StatusCode::BAD_REQUEST, code)
        }
    }

    /// Answers a refused request: a fresh challenge when paying helps (decision 0602 of the
    /// server), the gRPC form for gRPC clients.
    async fn refuse(
        &self,
        service: &Service,
        parts: &http::request::Parts,
        client: Option<std::net::IpAddr>,
        error: &l402_server::Error,
        grpc: bool,
    ) -> Response<Body> {
        let name = service.config.name.as_str();
        let disposition = Disposition::from(error);
        let mut challenge: Option<MintedChallenge> = None;
        let mut error_to_report = None;
        if disposition == Disposition::PaymentRequired {
            match self.paywall.challenge(&service.route, parts, client).await {
                Ok(c) => {
                    self.metrics.inc("l402_proxy_challenges_issued_total", &[("service", name)]);
                    self.ledger.minted(
                        &c.identifier.token_id,
                        &c.identifier.payment_hash,
                        name,
                        c.amount_msat,
                        self.paywall.now(),
                    );
                    challenge = Some(c);
                }
                Err(e) => {
                    let labels = [("service", name), ("code", e.code())];
                    self.metrics.inc("l402_proxy_challenges_refused_total", &labels);
                    self.refusal_logs.log(e.code(), || {
                        tracing::warn!(
                            service = name,
                            code = e.code(),
                            "minting a challenge failed"
                        );
                    });
                    error_to_report = Some(e);
                }
            }
        }
        let error = error_to_report.as_ref().unwrap_or(error);
        if grpc {
            return match (&challenge, Disposition::from(error)) {
                (Some(c), Disposition::PaymentRequired) => {
                    let mut r = Response::new(empty());
                    let style = self.paywall.config().style;
                    if l402_http::grpc::write_challenge(
                        r.headers_mut(),
                        &c.macaroon,
                        &c.invoice.bolt11,
                        style,
                    )
                    .is_err()
                    {
                        return grpc_status(GRPC_UNAVAILABLE, "challenge failed");
                    }
                    r.headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    r
                }
                (_, Disposition::Unauthorized) => {
                    grpc_status(GRPC_UNAUTHENTICATED, "invalid l402 credential")
                }
                (_, Disposition::TooManyRequests) => {
                    grpc_status(GRPC_RESOURCE_EXHAUSTED, "too many challenges")
                }
                _ => grpc_status(GRPC_UNAVAILABLE, "payment backend unavailable"),
            };
        }
        problem_response::<String>(error, challenge.as_ref()).map(|s| {
            Full::new(Bytes::from(s)).map_err(|never| -> BoxError { match never {} }).boxed()
        })
    }

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

    /// Forwards `req`; `paid` when a use rides on it (a gRPC status the proxy has to write
    /// after an idle cut is then written where the use is settled).
    #[allow(clippy::too_many_arguments, reason = "one request's facts; moves with issue 13")]
    async fn forward(
        &self,
        service: &Service,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        tls: bool,
        host: Option<&str>,
        grpc: bool,
        paid: bool,
    ) -> Outcome {
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
            let r = full(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "invalid request target\n",
            );
            return Outcome::Proxy(r, Reason::NotSent);
        };
        parts.uri = uri;
        let upgrade_proto = parts.headers.get(header::UPGRADE).cloned();
        headers::remove_hop_by_hop(&mut parts.headers, upgrade);
        if upgrade {
            parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        if !service.config.forward_credentials {
            headers::strip_credentials(&mut parts.headers);
        }
        headers::add_forwarded(&mut parts.headers, peer.ip(), tls, host);
        // The client sets Host from the upstream URL (SNI and virtual hosts expect it).
        parts.headers.remove(header::HOST);
        let use_h2 = !upgrade && (grpc || service.config.upstream_http2);
        parts.version = if use_h2 { Version::HTTP_2 } else { Version::HTTP_11 };
        let body: Body = body.map_err(|e| -> BoxError { Box::new(e) }).boxed();
        let (body, tripwire) = Bounded::new(body, service.body_limits, self.on_body_cut(name));
        let request = Request::from_parts(parts, body.boxed());

        let started = Instant::now();
        let result = service.upstream.send(request, use_h2).await;
        self.metrics.observe(
            "l402_proxy_upstream_latency_seconds",
            &[("service", name)],
            started.elapsed(),
        );
        let mut response = match result {
            Ok(r) => r,
            Err(_) if tripwire.get().is_some() => {
                let refusal = tripwire.get().copied().unwrap_or(BodyRefusal::Timeout);
                return Outcome::Proxy(body_refused(refusal, grpc), Reason::BodyCut);
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
                return Outcome::Proxy(failed(&failure, grpc), reason);
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
                return Outcome::Proxy(failed(&failure, grpc), Reason::UpstreamError);
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
            return Outcome::Upstream(Response::from_parts(parts, empty()));
        }

        let (mut parts, body) = response.into_parts();
        headers::remove_hop_by_hop(&mut parts.headers, false);
        let mut body: Body = body.map_err(|e| -> BoxError { Box::new(e) }).boxed();
        if let Some(limit) = service.upstream.timeouts.idle {
            // A gRPC status still to come is written by the proxy (by the settling body when
            // a use rides on it); anything else is cut, so the client cannot take part of a
            // body for all of it.
            let ending = if grpc_settle::status_pending(&parts.headers) && !paid {
                Ending::Trailers(crate::idle::grpc_trailers())
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
        Outcome::Upstream(Response::from_parts(parts, body))
    }
}
