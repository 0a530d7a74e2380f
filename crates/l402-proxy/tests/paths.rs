//! Every spelling of a path we know that could walk past the paywall, sent through a running
//! proxy as raw HTTP/1.1 and over h2c: each is refused with its stable code or charged (402),
//! never forwarded unpaid; the per-service matching options hold for the other services; a
//! `Host` that disagrees with the request target gets 400 (decision 0809). The last test puts
//! the proxy in front of a real Tomcat (`cargo xtask tomcat`).
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

use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use l402_proxy::config::ServiceConfig;
use support::{authorization, paid_service, parse, pay, start, Raw, Started, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy must do with a spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 400 with this code in the problem body; nothing forwarded.
    Refused(&'static str),
    /// 402 with a challenge; nothing forwarded.
    Charged,
    /// Forwarded without payment (it is free content as every upstream reads it).
    Free,
}
use Expect::*;

const ALPHA: &str = "alpha.test";
const IIS_PAID: &str = "iis-paid.test";
const IIS_FREE: &str = "iis-free.test";
const MARKER: &str = "SECRET-MARKER";

/// On a paid `/alpha` with `free_paths = ["/alpha/free"]` and a free `/` beside it, one
/// upstream behind both (the setup of issue 12), matching options off.
const ALPHA_SPELLINGS: &[(&str, Expect)] = &[
    ("/alpha/secret", Charged),
    ("/alpha/free/../secret", Charged),
    ("/alpha/free/%2e%2e/secret", Charged),
    ("/alpha/free/%2E%2e/secret", Charged),
    ("/alpha/free/.%2e/secret", Charged),
    ("/alpha/free/./../secret", Charged),
    ("//alpha/secret", Charged),
    ("/alpha//secret", Charged),
    ("/%61lpha/secret", Charged),
    ("/alpha/se%63ret", Charged),
    ("/alpha/free/x/../../secret", Charged),
    ("/alpha/free", Free),
    ("/alpha/free/x", Free),
    ("/other", Free),
    // Servlet path parameters: Tomcat serves /alpha/secret for each of these.
    ("/alpha/free/..;/secret", Refused("path-parameter")),
    ("/alpha/free/..;a=b/secret", Refused("path-parameter")),
    ("/alpha/free/%2e%2e;/secret", Refused("path-parameter")),
    ("/alpha/free/.%2e;/secret", Refused("path-parameter")),
    ("/alpha/free/.;/../secret", Refused("path-parameter")),
    ("/alpha/free;/../secret", Refused("path-parameter")),
    ("/alpha/free/;/../secret", Refused("path-parameter")),
    ("/alpha;x/secret", Refused("path-parameter")),
    ("/;/alpha/secret", Refused("path-parameter")),
    ("/alpha/secret;jsessionid=1", Refused("path-parameter")),
    ("/alpha/free/..%3b/secret", Refused("path-parameter")),
    ("/alpha/free/..%3B/secret", Refused("path-parameter")),
    ("/alpha%3bx/secret", Refused("path-parameter")),
    ("/%3b/alpha/secret", Refused("path-parameter")),
    // Double decoding.
    ("/alpha/free/%252e%252e/secret", Refused("path-double-encoding")),
    ("/alpha/free/..%252fsecret", Refused("path-double-encoding")),
    ("/alpha/free/%25%32%65%25%32%65/secret", Refused("path-double-encoding")),
    // Escapes that are not UTF-8.
    ("/alpha/free/%c0%ae%c0%ae/secret", Refused("path-bad-utf8")),
    ("/alpha/free/%e0%80%ae%e0%80%ae/secret", Refused("path-bad-utf8")),
    ("/alpha/free/..%c0%afsecret", Refused("path-bad-utf8")),
    ("/alpha/free/%80/../../secret", Refused("path-bad-utf8")),
    ("/alpha/free/%e2%82/../../secret", Refused("path-bad-utf8")),
    // Control bytes and spaces that some servers trim.
    ("/alpha/free/..%09/secret", Refused("path-control-byte")),
    ("/alpha/free/..%0d%0a/secret", Refused("path-control-byte")),
    ("/alpha/free/..%7f/secret", Refused("path-control-byte")),
    // Segments Windows reads as `..`.
    ("/alpha/free/.../secret", Refused("path-dot-segment")),
    ("/alpha/free/..%20/secret", Refused("path-dot-segment")),
    ("/alpha/free/%2e%2e%20/secret", Refused("path-dot-segment")),
    // Structure in escapes.
    ("/alpha/free/..%2fsecret", Refused("path-forbidden")),
    ("/alpha/free/..%2Fsecret", Refused("path-forbidden")),
    ("/alpha/free/..%5csecret", Refused("path-forbidden")),
    ("/alpha/free/%2e%2e%5csecret", Refused("path-forbidden")),
    ("/alpha/secret%00", Refused("path-forbidden")),
    ("/alpha/free/%u002e%u002e/secret", Refused("path-bad-escape")),
    ("/alpha/free/%2e%2", Refused("path-bad-escape")),
];

/// A paid `/paid` and a free `/` on an IIS-like upstream, with `case_insensitive` and
/// `strip_trailing_dots` on the paid service (host `iis-paid.test`) or on the free one only
/// (host `iis-free.test`).
const IIS_SPELLINGS: &[(&str, Expect, Expect)] = &[
    ("/paid/x", Charged, Charged),
    ("/PAID/x", Charged, Refused("path-ambiguous")),
    ("/Paid", Charged, Refused("path-ambiguous")),
    ("/paid./x", Charged, Refused("path-ambiguous")),
    ("/PAID../x", Charged, Refused("path-ambiguous")),
    ("/paid%20/x", Charged, Refused("path-ambiguous")),
    ("/paid.%20./x", Charged, Refused("path-ambiguous")),
    ("/paid::$INDEX_ALLOCATION/x", Charged, Refused("path-ambiguous")),
    ("/p%41id/x", Charged, Refused("path-ambiguous")),
    ("/paidx", Free, Free),
    ("/other", Free, Free),
    ("/PAID;/x", Refused("path-parameter"), Refused("path-parameter")),
];

/// An upstream that answers every request `200` with the marker and its path, and counts.
struct Upstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let hits = Arc::clone(&counted);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let body = format!("{MARKER} {}", req.uri().path());
                        async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream { addr, hits }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn free_service(name: &str, upstream: &str, host: &str) -> ServiceConfig {
    let mut s = ServiceConfig::new(name, upstream);
    s.hosts = vec![host.into()];
    s.auth = false;
    s
}

fn iis(mut s: ServiceConfig) -> ServiceConfig {
    s.case_insensitive = true;
    s.strip_trailing_dots = true;
    s
}

/// The services of both tables, told apart by host.
fn services(upstream: &str) -> Vec<ServiceConfig> {
    let mut alpha = paid_service("alpha", upstream, "/alpha");
    alpha.hosts = vec![ALPHA.into()];
    alpha.free_paths = vec!["/alpha/free".into()];
    let mut paid = iis(paid_service("paid", upstream, "/paid"));
    paid.hosts = vec![IIS_PAID.into()];
    let mut paid_plain = paid_service("paid-plain", upstream, "/paid");
    paid_plain.hosts = vec![IIS_FREE.into()];
    vec![
        alpha,
        free_service("alpha-site", upstream, ALPHA),
        paid,
        free_service("paid-site", upstream, IIS_PAID),
        paid_plain,
        iis(free_service("plain-site", upstream, IIS_FREE)),
    ]
}

/// Writes `request` as is over a fresh connection and reads the whole response.
async fn send_raw(addr: SocketAddr, request: &str) -> Raw {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(GUARD, s.read_to_end(&mut buf)).await.unwrap().unwrap();
    parse(&buf)
}

async fn h1(addr: SocketAddr, host: &str, target: &str, extra: &[(&str, String)]) -> Raw {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    send_raw(addr, &req).await
}

/// One HTTP/2 connection with prior knowledge (h2c), as a gRPC client or `curl --http2-prior-knowledge` opens.
struct H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>);

impl H2 {
    async fn connect(addr: SocketAddr) -> H2 {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        H2(send)
    }

    /// `GET` with `:authority` = `host`; `None` when `http` cannot even carry the path (the
    /// proxy's server side parses `:path` with the same parser, so it cannot arrive).
    async fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Option<(u16, http::HeaderMap, String)> {
        let uri: http::Uri = format!("http://{host}{path}").parse().ok()?;
        let mut req = Request::get(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Empty::new()).unwrap();
        let resp = tokio::time::timeout(GUARD, self.0.send_request(req)).await.unwrap().unwrap();
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let body = tokio::time::timeout(GUARD, body.collect()).await.unwrap().unwrap().to_bytes();
        Some((status, parts.headers, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn problem_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["code"].as_str().map(str::to_owned)
}

/// Checks one answer against what was expected, and that the upstream saw the request only
/// when it was free.
fn judge(how: &str, path: &str, want: Expect, status: u16, body: &str, forwarded: usize) {
    let at = format!("{how} {path}: {status} {body}");
    match want {
        Refused(code) => {
            assert_eq!(status, 400, "{at}");
            assert_eq!(problem_code(body).as_deref(), Some(code), "{at}");
            assert_eq!(forwarded, 0, "{at}: forwarded");
        }
        Charged => {
            assert_eq!(status, 402, "{at}");
            assert_eq!(forwarded, 0, "{at}: forwarded");
        }
        Free => {
            assert_eq!(status, 200, "{at}");
            assert_eq!(forwarded, 1, "{at}");
        }
    }
    if want != Free {
        assert!(!body.contains(MARKER), "{at}");
    }
}

/// Runs every spelling of both tables over HTTP/1.1 and h2c.
async fn every_spelling(s: &Started, up: &Upstream) {
    let addr = s.proxy.addr();
    let mut cases: Vec<(&str, &str, Expect)> =
        ALPHA_SPELLINGS.iter().map(|(p, e)| (ALPHA, *p, *e)).collect();
    for (p, on_paid, on_free) in IIS_SPELLINGS {
        cases.push((IIS_PAID, p, *on_paid));
        cases.push((IIS_FREE, p, *on_free));
    }
    let mut h2 = H2::connect(addr).await;
    let mut carried = 0;
    for (host, path, want) in &cases {
        let before = up.hits();
        let r = h1(addr, host, path, &[]).await;
        judge("HTTP/1.1", path, *want, r.status, &r.body_str(), up.hits() - before);

        let before = up.hits();
        if let Some((status, _, body)) = h2.get(host, path, &[]).await {
            judge("h2c", path, *want, status, &body, up.hits() - before);
            carried += 1;
        }
    }
    // Every spelling in the tables is a valid request target, so h2c carried them all.
    assert_eq!(carried, cases.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_reaches_paid_content_unpaid() {
    let up = Upstream::start().await;
    // Every charged spelling mints a challenge.
    let s = start(services(&up.url()), |c| c.challenges_per_minute = 10_000).await;
    every_spelling(&s, &up).await;

    // Refusals are counted by code, as service "-".
    let m = s.proxy.metrics();
    for code in ["path-parameter", "path-double-encoding", "path-bad-utf8", "path-ambiguous"] {
        assert!(
            m.get("l402_proxy_verdicts_total", &[("service", "-"), ("code", code)]) >= 2,
            "{code}"
        );
    }

    // gRPC clients get INVALID_ARGUMENT with the code.
    let mut h2 = H2::connect(s.proxy.addr()).await;
    let (status, headers, _) = h2
        .get(ALPHA, "/alpha/free/..;/secret", &[("content-type", "application/grpc")])
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(headers["grpc-status"], "3");
    assert_eq!(headers["grpc-message"], "path-parameter");

    // The 402s are real: paying opens the canonical path, and the upstream sees the normal form.
    let challenge = h1(s.proxy.addr(), ALPHA, "/alpha/free/%2e%2e/secret", &[]).await;
    let credential = pay(&s.node, &challenge.headers()).await;
    let before = up.hits();
    let paid =
        h1(s.proxy.addr(), ALPHA, "/alpha/secret", &[authorization(&credential, "L402")]).await;
    assert_eq!(paid.status, 200, "{}", paid.head);
    assert_eq!(paid.body_str(), format!("{MARKER} /alpha/secret"));
    assert_eq!(up.hits() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_disagrees_with_the_target_is_refused() {
    let up = Upstream::start().await;
    let s = start(services(&up.url()), |_| {}).await;
    let addr = s.proxy.addr();
    let code = |r: &Raw| problem_code(&r.body_str());

    let twice = send_raw(
        addr,
        &format!("GET /alpha/free HTTP/1.1\r\nHost: {ALPHA}\r\nHost: {IIS_FREE}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!((twice.status, code(&twice).as_deref()), (400, Some("host-duplicate")));
    let same_twice = send_raw(
        addr,
        &format!("GET /alpha/free HTTP/1.1\r\nHost: {ALPHA}\r\nHost: {ALPHA}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!((same_twice.status, code(&same_twice).as_deref()), (400, Some("host-duplicate")));

    // Absolute form: the target's authority must be the Host.
    let other = send_raw(
        addr,
        &format!("GET http://{IIS_FREE}/alpha/free HTTP/1.1\r\nHost: {ALPHA}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!((other.status, code(&other).as_deref()), (400, Some("host-mismatch")));
    let port = send_raw(
        addr,
        &format!("GET http://{ALPHA}:8080/alpha/free HTTP/1.1\r\nHost: {ALPHA}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!((port.status, code(&port).as_deref()), (400, Some("host-mismatch")));
    let bad =
        send_raw(addr, "GET /alpha/free HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n").await;
    assert_eq!((bad.status, code(&bad).as_deref()), (400, Some("host-invalid")));
    assert_eq!(up.hits(), 0, "nothing refused was forwarded");

    let agreed = send_raw(
        addr,
        &format!("GET http://ALPHA.test:80/alpha/free HTTP/1.1\r\nHost: {ALPHA}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(agreed.status, 200, "{}", agreed.head);
    let absolute_only =
        send_raw(addr, &format!("GET http://{ALPHA}/alpha/free HTTP/1.0\r\n\r\n")).await;
    assert_eq!(absolute_only.status, 200, "{}", absolute_only.head);
    assert_eq!(up.hits(), 2);

    // HTTP/2: `:authority` and a `host` header must agree too.
    let mut h2 = H2::connect(addr).await;
    let (status, _, body) = h2.get(ALPHA, "/alpha/free", &[("host", IIS_FREE)]).await.unwrap();
    assert_eq!((status, problem_code(&body).as_deref()), (400, Some("host-mismatch")));
    let (status, _, _) = h2.get(ALPHA, "/alpha/free", &[("host", ALPHA)]).await.unwrap();
    assert_eq!(status, 200);
    let (status, _, _) = h2.get(ALPHA, "/alpha/free", &[]).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(up.hits(), 4);
    let m = s.proxy.metrics();
    assert_eq!(
        m.get("l402_proxy_verdicts_total", &[("service", "-"), ("code", "host-mismatch")]),
        3
    );
    assert_eq!(
        m.get("l402_proxy_verdicts_total", &[("service", "-"), ("code", "host-duplicate")]),
        2
    );
}

/// A throwaway Tomcat from the Debian `tomcat10` layout (`L402_TOMCAT_HOME`, default
/// `/usr/share/tomcat10`): its own `CATALINA_BASE` on a free loopback port, static files under
/// `webapps/ROOT` served by Tomcat's DefaultServlet, which parses paths as every servlet
/// container does. Killed when dropped.
struct Tomcat {
    addr: SocketAddr,
    child: std::process::Child,
    _dir: support::TempDir,
}

impl Drop for Tomcat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const WEB_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <servlet>
    <servlet-name>default</servlet-name>
    <servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class>
    <load-on-startup>1</load-on-startup>
  </servlet>
  <servlet-mapping>
    <servlet-name>default</servlet-name>
    <url-pattern>/</url-pattern>
  </servlet-mapping>
</web-app>
"#;

impl Tomcat {
    async fn start(home: &std::path::Path) -> Tomcat {
        let dir = support::temp_dir("tomcat");
        let base = &dir.0;
        for sub in ["conf", "logs", "temp", "work", "webapps/ROOT/alpha/free"] {
            std::fs::create_dir_all(base.join(sub)).unwrap();
        }
        let root = base.join("webapps/ROOT");
        std::fs::write(root.join("alpha/secret"), format!("{MARKER}\n")).unwrap();
        std::fs::write(root.join("alpha/free/index.txt"), "free\n").unwrap();
        std::fs::write(root.join("index.txt"), "site\n").unwrap();
        // A free port: bound, read, released, then given to Tomcat.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server_xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{port}" address="127.0.0.1" protocol="HTTP/1.1" />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>
  </Service>
</Server>
"#
        );
        std::fs::write(base.join("conf/server.xml"), server_xml).unwrap();
        std::fs::write(base.join("conf/web.xml"), WEB_XML).unwrap();
        let log = std::fs::File::create(base.join("logs/console.log")).unwrap();
        let java = std::env::var_os("JAVA_HOME")
            .map(|j| std::path::PathBuf::from(j).join("bin/java"))
            .unwrap_or_else(|| "java".into());
        let bin = home.join("bin");
        let classpath = format!(
            "{}:{}",
            bin.join("bootstrap.jar").display(),
            bin.join("tomcat-juli.jar").display()
        );
        let child = std::process::Command::new(java)
            .arg("-cp")
            .arg(classpath)
            .arg(format!("-Dcatalina.home={}", home.display()))
            .arg(format!("-Dcatalina.base={}", base.display()))
            .arg(format!("-Djava.io.tmpdir={}", base.join("temp").display()))
            .args(["org.apache.catalina.startup.Bootstrap", "start"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("java (Debian: apt-get install tomcat10)");
        let mut tomcat =
            Tomcat { addr: SocketAddr::from(([127, 0, 0, 1], port)), child, _dir: dir };
        tomcat.wait_ready().await;
        tomcat
    }

    /// Polls until Tomcat serves `/index.txt`: it is another process, with nothing to await.
    /// The guard fails a Tomcat that never comes up.
    async fn wait_ready(&mut self) {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self._dir.0.join("logs/console.log"))
                    .unwrap_or_default();
                panic!("tomcat exited ({status}) before serving:\n{log}");
            }
            if TcpStream::connect(self.addr).await.is_ok() {
                let r = h1(self.addr, "localhost", "/index.txt", &[]).await;
                if r.status == 200 {
                    return;
                }
            }
            assert!(started.elapsed() < 4 * GUARD, "tomcat not serving after {:?}", 4 * GUARD);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Spellings a case- or dot-folding upstream would read as the secret: outside `/alpha`
/// they go to the free service, and Tomcat, which folds neither, does not serve the secret.
const TOMCAT_EXTRA: &[(&str, Expect)] = &[
    ("/ALPHA/secret", Free),
    ("/Alpha/secret", Free),
    ("/alpha./secret", Free),
    ("/alpha%20/secret", Free),
    ("/alpha/secret.", Charged),
    ("/alpha/SECRET", Charged),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's tomcat10: run with `cargo xtask tomcat`"]
async fn behind_the_proxy_tomcat_never_serves_the_secret_unpaid() {
    let home = std::env::var_os("L402_TOMCAT_HOME").unwrap_or_else(|| "/usr/share/tomcat10".into());
    let tomcat = Tomcat::start(std::path::Path::new(&home)).await;

    // The attack, straight to Tomcat: it drops `;params` before resolving `..`.
    for path in [
        "/alpha/secret",
        "/alpha/free/..;/secret",
        "/alpha;x/secret",
        "/;/alpha/secret",
        "/alpha/free/%2e%2e;/secret",
        "/alpha/free/.;/../secret",
    ] {
        let r = h1(tomcat.addr, "localhost", path, &[]).await;
        assert_eq!(r.status, 200, "tomcat {path}: {}", r.head);
        assert!(r.body_str().contains(MARKER), "tomcat {path} serves the secret");
    }

    let mut alpha = paid_service("alpha", &tomcat.url(), "/alpha");
    alpha.hosts = vec![ALPHA.into()];
    alpha.free_paths = vec!["/alpha/free".into()];
    let services = vec![alpha, free_service("alpha-site", &tomcat.url(), ALPHA)];
    let s = start(services, |c| c.challenges_per_minute = 10_000).await;
    let addr = s.proxy.addr();
    let mut h2 = H2::connect(addr).await;
    let mut cases: Vec<(&str, Expect)> = ALPHA_SPELLINGS.to_vec();
    cases.extend_from_slice(TOMCAT_EXTRA);
    for (path, want) in cases {
        let r = h1(addr, ALPHA, path, &[]).await;
        let (status, _, body) = h2.get(ALPHA, path, &[]).await.unwrap();
        for (how, status, body) in [("HTTP/1.1", r.status, r.body_str()), ("h2c", status, body)] {
            let at = format!("{how} {path}: {status} {body}");
            assert!(!body.contains(MARKER), "{at}: the secret, unpaid");
            match want {
                Refused(code) => {
                    assert_eq!((status, problem_code(&body).as_deref()), (400, Some(code)), "{at}")
                }
                Charged => assert_eq!(status, 402, "{at}"),
                Free => assert_ne!(status, 402, "{at}"),
            }
        }
    }

    // Paid, the canonical path serves the secret, over both protocols.
    let challenge = h1(addr, ALPHA, "/alpha/secret", &[]).await;
    let credential = pay(&s.node, &challenge.headers()).await;
    let (name, value) = authorization(&credential, "L402");
    let paid = h1(addr, ALPHA, "/alpha/secret", &[(name, value.clone())]).await;
    assert_eq!(paid.status, 200, "{}", paid.head);
    assert!(paid.body_str().contains(MARKER));
    let (status, _, body) = h2.get(ALPHA, "/alpha/secret", &[(name, &value)]).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(MARKER));
}
