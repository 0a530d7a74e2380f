//! TLS: the listener serves certificate files; upstream certificates are verified (a private
//! CA only when configured, never accepted by default).
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
use std::sync::Arc;

use http::Response;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use l402_proxy::sample::SampleApi;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use support::{paid_service, start, temp_dir, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca).unwrap();
    Pki { ca: ca.pem(), cert: cert.pem(), key: key.serialize_pem() }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_speaks_tls_from_certificate_files() {
    let pki = pki();
    let dir = temp_dir("tls");
    std::fs::write(dir.0.join("cert.pem"), &pki.cert).unwrap();
    std::fs::write(dir.0.join("key.pem"), &pki.key).unwrap();
    let api = SampleApi::start().await.unwrap();
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let s = start(vec![paid_service("quotes", &api.url(), "/")], |c| {
        c.listen.tls_cert = Some(cert);
        c.listen.tls_key = Some(key);
    })
    .await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.ca.as_bytes()).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(s.proxy.addr()).await.unwrap();
    let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    tls.write_all(b"GET /api/quote HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(GUARD, tls.read_to_end(&mut buf)).await.unwrap().unwrap();
    assert_eq!(support::parse(&buf).status, 402);
}

/// An HTTPS upstream with a certificate from a private CA.
async fn https_upstream(pki: &Pki) -> SocketAddr {
    let certs = vec![CertificateDer::from_pem_slice(pki.cert.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.key.as_bytes()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else { return };
                let svc = service_fn(|_| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"secure"))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_tls_is_verified_against_the_configured_ca_only() {
    let pki = pki();
    let dir = temp_dir("upstream-tls");
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &pki.ca).unwrap();
    let upstream = format!("https://{}", https_upstream(&pki).await);
    let mut trusted = paid_service("trusted", &upstream, "/trusted");
    trusted.auth = false;
    trusted.price_msat = None;
    trusted.upstream_ca_file = Some(ca_file);
    let mut default_roots = paid_service("default", &upstream, "/default");
    default_roots.auth = false;
    default_roots.price_msat = None;
    let s = start(vec![trusted, default_roots], |_| {}).await;

    let ok = support::raw(s.proxy.addr(), "GET", "/trusted/x", &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.head);
    assert_eq!(ok.body_str(), "secure");
    let refused = support::raw(s.proxy.addr(), "GET", "/default/x", &[]).await;
    assert_eq!(refused.status, 502, "a private CA is not trusted by default: {}", refused.head);
    let problem: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(problem["code"], "upstream-unreachable", "{problem}");
}

/// An upstream that takes TCP connections and never says a word of TLS: without a bound on
/// the handshake, and with no response limit, the request would wait for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_never_finishes_is_bounded_by_connect_ms() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut mute = paid_service("mute", &format!("https://{upstream}"), "/");
    mute.auth = false;
    mute.price_msat = None;
    let s = start(vec![mute], |c| {
        // Short, so the test stays quick; nothing asserts how long it took.
        c.upstream_timeouts.connect_ms = Some(200);
        // No response limit: only the connect limit can end the wait.
        c.upstream_timeouts.response_ms = Some(0);
    })
    .await;
    let r = support::raw(s.proxy.addr(), "GET", "/x", &[]).await;
    assert_eq!(r.status, 504, "{}", r.head);
    let problem: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(problem["code"], "upstream-timeout", "{problem}");
    s.proxy.shutdown().await;
}
