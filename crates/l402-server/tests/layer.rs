//! The tower layer end to end: an axum server on loopback, a real HTTP client, payments with
//! the dev wallet.
#![allow(clippy::indexing_slicing, reason = "tests: a wrong index fails the test, as it should")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use l402_caveats::Caveat;
use l402_http::{challenges_from_headers, select, Credential};
use l402_lightning::clock::ManualClock;
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{
    CreatedInvoice, InvoiceBackend, InvoiceRequest, InvoiceState, SettlementStream,
};
use l402_server::store::{KeyStore, MemoryStore, SqliteStore};
use l402_server::tower::L402Layer;
use l402_server::{
    KeyMode, KeyRing, Paywall, PaywallConfig, Price, RateLimit, Route, Store, TokenStatus,
    TrustedProxies, VerifiedToken,
};
use l402_token::PaymentHash;

#[path = "support/buy.rs"]
mod buy;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Env {
    base: String,
    client: reqwest::Client,
    payer: DevPayer,
    clock: Arc<ManualClock>,
    paywall: Arc<Paywall>,
    /// Makes the node's invoice lookups fail, as when it is unreachable.
    node_down: Arc<AtomicBool>,
}

/// The dev node as the paywall sees it, with lookups that fail while `down` is set.
struct Node {
    node: DevNode,
    down: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl InvoiceBackend for Node {
    async fn create_invoice(
        &self,
        request: InvoiceRequest,
    ) -> std::result::Result<CreatedInvoice, l402_lightning::Error> {
        self.node.create_invoice(request).await
    }

    async fn lookup_invoice(
        &self,
        hash: &PaymentHash,
    ) -> std::result::Result<InvoiceState, l402_lightning::Error> {
        if self.down.load(Ordering::SeqCst) {
            return Err(l402_lightning::Error::Unreachable("node down for the test".into()));
        }
        self.node.lookup_invoice(hash).await
    }

    async fn subscribe_settlements(
        &self,
        after: u64,
    ) -> std::result::Result<SettlementStream, l402_lightning::Error> {
        self.node.subscribe_settlements(after).await
    }
}

async fn whoami(token: VerifiedToken) -> String {
    format!("{} {}", token.service, token.token_id)
}

async fn start(keys: KeyMode, config: PaywallConfig, store: Arc<dyn Store>) -> Result<Env> {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let node = DevNode::builder().clock(clock.clone()).build()?;
    let node_down = Arc::new(AtomicBool::new(false));
    let backend = Node { node: node.clone(), down: node_down.clone() };
    let paywall = Arc::new(
        Paywall::builder(Arc::new(backend), store)
            .key_mode(keys)
            .config(config)
            .clock(clock.clone())
            .build(),
    );
    let weather =
        Route::new("weather", Price::msat(2_000)).valid_for(Duration::from_secs(3600)).max_uses(2);
    let fail = Route::new("flaky", Price::msat(1_000)).max_uses(1);
    let get_only = Route::new(
        "reader",
        Price::dynamic(|req| {
            // Longer paths cost more: the price sees the request.
            let len = req.uri.path().len() as u64;
            Box::pin(async move { Ok(1_000 * len) })
        }),
    )
    .caveat(Caveat::Methods(vec!["GET".into()]));
    let fixed_get =
        Route::new("fixed", Price::msat(1_000)).caveat(Caveat::Methods(vec!["GET".into()]));
    let app = Router::new()
        .route("/fixed", get(whoami).post(whoami).layer(L402Layer::new(paywall.clone(), fixed_get)))
        .route("/weather", get(whoami).layer(L402Layer::new(paywall.clone(), weather)))
        .route(
            "/flaky",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "upstream down") })
                .layer(L402Layer::new(paywall.clone(), fail)),
        )
        .route("/read", get(whoami).post(whoami).layer(L402Layer::new(paywall.clone(), get_only)))
        .route("/unprotected", get(whoami));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ =
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    Ok(Env {
        base: format!("http://{addr}"),
        client: plain_reqwest(),
        payer: DevPayer::new(&node, 1_000_000),
        clock,
        paywall,
        node_down,
    })
}

async fn start_default() -> Result<Env> {
    start(KeyMode::PerToken, PaywallConfig::default(), Arc::new(MemoryStore::new())).await
}

async fn problem_code(r: reqwest::Response) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(&r.text().await?)?;
    Ok(v["code"].as_str().ok_or("problem body has no code")?.to_owned())
}

/// Asks for a challenge at `path`, pays it, returns the credential.
async fn buy(env: &Env, path: &str) -> Result<Credential> {
    buy::buy(&env.client, &env.payer, &format!("{}{path}", env.base)).await
}

async fn get_with(env: &Env, path: &str, c: &Credential) -> Result<reqwest::Response> {
    Ok(env
        .client
        .get(format!("{}{path}", env.base))
        .header(http::header::AUTHORIZATION, c.to_authorization_value())
        .send()
        .await?)
}

fn status_of(r: &reqwest::Response) -> Result<TokenStatus> {
    let v = r.headers().get("l402-token-status").ok_or("no L402-Token-Status")?.to_str()?;
    Ok(TokenStatus::parse(v).ok_or("unparsable L402-Token-Status")?)
}

#[tokio::test]
async fn unpaid_request_gets_apertures_two_challenge_lines() -> Result {
    let env = start_default().await?;
    let r = env.client.get(format!("{}/weather", env.base)).send().await?;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    let lines: Vec<_> = r.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].to_str()?.starts_with("LSAT macaroon=\""));
    assert!(lines[1].to_str()?.starts_with("L402 macaroon=\""));
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let chosen = select(&challenges_from_headers(r.headers())?)?.clone();
    let caveats: Vec<String> = chosen
        .macaroon
        .first_party_caveats()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert_eq!(caveats[0], "services=weather:0");
    assert_eq!(caveats[1], "weather_capabilities=");
    assert_eq!(caveats[2], "max_uses=2");
    assert!(caveats[3].starts_with("weather_valid_until="));
    // The body repeats the challenge for clients that read only the body.
    let body: serde_json::Value = serde_json::from_str(&r.text().await?)?;
    assert_eq!(body["code"], "missing-credential");
    assert_eq!(body["invoice"], chosen.invoice.as_str());
    assert_eq!(body["macaroon"], chosen.macaroon.to_base64().as_str());
    let invoice = l402_lightning::Invoice::parse(&chosen.invoice)?;
    assert_eq!(body["payment_hash"], invoice.payment_hash().to_string().as_str());
    assert_eq!(body["amount_msat"], invoice.amount_msat().ok_or("amount")?);
    Ok(())
}

#[tokio::test]
async fn paid_token_works_until_its_allowance_is_used_then_402() -> Result {
    let env = start_default().await?;
    let c = buy(&env, "/weather").await?;
    let r = get_with(&env, "/weather", &c).await?;
    assert_eq!(r.status(), StatusCode::OK);
    let status = status_of(&r)?;
    assert_eq!(status.remaining, Some(1));
    assert!(status.expires.is_some_and(|e| e > env.paywall.now()));
    let id = c.macaroon.l402_identifier()?.token_id;
    assert_eq!(r.text().await?, format!("weather {id}"));

    let r = get_with(&env, "/weather", &c).await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(status_of(&r)?.remaining, Some(0));

    let r = get_with(&env, "/weather", &c).await?;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(r.headers().get_all("www-authenticate").iter().count(), 2, "fresh challenge");
    assert_eq!(problem_code(r).await?, "uses-exhausted");
    Ok(())
}

/// `L402 m1,m2:p` (the LSAT spec's list): attenuations of one token are accepted together and
/// the request gets what all allow; a forged one, or a macaroon of another token, is refused.
#[tokio::test]
async fn several_macaroons_of_one_token_all_hold() -> Result {
    use l402_caveats::Attenuate as _;
    let env = start_default().await?;
    let c = buy(&env, "/weather").await?;
    let mut both = c.clone();
    both.others.push(c.macaroon.limit_uses(1)?);
    let value = both.to_authorization_value();
    assert_eq!(value.to_str()?.matches(',').count(), 1, "{value:?}");
    let send = |v: http::HeaderValue| {
        env.client
            .get(format!("{}/weather", env.base))
            .header(http::header::AUTHORIZATION, v)
            .send()
    };
    let r = send(value.clone()).await?;
    assert_eq!(r.status(), StatusCode::OK);
    // The tighter allowance of the two decides: one use, not the token's two.
    assert_eq!(status_of(&r)?.remaining, Some(0));
    let r = send(value).await?;
    assert_eq!(problem_code(r).await?, "uses-exhausted");

    let other = buy(&env, "/weather").await?;
    let mut forged = other.clone();
    // Same identifier, but signed by no one.
    forged.others.push(l402_token::Macaroon::new(&[0; 32], other.macaroon.identifier(), None));
    let r = send(forged.to_authorization_value()).await?;
    assert_eq!(problem_code(r).await?, "invalid-signature");
    let mixed = format!(
        "L402 {},{}:{}",
        other.macaroon.to_base64(),
        c.macaroon.to_base64(),
        other.preimage.to_hex()
    );
    let r = send(http::HeaderValue::try_from(mixed)?).await?;
    assert_eq!(problem_code(r).await?, "multiple-macaroons");
    // The fresh token itself was not used up by the refusals.
    assert_eq!(get_with(&env, "/weather", &other).await?.status(), StatusCode::OK);
    Ok(())
}

/// A credential seen before is not re-verified byte for byte (decision 0616), so every near
/// miss of a warm credential must still be judged in full: another preimage, a forged
/// signature, another spelling of the same credential.
#[tokio::test]
async fn near_misses_of_a_warm_credential_are_verified_in_full() -> Result {
    let env = start_default().await?;
    let c = buy(&env, "/weather").await?;
    assert_eq!(get_with(&env, "/weather", &c).await?.status(), StatusCode::OK);
    let send = |v: String| {
        env.client
            .get(format!("{}/weather", env.base))
            .header(http::header::AUTHORIZATION, v)
            .send()
    };
    let mac = c.macaroon.to_base64();
    let wrong = l402_token::Preimage::from_bytes([0x5a; 32]).to_hex();
    assert_eq!(problem_code(send(format!("L402 {mac}:{wrong}")).await?).await?, "wrong-preimage");
    let forged = l402_token::Macaroon::new(&[0; 32], c.macaroon.identifier(), None).to_base64();
    let pre = c.preimage.to_hex();
    assert_eq!(
        problem_code(send(format!("L402 {forged}:{pre}")).await?).await?,
        "invalid-signature"
    );
    // The same credential spelled otherwise is accepted, and counted against the same token:
    // the allowance is two uses.
    let r = send(format!("LSAT {mac}:{}", pre.to_uppercase())).await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(status_of(&r)?.remaining, Some(0));
    Ok(())
}

#[tokio::test]
async fn a_server_error_does_not_use_up_the_token() -> Result {
    let env = start_default().await?;
    let c = buy(&env, "/flaky").await?;
    for _ in 0..3 {
        let r = get_with(&env, "/flaky", &c).await?;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "the handler's answer");
        assert_eq!(status_of(&r)?.remaining, Some(1), "nothing was charged");
    }
    let id = c.macaroon.l402_identifier()?.token_id;
    assert_eq!(env.paywall.store().uses(&id).await?, 0);
    Ok(())
}

#[tokio::test]
async fn broken_credentials_get_401_without_a_challenge() -> Result {
    let env = start_default().await?;
    let c = buy(&env, "/weather").await?;
    let id = c.macaroon.l402_identifier()?;

    // Same identifier, another root key: the signature cannot verify.
    let forged = l402_token::Macaroon::new_l402(&[9; 32], &id).with_caveat("services=weather:0");
    let r = get_with(&env, "/weather", &Credential::new(forged, c.preimage.clone())).await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_none());
    assert_eq!(problem_code(r).await?, "invalid-signature");

    let wrong = Credential::new(c.macaroon.clone(), l402_token::Preimage::from_bytes([1; 32]));
    let r = get_with(&env, "/weather", &wrong).await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_code(r).await?, "wrong-preimage");

    for bad in ["L402 garbage", "L402 AAAA:zz", "LSAT", "L402 :0000"] {
        let r = env
            .client
            .get(format!("{}/weather", env.base))
            .header("authorization", bad)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
        let code = problem_code(r).await?;
        assert!(!code.is_empty(), "{bad}");
    }

    // Widening an earlier caveat is the client's fault, not something a payment fixes.
    let escalated = Credential::new(c.macaroon.clone().with_caveat("services=other:0"), c.preimage);
    let r = get_with(&env, "/weather", &escalated).await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_code(r).await?, "caveat-escalation");
    Ok(())
}

#[tokio::test]
async fn revoked_expired_and_foreign_tokens_get_402() -> Result {
    let env = start_default().await?;
    let c = buy(&env, "/weather").await?;
    assert_eq!(get_with(&env, "/weather", &c).await?.status(), StatusCode::OK);

    // A token for another service: buying one for this route is the remedy.
    let r = get_with(&env, "/read", &c).await?;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(problem_code(r).await?, "wrong-service");

    env.clock.advance(Duration::from_secs(3601));
    let r = get_with(&env, "/weather", &c).await?;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(problem_code(r).await?, "expired");

    let c2 = buy(&env, "/weather").await?;
    assert_eq!(get_with(&env, "/weather", &c2).await?.status(), StatusCode::OK);
    env.paywall.revoke(&c2.macaroon.l402_identifier()?.token_id).await?;
    let r = get_with(&env, "/weather", &c2).await?;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(problem_code(r).await?, "revoked");
    Ok(())
}

#[tokio::test]
async fn dynamic_price_and_extension_caveats() -> Result {
    let env = start_default().await?;
    let r = env.client.get(format!("{}/read", env.base)).send().await?;
    let chosen = select(&challenges_from_headers(r.headers())?)?.clone();
    let invoice = l402_lightning::Invoice::parse(&chosen.invoice)?;
    assert_eq!(invoice.amount_msat(), Some(5_000), "1000 msat per path byte of /read");
    let c = buy(&env, "/read").await?;
    assert_eq!(get_with(&env, "/read", &c).await?.status(), StatusCode::OK);
    let r = env
        .client
        .post(format!("{}/read", env.base))
        .header(http::header::AUTHORIZATION, c.to_authorization_value())
        .send()
        .await?;
    // The route sells GET only: paying again could not help, so no challenge (405).
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem_code(r).await?, "method-not-sold");
    Ok(())
}

/// A method the route does not sell gets no challenge, at a fixed price too: the token
/// minted would never pass its own `methods` caveat.
#[tokio::test]
async fn an_unsold_method_gets_no_challenge() -> Result {
    let env = start_default().await?;
    let r = env.client.post(format!("{}/fixed", env.base)).send().await?;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers().get(http::header::WWW_AUTHENTICATE).is_none());
    assert_eq!(problem_code(r).await?, "method-not-sold");
    let r = env.client.get(format!("{}/fixed", env.base)).send().await?;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    Ok(())
}

#[tokio::test]
async fn challenges_are_rate_limited_per_client_behind_trusted_proxies() -> Result {
    let mut config = PaywallConfig::default();
    config.rate_limit = RateLimit { challenges: 2, window: Duration::from_secs(60) };
    config.trusted_proxies = TrustedProxies::parse("127.0.0.1").ok_or("bad list")?;
    let env = start(KeyMode::PerToken, config, Arc::new(MemoryStore::new())).await?;
    let ask = |ip: &'static str| {
        env.client.get(format!("{}/weather", env.base)).header("x-forwarded-for", ip).send()
    };
    assert_eq!(ask("198.51.100.1").await?.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(ask("198.51.100.1").await?.status(), StatusCode::PAYMENT_REQUIRED);
    let r = ask("198.51.100.1").await?;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r.headers().get("www-authenticate").is_none(), "no invoice was made");
    assert_eq!(problem_code(r).await?, "rate-limited");
    assert_eq!(ask("198.51.100.2").await?.status(), StatusCode::PAYMENT_REQUIRED, "own bucket");
    // A new window opens.
    env.clock.advance(Duration::from_secs(60));
    assert_eq!(ask("198.51.100.1").await?.status(), StatusCode::PAYMENT_REQUIRED);
    Ok(())
}

#[tokio::test]
async fn derived_keys_verify_without_the_store_and_rotate_with_overlap() -> Result {
    let ring = KeyRing::new(1, [5; 32]).with_overlap(Duration::from_secs(600));
    let env = start(
        KeyMode::Derived(ring),
        PaywallConfig::default(),
        Arc::new(SqliteStore::open_in_memory()?),
    )
    .await?;
    let old = buy(&env, "/flaky").await?;
    assert_eq!(KeyRing::key_id_of(&old.macaroon.l402_identifier()?.token_id), 1);
    env.paywall.rotate(2, [6; 32])?;
    let new = buy(&env, "/flaky").await?;
    assert_eq!(KeyRing::key_id_of(&new.macaroon.l402_identifier()?.token_id), 2);
    // Inside the overlap both verify (the handler answers 500, which is its own answer).
    assert_eq!(get_with(&env, "/flaky", &old).await?.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(get_with(&env, "/flaky", &new).await?.status(), StatusCode::INTERNAL_SERVER_ERROR);
    env.clock.advance(Duration::from_secs(600));
    let r = get_with(&env, "/flaky", &old).await?;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(problem_code(r).await?, "unknown-token");
    assert_eq!(get_with(&env, "/flaky", &new).await?.status(), StatusCode::INTERNAL_SERVER_ERROR);
    Ok(())
}

#[tokio::test]
async fn due_keys_are_kept_when_paid_and_forgotten_when_not() -> Result {
    let store = Arc::new(MemoryStore::new());
    let env = start(KeyMode::PerToken, PaywallConfig::default(), store.clone()).await?;
    let used = buy(&env, "/weather").await?;
    assert_eq!(get_with(&env, "/weather", &used).await?.status(), StatusCode::OK);
    // Paid, then the buyer went away before presenting it (a crash between payment and
    // retry): the token must still work whenever it comes back.
    let waiting = buy(&env, "/read").await?;
    for _ in 0..3 {
        let r = env.client.get(format!("{}/weather", env.base)).send().await?;
        assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    }
    // Past invoice expiry (10 min) plus the grace (1 h), with the node unreachable: nothing
    // can be judged, so nothing is forgotten.
    env.clock.advance(Duration::from_secs(600 + 3600));
    env.node_down.store(true, Ordering::SeqCst);
    let pruned = env.paywall.prune().await?;
    assert_eq!((pruned.keys, pruned.confirmed), (0, 0));
    env.node_down.store(false, Ordering::SeqCst);
    // The keys claimed by that attempt come back after the recheck delay (a minute).
    assert_eq!(env.paywall.prune().await?.keys, 0);
    env.clock.advance(Duration::from_secs(60));
    let pruned = env.paywall.prune().await?;
    assert_eq!((pruned.keys, pruned.confirmed), (3, 1), "three unpaid go, the paid one stays");
    assert_eq!(env.paywall.prune().await?, l402_server::store::Pruned::default());
    let id = waiting.macaroon.l402_identifier()?;
    let kept = store.root_key(&l402_server::key_hash(&id)).await?.ok_or("paid key kept")?;
    assert!(!kept.pending);
    assert_eq!(get_with(&env, "/read", &waiting).await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn extractor_outside_the_layer_is_a_server_bug_not_a_client_error() -> Result {
    let env = start_default().await?;
    let r = env.client.get(format!("{}/unprotected", env.base)).send().await?;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(problem_code(r).await?, "not-protected");
    Ok(())
}

/// A plain reqwest client. When the workspace is built together, another crate turns on
/// reqwest's `rustls-no-provider`; the process then needs a crypto provider installed first.
fn plain_reqwest() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Missing facts fail closed (issue 13). A server without `ConnectInfo` is refused
/// `client-address-unknown` (503, no challenge minted); an operator who opts out is served,
/// but a token narrowed by `client_ip` is refused `unverifiable-caveat` rather than passed
/// unjudged.
#[tokio::test]
async fn without_a_client_address_requests_are_refused_unless_the_operator_opts_out() -> Result {
    use l402_caveats::{Attenuate, IpNet};
    let node = DevNode::new()?;
    let paywall =
        Arc::new(Paywall::builder(Arc::new(node.clone()), Arc::new(MemoryStore::new())).build());
    let route = || Route::new("svc", Price::msat(1_000));
    let blind = L402Layer::new(paywall.clone(), route()).without_client_addresses();
    let app = Router::new()
        .route("/strict", get(whoami).layer(L402Layer::new(paywall.clone(), route())))
        .route("/blind", get(whoami).layer(blind));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    // No `into_make_service_with_connect_info`: the layer sees no address.
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = plain_reqwest();

    let r = client.get(format!("{base}/strict")).send().await?;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get(http::header::WWW_AUTHENTICATE).is_none());
    assert_eq!(problem_code(r).await?, "client-address-unknown");

    let payer = DevPayer::new(&node, 100_000);
    let bought = buy::buy(&client, &payer, &format!("{base}/blind")).await?;
    let mut headers = http::HeaderMap::new();
    bought.write_authorization(&mut headers);
    let r = client.get(format!("{base}/blind")).headers(headers).send().await?;
    assert_eq!(r.status(), StatusCode::OK);

    let net = IpNet::parse("127.0.0.1/32").ok_or("a network")?;
    let narrowed = Credential::new(bought.macaroon.limit_clients(&[net])?, bought.preimage);
    let mut headers = http::HeaderMap::new();
    narrowed.write_authorization(&mut headers);
    let r = client.get(format!("{base}/blind")).headers(headers).send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_code(r).await?, "unverifiable-caveat");
    Ok(())
}
