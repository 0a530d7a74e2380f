//! Through the proxy: a WebSocket upstream (upgrade, then bytes both ways) and a gRPC upstream
//! over h2c (the gRPC challenge form, the `macaroon` metadata credential, trailers), called by
//! a raw HTTP/2 client and by tonic.
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

use base64::Engine as _;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{authorization, paid_service, pay, start, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn ws_accept(key: &str) -> String {
    let digest = bitcoin_hashes::sha1::Hash::hash(format!("{key}{WS_GUID}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest.to_byte_array())
}

/// A WebSocket upstream: completes the RFC 6455 handshake, then echoes every byte.
async fn websocket_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|mut req: Request<Incoming>| async move {
                    let key = req
                        .headers()
                        .get("sec-websocket-key")
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned();
                    let upgrade = hyper::upgrade::on(&mut req);
                    tokio::spawn(async move {
                        let mut io = TokioIo::new(upgrade.await.unwrap());
                        let mut buf = [0u8; 1024];
                        loop {
                            let n = io.read(&mut buf).await.unwrap_or(0);
                            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                    let r = Response::builder()
                        .status(StatusCode::SWITCHING_PROTOCOLS)
                        .header("upgrade", "websocket")
                        .header("connection", "Upgrade")
                        .header("sec-websocket-accept", ws_accept(&key))
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    Ok::<_, Infallible>(r)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_is_paid_then_tunnelled() {
    let upstream = websocket_upstream().await;
    let s = start(vec![paid_service("ws", &format!("http://{upstream}"), "/ws")], |_| {}).await;
    let addr = s.proxy.addr();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let handshake = |auth: Option<String>| {
        let mut h = format!(
            "GET /ws/chat HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(a) = auth {
            h.push_str(&format!("Authorization: {a}\r\n"));
        }
        h.push_str("\r\n");
        h
    };

    // Unpaid: the handshake gets a 402 with the challenge, and no upgrade.
    let unpaid = support::raw(addr, "GET", "/ws/chat", &[("Upgrade", "websocket".into())]).await;
    assert_eq!(unpaid.status, 402);
    let credential = pay(&s.node, &unpaid.headers()).await;

    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(handshake(Some(authorization(&credential, "L402").1)).as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(GUARD, conn.read(&mut byte)).await.unwrap().unwrap();
        assert_eq!(n, 1, "closed during the handshake: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("sec-websocket-accept: {}", ws_accept(key)).to_ascii_lowercase()),
        "{head}"
    );

    // A masked text frame "hello", echoed byte for byte through the tunnel.
    let frame = [0x81u8, 0x85, 1, 2, 3, 4, b'h' ^ 1, b'e' ^ 2, b'l' ^ 3, b'l' ^ 4, b'o' ^ 1];
    conn.write_all(&frame).await.unwrap();
    let mut echoed = [0u8; 11];
    tokio::time::timeout(GUARD, conn.read_exact(&mut echoed)).await.unwrap().unwrap();
    assert_eq!(echoed, frame);
}

fn grpc_frame(message: &[u8]) -> Bytes {
    let mut b = vec![0u8];
    b.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    b.extend_from_slice(message);
    Bytes::from(b)
}

/// A gRPC upstream over h2c: echoes the request message with `grpc-status: 0` in trailers, and
/// reports whether any credential reached it in `x-credential-seen`.
async fn grpc_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    assert_eq!(req.version(), http::Version::HTTP_2);
                    let seen = req.headers().contains_key("macaroon")
                        || req.headers().contains_key("authorization");
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    // The message picks the outcome: "fail" INTERNAL in trailers without a
                    // message, "bad" INVALID_ARGUMENT in trailers, "gone" a trailers-only
                    // UNAVAILABLE, "stream" one message and then no status ever, anything
                    // else OK. All but "fail" echo the request's message.
                    type Trailers = Option<Result<http::HeaderMap, Infallible>>;
                    let r = Response::builder()
                        .header("content-type", "application/grpc")
                        .header("x-credential-seen", if seen { "yes" } else { "no" });
                    let (body, code) = match &body[5.min(body.len())..] {
                        b"stream" => {
                            let never = std::future::pending::<Trailers>();
                            return Ok(r
                                .body(Full::new(body).with_trailers(never).boxed())
                                .unwrap());
                        }
                        b"gone" => {
                            let r = r.header("grpc-status", "14");
                            return Ok(r.body(Full::new(Bytes::new()).boxed()).unwrap());
                        }
                        b"fail" => (Bytes::new(), "13"),
                        b"bad" => (body, "3"),
                        _ => (body, "0"),
                    };
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", code.parse().unwrap());
                    let trailers: Trailers = Some(Ok(trailers));
                    let body = Full::new(body).with_trailers(std::future::ready(trailers));
                    Ok::<_, Infallible>(r.body(body.boxed()).unwrap())
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_gets_the_grpc_challenge_and_pays_with_metadata() {
    let upstream = grpc_upstream().await;
    let s = start(
        vec![paid_service("quotes", &format!("http://{upstream}"), "/quotes.v1.Quotes")],
        |_| {},
    )
    .await;
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build_http::<Full<Bytes>>();
    let url = format!("http://{}/quotes.v1.Quotes/Get", s.proxy.addr());
    let call = |credential: Option<&l402_http::Credential>| {
        let mut req = Request::post(&url)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(grpc_frame(b"ping")))
            .unwrap();
        if let Some(c) = credential {
            c.write_grpc_metadata(req.headers_mut());
        }
        client.request(req)
    };

    let challenge = tokio::time::timeout(GUARD, call(None)).await.unwrap().unwrap();
    assert_eq!(challenge.status(), StatusCode::OK, "gRPC errors travel in grpc-status");
    assert!(l402_http::grpc::is_payment_required(challenge.headers()), "{:?}", challenge.headers());
    assert_eq!(challenge.headers()["grpc-status"], "13");
    let offered = l402_http::grpc::read_challenges(challenge.headers()).unwrap().unwrap();
    assert_eq!(offered.len(), 2);
    let credential = pay(&s.node, challenge.headers()).await;

    let ok = tokio::time::timeout(GUARD, call(Some(&credential))).await.unwrap().unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["x-credential-seen"], "no", "the macaroon metadata is stripped");
    let collected = ok.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("trailers pass through");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(collected.to_bytes(), grpc_frame(b"ping"));
}

/// A proxy selling two-use tokens for the gRPC upstream, and the URL of its method.
async fn two_use_grpc_proxy() -> (support::Started, String) {
    let upstream = grpc_upstream().await;
    let mut service = paid_service("quotes", &format!("http://{upstream}"), "/quotes.v1.Quotes");
    service.caveats.max_uses = Some(2);
    let s = start(vec![service], |_| {}).await;
    let url = format!("http://{}/quotes.v1.Quotes/Get", s.proxy.addr());
    (s, url)
}

/// A unary call carrying `message`, with the credential as gRPC metadata if there is one.
fn grpc_request(
    url: &str,
    message: &[u8],
    credential: Option<&l402_http::Credential>,
) -> Request<Full<Bytes>> {
    let mut req = Request::post(url)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(grpc_frame(message)))
        .unwrap();
    if let Some(c) = credential {
        c.write_grpc_metadata(req.headers_mut());
    }
    req
}

/// A gRPC call's use is settled at its status, which arrives in the trailers: the upstream's
/// server failures are not charged, its answers (including "your argument is wrong") are, and
/// `L402-Token-Status` travels in the trailers (decision 0807).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_call_is_charged_only_when_its_status_is_not_a_server_failure() {
    let (s, url) = two_use_grpc_proxy().await;
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build_http::<Full<Bytes>>();
    let call = |message: &'static [u8], credential: Option<&l402_http::Credential>| {
        let sent = client.request(grpc_request(&url, message, credential));
        async move {
            let r = tokio::time::timeout(GUARD, sent).await.unwrap().unwrap();
            let headers = r.headers().clone();
            let collected = tokio::time::timeout(GUARD, r.into_body().collect()).await;
            let trailers = collected.unwrap().unwrap().trailers().cloned().unwrap_or_default();
            (headers, trailers)
        }
    };
    let (challenge, _) = call(b"ping", None).await;
    let credential = pay(&s.node, &challenge).await;
    let remaining = |h: &http::HeaderMap| h["l402-token-status"].to_str().unwrap().to_owned();

    let (_, t) = call(b"fail", Some(&credential)).await;
    assert_eq!(t["grpc-status"], "13");
    assert_eq!(remaining(&t), "remaining=2", "INTERNAL before any message is not charged");
    let (h, _) = call(b"gone", Some(&credential)).await;
    assert_eq!(h["grpc-status"], "14");
    assert_eq!(remaining(&h), "remaining=2", "nor a trailers-only UNAVAILABLE");
    let (_, t) = call(b"bad", Some(&credential)).await;
    assert_eq!(t["grpc-status"], "3");
    assert_eq!(remaining(&t), "remaining=1", "INVALID_ARGUMENT is an answer: charged");
    let (h, t) = call(b"ping", Some(&credential)).await;
    assert!(!h.contains_key("l402-token-status"), "the status waits for the trailers");
    assert_eq!(t["grpc-status"], "0");
    assert_eq!(remaining(&t), "remaining=0");
    let (h, _) = call(b"ping", Some(&credential)).await;
    assert!(l402_http::grpc::is_payment_required(&h), "used up: {h:?}");
    s.proxy.shutdown().await;
}

/// A client that cancels a stream after receiving messages, before the status, has had what
/// it paid for: charged (decision 0807).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_stream_cancelled_after_a_message_is_charged() {
    let (s, url) = two_use_grpc_proxy().await;
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build_http::<Full<Bytes>>();
    let request = |message: &'static [u8], credential: Option<&l402_http::Credential>| {
        client.request(grpc_request(&url, message, credential))
    };
    let challenge = tokio::time::timeout(GUARD, request(b"ping", None)).await.unwrap().unwrap();
    let credential = pay(&s.node, challenge.headers()).await;

    let streaming = tokio::time::timeout(GUARD, request(b"stream", Some(&credential)));
    let mut body = streaming.await.unwrap().unwrap().into_body();
    let first = tokio::time::timeout(GUARD, body.frame()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), grpc_frame(b"stream"));
    drop(body);

    let ok = tokio::time::timeout(GUARD, request(b"ping", Some(&credential))).await;
    let collected = ok.unwrap().unwrap().into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    let refused = tokio::time::timeout(GUARD, request(b"ping", Some(&credential))).await;
    let refused = refused.unwrap().unwrap();
    assert!(l402_http::grpc::is_payment_required(refused.headers()), "{:?}", refused.headers());
    s.proxy.shutdown().await;
}

/// A gRPC stream the upstream goes quiet on, after a message and before its status, is ended
/// by the proxy with DEADLINE_EXCEEDED in the trailers (decision 0808); the message was
/// delivered, so the call is charged (decision 0813).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_stream_the_upstream_goes_quiet_on_ends_with_a_status_and_is_charged() {
    let upstream = grpc_upstream().await;
    let mut service = paid_service("quotes", &format!("http://{upstream}"), "/quotes.v1.Quotes");
    service.caveats.max_uses = Some(2);
    // Short, so the test stays quick; nothing asserts how long it took.
    service.upstream_timeouts.idle_ms = Some(200);
    let s = start(vec![service], |_| {}).await;
    let url = format!("http://{}/quotes.v1.Quotes/Get", s.proxy.addr());
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build_http::<Full<Bytes>>();
    let challenge = tokio::time::timeout(GUARD, client.request(grpc_request(&url, b"ping", None)));
    let credential = pay(&s.node, challenge.await.unwrap().unwrap().headers()).await;

    let streaming = client.request(grpc_request(&url, b"stream", Some(&credential)));
    let response = tokio::time::timeout(GUARD, streaming).await.unwrap().unwrap();
    let collected = tokio::time::timeout(GUARD, response.into_body().collect()).await;
    let collected = collected.unwrap().unwrap();
    let trailers = collected.trailers().cloned().expect("the proxy ends the stream with a status");
    assert_eq!(trailers["grpc-status"], "4", "DEADLINE_EXCEEDED: {trailers:?}");
    assert_eq!(trailers["grpc-message"], "upstream idle timeout");
    assert_eq!(trailers["l402-token-status"], "remaining=1", "charged");
    assert_eq!(collected.to_bytes(), grpc_frame(b"stream"), "the message sent before");
    let idle = s.proxy.metrics().get("l402_proxy_upstream_idle_total", &[("service", "quotes")]);
    assert_eq!(idle, 1);
    s.proxy.shutdown().await;
}

#[derive(Clone, PartialEq, prost::Message)]
struct Ping {
    #[prost(string, tag = "1")]
    text: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_client_pays_and_calls_through_the_proxy() {
    let upstream = grpc_upstream().await;
    let s = start(
        vec![paid_service("quotes", &format!("http://{upstream}"), "/quotes.v1.Quotes")],
        |_| {},
    )
    .await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", s.proxy.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let grpc = tonic::client::Grpc::new(channel);
    let call = |metadata: Option<String>| {
        let mut grpc = grpc.clone();
        async move {
            grpc.ready().await.unwrap();
            let mut request = tonic::Request::new(Ping { text: "hello".into() });
            if let Some(m) = metadata {
                request.metadata_mut().insert("macaroon", m.parse().unwrap());
            }
            let path = http::uri::PathAndQuery::from_static("/quotes.v1.Quotes/Get");
            grpc.unary(request, path, tonic_prost::ProstCodec::<Ping, Ping>::default()).await
        }
    };

    let status = tokio::time::timeout(GUARD, call(None)).await.unwrap().unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal);
    assert_eq!(status.message(), "payment required");
    let mut headers = http::HeaderMap::new();
    for v in status.metadata().get_all("www-authenticate").iter() {
        headers.append("www-authenticate", v.to_str().unwrap().parse().unwrap());
    }
    assert_eq!(headers.len(), 2, "{:?}", status.metadata());
    let credential = pay(&s.node, &headers).await;

    let value = credential.to_hex_value();
    let answer = tokio::time::timeout(GUARD, call(Some(value.to_str().unwrap().to_owned())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.get_ref().text, "hello");
}
