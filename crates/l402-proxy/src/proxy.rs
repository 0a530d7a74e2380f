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

use crate::config::ServiceConfig;
use crate::grpc_settle;
use crate::headers;
use crate::idle::{Ending, Idle};
use crate::ledger::Ledger;
use crate::log_sampler::LogSampler;
use crate::metrics::Metrics;
use crate::path::normalize;
use crate::upstream::{Body, BoxError, Failure, Upstream};

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
    /// The proxy's answer when the upstream gave none (timeout, failure, bad target).
    Proxy(Response<Body>),
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
}

/// What every request needs.
pub(crate) struct Shared {
    pub(crate) services: Vec<Service>,
    pub(crate) configs: Vec<ServiceConfig>,
    pub(crate) paywall: Arc<Paywall>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) health_path: String,
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

/// The trailers a gRPC response the upstream went quiet on ends with: a status the proxy
/// writes, so not charged (decision 0807).
fn idle_trailers() -> http::HeaderMap {
    let mut t = http::HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from(GRPC_DEADLINE_EXCEEDED));
    t.insert("grpc-message", HeaderValue::from_static("upstream idle timeout"));
    t
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
        if raw_path == self.health_path {
            return full(StatusCode::OK, "text/plain; charset=utf-8", "ok\n");
        }
        if !self.metrics_path.is_empty() && raw_path == self.metrics_path {
            return full(StatusCode::OK, "text/plain; version=0.0.4", self.metrics.render());
        }
        let path = match normalize(raw_path) {
            Ok(p) => p,
            Err(e) => {
                self.metrics.inc("l402_proxy_requests_total", &[("service", "-")]);
                self.refusal_logs.log(e.code(), || tracing::info!(code = e.code(), "refused path"));
                return if grpc {
                    grpc_status(GRPC_INVALID_ARGUMENT, "invalid path")
                } else {
                    full(StatusCode::BAD_REQUEST, "text/plain; charset=utf-8", format!("{e}\n"))
                };
            }
        };
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
        let Some(m) = crate::route::route(&self.configs, host.as_deref(), &path) else {
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
        };
        let Some(service) = self.services.get(m.index) else {
            return full(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "");
        };
        let name = service.config.name.as_str();
        self.metrics.inc("l402_proxy_requests_total", &[("service", name)]);

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

        let authorized = if m.free {
            self.metrics.inc("l402_proxy_verdicts_total", &[("service", name), ("code", "free")]);
            None
        } else {
            let (parts, body) = req.into_parts();
            match self.paywall.authorize(&service.route, &parts, client).await {
                Ok(a) => {
                    self.metrics
                        .inc("l402_proxy_verdicts_total", &[("service", name), ("code", "ok")]);
                    req = Request::from_parts(parts, body);
                    Some(a)
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
        let (mut response, answered) =
            match self.forward(service, req, peer, tls, host.as_deref(), grpc).await {
                Outcome::Upstream(r) => (r, true),
                Outcome::Proxy(r) => (r, false),
            };
        if let Some(a) = authorized {
            if answered && grpc_settle::status_pending(response.headers()) {
                // The call's outcome comes in the trailers: settle there (decision 0807).
                let paywall = Arc::clone(&self.paywall);
                return response.map(|body| grpc_settle::Settled::new(body, paywall, a).boxed());
            }
            // Charge on success only (decision 0603): the upstream answered, below 500, and
            // for a trailers-only gRPC answer with a status that is not a server failure. A
            // gRPC failure from the proxy is HTTP 200, hence `answered`, not the status alone.
            let success = answered
                && !response.status().is_server_error()
                && !grpc_settle::status(response.headers())
                    .is_some_and(grpc_settle::is_server_failure);
            match self.paywall.finish(a, success).await {
                Ok(status) => {
                    if let Some(v) = status.to_header_value() {
                        response.headers_mut().insert(TOKEN_STATUS, v);
                    }
                }
                Err(e) => tracing::warn!(service = name, code = e.code(), "counting a use failed"),
            }
        }
        response
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

    async fn forward(
        &self,
        service: &Service,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        tls: bool,
        host: Option<&str>,
        grpc: bool,
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
            return Outcome::Proxy(full(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "invalid request target\n",
            ));
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
            Err(failure) => {
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
                return Outcome::Proxy(failed(&failure, grpc));
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
                return Outcome::Proxy(failed(&failure, grpc));
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
            // A gRPC status still to come is written by the proxy; anything else is cut, so
            // the client cannot take part of a body for all of it.
            let ending = if grpc_settle::status_pending(&parts.headers) {
                Ending::Trailers(idle_trailers())
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
