//! HTTP clients to the upstreams: HTTP/1.1 (and h2 by ALPN over TLS), and HTTP/2 with prior
//! knowledge (h2c) for gRPC. TLS is verified against the Mozilla roots, or a configured CA.
//! Each service's clients carry its [`Timeouts`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{capture_connection, CaptureConnection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::TlsError;
use crate::stall::{stalled, Watched, LONGEST};
use crate::Error;

/// Errors inside bodies, boxed (the pipeline's own alias): bodies come from clients,
/// upstreams and the proxy itself.
pub(crate) use l402_server::tower::BoxError;

/// The body type the proxy sends and receives: streamed, never buffered.
pub(crate) type Body = BoxBody<Bytes, BoxError>;

/// A body sent whole.
pub(crate) fn whole(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into()).map_err(|never| -> BoxError { match never {} }).boxed()
}

/// No body.
pub(crate) fn empty() -> Body {
    http_body_util::Empty::new().map_err(|never| -> BoxError { match never {} }).boxed()
}

/// One upstream client.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Body>;

/// How long one service waits for its upstream (see `[upstream_timeouts]` in
/// `docs/proxy.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To have a connection ready for the request: TCP, then TLS and the HTTP/2 handshake.
    pub connect: Duration,
    /// The longest the proxy waits on the upstream before the response headers arrive, not
    /// counting time spent waiting for the client's request body; `None`: no limit.
    pub response: Option<Duration>,
    /// The longest the upstream may leave a response body without a new frame while the
    /// client is waiting for one; `None`: no limit.
    pub idle: Option<Duration>,
}

/// The pair of clients one service uses.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    /// HTTP/1.1 over plain TCP; ALPN (h2, then HTTP/1.1) over TLS. Upgrades go through it.
    pub http1: HttpClient,
    /// HTTP/2 only: h2c over plain TCP, h2 over TLS. gRPC goes through it.
    pub http2: HttpClient,
    /// The limits [`Upstream::http1`] and [`Upstream::http2`] were built with.
    pub timeouts: Timeouts,
}

/// Why an upstream gave no usable response. Each kind has one stable code and one answer
/// (`proxy::failed` renders it; decisions 0806 and 0808).
#[derive(Debug)]
pub(crate) enum Failure {
    /// The connect or the response timeout ran out (504).
    Timeout,
    /// No connection: refused, unreachable, the name did not resolve, TLS failed (502).
    Unreachable(BoxError),
    /// Connected, but the answer was broken: closed or reset before a response, not HTTP,
    /// an upgrade nobody asked for (502).
    Broken(BoxError),
}

/// A request the upstream gave no usable response to.
#[derive(Debug)]
pub(crate) struct Unanswered {
    pub(crate) failure: Failure,
    /// Whether the upstream may have received the request: false only when no connection was
    /// ever handed to it, or connecting failed (TCP, TLS, HTTP/2 handshake). hyper-util sets
    /// the captured connection before it writes a byte, and retries on its own only requests
    /// that a reused connection gave back unsent, so anything else may have been sent.
    pub(crate) maybe_sent: bool,
}

impl Failure {
    /// The stable code clients and logs see.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Failure::Timeout => "upstream-timeout",
            Failure::Unreachable(_) => "upstream-unreachable",
            Failure::Broken(_) => "upstream-error",
        }
    }
}

impl From<hyper_util::client::legacy::Error> for Failure {
    fn from(e: hyper_util::client::legacy::Error) -> Failure {
        if connect_timed_out(&e) {
            Failure::Timeout
        } else if e.is_connect() {
            // The connector is TCP, then TLS: a bad certificate is "unreachable" too.
            Failure::Unreachable(Box::new(e))
        } else {
            Failure::Broken(Box::new(e))
        }
    }
}

fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let at = |source| Error::tls(Some(path), source);
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| at(TlsError::Pem(e)))?;
            for cert in certs {
                let cert = cert.map_err(|e| at(TlsError::Pem(e)))?;
                roots.add(cert).map_err(|e| at(TlsError::Rustls(e)))?;
            }
            if roots.is_empty() {
                return Err(at(TlsError::NoCertificates));
            }
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::tls(None, TlsError::Rustls(e)))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

impl Upstream {
    /// Clients verifying TLS against `ca_file`, or the Mozilla roots when `None`, that give
    /// up on a connection after `timeouts.connect`.
    pub(crate) fn new(ca_file: Option<&Path>, timeouts: Timeouts) -> Result<Upstream, Error> {
        let mut plain = HttpConnector::new();
        plain.enforce_http(false);
        plain.set_nodelay(true);
        plain.set_connect_timeout(Some(timeouts.connect));
        let h1 = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(ca_file)?)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(plain.clone());
        let h2 = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(ca_file)?)
            .https_or_http()
            .enable_http2()
            .wrap_connector(plain);
        Ok(Upstream {
            http1: Client::builder(TokioExecutor::new()).build(h1),
            http2: Client::builder(TokioExecutor::new()).http2_only(true).build(h2),
            timeouts,
        })
    }

    /// Sends `request` over HTTP/2 or HTTP/1.1 and waits for the response headers, within
    /// the connect and response timeouts.
    pub(crate) async fn send(
        &self,
        mut request: Request<Body>,
        http2: bool,
    ) -> Result<Response<Incoming>, Unanswered> {
        let client = if http2 { &self.http2 } else { &self.http1 };
        // The connector's own timeout covers TCP only: an upstream that accepts and never
        // finishes TLS would hold the request for ever when `response_ms = 0`.
        let mut connected = capture_connection(&mut request);
        // Each failure says whether it happened while connecting.
        let failed = |e: hyper_util::client::legacy::Error| (e.is_connect(), Failure::from(e));
        let answer = async {
            match self.timeouts.response {
                None => client.request(request).await.map_err(failed),
                // Without a body the upstream has the turn throughout: one plain clock.
                Some(limit) if hyper::body::Body::is_end_stream(request.body()) => {
                    match tokio::time::timeout(limit.min(LONGEST), client.request(request)).await {
                        Ok(r) => r.map_err(failed),
                        Err(_) => Err((false, Failure::Timeout)),
                    }
                }
                Some(limit) => {
                    let (parts, body) = request.into_parts();
                    let (body, turn) = Watched::new(body);
                    let call = client.request(Request::from_parts(parts, body.boxed()));
                    tokio::select! {
                        r = call => r.map_err(failed),
                        () = stalled(turn, limit) => Err((false, Failure::Timeout)),
                    }
                }
            }
        };
        let result = tokio::select! {
            r = answer => r,
            () = unconnected(&mut connected, self.timeouts.connect) => {
                Err((true, Failure::Timeout))
            }
        };
        result.map_err(|(connecting, failure)| Unanswered {
            failure,
            maybe_sent: !connecting && connected.connection_metadata().is_some(),
        })
    }
}

/// Completes if `limit` passes before the client has a connection ready for the request
/// (TCP, TLS, HTTP/2 handshake; a pooled connection is ready at once); never completes
/// otherwise, so the response timeout alone governs what follows.
async fn unconnected(connected: &mut CaptureConnection, limit: Duration) {
    // `let`, so the guard the wait returns is released before waiting for ever.
    let ready = tokio::time::timeout(limit, connected.wait_for_connection_metadata()).await.is_ok();
    if ready {
        // Also reached when the request is dropped unconnected: its call has then failed.
        std::future::pending::<()>().await;
    }
}

/// The connector reports its own timeout (and the system's) as an IO error of kind
/// `TimedOut` somewhere below a connect error.
fn connect_timed_out(error: &hyper_util::client::legacy::Error) -> bool {
    if !error.is_connect() {
        return false;
    }
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = e.source();
    }
    false
}
