//! The admin API's authentication and TLS (decision 0812), through a running proxy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::sync::Arc;

use l402_proxy::config::{AdminConfig, ServiceConfig};
use l402_proxy::sample::SampleApi;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::{parse, raw, start, temp_dir, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "0123456789abcdef-admin";

fn free(upstream: &str) -> ServiceConfig {
    let mut s = ServiceConfig::new("free", upstream);
    s.auth = false;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_read_in_any_case_and_wrong_tokens_of_any_length_are_refused() {
    let api = SampleApi::start().await.unwrap();
    let s =
        start(vec![free(&api.url())], |c| c.admin = Some(AdminConfig::new("127.0.0.1:0", TOKEN)))
            .await;
    let admin = s.proxy.admin_addr().unwrap();
    for value in [
        format!("Bearer {TOKEN}"),
        format!("bearer {TOKEN}"),
        format!("BEARER {TOKEN}"),
        format!("Bearer   {TOKEN}"),
    ] {
        let r = raw(admin, "GET", "/revenue", &[("Authorization", value.clone())]).await;
        assert_eq!(r.status, 200, "{value}: {}", r.head);
    }
    let equal_length = "X".repeat(TOKEN.len());
    for value in [
        "Bearer 0123".to_owned(),
        format!("Bearer {TOKEN}{TOKEN}"),
        format!("Bearer {equal_length}"),
        format!("Bearer{TOKEN}"),
        format!("Basic {TOKEN}"),
        TOKEN.to_owned(),
    ] {
        let r = raw(admin, "GET", "/revenue", &[("Authorization", value.clone())]).await;
        assert_eq!(r.status, 401, "{value}");
        assert_eq!(r.header("www-authenticate"), ["Bearer"]);
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["code"], "admin-unauthorized");
    }
    let refused =
        s.proxy.metrics().get("l402_proxy_admin_refused_total", &[("code", "admin-unauthorized")]);
    assert_eq!(refused, 6);
}

/// Two lines are refused whichever of them holds the token: no reader of the request can
/// disagree about which one counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_authorization_lines_are_refused_even_with_the_right_token() {
    let api = SampleApi::start().await.unwrap();
    let s =
        start(vec![free(&api.url())], |c| c.admin = Some(AdminConfig::new("127.0.0.1:0", TOKEN)))
            .await;
    let admin = s.proxy.admin_addr().unwrap();
    let right = format!("Bearer {TOKEN}");
    for lines in [
        [right.clone(), "Bearer wrong-token-wrong".to_owned()],
        ["Bearer wrong-token-wrong".to_owned(), right.clone()],
        [right.clone(), right.clone()],
    ] {
        let headers: Vec<(&str, String)> =
            lines.iter().map(|v| ("Authorization", v.clone())).collect();
        let r = raw(admin, "GET", "/revenue", &headers).await;
        assert_eq!(r.status, 400, "{lines:?}");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["code"], "admin-duplicate-authorization");
    }
    let labels = [("code", "admin-duplicate-authorization")];
    assert_eq!(s.proxy.metrics().get("l402_proxy_admin_refused_total", &labels), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_speaks_tls_from_certificate_files() {
    let dir = temp_dir("admin-tls");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let pem = cert.cert.pem();
    std::fs::write(dir.0.join("cert.pem"), &pem).unwrap();
    std::fs::write(dir.0.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let api = SampleApi::start().await.unwrap();
    let (c_path, k_path) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let s = start(vec![free(&api.url())], |c| {
        let mut admin = AdminConfig::new("127.0.0.1:0", TOKEN);
        admin.tls_cert = Some(c_path);
        admin.tls_key = Some(k_path);
        c.admin = Some(admin);
    })
    .await;
    let admin = s.proxy.admin_addr().unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(admin).await.unwrap();
    let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let request = format!(
        "GET /revenue HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(GUARD, tls.read_to_end(&mut buf)).await.unwrap().unwrap();
    let r = parse(&buf);
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.body_str().contains("total_msat"), "{}", r.body_str());

    // Plain HTTP gets no HTTP answer from a TLS listener.
    let mut plain = tokio::net::TcpStream::connect(admin).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(GUARD, plain.read_to_end(&mut buf)).await.unwrap();
    assert!(!buf.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf));
}
