//! Graceful shutdown: the listener closes at once, and a request already in flight still
//! gets its upstream's answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::Response;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use support::{paid_service, start, GUARD};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests() {
    // An upstream that answers only when told to, and says when a request arrived.
    let (arrived_tx, arrived_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let slots = Arc::new(Mutex::new((Some(arrived_tx), Some(release_rx))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let slots = Arc::clone(&slots);
            tokio::spawn(async move {
                let svc = service_fn(move |_| {
                    let slots = Arc::clone(&slots);
                    async move {
                        let (arrived, release) = {
                            let mut s = slots.lock().unwrap();
                            (s.0.take(), s.1.take())
                        };
                        if let Some(a) = arrived {
                            let _ = a.send(());
                        }
                        if let Some(r) = release {
                            let _ = r.await;
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"late"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let mut service = paid_service("slow", &format!("http://{upstream}"), "/");
    service.auth = false;
    service.price_msat = None;
    let s = start(vec![service], |_| {}).await;
    let addr = s.proxy.addr();

    let request = tokio::spawn(async move { support::raw(addr, "GET", "/slow", &[]).await });
    tokio::time::timeout(GUARD, arrived_rx).await.unwrap().unwrap();
    let shutdown = tokio::spawn(s.proxy.shutdown());
    // New connections are refused once the listener is closed.
    tokio::time::timeout(GUARD, async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    release_tx.send(()).unwrap();
    let answer = tokio::time::timeout(GUARD, request).await.unwrap().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.body_str(), "late");
    tokio::time::timeout(GUARD, shutdown).await.unwrap().unwrap();
}
