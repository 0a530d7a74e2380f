//! Upstream timeouts on loopback, against upstreams that hang, answer late, cannot be
//! connected to, or wait for a slow client: 504 `upstream-timeout`, charged once the upstream
//! had the request and given back when it never connected (decision 0813). And the idle
//! timeout of response bodies: a body the upstream stops sending is cut off (decision 0808).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use l402_proxy::config::ServiceConfig;
use support::{authorization, paid_service, pay, raw, start, start_in_memory, Raw, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Short, so the suite stays quick; nothing asserts how long anything took.
const SHORT_MS: u64 = 200;

/// What the stub upstream does with request number `n` (from 0).
#[derive(Clone, Copy)]
enum Behaviour {
    /// Requests below this number never get an answer; later ones get `200 ok` at once.
    HangFirst(usize),
    /// Answers `200 ok` after this long.
    Late(Duration),
    /// Reads the whole request body, then answers `200` with its length.
    ReadsBody,
}

/// A real HTTP/1.1 and h2c server on loopback behaving as told.
async fn upstream(behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let mut body = "ok".to_owned();
                        match behaviour {
                            Behaviour::HangFirst(hang) if n < hang => {
                                std::future::pending::<()>().await;
                            }
                            Behaviour::HangFirst(_) => {}
                            Behaviour::Late(delay) => tokio::time::sleep(delay).await,
                            Behaviour::ReadsBody => {
                                let bytes = req.into_body().collect().await?.to_bytes();
                                body = bytes.len().to_string();
                            }
                        }
                        Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
            });
        }
    });
    addr
}

fn free_service(name: &str, upstream: SocketAddr) -> ServiceConfig {
    let mut s = ServiceConfig::new(name, format!("http://{upstream}"));
    s.auth = false;
    s
}

fn one_use_service(name: &str, upstream: SocketAddr) -> ServiceConfig {
    let mut s = paid_service(name, &format!("http://{upstream}"), "/");
    s.caveats.max_uses = Some(1);
    s
}

fn remaining(r: &Raw) -> Vec<String> {
    r.header("l402-token-status")
        .iter()
        .flat_map(|v| v.split(',').map(|m| m.trim().to_owned()).collect::<Vec<_>>())
        .filter(|m| m.starts_with("remaining="))
        .collect()
}

fn assert_upstream_timeout(r: &Raw) {
    assert_eq!(r.status, 504, "{}", r.head);
    assert_eq!(r.header("content-type"), vec!["application/problem+json".to_owned()]);
    let problem: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(problem["code"], "upstream-timeout", "{problem}");
    assert_eq!(problem["status"], 504, "{problem}");
}

/// The upstream had the request when the response timeout ran out: charged (decision 0813),
/// so a client cannot make slow work free by waiting it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_upstream_gets_504_and_the_use_is_charged() {
    let api = upstream(Behaviour::HangFirst(1)).await;
    let s = start(vec![one_use_service("slow", api)], |c| {
        c.upstream_timeouts.response_ms = Some(SHORT_MS);
    })
    .await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/x", &[]).await;
    assert_eq!(challenge.status, 402, "{}", challenge.head);
    let credential = pay(&s.node, &challenge.headers()).await;

    let timed_out = raw(addr, "GET", "/x", &[authorization(&credential, "L402")]).await;
    assert_upstream_timeout(&timed_out);
    assert_eq!(remaining(&timed_out), vec!["remaining=0"], "the upstream had the request");

    // The one use went to the timed-out request: the retry is refused, unforwarded.
    let after = raw(addr, "GET", "/x", &[authorization(&credential, "L402")]).await;
    assert_eq!(after.status, 402, "{}", after.head);
    assert!(after.body_str().contains("uses-exhausted"), "{}", after.body_str());
    let m = s.proxy.metrics();
    let responses = |status| {
        m.get("l402_proxy_upstream_responses_total", &[("service", "slow"), ("status", status)])
    };
    assert_eq!(responses("timeout"), 1);
    assert_eq!(responses("200"), 0);
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_timeout_is_deadline_exceeded_and_charged() {
    let api = upstream(Behaviour::HangFirst(1)).await;
    // The service's own limit; the global default (60 s) would outlast the test.
    let mut service = one_use_service("slow", api);
    service.upstream_timeouts.response_ms = Some(SHORT_MS);
    let s = start(vec![service], |_| {}).await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/x", &[]).await;
    let credential = pay(&s.node, &challenge.headers()).await;
    let grpc = ("Content-Type", "application/grpc".to_owned());

    let timed_out =
        raw(addr, "POST", "/q.Q/Get", &[authorization(&credential, "L402"), grpc.clone()]).await;
    // gRPC failures are HTTP 200 with a grpc-status: the status code alone must not count a use.
    assert_eq!(timed_out.status, 200, "{}", timed_out.head);
    assert_eq!(timed_out.header("grpc-status"), vec!["4".to_owned()], "DEADLINE_EXCEEDED");
    assert_eq!(remaining(&timed_out), vec!["remaining=0"], "a status the proxy wrote: charged");

    let retry = raw(addr, "POST", "/q.Q/Get", &[authorization(&credential, "L402"), grpc]).await;
    assert_eq!(retry.status, 200, "{}", retry.head);
    assert_eq!(retry.header("grpc-status"), vec!["13".to_owned()], "payment required again");
    assert_eq!(retry.header("grpc-message"), vec!["payment required".to_owned()]);
    s.proxy.shutdown().await;
}

// Linux only: the way to make a loopback connect hang relies on how Linux treats a full
// accept queue (other systems may refuse the connection instead).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_timeout_gets_504_and_is_not_charged() {
    // A listener with no room in its accept queue, never accepting: once one connection
    // fills the queue, Linux drops further SYNs and a connect hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(0).unwrap();
    let upstream = full.local_addr().unwrap();
    let _filler = tokio::time::timeout(GUARD, TcpStream::connect(upstream)).await.unwrap().unwrap();

    let s = start(vec![one_use_service("unreachable", upstream)], |c| {
        c.upstream_timeouts.connect_ms = Some(SHORT_MS);
        // No response limit: only the connect limit can end the wait.
        c.upstream_timeouts.response_ms = Some(0);
    })
    .await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/x", &[]).await;
    let credential = pay(&s.node, &challenge.headers()).await;
    let timed_out = raw(addr, "GET", "/x", &[authorization(&credential, "L402")]).await;
    assert_upstream_timeout(&timed_out);
    assert_eq!(remaining(&timed_out), vec!["remaining=1"]);
    drop(full);
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_a_response_limit_waits_for_a_long_poll() {
    // The upstream answers well after the global limit; only the service's `0` lets it.
    let api = upstream(Behaviour::Late(Duration::from_millis(SHORT_MS * 3))).await;
    let mut long_poll = free_service("events", api);
    long_poll.upstream_timeouts.response_ms = Some(0);
    let s = start(vec![long_poll], |c| c.upstream_timeouts.response_ms = Some(SHORT_MS / 2)).await;
    let r = raw(s.proxy.addr(), "GET", "/events", &[]).await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body_str(), "ok");
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_spent_waiting_for_a_slow_client_body_is_not_the_upstreams() {
    let api = upstream(Behaviour::ReadsBody).await;
    let s = start(vec![free_service("upload", api)], |c| {
        c.upstream_timeouts.response_ms = Some(SHORT_MS);
    })
    .await;
    let mut conn = TcpStream::connect(s.proxy.addr()).await.unwrap();
    conn.write_all(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
    )
    .await
    .unwrap();
    // The slow client under test, not synchronisation: it pauses for several response
    // limits before finishing its body, and the upstream cannot answer before then.
    tokio::time::sleep(Duration::from_millis(SHORT_MS * 3)).await;
    conn.write_all(b"6\r\nsecond\r\n0\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(GUARD, conn.read_to_end(&mut buf)).await.unwrap().unwrap();
    let r = support::parse(&buf);
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.body_str().ends_with("11"), "the upstream read all 11 bytes: {}", r.body_str());
    s.proxy.shutdown().await;
}

/// An upstream answering one request with a chunked event stream: `chunks` events, `gap`
/// apart, then the end of the body; or, with `chunks = None`, one event and then silence on
/// an open connection. The receiver hears when the proxy drops the connection.
async fn event_stream_upstream(
    chunks: Option<usize>,
    gap: Duration,
) -> (SocketAddr, tokio::sync::oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (dropped, heard) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the proxy closed before sending its request");
            head.extend_from_slice(&buf[..n]);
        }
        let event = b"c\r\ndata: tick\n\n\r\n";
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        stream.write_all(event).await.unwrap();
        if let Some(n) = chunks {
            for _ in 1..n {
                // The upstream's pace under test, in paused time: no real wait.
                tokio::time::sleep(gap).await;
                stream.write_all(event).await.unwrap();
            }
            stream.write_all(b"0\r\n\r\n").await.unwrap();
        }
        // Until the proxy lets go of the connection (end of file or reset).
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        let _ = dropped.send(());
    });
    (addr, heard)
}

/// Paused time: the runtime jumps to the next timer whenever every task waits, so the idle
/// clock runs out without the test waiting for it, and nothing depends on the machine's speed.
#[tokio::test(start_paused = true)]
async fn a_body_the_upstream_stops_sending_is_cut_off_and_the_upstream_dropped() {
    let (api, dropped) = event_stream_upstream(None, Duration::ZERO).await;
    let mut service = one_use_service("events", api);
    service.upstream_timeouts.idle_ms = Some(5_000);
    let s = start_in_memory(vec![service], |_| {}).await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/events", &[]).await;
    let credential = pay(&s.node, &challenge.headers()).await;

    let r = raw(addr, "GET", "/events", &[authorization(&credential, "L402")]).await;
    assert_eq!(r.status, 200, "{}", r.head);
    let body = r.body_str();
    assert!(body.contains("data: tick"), "the event sent before the silence arrives: {body:?}");
    assert!(!body.ends_with("0\r\n\r\n"), "the body must not look complete: {body:?}");
    // The use was counted with the headers, before the upstream went quiet.
    assert_eq!(remaining(&r), vec!["remaining=0"]);
    tokio::time::timeout(GUARD, dropped).await.unwrap().unwrap();
    let m = s.proxy.metrics();
    assert_eq!(m.get("l402_proxy_upstream_idle_total", &[("service", "events")]), 1);
    s.proxy.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn heartbeats_within_idle_ms_keep_a_stream_open_longer_than_idle_ms() {
    // Five events two seconds apart: ten seconds in all, twice the idle limit.
    let (api, _) = event_stream_upstream(Some(5), Duration::from_secs(2)).await;
    let mut service = free_service("events", api);
    service.upstream_timeouts.idle_ms = Some(5_000);
    let s = start_in_memory(vec![service], |_| {}).await;
    let r = raw(s.proxy.addr(), "GET", "/events", &[]).await;
    assert_eq!(r.status, 200, "{}", r.head);
    let body = r.body_str();
    assert_eq!(body.matches("data: tick").count(), 5, "{body:?}");
    assert!(body.ends_with("0\r\n\r\n"), "complete: {body:?}");
    assert_eq!(
        s.proxy.metrics().get("l402_proxy_upstream_idle_total", &[("service", "events")]),
        0
    );
    s.proxy.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn idle_ms_zero_lets_a_silent_stream_stay_open() {
    // Ten seconds of silence, ten times the global limit (and within the test's guard).
    let (api, _) = event_stream_upstream(Some(2), Duration::from_secs(10)).await;
    let mut service = free_service("events", api);
    service.upstream_timeouts.idle_ms = Some(0);
    // The global limit is what the service turns off.
    let s = start_in_memory(vec![service], |c| c.upstream_timeouts.idle_ms = Some(1_000)).await;
    let r = raw(s.proxy.addr(), "GET", "/events", &[]).await;
    assert_eq!(r.body_str().matches("data: tick").count(), 2, "{}", r.body_str());
    s.proxy.shutdown().await;
}
