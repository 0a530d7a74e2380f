//! What a paid token is bound to, through a running proxy: the path and method a pricing
//! endpoint priced (decision 0814), and the capabilities a buyer narrowed it to (decision
//! 0306).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use l402_caveats::Attenuate;
use l402_http::Credential;
use support::{authorization, paid_service, pay, raw, start, Raw};

const CHEAP: u64 = 1_000;
const EXPENSIVE: u64 = 10_000_000;

/// A real pricing endpoint on loopback: `/priced/cheap` and `/priced/same` cost [`CHEAP`],
/// `/priced/expensive` costs [`EXPENSIVE`], anything else gets 404. While `down` is set it
/// answers 503. Counts the questions it is asked.
struct Pricing {
    addr: SocketAddr,
    asked: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl Pricing {
    async fn start() -> Pricing {
        use http_body_util::BodyExt;
        let asked = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (count, flag) = (Arc::clone(&asked), Arc::clone(&down));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (count, flag) = (Arc::clone(&count), Arc::clone(&flag));
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (count, flag) = (Arc::clone(&count), Arc::clone(&flag));
                            async move {
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let asked: serde_json::Value =
                                    serde_json::from_slice(&body).unwrap();
                                count.fetch_add(1, Ordering::SeqCst);
                                let price = match asked["path"].as_str() {
                                    Some("/priced/cheap" | "/priced/same") => Some(CHEAP),
                                    Some("/priced/expensive") => Some(EXPENSIVE),
                                    _ => None,
                                };
                                let (status, text) = match price {
                                    _ if flag.load(Ordering::SeqCst) => (503, String::new()),
                                    Some(p) => (200, format!(r#"{{"price_msat": {p}}}"#)),
                                    None => (404, String::new()),
                                };
                                let mut r = http::Response::new(http_body_util::Full::new(
                                    hyper::body::Bytes::from(text),
                                ));
                                *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(r)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Pricing { addr, asked, down }
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

/// An upstream that answers 200 to everything (the sample API knows one path only).
async fn upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |_req: http::Request<hyper::body::Incoming>| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(hyper::body::Bytes::from_static(
                                b"paid work\n",
                            )),
                        ))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn priced_service(api: &str, pricing: SocketAddr) -> l402_proxy::config::ServiceConfig {
    let mut s = paid_service("quotes", api, "/priced");
    s.price_msat = None;
    s.pricing_url = Some(format!("http://{pricing}/price"));
    s
}

fn code(r: &Raw) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    v["code"].as_str().unwrap_or_default().to_owned()
}

/// The amount of the invoice a 402 offers.
fn offered_msat(r: &Raw) -> Option<u64> {
    let offered = l402_http::challenges_from_headers(&r.headers()).ok()?;
    let invoice =
        l402_lightning::Invoice::parse(&l402_http::select(&offered).ok()?.invoice).ok()?;
    invoice.amount_msat()
}

/// The credential with `caveat` appended by its holder (no narrowing check: an attacker's
/// token).
fn appended(c: &Credential, caveat: &str) -> Credential {
    Credential::new(c.macaroon.clone().with_caveat(caveat.as_bytes().to_vec()), c.preimage.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_bought_at_a_priced_path_is_refused_at_every_other_path() {
    let api = upstream().await;
    let pricing = Pricing::start().await;
    let s = start(vec![priced_service(&api, pricing.addr)], |_| {}).await;
    let addr = s.proxy.addr();
    let with = |c: &Credential| vec![authorization(c, "L402")];

    let first = raw(addr, "GET", "/priced/cheap", &[]).await;
    assert_eq!(first.status, 402, "{}", first.head);
    assert_eq!(offered_msat(&first), Some(CHEAP));
    let cheap = pay(&s.node, &first.headers()).await;

    // Its own path, in every spelling that normalises to it, and with any query (the
    // pricing endpoint is not told the query, so the price cannot depend on it). The
    // pricing endpoint is not asked again: verifying is stateless.
    let asked = pricing.asked();
    for target in [
        "/priced/cheap",
        "/priced//cheap",
        "/priced/./cheap",
        "/priced/%63heap",
        "/priced/cheap?x=1",
    ] {
        let ok = raw(addr, "GET", target, &with(&cheap)).await;
        assert_eq!(ok.status, 200, "{target}: {}", ok.head);
    }
    assert_eq!(pricing.asked(), asked, "a paid request never asks the pricing endpoint");

    // The expensive path: 402 with a fresh challenge at its own price, a stable code.
    for target in
        ["/priced/expensive", "/priced/cheap/../expensive", "/priced/%2e%2e/priced/expensive"]
    {
        let refused = raw(addr, "GET", target, &with(&cheap)).await;
        assert_eq!(refused.status, 402, "{target}: {}", refused.head);
        assert_eq!(code(&refused), "wrong-service", "{target}: {}", refused.body_str());
        assert_eq!(offered_msat(&refused), Some(EXPENSIVE), "{target}");
    }
    // The rule is the exact path and method, not the price: a path at the same price, a
    // trailing slash, and another method are each priced on their own.
    let same = raw(addr, "GET", "/priced/same", &with(&cheap)).await;
    assert_eq!((same.status, code(&same).as_str()), (402, "wrong-service"), "{}", same.head);
    assert_eq!(offered_msat(&same), Some(CHEAP));
    let slash = raw(addr, "GET", "/priced/cheap/", &with(&cheap)).await;
    assert_eq!(slash.status, 503, "not priced by the endpoint (404 there): {}", slash.head);
    let post = raw(addr, "POST", "/priced/cheap", &with(&cheap)).await;
    assert_eq!((post.status, code(&post).as_str()), (402, "wrong-method"), "{}", post.head);

    // The buyer can only narrow: naming the expensive path, or widening the methods, is an
    // escalation (401, paying again does not help that token); a path prefix is judged on
    // top of the binding.
    for (caveat, status, expected) in [
        ("services=quotes/priced/expensive:0", 401, "caveat-escalation"),
        ("services=quotes:0", 401, "caveat-escalation"),
        ("methods=GET,POST", 401, "caveat-escalation"),
        ("path_prefix=/priced/", 402, "wrong-service"),
    ] {
        let forged = appended(&cheap, caveat);
        let r = raw(addr, "GET", "/priced/expensive", &with(&forged)).await;
        assert_eq!((r.status, code(&r).as_str()), (status, expected), "{caveat}: {}", r.head);
    }
    // A narrowing the proxy accepts still leaves the token its own path.
    let narrowed =
        Credential::new(cheap.macaroon.limit_paths("/priced/").unwrap(), cheap.preimage.clone());
    assert_eq!(raw(addr, "GET", "/priced/cheap", &with(&narrowed)).await.status, 200);

    // The pricing endpoint goes down: paid requests at their own path still pass (nothing to
    // ask), and the expensive path gives nothing away: 503, no challenge.
    pricing.down.store(true, Ordering::SeqCst);
    assert_eq!(raw(addr, "GET", "/priced/cheap", &with(&cheap)).await.status, 200);
    let down = raw(addr, "GET", "/priced/expensive", &with(&cheap)).await;
    assert_eq!((down.status, code(&down).as_str()), (503, "pricing"), "{}", down.head);
    assert!(down.header("www-authenticate").is_empty());

    let m = s.proxy.metrics();
    assert!(
        m.get("l402_proxy_verdicts_total", &[("service", "quotes"), ("code", "wrong-service")])
            >= 4
    );
    assert_eq!(
        m.get("l402_proxy_upstream_responses_total", &[("service", "quotes"), ("status", "200")]),
        7,
        "only the cheap token's own requests reached the upstream"
    );
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_price_token_of_the_same_name_buys_nothing_at_the_priced_service() {
    let api = upstream().await;
    let pricing = Pricing::start().await;
    let mut fixed = paid_service("quotes", &api, "/static");
    fixed.price_msat = Some(CHEAP);
    let s = start(vec![fixed, priced_service(&api, pricing.addr)], |_| {}).await;
    let addr = s.proxy.addr();
    let with = |c: &Credential| vec![authorization(c, "L402")];

    let first = raw(addr, "GET", "/static/x", &[]).await;
    let fixed_token = pay(&s.node, &first.headers()).await;
    assert_eq!(raw(addr, "GET", "/static/x", &with(&fixed_token)).await.status, 200);
    let refused = raw(addr, "GET", "/priced/expensive", &with(&fixed_token)).await;
    assert_eq!(
        (refused.status, code(&refused).as_str()),
        (402, "wrong-service"),
        "{}",
        refused.head
    );
    assert_eq!(offered_msat(&refused), Some(EXPENSIVE));
    // Its holder cannot rename it to the priced resource.
    let forged = appended(&fixed_token, "services=quotes/priced/expensive:0");
    let r = raw(addr, "GET", "/priced/expensive", &with(&forged)).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "caveat-escalation"), "{}", r.head);

    // And the other way: a priced token is not a token for the whole fixed-price service.
    let first = raw(addr, "GET", "/priced/cheap", &[]).await;
    let priced = pay(&s.node, &first.headers()).await;
    let r = raw(addr, "GET", "/static/x", &with(&priced)).await;
    assert_eq!((r.status, code(&r).as_str()), (402, "wrong-service"), "{}", r.head);
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_pricing_endpoint_fails_closed() {
    let api = upstream().await;
    // A port nobody listens on any more.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let s = start(vec![priced_service(&api, gone)], |_| {}).await;
    let r = raw(s.proxy.addr(), "GET", "/priced/cheap", &[]).await;
    assert_eq!((r.status, code(&r).as_str()), (503, "pricing"), "{}", r.head);
    assert!(r.header("www-authenticate").is_empty());
    s.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capability_narrowing_is_refused_where_no_capability_is_configured() {
    let api = upstream().await;
    let alpha = paid_service("alpha", &api, "/alpha");
    let mut beta = paid_service("beta", &api, "/beta");
    beta.capability = Some("read".into());
    let s = start(vec![alpha, beta], |_| {}).await;
    let addr = s.proxy.addr();
    let with = |c: &Credential| vec![authorization(c, "L402")];
    let narrowed = |c: &Credential, service: &str, caps: &[&str]| {
        Credential::new(
            c.macaroon.restrict_capabilities(service, caps).unwrap(),
            c.preimage.clone(),
        )
    };

    let first = raw(addr, "GET", "/alpha/x", &[]).await;
    let token = pay(&s.node, &first.headers()).await;
    assert_eq!(raw(addr, "GET", "/alpha/x", &with(&token)).await.status, 200);
    // The issue's case, appended raw, and the same through the attenuation helper.
    for t in
        [appended(&token, "alpha_capabilities=nonexistent"), narrowed(&token, "alpha", &["read"])]
    {
        let r = raw(addr, "GET", "/alpha/x", &with(&t)).await;
        assert_eq!((r.status, code(&r).as_str()), (402, "missing-capability"), "{}", r.head);
        assert!(offered_msat(&r).is_some(), "a fresh, unrestricted token is the remedy");
    }
    // Another service's capabilities are not this request's business.
    assert_eq!(
        raw(addr, "GET", "/alpha/x", &with(&appended(&token, "beta_capabilities=x"))).await.status,
        200
    );

    // Where a capability is configured, the narrowing is judged.
    let first = raw(addr, "GET", "/beta/x", &[]).await;
    let token = pay(&s.node, &first.headers()).await;
    assert_eq!(
        raw(addr, "GET", "/beta/x", &with(&narrowed(&token, "beta", &["read"]))).await.status,
        200
    );
    let r = raw(addr, "GET", "/beta/x", &with(&narrowed(&token, "beta", &["write"]))).await;
    assert_eq!((r.status, code(&r).as_str()), (402, "wrong-capability"), "{}", r.head);
    let m = s.proxy.metrics();
    assert_eq!(
        m.get("l402_proxy_verdicts_total", &[("service", "alpha"), ("code", "missing-capability")]),
        2
    );
    s.proxy.shutdown().await;
}

#[test]
fn configurations_whose_tokens_could_not_hold_are_refused() {
    let err = |services: Vec<l402_proxy::config::ServiceConfig>| {
        l402_proxy::Config::with_services(services).validate().unwrap_err().to_string()
    };
    let pricing: SocketAddr = "127.0.0.1:9".parse().unwrap();
    // Two pricing endpoints under one name would accept each other's tokens.
    let mut other = priced_service("http://127.0.0.1:1", pricing);
    other.path_prefix = "/other".into();
    let e = err(vec![priced_service("http://127.0.0.1:1", pricing), other]);
    assert!(e.starts_with("services[1].name: another service with a pricing_url"), "{e}");
    // A fixed-price entry of the same name is apart (decision 0814).
    let mut fixed = paid_service("quotes", "http://127.0.0.1:1", "/static");
    fixed.price_msat = Some(CHEAP);
    let ok = l402_proxy::Config::with_services(vec![
        fixed,
        priced_service("http://127.0.0.1:1", pricing),
    ]);
    assert!(ok.validate().is_ok());
    // Capabilities sold where no capability is named: its own tokens would be refused.
    let mut sells = paid_service("alpha", "http://127.0.0.1:1", "/");
    sells.caveats.capabilities = vec!["read".into()];
    let e = err(vec![sells.clone()]);
    assert!(e.starts_with("services[0].capability: required with caveats.capabilities"), "{e}");
    sells.capability = Some("read".into());
    assert!(l402_proxy::Config::with_services(vec![sells]).validate().is_ok());
}
