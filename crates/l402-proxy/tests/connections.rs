//! Slow and idle clients (decision 0811): the header-read, idle and TLS-handshake clocks,
//! the connection limits with shedding, and request-body bounds, each through a running
//! proxy. Clocks are set small; each test waits for the close itself, under a guard.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::Response;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use l402_proxy::config::{BodyConfig, ServiceConfig};
use l402_proxy::sample::SampleApi;
use l402_proxy::Metrics;
use support::{paid_service, parse, start, temp_dir, Raw, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn free(upstream: &str) -> ServiceConfig {
    let mut s = ServiceConfig::new("free", upstream);
    s.auth = false;
    s
}

fn closed(metrics: &Metrics, code: &str) -> u64 {
    metrics.get("l402_proxy_connections_closed_total", &[("listener", "public"), ("code", code)])
}

/// Reads until the proxy closes the connection (EOF or reset); fails the test if it never
/// does. Returns what was read.
async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the proxy never closed the connection");
    buf
}

/// Reads one response with a `Content-Length` body from a connection that stays open.
async fn one_response(s: &mut TcpStream) -> Raw {
    let mut buf = Vec::new();
    tokio::time::timeout(GUARD, async {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let raw = parse(&buf);
                let len: usize =
                    raw.header("content-length").first().map_or(0, |v| v.parse().unwrap());
                if buf.len() >= end + 4 + len {
                    return;
                }
            }
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the response was complete: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap();
    parse(&buf)
}

async fn connect_from(ip: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((ip, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// A keep-alive connection that has had one request answered (so the proxy has admitted
/// it), then sends the start of a second head and stops.
async fn waiting_connection(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let mut s = connect_from(from, to).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(one_response(&mut s).await.status, 200);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    s
}

/// Waits, yielding, until `cond` holds; fails the test if it never does.
async fn until(mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(GUARD, async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the condition never held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_nothing_or_half_a_preface_is_closed_after_header_read_ms() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![free(&api.url())], |c| {
        c.listen.header_read_ms = Some(200);
        c.listen.idle_ms = Some(600_000);
    })
    .await;
    let addr = s.proxy.addr();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(until_closed(&mut silent).await.is_empty());
    // An HTTP/2 client that stops inside the connection preface.
    let mut h2 = TcpStream::connect(addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(until_closed(&mut h2).await.is_empty());
    // A head that stops half way.
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert!(until_closed(&mut partial).await.is_empty());
    assert_eq!(closed(s.proxy.metrics(), "header-read-timeout"), 3);
}

/// hyper's own header timer would start when the connection goes idle, counting idleness
/// against the head; ours starts at the first byte of the next head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_head_on_a_keep_alive_connection_has_header_read_ms_too() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![free(&api.url())], |c| {
        c.listen.header_read_ms = Some(200);
        c.listen.idle_ms = Some(600_000);
    })
    .await;
    let mut conn = waiting_connection([127, 0, 0, 1], s.proxy.addr()).await;
    assert!(until_closed(&mut conn).await.is_empty());
    assert_eq!(closed(s.proxy.metrics(), "header-read-timeout"), 1);
    assert_eq!(closed(s.proxy.metrics(), "idle-timeout"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_idle_ms() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![free(&api.url())], |c| {
        c.listen.header_read_ms = Some(600_000);
        c.listen.idle_ms = Some(200);
    })
    .await;
    let mut conn = TcpStream::connect(s.proxy.addr()).await.unwrap();
    conn.write_all(b"GET /api/quote HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(one_response(&mut conn).await.status, 200);
    assert!(until_closed(&mut conn).await.is_empty());
    assert_eq!(closed(s.proxy.metrics(), "idle-timeout"), 1);
}

/// PINGs are not requests: an HTTP/2 connection with no stream open is idle however often
/// the client pings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_h2_connection_is_closed_after_idle_ms_while_the_client_pings() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![free(&api.url())], |c| {
        c.listen.header_read_ms = Some(600_000);
        c.listen.idle_ms = Some(300);
    })
    .await;
    let tcp = TcpStream::connect(s.proxy.addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(std::time::Duration::from_millis(20))
        .keep_alive_while_idle(true)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get(format!("http://{}/api/quote", s.proxy.addr()))
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    tokio::time::timeout(GUARD, conn)
        .await
        .expect("the h2 connection was never closed")
        .unwrap()
        .ok();
    assert_eq!(closed(s.proxy.metrics(), "idle-timeout"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_stalls_is_closed_after_tls_handshake_ms() {
    let dir = temp_dir("tls-handshake");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.0.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.0.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let api = SampleApi::start().await.unwrap();
    let (c_path, k_path) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let s = start(vec![free(&api.url())], |c| {
        c.listen.tls_cert = Some(c_path);
        c.listen.tls_key = Some(k_path);
        c.listen.tls_handshake_ms = Some(200);
        c.listen.header_read_ms = Some(600_000);
        c.listen.idle_ms = Some(600_000);
    })
    .await;
    let mut conn = TcpStream::connect(s.proxy.addr()).await.unwrap();
    // The first bytes of a ClientHello record, then nothing.
    conn.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    assert!(until_closed(&mut conn).await.is_empty());
    assert_eq!(closed(s.proxy.metrics(), "tls-handshake-timeout"), 1);
}

/// Full: the connection that has waited longest for a request head makes room; one that has
/// waited less is kept and still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_full_the_connection_waiting_longest_for_a_head_is_shed() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![free(&api.url())], |c| {
        c.listen.max_connections = Some(2);
        c.listen.header_read_ms = Some(600_000);
        c.listen.idle_ms = Some(600_000);
    })
    .await;
    let addr = s.proxy.addr();
    let mut oldest = waiting_connection([127, 0, 0, 2], addr).await;
    let mut newer = waiting_connection([127, 0, 0, 3], addr).await;
    let mut probe = connect_from([127, 0, 0, 4], addr).await;
    probe.write_all(b"GET /api/quote HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(one_response(&mut probe).await.status, 200);
    assert!(until_closed(&mut oldest).await.is_empty());
    assert_eq!(closed(s.proxy.metrics(), "connection-limit"), 1);
    // The newer one finishes its head and is answered: it was not shed.
    drop(probe);
    newer.write_all(b"\r\n").await.unwrap();
    assert_eq!(one_response(&mut newer).await.status, 200);
}

/// Full with every connection busy: a new one waits in the accept queue until one closes,
/// and is then served; nothing busy is shed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_connection_is_busy_a_new_one_waits_for_a_place() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![free(&api.url())], |c| c.listen.max_connections = Some(1)).await;
    let addr = s.proxy.addr();
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(
        b"POST /api/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )
    .await
    .unwrap();
    // The echo's first chunk back: the request is in flight.
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while !got.windows(5).any(|w| w == b"hello") {
        let n = tokio::time::timeout(GUARD, busy.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0);
        got.extend_from_slice(&chunk[..n]);
    }
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let metrics = s.proxy.metrics();
    until(|| metrics.get("l402_proxy_listener_full_total", &[("listener", "public")]) >= 1).await;
    busy.write_all(b"0\r\n\r\n").await.unwrap();
    until_closed(&mut busy).await;
    let answer = until_closed(&mut waiting).await;
    assert_eq!(parse(&answer).status, 200);
    assert_eq!(closed(metrics, "connection-limit"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_client_limit_closes_extra_connections_and_spares_other_clients() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![free(&api.url())], |c| {
        c.listen.max_connections_per_client = Some(2);
        c.listen.header_read_ms = Some(600_000);
        c.listen.idle_ms = Some(600_000);
    })
    .await;
    let addr = s.proxy.addr();
    let _a = waiting_connection([127, 0, 0, 1], addr).await;
    let _b = waiting_connection([127, 0, 0, 1], addr).await;
    let mut third = connect_from([127, 0, 0, 1], addr).await;
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(until_closed(&mut third).await.is_empty(), "the third connection was served");
    assert_eq!(closed(s.proxy.metrics(), "per-client-limit"), 1);
    let mut other = connect_from([127, 0, 0, 2], addr).await;
    other.write_all(b"GET /api/quote HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(one_response(&mut other).await.status, 200);
}

/// An upstream whose every answer is 64 MiB, more than the sockets between it and a client
/// that does not read can buffer.
async fn large_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Bytes::from(vec![b'x'; 64 << 20]);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req: http::Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A client that asks for a large answer and never reads it is closed after `send_ms`,
/// though its request is in flight (no other clock runs then), and others are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_its_answer_is_closed_after_send_ms() {
    let upstream = large_upstream().await;
    let s = start(vec![free(&format!("http://{upstream}"))], |c| {
        c.listen.send_ms = Some(300);
        c.listen.idle_ms = Some(600_000);
        c.listen.header_read_ms = Some(600_000);
    })
    .await;
    let mut stalled = TcpStream::connect(s.proxy.addr()).await.unwrap();
    stalled.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    until(|| closed(s.proxy.metrics(), "send-timeout") == 1).await;
    // What the sockets held arrives, then the end: the answer was cut, not completed.
    let got = until_closed(&mut stalled).await;
    assert!(got.len() < 64 << 20, "the whole answer arrived: {} bytes", got.len());
    let mut other = TcpStream::connect(s.proxy.addr()).await.unwrap();
    other.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(one_response(&mut other).await.status, 200);
}

/// An upstream that reads the whole request body before answering with its length, and
/// counts the requests it saw.
async fn reading_upstream() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let len = match req.into_body().collect().await {
                            Ok(b) => b.to_bytes().len().to_string(),
                            Err(_) => "broken".to_owned(),
                        };
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(len))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn problem_code(raw: &Raw) -> String {
    let v: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    v["code"].as_str().unwrap().to_owned()
}

/// One rule for free and paid services: a declared length over the limit is refused before
/// anything is forwarded (or, paid, before any challenge is minted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_over_max_bytes_is_413_before_forwarding_free_or_paid() {
    let (up, seen) = reading_upstream().await;
    let up = format!("http://{up}");
    let mut free = free(&up);
    free.path_prefix = "/free".into();
    let s = start(vec![free, paid_service("paid", &up, "/paid")], |c| {
        c.request_body = BodyConfig::default();
        c.request_body.max_bytes = Some(1000);
    })
    .await;
    for path in ["/free/upload", "/paid/upload"] {
        let r =
            support::raw(s.proxy.addr(), "POST", path, &[("Content-Length", "1001".into())]).await;
        assert_eq!(r.status, 413, "{path}: {}", r.head);
        assert_eq!(r.header("content-type"), ["application/problem+json"]);
        assert_eq!(problem_code(&r), "body-too-large");
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0);
    assert_eq!(
        s.proxy.metrics().get("l402_proxy_challenges_issued_total", &[("service", "paid")]),
        0
    );
    let labels = [("service", "free"), ("code", "body-too-large")];
    assert_eq!(s.proxy.metrics().get("l402_proxy_request_bodies_refused_total", &labels), 1);
    // At the limit, it goes through.
    let mut conn = TcpStream::connect(s.proxy.addr()).await.unwrap();
    let body = vec![b'x'; 1000];
    conn.write_all(b"POST /free/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    conn.write_all(&body).await.unwrap();
    let r = one_response(&mut conn).await;
    assert_eq!((r.status, r.body_str().as_str()), (200, "1000"));
}

/// A chunked body says nothing of its size: it is cut when it passes the limit, and the
/// client gets the 413 the upstream never had the chance to answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_max_bytes_is_cut_mid_stream_with_413() {
    let (up, _) = reading_upstream().await;
    let s = start(vec![free(&format!("http://{up}"))], |c| {
        c.request_body.max_bytes = Some(1000);
    })
    .await;
    let mut conn = TcpStream::connect(s.proxy.addr()).await.unwrap();
    conn.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    // Three chunks of 400 bytes; the last one's end is never sent, so nothing is left
    // unread when the proxy closes.
    for last in [false, false, true] {
        conn.write_all(b"190\r\n").await.unwrap();
        conn.write_all(&[b'x'; 400]).await.unwrap();
        if !last {
            conn.write_all(b"\r\n").await.unwrap();
        }
    }
    let answer = until_closed(&mut conn).await;
    let r = parse(&answer);
    assert_eq!(r.status, 413, "{}", r.head);
    assert_eq!(problem_code(&r), "body-too-large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_408_body_timeout() {
    let (up, _) = reading_upstream().await;
    let mut service = free(&format!("http://{up}"));
    // The service's own key wins over the global one.
    service.request_body.idle_ms = Some(200);
    let s = start(vec![service], |c| c.request_body.idle_ms = Some(600_000)).await;
    let mut conn = TcpStream::connect(s.proxy.addr()).await.unwrap();
    conn.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let r = parse(&until_closed(&mut conn).await);
    assert_eq!(r.status, 408, "{}", r.head);
    assert_eq!(problem_code(&r), "body-timeout");
    let labels = [("service", "free"), ("code", "body-timeout")];
    assert_eq!(s.proxy.metrics().get("l402_proxy_request_bodies_refused_total", &labels), 1);
}

/// `timeout_ms` bounds the whole wait for the body, however regularly its parts come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_is_408_after_timeout_ms() {
    let (up, _) = reading_upstream().await;
    let s = start(vec![free(&format!("http://{up}"))], |c| {
        c.request_body.idle_ms = Some(600_000);
        c.request_body.timeout_ms = Some(300);
    })
    .await;
    let mut conn = TcpStream::connect(s.proxy.addr()).await.unwrap();
    conn.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    // The trickle: one byte every 20 ms (well inside idle_ms), until the proxy answers.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut pace = tokio::time::interval(std::time::Duration::from_millis(20));
    tokio::time::timeout(GUARD, async {
        loop {
            tokio::select! {
                n = conn.read(&mut chunk) => match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                },
                _ = pace.tick(), if buf.is_empty() => {
                    if conn.write_all(b"x").await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await
    .expect("the trickle was never cut");
    let r = parse(&buf);
    assert_eq!(r.status, 408, "{}", r.head);
    assert_eq!(problem_code(&r), "body-timeout");
}

#[test]
fn connection_and_body_keys_are_validated_by_name() {
    let base = "[[services]]\nname = \"a\"\nupstream = \"http://127.0.0.1:1\"\nauth = false\n";
    for (toml, message) in [
        ("[listen]\nheader_read_ms = 0\n", "listen.header_read_ms: must be > 0"),
        ("[listen]\nidle_ms = 0\n", "listen.idle_ms: must be > 0"),
        ("[listen]\ntls_handshake_ms = 0\n", "listen.tls_handshake_ms: must be > 0"),
        ("[listen]\nsend_ms = 0\n", "listen.send_ms: must be > 0"),
        ("[listen]\nmax_connections = 0\n", "listen.max_connections: must be > 0"),
        (
            "[listen]\nmax_connections_per_client = 0\n",
            "listen.max_connections_per_client: must be > 0",
        ),
        ("[listen]\nh2_max_streams = 0\n", "listen.h2_max_streams: must be > 0"),
        ("[request_body]\nmax_bytes = 0\n", "request_body.max_bytes: must be > 0"),
        (
            "[admin]\ntoken = \"0123456789abcdef\"\ntls_cert = \"c.pem\"\n",
            "admin.tls_key: required with admin.tls_cert",
        ),
    ] {
        let e = l402_proxy::Config::from_toml_str(&format!("{toml}{base}"), []).unwrap_err();
        assert!(e.to_string().starts_with(message), "{toml}: {e}");
    }
    let service = format!("{base}  [services.request_body]\n  max_bytes = 0\n");
    let e = l402_proxy::Config::from_toml_str(&service, []).unwrap_err();
    assert!(e.to_string().starts_with("services[0].request_body.max_bytes: must be > 0"), "{e}");
    let e = l402_proxy::Config::from_toml_str(&format!("[listen]\nidle_ms = \"1s\"\n{base}"), [])
        .unwrap_err();
    assert_eq!(e.code(), "config-syntax");
    assert!(e.to_string().contains("idle_ms"), "{e}");
}

/// A configured limit the process's descriptors cannot hold is refused at start.
#[tokio::test]
async fn a_max_connections_above_the_descriptor_limit_is_refused_at_start() {
    let dir = temp_dir("fd-limit");
    let mut config = l402_proxy::Config::with_services(vec![free("http://127.0.0.1:1")]);
    config.listen.addr = "127.0.0.1:0".into();
    config.data_dir = dir.0.join("data");
    config.listen.max_connections = Some(u64::MAX / 4);
    let node = l402_lightning::dev::DevNode::new().unwrap();
    let e = l402_proxy::Proxy::builder(config).backend(Arc::new(node)).start().await.unwrap_err();
    assert_eq!(e.code(), "config-invalid");
    assert!(e.to_string().starts_with("listen.max_connections: needs about"), "{e}");
}
