//! What a paid use costs, through a running proxy (decision 0813): once the request may have
//! reached the upstream, the client cannot make it free. Abandoning it, a response timeout,
//! an idle cut and a gRPC stream whose client stops reading are all charged; only a request
//! the upstream never received (nothing listening) and an answer whose status the service
//! marks as "not delivered" give the use back.
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use l402_proxy::config::ServiceConfig;
use support::{authorization, paid_service, pay, raw, start, Raw, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Announces that an upstream handler was dropped before it finished.
struct OnDrop(watch::Sender<usize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// What the HTTP upstream saw.
struct Upstream {
    addr: SocketAddr,
    /// Requests that reached `/work`: the executions a token paid for.
    executions: Arc<AtomicUsize>,
    /// One message as each `/work` request starts.
    started: mpsc::UnboundedReceiver<()>,
    /// How many `/work` handlers were dropped unfinished (the proxy let go of them).
    dropped: watch::Receiver<usize>,
}

/// An HTTP/1.1 upstream: `…/work` counts an execution and never answers (a slow job);
/// `…/status/NNN` answers with status NNN.
async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let executions = Arc::new(AtomicUsize::new(0));
    let (tx, started) = mpsc::unbounded_channel();
    let (gone, dropped) = watch::channel(0);
    let counter = Arc::clone(&executions);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (counter, tx, gone) = (Arc::clone(&counter), tx.clone(), gone.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (counter, tx, gone) = (Arc::clone(&counter), tx.clone(), gone.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        if path.ends_with("/work") {
                            let _guard = OnDrop(gone);
                            counter.fetch_add(1, Ordering::SeqCst);
                            let _ = tx.send(());
                            std::future::pending::<()>().await;
                        }
                        let code = path.rsplit('/').next().and_then(|c| c.parse().ok());
                        let mut r = Response::new(Full::new(Bytes::from_static(b"answer")));
                        *r.status_mut() = StatusCode::from_u16(code.unwrap_or(200)).unwrap();
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream { addr, executions, started, dropped }
}

fn one_use(name: &str, upstream: SocketAddr, prefix: &str) -> ServiceConfig {
    let mut s = paid_service(name, &format!("http://{upstream}"), prefix);
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

fn code(r: &Raw) -> String {
    let problem: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    problem["code"].as_str().unwrap_or_default().to_owned()
}

fn uses(s: &support::Started, service: &str, outcome: &str, reason: &str) -> u64 {
    s.proxy.metrics().get(
        "l402_proxy_uses_total",
        &[("service", service), ("outcome", outcome), ("reason", reason)],
    )
}

/// The finding of issue 12: ten POSTs, each abandoned once the slow upstream has it, used to
/// buy ten executions with a one-use token, because each abandoned request gave its use back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_abandoned_posts_buy_at_most_one_execution() {
    let mut api = upstream().await;
    let s = start(vec![one_use("jobs", api.addr, "/")], |_| {}).await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/work", &[]).await;
    assert_eq!(challenge.status, 402, "{}", challenge.head);
    let credential = pay(&s.node, &challenge.headers()).await;
    let (name, value) = authorization(&credential, "L402");

    let mut refused = 0;
    for _ in 0..10 {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let post = format!(
            "POST /work HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{name}: {value}\r\nContent-Length: 5\r\n\r\nhello"
        );
        conn.write_all(post.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::select! {
            // The upstream has the request: the client gives up on it.
            started = api.started.recv() => {
                started.unwrap();
                drop(conn);
            }
            read = conn.read_to_end(&mut answer) => {
                read.unwrap();
                let r = support::parse(&answer);
                assert_eq!(r.status, 402, "{}", r.head);
                assert_eq!(code(&r), "uses-exhausted");
                refused += 1;
            }
            () = tokio::time::sleep(GUARD) => panic!("neither an answer nor an execution"),
        }
    }
    assert_eq!(api.executions.load(Ordering::SeqCst), 1, "one paid use, one execution");
    assert_eq!(refused, 9);
    // Once the proxy has let go of the abandoned request, its use is on record as charged.
    tokio::time::timeout(GUARD, api.dropped.wait_for(|n| *n >= 1)).await.unwrap().unwrap();
    assert_eq!(uses(&s, "jobs", "charged", "abandoned"), 1);
    assert_eq!(uses(&s, "jobs", "refunded", "not-sent"), 0);
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_timeout_is_charged() {
    let api = upstream().await;
    let mut service = one_use("jobs", api.addr, "/");
    // Short, so the test stays quick; nothing asserts how long it took.
    service.upstream_timeouts.response_ms = Some(200);
    let s = start(vec![service], |_| {}).await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/work", &[]).await;
    let credential = pay(&s.node, &challenge.headers()).await;

    let timed_out = raw(addr, "POST", "/work", &[authorization(&credential, "L402")]).await;
    assert_eq!(timed_out.status, 504, "{}", timed_out.head);
    assert_eq!(code(&timed_out), "upstream-timeout");
    assert_eq!(remaining(&timed_out), vec!["remaining=0"], "the upstream had the request");
    let again = raw(addr, "POST", "/work", &[authorization(&credential, "L402")]).await;
    assert_eq!(again.status, 402, "{}", again.head);
    assert_eq!(code(&again), "uses-exhausted");
    assert_eq!(api.executions.load(Ordering::SeqCst), 1);
    assert_eq!(uses(&s, "jobs", "charged", "upstream-timeout"), 1);
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_nothing_received_is_not_charged() {
    // Bound then closed: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let s = start(vec![one_use("gone", closed, "/")], |_| {}).await;
    let addr = s.proxy.addr();
    let challenge = raw(addr, "GET", "/x", &[]).await;
    let credential = pay(&s.node, &challenge.headers()).await;
    for _ in 0..3 {
        let r = raw(addr, "POST", "/x", &[authorization(&credential, "L402")]).await;
        assert_eq!(r.status, 502, "{}", r.head);
        assert_eq!(code(&r), "upstream-unreachable");
        assert_eq!(remaining(&r), vec!["remaining=1"], "never sent: given back");
    }
    assert_eq!(uses(&s, "gone", "refunded", "not-sent"), 3);
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_statuses_the_service_marks_give_the_use_back() {
    let api = upstream().await;
    let mut marked = one_use("marked", api.addr, "/marked");
    marked.not_delivered_statuses = Some(vec![409]);
    let default = one_use("default", api.addr, "/default");
    let s = start(vec![marked, default], |_| {}).await;
    let addr = s.proxy.addr();
    let node = &s.node;
    let buy = |path: &'static str| async move {
        let challenge = raw(addr, "GET", path, &[]).await;
        assert_eq!(challenge.status, 402, "{}", challenge.head);
        pay(node, &challenge.headers()).await
    };

    let c = buy("/marked/status/200").await;
    let get = |path: &'static str| {
        let auth = authorization(&c, "L402");
        async move { raw(addr, "GET", path, &[auth]).await }
    };
    for _ in 0..2 {
        let r = get("/marked/status/409").await;
        assert_eq!(r.status, 409, "{}", r.head);
        assert_eq!(remaining(&r), vec!["remaining=1"], "marked: given back");
    }
    // The service's list replaces the default: a 503 is charged here.
    let r = get("/marked/status/503").await;
    assert_eq!(r.status, 503, "{}", r.head);
    assert_eq!(remaining(&r), vec!["remaining=0"]);
    assert_eq!(code(&get("/marked/status/200").await), "uses-exhausted");
    assert_eq!(uses(&s, "marked", "refunded", "not-delivered"), 2);
    assert_eq!(uses(&s, "marked", "charged", "answered"), 1);

    // By default every 5xx gives the use back, and nothing else does.
    let c = buy("/default/status/200").await;
    let get = |path: &'static str| {
        let auth = authorization(&c, "L402");
        async move { raw(addr, "GET", path, &[auth]).await }
    };
    let r = get("/default/status/503").await;
    assert_eq!(remaining(&r), vec!["remaining=1"]);
    let r = get("/default/status/409").await;
    assert_eq!(r.status, 409, "{}", r.head);
    assert_eq!(remaining(&r), vec!["remaining=0"]);
    s.proxy.shutdown().await;
}

fn grpc_frame(message: &[u8]) -> Bytes {
    let mut b = vec![0u8];
    b.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    b.extend_from_slice(message);
    Bytes::from(b)
}

/// Sends the frames from `rx`, then the trailers if `status` is given, else nothing more.
struct Script {
    frames: Vec<Bytes>,
    status: Option<&'static str>,
}

/// A gRPC upstream over h2c. The request message picks the answer: `stream` three messages
/// and then silence on the open stream, `fail` INTERNAL without a message, `late-fail` a
/// message and then INTERNAL, `busy` a trailers-only status 9, anything else one message and
/// OK.
async fn grpc_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let r = Response::builder().header("content-type", "application/grpc");
                    let message = &body[5.min(body.len())..];
                    let tick = grpc_frame(b"tick");
                    let script = match message {
                        b"stream" => {
                            Script { frames: vec![tick.clone(), tick.clone(), tick], status: None }
                        }
                        b"fail" => Script { frames: vec![], status: Some("13") },
                        b"late-fail" => Script { frames: vec![tick], status: Some("13") },
                        b"busy" => {
                            let r = r.header("grpc-status", "9");
                            return Ok::<_, Infallible>(
                                r.body(Full::new(Bytes::new()).boxed()).unwrap(),
                            );
                        }
                        _ => Script { frames: vec![tick], status: Some("0") },
                    };
                    let (tx, rx) = mpsc::channel::<hyper::body::Frame<Bytes>>(8);
                    tokio::spawn(async move {
                        for f in script.frames {
                            let _ = tx.send(hyper::body::Frame::data(f)).await;
                        }
                        match script.status {
                            Some(code) => {
                                let mut t = http::HeaderMap::new();
                                t.insert("grpc-status", code.parse().unwrap());
                                let _ = tx.send(hyper::body::Frame::trailers(t)).await;
                            }
                            // Holds the stream open, silent, until the proxy lets go.
                            None => tx.closed().await,
                        }
                    });
                    let frames = tokio_stream_body(rx);
                    Ok(r.body(frames).unwrap())
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A body made of the frames received on `rx`.
fn tokio_stream_body(rx: mpsc::Receiver<hyper::body::Frame<Bytes>>) -> BoxBody {
    struct Frames(mpsc::Receiver<hyper::body::Frame<Bytes>>);
    impl hyper::body::Body for Frames {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
            self.0.poll_recv(cx).map(|f| f.map(Ok))
        }
    }
    Frames(rx).boxed()
}

type GrpcClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Grpc {
    s: support::Started,
    client: GrpcClient,
    url: String,
}

/// A proxy selling one-use tokens for the gRPC upstream.
async fn grpc_proxy(tweak: impl FnOnce(&mut ServiceConfig)) -> Grpc {
    let upstream = grpc_upstream().await;
    let mut service = one_use("feed", upstream, "/feed.v1.Feed");
    tweak(&mut service);
    let s = start(vec![service], |_| {}).await;
    let url = format!("http://{}/feed.v1.Feed/Watch", s.proxy.addr());
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    Grpc { s, client, url }
}

impl Grpc {
    async fn call(
        &self,
        message: &[u8],
        credential: Option<&l402_http::Credential>,
    ) -> Response<Incoming> {
        let mut req = Request::post(&self.url)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(grpc_frame(message)))
            .unwrap();
        if let Some(c) = credential {
            c.write_grpc_metadata(req.headers_mut());
        }
        tokio::time::timeout(GUARD, self.client.request(req)).await.unwrap().unwrap()
    }

    async fn paid(&self) -> l402_http::Credential {
        let challenge = self.call(b"ping", None).await;
        pay(&self.s.node, challenge.headers()).await
    }

    /// Whether the credential is refused with a fresh challenge (its one use is gone).
    async fn refused(&self, credential: &l402_http::Credential) -> bool {
        let r = self.call(b"ping", Some(credential)).await;
        l402_http::grpc::is_payment_required(r.headers())
    }

    fn uses(&self, outcome: &str, reason: &str) -> u64 {
        uses(&self.s, "feed", outcome, reason)
    }
}

/// Issue 12's second finding: a server-streaming call whose client received every message
/// and then went quiet was ended by the idle timeout with a status the proxy wrote, and was
/// free; the one-use token then worked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_stream_the_upstream_goes_idle_on_after_messages_is_charged() {
    // Short, so the test stays quick; nothing asserts how long it took.
    let g = grpc_proxy(|s| s.upstream_timeouts.idle_ms = Some(200)).await;
    let credential = g.paid().await;
    let response = g.call(b"stream", Some(&credential)).await;
    let collected = tokio::time::timeout(GUARD, response.into_body().collect()).await;
    let collected = collected.unwrap().unwrap();
    let trailers = collected.trailers().cloned().expect("the proxy ends the stream with a status");
    assert_eq!(trailers["grpc-status"], "4", "{trailers:?}");
    assert_eq!(trailers["grpc-message"], "upstream idle timeout");
    assert_eq!(trailers["l402-token-status"], "remaining=0", "charged");
    assert_eq!(collected.to_bytes().len(), 3 * grpc_frame(b"tick").len(), "every message");
    assert!(g.refused(&credential).await, "the one use is spent");
    assert_eq!(g.uses("charged", "upstream-idle"), 1);
    g.s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_stream_whose_client_stops_reading_at_the_end_is_charged() {
    let g = grpc_proxy(|_| {}).await;
    let credential = g.paid().await;
    let mut body = g.call(b"stream", Some(&credential)).await.into_body();
    for _ in 0..3 {
        let frame = tokio::time::timeout(GUARD, body.frame()).await.unwrap().unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), grpc_frame(b"tick"));
    }
    // Every message is in; the client stops reading and goes away before any status.
    drop(body);
    assert!(g.refused(&credential).await, "the one use is spent");
    g.s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_failure_is_free_only_before_any_message() {
    let g = grpc_proxy(|s| s.not_delivered_grpc_statuses = Some(vec![9, 13])).await;
    let credential = g.paid().await;
    let status = |r: &http::HeaderMap| r["l402-token-status"].to_str().unwrap().to_owned();

    // INTERNAL before any message: the upstream says it did not deliver.
    for _ in 0..2 {
        let collected = g.call(b"fail", Some(&credential)).await.into_body().collect().await;
        let trailers = collected.unwrap().trailers().cloned().unwrap();
        assert_eq!(trailers["grpc-status"], "13");
        assert_eq!(status(&trailers), "remaining=1", "free");
    }
    // A trailers-only status the service marks.
    let busy = g.call(b"busy", Some(&credential)).await;
    assert_eq!(busy.headers()["grpc-status"], "9");
    assert_eq!(status(busy.headers()), "remaining=1", "marked: free");
    assert_eq!(g.uses("refunded", "not-delivered"), 3);

    // The same status after a message: delivered, charged.
    let collected = g.call(b"late-fail", Some(&credential)).await.into_body().collect().await;
    let collected = collected.unwrap();
    let trailers = collected.trailers().cloned().unwrap();
    assert_eq!(trailers["grpc-status"], "13");
    assert_eq!(status(&trailers), "remaining=0");
    assert_eq!(collected.to_bytes(), grpc_frame(b"tick"));
    assert!(g.refused(&credential).await);
    assert_eq!(g.uses("charged", "messages-delivered"), 1);
    g.s.proxy.shutdown().await;
}
