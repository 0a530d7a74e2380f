//! Shared helpers: start the proxy with a dev node in front of the sample API, speak raw
//! HTTP/1.1 over loopback, pay challenges.
#![allow(dead_code, reason = "each test binary uses a subset")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use l402_http::{challenges_from_headers, select, Credential};
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{PayRequest, Payer};
use l402_proxy::config::ServiceConfig;
use l402_proxy::{Config, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fails a test that would otherwise hang; never used to wait for something to happen.
pub(crate) const GUARD: Duration = Duration::from_secs(30);

pub(crate) struct Started {
    pub(crate) proxy: Proxy,
    pub(crate) node: DevNode,
    pub(crate) dir: TempDir,
}

/// A directory removed when dropped.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn temp_dir(tag: &str) -> TempDir {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir =
        std::env::temp_dir().join(format!("l402-proxy-test-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

pub(crate) fn paid_service(name: &str, upstream: &str, prefix: &str) -> ServiceConfig {
    let mut s = ServiceConfig::new(name, upstream);
    s.path_prefix = prefix.into();
    s.price_msat = Some(5_000);
    s
}

/// A proxy with its own dev node and an SQLite store in a fresh directory.
pub(crate) async fn start(
    services: Vec<ServiceConfig>,
    tweak: impl FnOnce(&mut Config),
) -> Started {
    start_with(services, tweak, None).await
}

/// [`start`] with a memory store, for tests in tokio's paused time: the clock jumps ahead
/// whenever every task waits, including while one awaits SQLite's own thread, which would
/// fire the tests' guards at once.
#[allow(dead_code, reason = "not every test binary runs in paused time")]
pub(crate) async fn start_in_memory(
    services: Vec<ServiceConfig>,
    tweak: impl FnOnce(&mut Config),
) -> Started {
    let store: Arc<dyn l402_server::Store> = Arc::new(l402_server::store::MemoryStore::new());
    start_with(services, tweak, Some(store)).await
}

async fn start_with(
    services: Vec<ServiceConfig>,
    tweak: impl FnOnce(&mut Config),
    store: Option<Arc<dyn l402_server::Store>>,
) -> Started {
    let dir = temp_dir("proxy");
    let mut config = Config::with_services(services);
    config.listen.addr = "127.0.0.1:0".into();
    config.data_dir = dir.0.join("data");
    config.shutdown_grace_secs = 5;
    tweak(&mut config);
    config.validate().unwrap();
    let node = DevNode::new().unwrap();
    let mut builder = Proxy::builder(config).backend(Arc::new(node.clone()));
    if let Some(store) = store {
        builder = builder.store(store);
    }
    let proxy = builder.start().await.unwrap();
    Started { proxy, node, dir }
}

pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl Raw {
    pub(crate) fn header(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    pub(crate) fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn headers(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in self.head.lines().skip(1).filter_map(|l| l.split_once(':')) {
            map.append(
                http::HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                http::HeaderValue::from_str(v.trim()).unwrap(),
            );
        }
        map
    }
}

/// Sends `method target` with extra header lines over a fresh connection and reads the whole
/// response (the connection is closed by the server).
pub(crate) async fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
) -> Raw {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(GUARD, s.read_to_end(&mut buf)).await.unwrap().unwrap();
    parse(&buf)
}

pub(crate) fn parse(buf: &[u8]) -> Raw {
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8(buf[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Raw { status, head, body: buf[split + 4..].to_vec() }
}

/// Pays the challenge in a 402's headers with a wallet of `node`; returns the credential.
pub(crate) async fn pay(node: &DevNode, headers: &http::HeaderMap) -> Credential {
    let offered = challenges_from_headers(headers).unwrap();
    let challenge = select(&offered).unwrap().clone();
    let paid = DevPayer::new(node, 1_000_000)
        .pay(PayRequest {
            bolt11: challenge.invoice.clone(),
            max_fee_msat: 0,
            timeout: Duration::from_secs(10),
        })
        .await
        .unwrap();
    Credential::new(challenge.macaroon, paid.preimage)
}

/// `Authorization` with a chosen scheme name.
pub(crate) fn authorization(c: &Credential, scheme: &str) -> (&'static str, String) {
    ("Authorization", format!("{scheme} {}:{}", c.macaroon.to_base64(), c.preimage.to_hex()))
}
