//! 502 answers on loopback, against upstreams that cannot be connected to, close without
//! answering, or answer with something that is not HTTP: the problem body with a stable code
//! (`upstream-unreachable`, `upstream-error`), the gRPC form for gRPC (decision 0808). The use
//! is given back only when the upstream never had the request (decision 0813).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::net::SocketAddr;

use l402_proxy::config::ServiceConfig;
use support::{authorization, paid_service, pay, raw, start, Raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the stub upstream does once it has read a request head.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Closes the connection without a byte of answer.
    Close,
    /// Answers with a line that is not an HTTP status line.
    Garbage,
}

/// A TCP server that reads each request head, then misbehaves.
async fn upstream(misbehaviour: Misbehaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if let Misbehaviour::Garbage = misbehaviour {
                    let _ = stream.write_all(b"SPEAKING NONSENSE\r\n\r\n").await;
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

fn one_use_service(name: &str, upstream: SocketAddr) -> ServiceConfig {
    let mut s = paid_service(name, &format!("http://{upstream}"), "/");
    s.caveats.max_uses = Some(1);
    s
}

fn assert_bad_gateway(r: &Raw, code: &str) {
    assert_eq!(r.status, 502, "{}", r.head);
    assert_eq!(r.header("content-type"), vec!["application/problem+json".to_owned()]);
    assert_eq!(r.header("cache-control"), vec!["no-store".to_owned()]);
    let problem: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], 502, "{problem}");
    assert_eq!(problem["title"], "Bad Gateway", "{problem}");
}

/// The allowance `L402-Token-Status` reports.
fn remaining(r: &Raw) -> Vec<String> {
    r.header("l402-token-status")
        .iter()
        .flat_map(|v| v.split(',').map(|m| m.trim().to_owned()).collect::<Vec<_>>())
        .filter(|m| m.starts_with("remaining="))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_502_upstream_unreachable_and_not_charged() {
    // Bound then closed: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let s = start(vec![one_use_service("gone", closed)], |_| {}).await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/x", &[]).await;
    assert_eq!(challenge.status, 402, "{}", challenge.head);
    let credential = pay(&s.node, &challenge.headers()).await;

    for _ in 0..2 {
        let r = raw(addr, "GET", "/x", &[authorization(&credential, "L402")]).await;
        assert_bad_gateway(&r, "upstream-unreachable");
        assert_eq!(remaining(&r), vec!["remaining=1"], "a 502 uses nothing");
    }

    let grpc = ("Content-Type", "application/grpc".to_owned());
    let r = raw(addr, "POST", "/q.Q/Get", &[authorization(&credential, "L402"), grpc]).await;
    // gRPC failures are HTTP 200 with a grpc-status: the status code alone must not count.
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("grpc-status"), vec!["14".to_owned()], "UNAVAILABLE");
    assert_eq!(r.header("grpc-message"), vec!["upstream unreachable".to_owned()]);
    assert_eq!(remaining(&r), vec!["remaining=1"]);

    let errors = s
        .proxy
        .metrics()
        .get("l402_proxy_upstream_responses_total", &[("service", "gone"), ("status", "error")]);
    assert_eq!(errors, 3);
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_closes_without_answering_is_502_upstream_error_and_charged() {
    let api = upstream(Misbehaviour::Close).await;
    let s = start(vec![one_use_service("mute", api)], |_| {}).await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/x", &[]).await;
    let credential = pay(&s.node, &challenge.headers()).await;

    // The upstream read the request before it closed: it may have done the work.
    let r = raw(addr, "GET", "/x", &[authorization(&credential, "L402")]).await;
    assert_bad_gateway(&r, "upstream-error");
    assert_eq!(remaining(&r), vec!["remaining=0"], "the upstream had the request");
    let r = raw(addr, "GET", "/x", &[authorization(&credential, "L402")]).await;
    assert_eq!(r.status, 402, "{}", r.head);
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_answering_with_garbage_is_502_upstream_error() {
    let api = upstream(Misbehaviour::Garbage).await;
    let s = start(vec![one_use_service("garbled", api)], |_| {}).await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/x", &[]).await;
    let credential = pay(&s.node, &challenge.headers()).await;
    let r = raw(addr, "GET", "/x", &[authorization(&credential, "L402")]).await;
    assert_bad_gateway(&r, "upstream-error");
    assert_eq!(remaining(&r), vec!["remaining=0"], "the upstream had the request");
    s.proxy.shutdown().await;
}
