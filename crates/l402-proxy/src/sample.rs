//! A tiny sample API to put the proxy in front of: `l402 demo` and the tests use it.
//!
//! | Path | Answer |
//! |---|---|
//! | `GET /health` | `ok` |
//! | `GET /api/quote` | `{"quote": …, "served": n, "path": …}` and `"query"` if any (JSON) |
//! | `* /api/echo` | the request body, streamed back as it arrives |
//! | anything else | 404 |
//!
//! It also reports whether any L402 credential reached it (`"credential_seen"`), so tests
//! can check the proxy stripped it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{header, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::proxy::full;
use crate::upstream::{Body, BoxError};
use crate::Error;

const QUOTES: [&str; 3] = [
    "The best way to predict the future is to invent it.",
    "Simplicity is prerequisite for reliability.",
    "Make it work, make it right, make it fast.",
];

/// The running sample API. Dropping it stops it.
#[derive(Debug)]
pub struct SampleApi {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for SampleApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SampleApi {
    /// Starts on `127.0.0.1` with a free port.
    pub async fn start() -> Result<SampleApi, Error> {
        let want = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener =
            TcpListener::bind(want).await.map_err(|source| Error::Bind { addr: want, source })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind { addr: want, source })?;
        let served = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let served = Arc::clone(&served);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let served = Arc::clone(&served);
                        async move { Ok::<_, Infallible>(answer(req, &served)) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(SampleApi { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn answer(req: Request<Incoming>, served: &AtomicU64) -> Response<Body> {
    let credential_seen = req.headers().contains_key(l402_http::MACAROON)
        || req.headers().contains_key(l402_http::GRPC_METADATA_MACAROON)
        || req.headers().get_all(header::AUTHORIZATION).iter().any(|v| {
            let v = v.as_bytes();
            v.len() >= 4
                && v.get(..4).is_some_and(|s| {
                    s.eq_ignore_ascii_case(b"l402") || s.eq_ignore_ascii_case(b"lsat")
                })
        });
    match req.uri().path() {
        "/health" => full(StatusCode::OK, "text/plain; charset=utf-8", "ok\n"),
        "/api/quote" => {
            let n = served.fetch_add(1, Ordering::Relaxed);
            let quote =
                QUOTES.get(usize::try_from(n % 3).unwrap_or(0)).copied().unwrap_or_default();
            let mut body = serde_json::json!({
                "quote": quote,
                "served": n + 1,
                "path": req.uri().path(),
                "credential_seen": credential_seen,
            });
            if let (Some(q), Some(map)) = (req.uri().query(), body.as_object_mut()) {
                map.insert("query".into(), q.into());
            }
            full(StatusCode::OK, "application/json", format!("{body}\n"))
        }
        "/api/echo" => {
            let ct = req.headers().get(header::CONTENT_TYPE).cloned();
            let mut r =
                Response::new(req.into_body().map_err(|e| -> BoxError { Box::new(e) }).boxed());
            if let Some(ct) = ct {
                r.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            r
        }
        _ => full(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n"),
    }
}
