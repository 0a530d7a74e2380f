//! End to end on loopback: the sample API behind the proxy, a dev node, clients that pay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use l402_proxy::sample::SampleApi;
use support::{authorization, paid_service, pay, raw, start, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pays_then_reuses_the_token_and_never_forwards_the_credential() {
    let api = SampleApi::start().await.unwrap();
    let mut service = paid_service("quotes", &api.url(), "/api");
    service.caveats.max_uses = Some(2);
    let s = start(vec![service], |_| {}).await;
    let addr = s.proxy.addr();

    let first = raw(addr, "GET", "/api/quote", &[]).await;
    assert_eq!(first.status, 402, "{}", first.head);
    let lines = first.header("www-authenticate");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("LSAT macaroon=\"") && lines[1].starts_with("L402 macaroon=\""),
        "{lines:?}"
    );

    let credential = pay(&s.node, &first.headers()).await;
    for _ in 0..2 {
        let ok = raw(addr, "GET", "/api/quote", &[authorization(&credential, "L402")]).await;
        assert_eq!(ok.status, 200, "{}", ok.head);
        let body: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(body["credential_seen"], false, "the preimage must not reach the upstream");
        assert_eq!(body["path"], "/api/quote");
    }
    // The allowance of two is used up: paying again is the remedy.
    let exhausted = raw(addr, "GET", "/api/quote", &[authorization(&credential, "L402")]).await;
    assert_eq!(exhausted.status, 402, "{}", exhausted.head);
    assert!(exhausted.body_str().contains("uses-exhausted"), "{}", exhausted.body_str());

    let m = s.proxy.metrics();
    assert_eq!(m.get("l402_proxy_verdicts_total", &[("service", "quotes"), ("code", "ok")]), 2);
    assert_eq!(m.get("l402_proxy_challenges_issued_total", &[("service", "quotes")]), 2);
    assert_eq!(
        m.get("l402_proxy_upstream_responses_total", &[("service", "quotes"), ("status", "200")]),
        2
    );
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsat_only_and_l402_only_clients_both_succeed() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![paid_service("quotes", &api.url(), "/")], |_| {}).await;
    let addr = s.proxy.addr();
    for scheme in ["LSAT", "L402", "lsat"] {
        let challenge = raw(addr, "GET", "/api/quote", &[]).await;
        assert_eq!(challenge.status, 402);
        // A client that reads only its own scheme's line.
        let line = challenge
            .header("www-authenticate")
            .into_iter()
            .find(|l| l.to_ascii_uppercase().starts_with(&scheme.to_ascii_uppercase()))
            .unwrap();
        let mut only = http::HeaderMap::new();
        only.insert("www-authenticate", line.parse().unwrap());
        let credential = pay(&s.node, &only).await;
        let ok = raw(addr, "GET", "/api/quote", &[authorization(&credential, scheme)]).await;
        assert_eq!(ok.status, 200, "{scheme}: {}", ok.head);
    }
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_credentials_only_when_configured() {
    let api = SampleApi::start().await.unwrap();
    let mut service = paid_service("quotes", &api.url(), "/");
    service.forward_credentials = true;
    let s = start(vec![service], |_| {}).await;
    let first = raw(s.proxy.addr(), "GET", "/api/quote", &[]).await;
    let credential = pay(&s.node, &first.headers()).await;
    let ok = raw(s.proxy.addr(), "GET", "/api/quote", &[authorization(&credential, "L402")]).await;
    let body: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(body["credential_seen"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_credentials_get_401_and_no_upstream_call() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![paid_service("quotes", &api.url(), "/")], |_| {}).await;
    let first = raw(s.proxy.addr(), "GET", "/api/quote", &[]).await;
    let credential = pay(&s.node, &first.headers()).await;
    let wrong = format!("L402 {}:{}", credential.macaroon.to_base64(), "00".repeat(32));
    let refused = raw(s.proxy.addr(), "GET", "/api/quote", &[("Authorization", wrong)]).await;
    assert_eq!(refused.status, 401, "{}", refused.head);
    assert_eq!(
        s.proxy.metrics().get(
            "l402_proxy_upstream_responses_total",
            &[("service", "quotes"), ("status", "200")]
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_cannot_reach_a_paid_path_through_a_free_one() {
    let api = SampleApi::start().await.unwrap();
    let mut free = paid_service("free", &api.url(), "/public");
    free.auth = false;
    free.price_msat = None;
    let mut paid = paid_service("quotes", &api.url(), "/");
    paid.free_paths = vec!["/health".into()];
    let s = start(vec![free, paid], |_| {}).await;
    let addr = s.proxy.addr();
    for target in [
        "/public/../api/quote",
        "/public/%2e%2e/api/quote",
        "/public/%2E%2E/api/quote",
        "/public/.%2e/api/quote",
        "/public/./../api/quote",
        "//api/quote",
        "/health/../api/quote",
        "/%61pi/quote",
    ] {
        let r = raw(addr, "GET", target, &[]).await;
        assert_eq!(r.status, 402, "{target} must be judged as /api/quote: {}", r.head);
    }
    for target in
        ["/public/..%2fapi/quote", "/public/%2e%2e%2Fapi/quote", "/public/..%5capi/quote", "/a%zz"]
    {
        let r = raw(addr, "GET", target, &[]).await;
        assert_eq!(r.status, 400, "{target}: {}", r.head);
    }
    // Free paths are served, and what the upstream sees is the normal form.
    let health = raw(addr, "GET", "//health", &[]).await;
    assert_eq!(health.status, 200, "{}", health.head);
    let through_free = raw(addr, "GET", "/public/../public/x", &[]).await;
    assert_eq!(through_free.status, 404, "the sample API has no /public/x: {}", through_free.head);
    assert_eq!(
        s.proxy
            .metrics()
            .get("l402_proxy_verdicts_total", &[("service", "free"), ("code", "free")]),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_both_ways_without_buffering() {
    let api = SampleApi::start().await.unwrap();
    let mut service = paid_service("echo", &api.url(), "/api/echo");
    service.auth = false;
    service.price_msat = None;
    let s = start(vec![service], |_| {}).await;
    let mut conn = tokio::net::TcpStream::connect(s.proxy.addr()).await.unwrap();
    conn.write_all(
        b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nfirst\r\n",
    )
    .await
    .unwrap();
    // The echo of the first chunk must come back while the request body is still open: a
    // buffering proxy would wait for the end of the request and this read would never end.
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("first") {
        let n = tokio::time::timeout(GUARD, conn.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    conn.write_all(b"6\r\nsecond\r\n0\r\n\r\n").await.unwrap();
    while !String::from_utf8_lossy(&seen).contains("second") {
        let n = tokio::time::timeout(GUARD, conn.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed early");
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_unknown_hosts() {
    let api = SampleApi::start().await.unwrap();
    let mut service = paid_service("quotes", &api.url(), "/");
    service.hosts = vec!["api.example.com".into()];
    // Opted in: by default the public listener serves no metrics (decision 0808).
    let s = start(vec![service], |c| c.listen.metrics_path = "/metrics".into()).await;
    let addr = s.proxy.addr();
    assert_eq!(raw(addr, "GET", "/healthz", &[]).await.status, 200);
    let other = raw(addr, "GET", "/api/quote", &[]).await;
    assert_eq!(other.status, 404, "Host is 127.0.0.1, not api.example.com");
    let mut s2 = tokio::net::TcpStream::connect(addr).await.unwrap();
    s2.write_all(
        b"GET /api/quote HTTP/1.1\r\nHost: API.example.com:8402\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(GUARD, s2.read_to_end(&mut buf)).await.unwrap().unwrap();
    assert_eq!(support::parse(&buf).status, 402);
    let metrics = raw(addr, "GET", "/metrics", &[]).await;
    let text = metrics.body_str();
    for name in [
        "l402_proxy_requests_total{service=\"quotes\"} 1",
        "l402_proxy_challenges_issued_total{service=\"quotes\"} 1",
        "l402_proxy_verdicts_total{service=\"quotes\",code=\"missing-credential\"} 1",
        "# TYPE l402_proxy_upstream_latency_seconds histogram",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

/// Revenue and traffic are business data: by default `/metrics` on the public listener is an
/// ordinary path of the service it falls under (here a paid one), and the numbers are only on
/// the admin listener, behind its token (decision 0808).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_public_by_default() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![paid_service("quotes", &api.url(), "/")], |c| {
        c.admin =
            Some(l402_proxy::config::AdminConfig::new("127.0.0.1:0", "0123456789abcdef-admin"));
    })
    .await;
    let public = raw(s.proxy.addr(), "GET", "/metrics", &[]).await;
    assert_eq!(public.status, 402, "priced like any path of the service: {}", public.head);
    assert!(!public.body_str().contains("l402_proxy_"), "{}", public.body_str());

    let admin = s.proxy.admin_addr().unwrap();
    assert_eq!(raw(admin, "GET", "/metrics", &[]).await.status, 401);
    let bearer = ("Authorization", "Bearer 0123456789abcdef-admin".to_owned());
    let metrics = raw(admin, "GET", "/metrics", &[bearer]).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.body_str().contains("l402_proxy_challenges_issued_total{service=\"quotes\"} 1"),
        "{}",
        metrics.body_str()
    );
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_revokes_and_reports() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![paid_service("quotes", &api.url(), "/")], |c| {
        c.admin =
            Some(l402_proxy::config::AdminConfig::new("127.0.0.1:0", "0123456789abcdef-admin"));
    })
    .await;
    let addr = s.proxy.addr();
    let admin = s.proxy.admin_addr().unwrap();
    let bearer = ("Authorization", "Bearer 0123456789abcdef-admin".to_owned());

    let first = raw(addr, "GET", "/api/quote", &[]).await;
    let credential = pay(&s.node, &first.headers()).await;
    assert_eq!(
        raw(addr, "GET", "/api/quote", &[authorization(&credential, "L402")]).await.status,
        200
    );

    assert_eq!(raw(admin, "GET", "/tokens", &[]).await.status, 401);
    assert_eq!(
        raw(admin, "GET", "/tokens", &[("Authorization", "Bearer wrong".into())]).await.status,
        401
    );
    let tokens: serde_json::Value = serde_json::from_slice(
        &raw(admin, "GET", "/tokens", std::slice::from_ref(&bearer)).await.body,
    )
    .unwrap();
    let token = &tokens["tokens"][0];
    assert_eq!(token["service"], "quotes");
    assert_eq!(token["amount_msat"], 5_000);
    let token_id = token["token_id"].as_str().unwrap().to_owned();

    tokio::time::timeout(GUARD, s.proxy.ledger().wait_settled(1)).await.unwrap();
    let revenue = raw(admin, "GET", "/revenue", std::slice::from_ref(&bearer)).await;
    assert_eq!(revenue.status, 200);
    let revenue: serde_json::Value = serde_json::from_slice(&revenue.body).unwrap();
    assert_eq!(revenue["settled"], 1, "{revenue}");
    assert_eq!(revenue["total_msat"], 5_000, "{revenue}");
    assert_eq!(revenue["by_service"]["quotes"], 5_000, "{revenue}");
    let metrics = raw(admin, "GET", "/metrics", std::slice::from_ref(&bearer)).await.body_str();
    assert!(
        metrics.contains("l402_proxy_revenue_msat_total{service=\"quotes\"} 5000"),
        "{metrics}"
    );

    let revoked =
        raw(admin, "POST", &format!("/tokens/{token_id}/revoke"), std::slice::from_ref(&bearer))
            .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body_str());
    let after = raw(addr, "GET", "/api/quote", &[authorization(&credential, "L402")]).await;
    assert_eq!(after.status, 402, "a revoked token buys nothing: {}", after.head);
    assert!(after.body_str().contains("revoked"), "{}", after.body_str());
    assert_eq!(raw(admin, "POST", "/tokens/zz/revoke", &[bearer]).await.status, 400);
}

/// A pricing endpoint: answers `{"price_msat": 7000}` for `/api/quote`, 500 otherwise, and
/// records what it was asked.
async fn pricing_endpoint(
) -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    use http_body_util::BodyExt;
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = std::sync::Arc::clone(&asked);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = std::sync::Arc::clone(&log);
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let log = std::sync::Arc::clone(&log);
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                            let price = v["path"] == "/api/quote";
                            log.lock().unwrap().push(v);
                            let mut r = http::Response::new(http_body_util::Full::new(
                                hyper::body::Bytes::from(r#"{"price_msat": 7000}"#),
                            ));
                            if !price {
                                *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                            }
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_come_from_the_pricing_endpoint() {
    let api = SampleApi::start().await.unwrap();
    let (pricing, asked) = pricing_endpoint().await;
    let mut service = paid_service("quotes", &api.url(), "/api");
    service.price_msat = None;
    service.pricing_url = Some(format!("http://{pricing}/price"));
    let s = start(vec![service], |_| {}).await;

    let challenge = raw(s.proxy.addr(), "GET", "/api/quote?x=1", &[]).await;
    assert_eq!(challenge.status, 402, "{}", challenge.head);
    let offered = l402_http::challenges_from_headers(&challenge.headers()).unwrap();
    let invoice =
        l402_lightning::Invoice::parse(&l402_http::select(&offered).unwrap().invoice).unwrap();
    assert_eq!(invoice.amount_msat(), Some(7_000));
    let first = asked.lock().unwrap()[0].clone();
    assert_eq!(first["service"], "quotes");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/api/quote");

    // A pricing failure never gives access away and never mints.
    let refused = raw(s.proxy.addr(), "GET", "/api/other", &[]).await;
    assert_eq!(refused.status, 503, "{}", refused.head);
    assert!(refused.header("www-authenticate").is_empty());
    assert!(refused.body_str().contains("pricing"), "{}", refused.body_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_are_rate_limited_per_client_behind_trusted_proxies() {
    let api = SampleApi::start().await.unwrap();
    let service = || paid_service("quotes", &api.url(), "/");
    let xff = |ip: &str| ("X-Forwarded-For", ip.to_owned());

    // Behind a trusted load balancer (loopback here), each forwarded client has its own budget.
    let s = start(vec![service()], |c| {
        c.challenges_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let addr = s.proxy.addr();
    assert_eq!(raw(addr, "GET", "/q", &[xff("203.0.113.1")]).await.status, 402);
    assert_eq!(raw(addr, "GET", "/q", &[xff("203.0.113.2")]).await.status, 402);
    let limited = raw(addr, "GET", "/q", &[xff("203.0.113.1")]).await;
    assert_eq!(limited.status, 429, "{}", limited.head);
    assert!(!limited.header("retry-after").is_empty());

    // Without trusted proxies the header is ignored: one peer, one budget.
    let s = start(vec![service()], |c| c.challenges_per_minute = 1).await;
    let addr = s.proxy.addr();
    assert_eq!(raw(addr, "GET", "/q", &[xff("203.0.113.1")]).await.status, 402);
    assert_eq!(raw(addr, "GET", "/q", &[xff("203.0.113.2")]).await.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_base_path_is_prepended_and_the_query_kept() {
    let api = SampleApi::start().await.unwrap();
    let mut service = paid_service("quotes", &format!("{}/api/", api.url()), "/");
    service.auth = false;
    service.price_msat = None;
    let s = start(vec![service], |_| {}).await;
    let ok = raw(s.proxy.addr(), "GET", "/./quote?a=%2e%2e&b=1", &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.head);
    let body: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(body["path"], "/api/quote");
    assert_eq!(body["query"], "a=%2e%2e&b=1", "the query string is forwarded unchanged");
}
