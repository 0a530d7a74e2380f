//! An unauthenticated flood cannot fill the disk (issue 12, decisions 0607 and 0608): twenty
//! seconds of refused requests, as fast as four connections go, against a proxy allowing one
//! challenge a minute with its SQLite store on disk. The store's files stay small and the
//! refusal log lines are sampled.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use l402_proxy::sample::SampleApi;
use support::{paid_service, start};

const FLOOD: Duration = Duration::from_secs(20);
const CONNECTIONS: usize = 4;
const STORE_LIMIT: u64 = 64 * 1024 * 1024;

/// Lines the proxy logged, and how many of them reported suppressed lines.
#[derive(Default)]
struct Lines {
    all: AtomicU64,
    suppressed: AtomicU64,
}

struct Counting(&'static Lines);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The fmt layer writes each event in one call.
        let text = String::from_utf8_lossy(buf);
        let n = text.matches('\n').count() as u64;
        self.0.all.fetch_add(n, Ordering::Relaxed);
        if text.contains("similar log lines were suppressed") {
            self.0.suppressed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lines() -> &'static Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    let lines = LINES.get_or_init(Lines::default);
    // The proxy logs from every worker thread: a global subscriber, once per test binary.
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Counting(lines))
            .init();
    });
    lines
}

/// Sends GETs on one keep-alive connection until `until`; returns (429s, 402s). Any other
/// answer fails the test.
async fn hammer(addr: SocketAddr, until: Instant) -> (u64, u64) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let (mut limited, mut challenged) = (0, 0);
    while Instant::now() < until {
        let request = http::Request::get("/api/quote")
            .header(http::header::HOST, addr.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap();
        sender.ready().await.unwrap();
        let response = tokio::time::timeout(support::GUARD, sender.send_request(request))
            .await
            .expect("the proxy answers")
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        match status {
            429 => {
                let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(problem["code"], "rate-limited");
                limited += 1;
            }
            // A minute that ends during the flood lets one more challenge through.
            402 => challenged += 1,
            other => panic!("unexpected status {other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    (limited, challenged)
}

fn store_bytes(data_dir: &std::path::Path) -> u64 {
    ["proxy.sqlite", "proxy.sqlite-wal", "proxy.sqlite-shm"]
        .iter()
        .map(|f| std::fs::metadata(data_dir.join(f)).map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_refused_requests_fills_neither_the_disk_nor_the_log() {
    let lines = lines();
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![paid_service("quotes", &api.url(), "/")], |c| {
        c.challenges_per_minute = 1;
    })
    .await;
    let data_dir = s.dir.0.join("data");
    let addr = s.proxy.addr();

    let logged_before = lines.all.load(Ordering::Relaxed);
    let until = Instant::now() + FLOOD;
    let workers: Vec<_> = (0..CONNECTIONS).map(|_| tokio::spawn(hammer(addr, until))).collect();
    let (mut limited, mut challenged) = (0, 0);
    for w in workers {
        let (l, c) = w.await.unwrap();
        limited += l;
        challenged += c;
    }
    let logged = lines.all.load(Ordering::Relaxed) - logged_before;

    // One challenge per minute: the first request, and at most one more if a minute ended.
    assert!((1..=2).contains(&challenged), "{challenged} challenges");
    // Enough refusals that one log line, or one WAL frame (4 KiB), each would have shown.
    assert!(limited > 2_000, "the flood was too slow to judge: {limited} refusals");
    let metric = s.proxy.metrics().get(
        "l402_proxy_challenges_refused_total",
        &[("service", "quotes"), ("code", "rate-limited")],
    );
    assert_eq!(metric, limited, "every refusal is counted under its code");

    let bytes = store_bytes(&data_dir);
    assert!(bytes < STORE_LIMIT, "the store's files hold {bytes} bytes after {limited} refusals");

    // Two sampled codes (`missing-credential`, `rate-limited`), 10 lines each per 10 s, and a
    // count of what was left out: a few dozen lines, not two per refusal.
    assert!(logged < 200, "{logged} log lines for {limited} refusals");
    assert!(lines.suppressed.load(Ordering::Relaxed) > 0, "left-out lines are reported");
}
