//! A use that was let through is charged unless the answer says the work was not done
//! (decision 0813), and charging survives a store that fails (decision 0609): a refused commit
//! is retried until the store takes it, and a reservation nobody settles counts as a use when
//! its lease lapses. Through the public API: the `Store` trait wrapped by a store that
//! fails on demand, the `Paywall`, and the tower layer behind a real axum server.
#![allow(clippy::indexing_slicing, reason = "tests: a wrong index fails the test, as it should")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use l402_http::Credential;
use l402_lightning::clock::ManualClock;
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{PayRequest, Payer};
use l402_server::store::{
    DueKey, KeyRecord, KeyStore, MemoryStore, Pruned, RateStore, Reservation, RevocationStore,
    Revoked, Store, StoredKey, UsageStore,
};
use l402_server::tower::L402Layer;
use l402_server::{
    Error, NotDelivered, Paywall, PaywallConfig, Price, Route, Settlement, TokenStatus,
};
use l402_token::TokenId;
use tokio::sync::{mpsc, watch};

#[path = "support/buy.rs"]
mod buy;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Fails a test that would otherwise hang; never used to wait for something to happen.
const GUARD: Duration = Duration::from_secs(30);

const LEASE: Duration = Duration::from_secs(300);

/// A memory store whose `commit_use` and `release_use` fail while their budget of failures
/// lasts (`u32::MAX`: for ever), as a database that is restarting does. Every successful
/// commit and release is announced, so tests wait for them instead of sleeping.
#[derive(Debug)]
struct Flaky {
    inner: MemoryStore,
    commit_failures: AtomicU32,
    release_failures: AtomicU32,
    commits: watch::Sender<u32>,
    releases: watch::Sender<u32>,
}

impl Flaky {
    fn new(commit_failures: u32, release_failures: u32) -> Arc<Flaky> {
        Arc::new(Flaky {
            inner: MemoryStore::new(),
            commit_failures: AtomicU32::new(commit_failures),
            release_failures: AtomicU32::new(release_failures),
            commits: watch::channel(0).0,
            releases: watch::channel(0).0,
        })
    }
}

fn fails(budget: &AtomicU32) -> bool {
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
            0 => None,
            u32::MAX => Some(u32::MAX),
            n => Some(n - 1),
        })
        .is_ok()
}

fn down() -> Error {
    Error::Store("database restarting (test)".into())
}

/// Waits until `rx` has seen `n` events (a guard fails a hung test).
async fn seen(mut rx: watch::Receiver<u32>, n: u32) -> Result {
    tokio::time::timeout(GUARD, rx.wait_for(|v| *v >= n)).await??;
    Ok(())
}

#[async_trait::async_trait]
impl KeyStore for Flaky {
    async fn insert_key(&self, record: KeyRecord) -> std::result::Result<(), Error> {
        self.inner.insert_key(record).await
    }
    async fn root_key(&self, h: &[u8; 32]) -> std::result::Result<Option<StoredKey>, Error> {
        self.inner.root_key(h).await
    }
    async fn confirm_key(&self, h: &[u8; 32]) -> std::result::Result<(), Error> {
        self.inner.confirm_key(h).await
    }
    async fn claim_due_keys(
        &self,
        now: i64,
        recheck_at: i64,
        limit: usize,
        issuer: Option<&str>,
    ) -> std::result::Result<Vec<DueKey>, Error> {
        self.inner.claim_due_keys(now, recheck_at, limit, issuer).await
    }
    async fn forget_pending(&self, h: &[u8; 32]) -> std::result::Result<bool, Error> {
        self.inner.forget_pending(h).await
    }
}

#[async_trait::async_trait]
impl RevocationStore for Flaky {
    async fn revoke(&self, t: &TokenId, now: i64) -> std::result::Result<(), Error> {
        self.inner.revoke(t, now).await
    }
    async fn revoked_since(&self, cursor: i64) -> std::result::Result<Revoked, Error> {
        self.inner.revoked_since(cursor).await
    }
}

#[async_trait::async_trait]
impl UsageStore for Flaky {
    async fn reserve_use(
        &self,
        t: &TokenId,
        allowance: u64,
        lease_until: i64,
    ) -> std::result::Result<Option<Reservation>, Error> {
        self.inner.reserve_use(t, allowance, lease_until).await
    }
    async fn commit_use(&self, r: &Reservation) -> std::result::Result<u64, Error> {
        if fails(&self.commit_failures) {
            return Err(down());
        }
        let used = self.inner.commit_use(r).await?;
        self.commits.send_modify(|n| *n += 1);
        Ok(used)
    }
    async fn renew_use(&self, r: &Reservation, until: i64) -> std::result::Result<bool, Error> {
        self.inner.renew_use(r, until).await
    }
    async fn release_use(&self, r: &Reservation) -> std::result::Result<(), Error> {
        if fails(&self.release_failures) {
            return Err(down());
        }
        self.inner.release_use(r).await?;
        self.releases.send_modify(|n| *n += 1);
        Ok(())
    }
    async fn uses(&self, t: &TokenId) -> std::result::Result<u64, Error> {
        self.inner.uses(t).await
    }
}

#[async_trait::async_trait]
impl RateStore for Flaky {
    async fn take_hit(
        &self,
        bucket: &str,
        end: i64,
        limit: u64,
    ) -> std::result::Result<bool, Error> {
        self.inner.take_hit(bucket, end, limit).await
    }
}

#[async_trait::async_trait]
impl Store for Flaky {
    async fn ping(&self) -> std::result::Result<(), Error> {
        self.inner.ping().await
    }
    async fn prune(&self, now: i64) -> std::result::Result<Pruned, Error> {
        self.inner.prune(now).await
    }
}

struct Bought {
    paywall: Arc<Paywall>,
    route: Route,
    clock: Arc<ManualClock>,
    request: http::request::Parts,
    token_id: TokenId,
}

/// A paywall on `store` and a paid one-use token for it, as request parts.
async fn bought(store: Arc<dyn Store>) -> Result<Bought> {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let node = DevNode::builder().clock(clock.clone()).build()?;
    let mut config = PaywallConfig::default();
    config.reservation_lease = LEASE;
    let paywall = Arc::new(
        Paywall::builder(Arc::new(node.clone()), store).config(config).clock(clock.clone()).build(),
    );
    let route = Route::new("svc", Price::msat(1_000)).max_uses(1);
    let (parts, ()) = http::Request::get("/x").body(())?.into_parts();
    let minted = paywall.challenge(&route, &parts, None).await?;
    let paid = DevPayer::new(&node, 10_000)
        .pay(PayRequest {
            bolt11: minted.invoice.bolt11.clone(),
            max_fee_msat: 0,
            timeout: Duration::from_secs(5),
        })
        .await?;
    let (mut request, ()) = http::Request::get("/x").body(())?.into_parts();
    Credential::new(minted.macaroon, paid.preimage).write_authorization(&mut request.headers);
    Ok(Bought { paywall, route, clock, request, token_id: minted.identifier.token_id })
}

fn refusal(r: std::result::Result<l402_server::Authorized, Error>) -> Option<&'static str> {
    r.err().map(|e| e.code())
}

/// Paused time: the retries' backoff passes without the test waiting for it.
#[tokio::test(start_paused = true)]
async fn a_commit_the_store_refuses_is_retried_until_it_is_counted() -> Result {
    let store = Flaky::new(3, 0);
    let commits = store.commits.subscribe();
    let b = bought(store.clone()).await?;
    let authorized = b.paywall.authorize(&b.route, &b.request, None).await?;
    let finished = b.paywall.finish(authorized, true).await;
    // Charged at once: the count is written in the background (decision 0610).
    assert_eq!(finished.settlement, Settlement::Charged);
    assert_eq!(finished.status.remaining, Some(0), "the estimate made at verification");
    // While the store refuses, the reservation still holds the use: nothing is free.
    let again = b.paywall.authorize(&b.route, &b.request, None).await;
    assert_eq!(refusal(again), Some("uses-exhausted"));
    seen(commits, 1).await?;
    assert_eq!(store.commit_failures.load(Ordering::SeqCst), 0, "three refusals, then it took");
    assert_eq!(b.paywall.store().uses(&b.token_id).await?, 1, "counted once");
    let after = b.paywall.authorize(&b.route, &b.request, None).await;
    assert_eq!(refusal(after), Some("uses-exhausted"));
    Ok(())
}

/// A store that never takes the commit: the reservation stays in it, and counts as a use
/// once its lease lapses (fail closed), so a use is never lost to an outage.
#[tokio::test(start_paused = true)]
async fn a_commit_that_never_succeeds_is_counted_when_the_lease_lapses() -> Result {
    let store = Flaky::new(u32::MAX, 0);
    let b = bought(store.clone()).await?;
    let authorized = b.paywall.authorize(&b.route, &b.request, None).await?;
    let finished = b.paywall.finish(authorized, true).await;
    assert_eq!(finished.settlement, Settlement::Charged);
    assert_eq!(b.paywall.prune().await?.reservations, 0, "within the lease: still reserved");
    assert_eq!(b.paywall.store().uses(&b.token_id).await?, 0);
    b.clock.advance(LEASE + Duration::from_secs(1));
    assert_eq!(b.paywall.prune().await?.reservations, 1);
    assert_eq!(b.paywall.store().uses(&b.token_id).await?, 1, "the lapsed reservation counted");
    let after = b.paywall.authorize(&b.route, &b.request, None).await;
    assert_eq!(refusal(after), Some("uses-exhausted"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_give_back_the_store_refuses_is_retried_within_the_lease() -> Result {
    let store = Flaky::new(0, 2);
    let releases = store.releases.subscribe();
    let b = bought(store.clone()).await?;
    let authorized = b.paywall.authorize(&b.route, &b.request, None).await?;
    let finished = b.paywall.finish(authorized, false).await;
    assert_eq!(finished.settlement, Settlement::GiveBackRetried);
    seen(releases, 1).await?;
    assert_eq!(b.paywall.store().uses(&b.token_id).await?, 0);
    let again = b.paywall.authorize(&b.route, &b.request, None).await?;
    assert_eq!(b.paywall.finish(again, true).await.settlement, Settlement::Charged);
    Ok(())
}

/// Dropping an `Authorized` (the request was abandoned after it was let through) charges.
#[tokio::test]
async fn an_abandoned_authorization_is_charged() -> Result {
    let store = Flaky::new(0, 0);
    let commits = store.commits.subscribe();
    let b = bought(store.clone()).await?;
    drop(b.paywall.authorize(&b.route, &b.request, None).await?);
    seen(commits, 1).await?;
    assert_eq!(b.paywall.store().uses(&b.token_id).await?, 1);
    Ok(())
}

// The tower layer behind axum, on loopback.

struct Server {
    base: String,
    client: reqwest::Client,
    payer: DevPayer,
    store: Arc<Flaky>,
    /// One message each time the slow handler starts.
    started: mpsc::UnboundedReceiver<()>,
    /// How many times the slow handler's future was dropped unfinished.
    dropped: watch::Receiver<u32>,
}

/// Cancelling a handler announces it.
struct OnDrop(watch::Sender<u32>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

async fn serve() -> Result<Server> {
    let node = DevNode::new()?;
    let store = Flaky::new(0, 0);
    let paywall = Arc::new(Paywall::builder(Arc::new(node.clone()), store.clone()).build());
    let (tx, started) = mpsc::unbounded_channel();
    let (gone, dropped) = watch::channel(0);
    let slow = move || {
        let (tx, guard) = (tx.clone(), OnDrop(gone.clone()));
        async move {
            let _ = tx.send(());
            // The work never finishes; the client gives up first.
            std::future::pending::<()>().await;
            drop(guard);
            "never"
        }
    };
    let status = |axum::extract::Path(code): axum::extract::Path<u16>| async move {
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
    };
    // 409 marked as "not delivered", which replaces the default list: a 500 is charged here.
    let marked = NotDelivered::new([409], []);
    let app = Router::new()
        .route(
            "/slow",
            get(slow).layer(L402Layer::new(
                paywall.clone(),
                Route::new("slow", Price::msat(1_000)).max_uses(1),
            )),
        )
        .route(
            "/status/{code}",
            get(status).layer(L402Layer::new(
                paywall,
                Route::new("status", Price::msat(1_000)).max_uses(2).not_delivered(marked),
            )),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ =
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(Server {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        payer: DevPayer::new(&node, 1_000_000),
        store,
        started,
        dropped,
    })
}

async fn buy(s: &Server, path: &str) -> Result<Credential> {
    buy::buy(&s.client, &s.payer, &format!("{}{path}", s.base)).await
}

fn paid_get(s: &Server, path: &str, c: &Credential) -> reqwest::RequestBuilder {
    s.client
        .get(format!("{}{path}", s.base))
        .header(http::header::AUTHORIZATION, c.to_authorization_value())
}

async fn code_of(r: reqwest::Response) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(&r.text().await?)?;
    Ok(v["code"].as_str().ok_or("problem body has no code")?.to_owned())
}

fn remaining(r: &reqwest::Response) -> Result<Option<u64>> {
    let v = r.headers().get("l402-token-status").ok_or("no L402-Token-Status")?.to_str()?;
    Ok(TokenStatus::parse(v).ok_or("unparsable L402-Token-Status")?.remaining)
}

/// A client that gives up on a handler that is already running has used its token: the
/// handler ran (decision 0813).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_abandoned_by_its_client_is_charged() -> Result {
    let mut s = serve().await?;
    let c = buy(&s, "/slow").await?;
    let commits = s.store.commits.subscribe();
    let request = tokio::spawn(paid_get(&s, "/slow", &c).send());
    tokio::time::timeout(GUARD, s.started.recv()).await?.ok_or("handler never started")?;
    // The client hangs up: its connection closes, and the server drops the handler.
    request.abort();
    let _ = request.await;
    tokio::time::timeout(GUARD, s.dropped.wait_for(|n| *n >= 1)).await??;
    seen(commits, 1).await?;
    let again = paid_get(&s, "/slow", &c).send().await?;
    assert_eq!(again.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(code_of(again).await?, "uses-exhausted");
    assert!(s.started.try_recv().is_err(), "the handler did not run a second time");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_statuses_the_route_marks_give_the_use_back() -> Result {
    let s = serve().await?;
    let c = buy(&s, "/status/200").await?;
    for _ in 0..3 {
        let r = paid_get(&s, "/status/409", &c).send().await?;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(remaining(&r)?, Some(2), "409 is marked: given back");
    }
    let r = paid_get(&s, "/status/500", &c).send().await?;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(remaining(&r)?, Some(1), "the list replaces the default: a 500 is charged");
    let r = paid_get(&s, "/status/200", &c).send().await?;
    assert_eq!(remaining(&r)?, Some(0));
    let r = paid_get(&s, "/status/409", &c).send().await?;
    assert_eq!(code_of(r).await?, "uses-exhausted");
    Ok(())
}
