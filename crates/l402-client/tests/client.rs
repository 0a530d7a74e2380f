//! The middleware against a real HTTP server on loopback, paying with the dev node.
#![allow(
    clippy::indexing_slicing,
    reason = "test code: a short index fails the test, as it should"
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Mode, Result, TestServer, PRICE_MSAT};
use l402_client::{
    Bearer, Budget, BudgetKind, Error, L402Middleware, LedgerQuery, MemoryStore, Outcome, Paid,
    Receipt, Scheme, SqliteStore, TokenStore,
};
use l402_lightning::clock::{Clock as _, ManualClock};
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{Network, PayRequest, Payer, Payment, PaymentStatus};
use l402_token::PaymentHash;
use reqwest_middleware::ClientWithMiddleware;

const BALANCE: u64 = 10_000_000;

struct Env {
    server: TestServer,
    payer: Arc<DevPayer>,
    clock: Arc<ManualClock>,
    dir: std::path::PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn env(name: &str) -> Result<Env> {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let node = DevNode::builder().clock(clock.clone()).build()?;
    let payer = Arc::new(DevPayer::new(&node, BALANCE));
    let server = TestServer::start(Arc::new(node)).await?;
    let dir = std::env::temp_dir().join(format!("l402-client-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(Env { server, payer, clock, dir })
}

impl Env {
    fn middleware(&self, store: Arc<dyn TokenStore>, budget: Budget) -> L402Middleware {
        self.middleware_with(self.payer.clone(), store, budget)
    }

    fn middleware_with(
        &self,
        payer: Arc<dyn Payer>,
        store: Arc<dyn TokenStore>,
        budget: Budget,
    ) -> L402Middleware {
        L402Middleware::builder(payer, store)
            .network(Network::Regtest)
            .max_cost_msat(100_000)
            .max_fee_msat(1_000)
            .budget(budget)
            .clock(self.clock.clone())
            .build()
    }

    fn spent(&self) -> u64 {
        BALANCE - self.payer.balance_msat()
    }
}

fn client(m: &L402Middleware) -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(common::plain_reqwest()).with(m.clone()).build()
}

fn code(e: &reqwest_middleware::Error) -> &'static str {
    Error::from_middleware(e).map_or("not-a-client-error", Error::code)
}

async fn get(c: &ClientWithMiddleware, url: &str) -> Result<(u16, String)> {
    let r = c.get(url).send().await?;
    Ok((r.status().as_u16(), r.text().await?))
}

#[tokio::test]
async fn pays_once_and_reuses_the_token_in_its_scope() -> Result {
    let env = env("reuse").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = env.middleware(store.clone(), Budget::unlimited());
    let c = client(&m);
    let r = c.get(env.server.url("/weather")).send().await?;
    let receipt = r.extensions().get::<Receipt>().cloned().ok_or("no receipt")?;
    assert!(receipt.paid_now);
    assert_eq!((receipt.amount_msat, receipt.fee_msat), (PRICE_MSAT, 0));
    assert_eq!(r.text().await?, "paid GET /weather ");
    let r = c.get(env.server.url("/other/path")).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    let again = r.extensions().get::<Receipt>().cloned().ok_or("no receipt")?;
    assert!(!again.paid_now);
    assert_eq!((again.payment_hash, again.amount_msat), (receipt.payment_hash, 0));
    assert_eq!(env.server.challenges(), 1, "second request used the cached token");
    assert_eq!(env.spent(), PRICE_MSAT);

    let ledger = store.ledger(&LedgerQuery::all())?;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].outcome, Outcome::Paid);
    assert_eq!(ledger[0].amount_msat, PRICE_MSAT);
    assert_eq!(ledger[0].fee_msat, 0);
    assert_eq!(ledger[0].domain, "127.0.0.1");
    assert_eq!(ledger[0].url, env.server.url("/weather"));
    let tokens = store.tokens()?;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].scope.as_str(), format!("http://{}", env.server.addr));
    assert_eq!(tokens[0].payment_hash, ledger[0].payment_hash);
    Ok(())
}

/// A server that offers one scheme and accepts only that one (boltwall offers only `LSAT`)
/// is answered in it, and the token keeps it, also in a store reopened by another run.
#[tokio::test]
async fn the_credential_goes_back_under_the_challenge_scheme() -> Result {
    for (mode, scheme) in [(Mode::LsatOnly, Scheme::Lsat), (Mode::L402Only, Scheme::L402)] {
        let env = env(&format!("scheme-{}", scheme.as_str())).await?;
        env.server.set_mode(mode);
        let path = env.dir.join("tokens.sqlite");
        let store: Arc<dyn TokenStore> = Arc::new(SqliteStore::open(&path, None)?);
        let c = client(&env.middleware(store, Budget::unlimited()));
        assert_eq!(get(&c, &env.server.url("/a")).await?, (200, "paid GET /a ".into()));
        // Another run, with the store reopened: reuses the token under the same scheme.
        let store: Arc<dyn TokenStore> = Arc::new(SqliteStore::open(&path, None)?);
        assert_eq!(store.tokens()?[0].scheme, scheme);
        let c = client(&env.middleware(store, Budget::unlimited()));
        assert_eq!(get(&c, &env.server.url("/b")).await?, (200, "paid GET /b ".into()));
        assert_eq!(env.server.challenges(), 1, "{scheme:?}: paid once, then reused");
        assert_eq!(env.server.accepted(), 2, "{scheme:?}");
        assert_eq!(env.spent(), PRICE_MSAT, "{scheme:?}");
    }
    Ok(())
}

/// A server whose token is not a macaroon (lightning-toll's way) is paid only when opaque
/// tokens are allowed; then once, within budget, and its token goes back as received, also
/// from a reopened store. Limits still apply: over the budget nothing is paid.
#[tokio::test]
async fn an_opaque_token_is_paid_only_when_allowed_and_then_once() -> Result {
    let env = env("opaque").await?;
    env.server.set_mode(Mode::Opaque);
    let path = env.dir.join("tokens.sqlite");
    let opening = |allow: bool, budget: Budget| -> Result<_> {
        let store: Arc<dyn TokenStore> = Arc::new(SqliteStore::open(&path, None)?);
        let m = L402Middleware::builder(env.payer.clone(), store.clone())
            .network(Network::Regtest)
            .max_cost_msat(100_000)
            .budget(budget)
            .opaque_tokens(allow)
            .clock(env.clock.clone())
            .build();
        Ok((client(&m), store))
    };
    let (c, _) = opening(false, Budget::unlimited())?;
    let e = c.get(env.server.url("/a")).send().await.err().ok_or("expected an error")?;
    assert_eq!(code(&e), "opaque-token");
    assert_eq!(env.spent(), 0);

    let (c, _) = opening(true, Budget::unlimited().per_request(PRICE_MSAT - 1))?;
    let e = c.get(env.server.url("/a")).send().await.err().ok_or("expected an error")?;
    assert_eq!(code(&e), "over-budget");
    assert_eq!(env.spent(), 0);

    let (c, store) = opening(true, Budget::unlimited())?;
    assert_eq!(get(&c, &env.server.url("/a")).await?, (200, "paid /a".into()));
    let token = store.tokens()?.remove(0);
    assert_eq!(token.bearer, Bearer::Opaque(common::opaque_token(&token.payment_hash)));
    assert!(!format!("{token:?}").contains(&token.bearer.to_text()), "Debug shows the token");
    let (c, _) = opening(true, Budget::unlimited())?;
    assert_eq!(get(&c, &env.server.url("/b")).await?, (200, "paid /b".into()));
    assert_eq!((env.server.challenges(), env.server.accepted()), (3, 2));
    assert_eq!(env.spent(), PRICE_MSAT, "paid once");
    Ok(())
}

/// A challenge reached through a redirect to another origin is not paid: the token would
/// be kept and sent for the origin asked, not the one paid (and budgets and the plain-HTTP
/// rule would judge the wrong host).
#[tokio::test]
async fn a_challenge_from_another_origin_after_a_redirect_is_not_paid() -> Result {
    let env = env("redirect").await?;
    let (front, task) = common::redirector(env.server.url("")).await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let c = client(&env.middleware(store.clone(), Budget::unlimited()));
    let e = c.get(format!("http://{front}/x")).send().await.err().ok_or("expected an error")?;
    assert_eq!(code(&e), "redirected-challenge");
    let err = Error::from_middleware(&e).ok_or("not a client error")?;
    assert!(err.nothing_paid());
    assert!(err.to_string().contains(&env.server.url("/x")), "{err}");
    assert_eq!(env.spent(), 0);
    assert!(store.ledger(&LedgerQuery::all())?.is_empty());
    // Asked directly, the same server is paid as usual.
    assert_eq!(get(&c, &env.server.url("/x")).await?.0, 200);
    task.abort();
    Ok(())
}

/// Two services on one origin: alternating between them pays exactly twice, and neither
/// purchase throws the other's valid token away (decision 0710).
#[tokio::test]
async fn alternating_two_services_on_one_origin_pays_twice() -> Result {
    let env = env("two-services").await?;
    env.server.set_mode(Mode::PerService);
    let path = env.dir.join("tokens.sqlite");
    for round in 0..3 {
        // A new run each round: the choice is made from the store alone.
        let store: Arc<dyn TokenStore> = Arc::new(SqliteStore::open(&path, None)?);
        let c = client(&env.middleware(store.clone(), Budget::unlimited()));
        for service in ["alpha", "beta"] {
            let url = env.server.url(&format!("/{service}/x"));
            assert_eq!(get(&c, &url).await?.0, 200, "round {round}, {service}");
        }
        assert_eq!(store.tokens()?.len(), 2, "round {round}: both tokens kept");
    }
    // Each token's `services=` caveat names its service, which is the first path segment:
    // each is kept for its service only, so beta was never sent alpha's token.
    let scopes = |store: &dyn TokenStore| -> Result<Vec<String>> {
        Ok(store.tokens()?.iter().map(|t| t.scope.as_str().to_owned()).collect())
    };
    let store = SqliteStore::open(&path, None)?;
    let base = env.server.url("");
    assert_eq!(scopes(&store)?, [format!("{base}/alpha/"), format!("{base}/beta/")]);
    assert_eq!(env.server.challenges(), 2, "alpha unpaid, then beta unpaid");
    assert_eq!(env.spent(), 2 * PRICE_MSAT, "paid exactly twice");
    Ok(())
}

/// A token's `path_prefix` caveat says where it applies: it is kept for that prefix, reused
/// under it, and never sent elsewhere on the origin.
#[tokio::test]
async fn a_path_caveat_scopes_the_token() -> Result {
    let env = env("path-caveat").await?;
    env.server.set_mode(Mode::PathCaveat);
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let c = client(&env.middleware(store.clone(), Budget::unlimited()));
    for path in ["/alpha/x", "/alpha/y", "/beta/x", "/alpha/z", "/beta/y"] {
        assert_eq!(get(&c, &env.server.url(path)).await?.0, 200, "{path}");
    }
    let mut scopes: Vec<String> =
        store.tokens()?.into_iter().map(|t| t.scope.to_string()).collect();
    scopes.sort();
    let base = env.server.url("");
    assert_eq!(scopes, [format!("{base}/alpha/"), format!("{base}/beta/")]);
    // Only the first request to each prefix went unpaid: no token was sent where it is refused.
    assert_eq!(env.server.challenges(), 2);
    assert_eq!(env.spent(), 2 * PRICE_MSAT);
    Ok(())
}

#[tokio::test]
async fn the_body_is_replayed_after_paying() -> Result {
    let env = env("body").await?;
    let m = env.middleware(Arc::new(MemoryStore::new()), Budget::unlimited());
    let c = client(&m);
    let r = c.post(env.server.url("/submit")).body("hello=world").send().await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await?, "paid POST /submit hello=world");
    Ok(())
}

/// The file at `path` as a streamed body (how a large upload is sent): reqwest cannot clone
/// it, so the middleware cannot send it a second time.
async fn streamed(path: &std::path::Path) -> Result<reqwest::Body> {
    Ok(reqwest::Body::from(tokio::fs::File::open(path).await?))
}

#[tokio::test]
async fn a_streamed_body_is_refused_before_paying() -> Result {
    let env = env("stream").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = env.middleware(store.clone(), Budget::unlimited());
    let upload = env.dir.join("upload.txt");
    std::fs::write(&upload, "streamed=1")?;
    let req = client(&m).post(env.server.url("/upload")).body(streamed(&upload).await?);
    let e = req.send().await.err().ok_or("expected an error")?;
    let err = Error::from_middleware(&e).ok_or("not a client error")?;
    assert_eq!(err.code(), "body-not-replayable");
    assert!(err.nothing_paid());
    assert_eq!(env.server.challenges(), 1, "sent once, answered with a challenge");
    assert_eq!(env.spent(), 0, "nothing left the wallet");
    assert_eq!(env.server.settled().await, 0);
    assert!(store.ledger(&LedgerQuery::all())?.is_empty(), "no payment was even begun");
    assert!(store.pending()?.is_empty());
    assert!(store.tokens()?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_streamed_body_uses_a_cached_token_but_never_pays_for_a_new_one() -> Result {
    let env = env("stream-cached").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = env.middleware(store.clone(), Budget::unlimited());
    let c = client(&m);
    let upload = env.dir.join("upload.txt");
    std::fs::write(&upload, "streamed=1")?;
    // Buying the token with a replayable request first is how to upload a stream.
    assert_eq!(get(&c, &env.server.url("/")).await?.0, 200);
    let r = c.post(env.server.url("/upload")).body(streamed(&upload).await?).send().await?;
    let receipt = r.extensions().get::<Receipt>().cloned().ok_or("no receipt")?;
    assert!(!receipt.paid_now);
    assert_eq!(r.text().await?, "paid POST /upload streamed=1");

    env.server.revoke_all();
    let req = c.post(env.server.url("/upload")).body(streamed(&upload).await?);
    let e = req.send().await.err().ok_or("expected an error")?;
    assert_eq!(code(&e), "body-not-replayable");
    assert_eq!(env.spent(), PRICE_MSAT, "no second payment");
    assert_eq!(store.ledger(&LedgerQuery::all())?.len(), 1);
    assert!(store.pending()?.is_empty());
    assert!(store.tokens()?.is_empty(), "the rejected token is dropped");
    Ok(())
}

#[tokio::test]
async fn a_rejected_cached_token_is_dropped_and_paid_again_once() -> Result {
    let env = env("rejected").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = env.middleware(store.clone(), Budget::unlimited());
    let c = client(&m);
    assert_eq!(get(&c, &env.server.url("/a")).await?.0, 200);
    let first = store.tokens()?[0].payment_hash;
    env.server.revoke_all();
    assert_eq!(get(&c, &env.server.url("/a")).await?.0, 200);
    assert_eq!(env.spent(), 2 * PRICE_MSAT);
    let tokens = store.tokens()?;
    assert_eq!(tokens.len(), 1);
    assert_ne!(tokens[0].payment_hash, first, "the new token replaced the revoked one");
    Ok(())
}

#[tokio::test]
async fn a_server_that_rejects_every_token_costs_one_payment() -> Result {
    let env = env("reject-all").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = env.middleware(store.clone(), Budget::unlimited());
    let c = client(&m);
    env.server.set_mode(Mode::RejectAllTokens);
    let e = c.get(env.server.url("/")).send().await.err().ok_or("expected an error")?;
    assert_eq!(code(&e), "token-rejected");
    assert_eq!(env.spent(), PRICE_MSAT, "paid once, did not loop");
    assert!(store.tokens()?.is_empty(), "the rejected token is not kept");
    Ok(())
}

/// A server that refused the token it just sold is not paid again within the back-off, by
/// this run or the next (the ledger remembers: "paid, rejected"); asked to, or once the
/// back-off has passed, the client pays it again.
#[tokio::test]
async fn a_scope_that_refused_its_fresh_token_is_not_paid_again_within_the_back_off() -> Result {
    let env = env("reject-back-off").await?;
    env.server.set_mode(Mode::RejectAllTokens);
    let path = env.dir.join("tokens.sqlite");
    let store: Arc<dyn TokenStore> = Arc::new(SqliteStore::open(&path, None)?);
    let c = client(&env.middleware(store.clone(), Budget::unlimited()));
    let e = c.get(env.server.url("/")).send().await.err().ok_or("expected an error")?;
    assert_eq!(code(&e), "token-rejected");
    let ledger = store.ledger(&LedgerQuery::all())?;
    assert_eq!(ledger.iter().map(|e| e.outcome.clone()).collect::<Vec<_>>(), [Outcome::Rejected]);
    assert_eq!(store.spent(None, None)?, PRICE_MSAT, "a rejected payment was still spent");

    // The next run (a reopened store) refuses before paying.
    let store: Arc<dyn TokenStore> = Arc::new(SqliteStore::open(&path, None)?);
    let c = client(&env.middleware(store.clone(), Budget::unlimited()));
    for _ in 0..3 {
        let e = c.get(env.server.url("/again")).send().await.err().ok_or("expected an error")?;
        assert_eq!(code(&e), "rejected-recently");
        assert!(Error::from_middleware(&e).is_some_and(Error::nothing_paid));
    }
    assert_eq!(env.spent(), PRICE_MSAT, "paid once in all");

    // Asked to, it pays again (and is refused again).
    let bold = L402Middleware::builder(env.payer.clone(), store.clone())
        .network(Network::Regtest)
        .clock(env.clock.clone())
        .retry_rejected(true)
        .build();
    let e = client(&bold).get(env.server.url("/")).send().await.err().ok_or("expected an error")?;
    assert_eq!(code(&e), "token-rejected");
    assert_eq!(env.spent(), 2 * PRICE_MSAT);

    // After the back-off, the server is trusted again.
    env.server.set_mode(Mode::Honest);
    env.clock.advance(Duration::from_secs(3601));
    assert_eq!(get(&c, &env.server.url("/")).await?.0, 200);
    assert_eq!(env.spent(), 3 * PRICE_MSAT);
    Ok(())
}

#[tokio::test]
async fn hostile_challenges_are_refused_without_paying() -> Result {
    let env = env("hostile").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = env.middleware(store.clone(), Budget::unlimited());
    let c = client(&m);
    for (mode, expected, reason) in [
        (Mode::WrongHash, "invoice-mismatch", None),
        (Mode::Huge, "over-max-cost", None),
        (Mode::Amountless, "invalid-invoice", Some("amount-required")),
        (Mode::WrongNetwork, "invalid-invoice", Some("wrong-network")),
        // Not a macaroon, and opaque tokens were not allowed: the code says so (decision 0711).
        (Mode::GarbageMacaroon, "opaque-token", Some("malformed-macaroon")),
        (Mode::Opaque, "opaque-token", Some("malformed-macaroon")),
        // The macaroon is at fault, not the invoice (it was reported as invalid-invoice).
        (Mode::BadIdentifier, "invalid-challenge", Some("unknown-identifier-version")),
        (Mode::GarbageHeader, "invalid-challenge", Some("malformed-challenge")),
        (Mode::NoChallenge, "invalid-challenge", Some("missing-challenge")),
    ] {
        env.server.set_mode(mode);
        let e = c.get(env.server.url("/")).send().await.err().ok_or("expected an error")?;
        let err = Error::from_middleware(&e).ok_or("not a client error")?;
        assert_eq!(err.code(), expected, "{mode:?}");
        assert_eq!(err.reason(), reason, "{mode:?}");
        assert!(err.nothing_paid(), "{mode:?}");
    }
    assert_eq!(env.spent(), 0);
    assert!(store.ledger(&LedgerQuery::all())?.is_empty(), "nothing was even recorded");
    Ok(())
}

#[tokio::test]
async fn an_expired_invoice_is_refused() -> Result {
    let env = env("expired").await?;
    // The client's clock runs ahead of the server's by more than the invoice expiry.
    let ahead = Arc::new(ManualClock::new(SystemTime::now() + Duration::from_secs(3600)));
    let m = L402Middleware::builder(env.payer.clone(), Arc::new(MemoryStore::new()))
        .network(Network::Regtest)
        .clock(ahead)
        .build();
    let e = client(&m).get(env.server.url("/")).send().await.err().ok_or("expected an error")?;
    let err = Error::from_middleware(&e).ok_or("not a client error")?;
    assert_eq!((err.code(), err.reason()), ("invalid-invoice", Some("invoice-expired")));
    assert_eq!(env.spent(), 0);
    Ok(())
}

#[tokio::test]
async fn budgets_stop_payments_with_the_budget_named() -> Result {
    let cases = [
        (Budget::unlimited().per_request(PRICE_MSAT), BudgetKind::PerRequest),
        (Budget::unlimited().per_hour(2 * PRICE_MSAT + 2_000), BudgetKind::Hour),
        (Budget::unlimited().per_day(2 * PRICE_MSAT + 2_000), BudgetKind::Day),
        (Budget::unlimited().total(2 * PRICE_MSAT + 2_000), BudgetKind::Total),
        (Budget::unlimited().per_domain_day(2 * PRICE_MSAT + 2_000), BudgetKind::Domain),
    ];
    for (budget, kind) in cases {
        let env = env("budget").await?;
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
        let m = env.middleware(store.clone(), budget);
        let c = client(&m);
        let mut paid = 0;
        let err = loop {
            // A new token is needed each time: revoke the old one.
            env.server.revoke_all();
            match c.get(env.server.url("/")).send().await {
                Ok(r) => {
                    assert_eq!(r.status().as_u16(), 200);
                    paid += 1;
                }
                Err(e) => break e,
            }
            assert!(paid < 10, "{kind:?} never stopped paying");
        };
        match Error::from_middleware(&err) {
            Some(Error::OverBudget { budget, limit_msat, spent_msat, needed_msat }) => {
                assert_eq!(*budget, kind);
                assert_eq!(*needed_msat, PRICE_MSAT + 1_000, "amount plus fee limit");
                assert!(spent_msat + needed_msat > *limit_msat);
            }
            other => return Err(format!("{kind:?}: {other:?}").into()),
        }
        let expected = if kind == BudgetKind::PerRequest { 0 } else { 2 };
        assert_eq!(paid, expected, "{kind:?}");
        assert_eq!(env.spent(), expected * PRICE_MSAT, "{kind:?}");
    }
    Ok(())
}

#[tokio::test]
async fn the_hour_budget_rolls_and_budgets_survive_a_restart() -> Result {
    let env = env("rolling").await?;
    let db = env.dir.join("client.db");
    let budget = Budget::unlimited().per_hour(PRICE_MSAT + 1_000).per_day(2 * (PRICE_MSAT + 1_000));
    {
        let m = env.middleware(Arc::new(SqliteStore::open(&db, None)?), budget.clone());
        assert_eq!(get(&client(&m), &env.server.url("/")).await?.0, 200);
    }
    env.server.revoke_all();
    // A new process with the same store: the hour is used up.
    let m = env.middleware(Arc::new(SqliteStore::open(&db, None)?), budget.clone());
    let c = client(&m);
    let e = c.get(env.server.url("/")).send().await.err().ok_or("expected over budget")?;
    assert!(matches!(
        Error::from_middleware(&e),
        Some(Error::OverBudget { budget: BudgetKind::Hour, .. })
    ));
    // An hour later the hour budget has room again, but the day is then full.
    env.clock.advance(Duration::from_secs(3601));
    assert_eq!(get(&c, &env.server.url("/")).await?.0, 200);
    env.server.revoke_all();
    env.clock.advance(Duration::from_secs(3601));
    let e = c.get(env.server.url("/")).send().await.err().ok_or("expected over budget")?;
    assert!(matches!(
        Error::from_middleware(&e),
        Some(Error::OverBudget { budget: BudgetKind::Day, .. })
    ));
    assert_eq!(env.spent(), 2 * PRICE_MSAT);
    Ok(())
}

#[tokio::test]
async fn concurrent_requests_share_one_payment() -> Result {
    let env = env("concurrent").await?;
    let db = env.dir.join("client.db");
    // Two middlewares on one SQLite file (as two clients in one program), four tasks each.
    let a = client(&env.middleware(Arc::new(SqliteStore::open(&db, None)?), Budget::unlimited()));
    let b = client(&env.middleware(Arc::new(SqliteStore::open(&db, None)?), Budget::unlimited()));
    env.server.gate(8);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        let url = env.server.url(&format!("/item/{i}"));
        tasks.push(tokio::spawn(async move { get(&c, &url).await.map(|r| r.0) }));
    }
    for t in tasks {
        assert_eq!(t.await??, 200);
    }
    assert_eq!(env.spent(), PRICE_MSAT, "eight requests, one payment");
    Ok(())
}

/// A payer that pays but then reports a timeout, as a node whose answer got lost would.
struct LostAnswer(Arc<DevPayer>);

#[async_trait::async_trait]
impl Payer for LostAnswer {
    async fn pay(&self, r: PayRequest) -> std::result::Result<Payment, l402_lightning::Error> {
        self.0.pay(r).await?;
        Err(l402_lightning::Error::Timeout)
    }
    async fn payment_status(
        &self,
        h: &PaymentHash,
    ) -> std::result::Result<PaymentStatus, l402_lightning::Error> {
        self.0.payment_status(h).await
    }
}

/// A payer whose payments hang in flight: they time out and stay in flight.
struct Stuck;

#[async_trait::async_trait]
impl Payer for Stuck {
    async fn pay(&self, _: PayRequest) -> std::result::Result<Payment, l402_lightning::Error> {
        Err(l402_lightning::Error::Timeout)
    }
    async fn payment_status(
        &self,
        _: &PaymentHash,
    ) -> std::result::Result<PaymentStatus, l402_lightning::Error> {
        Ok(PaymentStatus::InFlight)
    }
}

#[tokio::test]
async fn a_lost_answer_is_recovered_through_the_status_lookup() -> Result {
    let env = env("lost").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = env.middleware_with(
        Arc::new(LostAnswer(env.payer.clone())),
        store.clone(),
        Budget::unlimited(),
    );
    assert_eq!(get(&client(&m), &env.server.url("/")).await?.0, 200);
    assert_eq!(env.spent(), PRICE_MSAT);
    assert_eq!(store.ledger(&LedgerQuery::all())?[0].outcome, Outcome::Paid);
    Ok(())
}

#[tokio::test]
async fn an_unresolved_payment_blocks_paying_again_for_its_scope() -> Result {
    let env = env("stuck").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m =
        env.middleware_with(Arc::new(Stuck), store.clone(), Budget::unlimited().total(1_000_000));
    let c = client(&m);
    let e = c.get(env.server.url("/")).send().await.err().ok_or("expected an error")?;
    match Error::from_middleware(&e) {
        Some(Error::PaymentFailed { paid: Paid::Unknown, source, .. }) => {
            assert_eq!(source.code(), "timeout");
        }
        other => return Err(format!("{other:?}").into()),
    }
    let pending = store.pending()?;
    assert_eq!(pending.len(), 1);
    // The reservation counts against budgets while the outcome is unknown.
    assert_eq!(store.spent(None, None)?, PRICE_MSAT + 1_000);
    let e = c.get(env.server.url("/")).send().await.err().ok_or("expected an error")?;
    match Error::from_middleware(&e) {
        Some(Error::PaymentPending { payment_hash }) => {
            assert_eq!(*payment_hash, pending[0].payment_hash);
        }
        other => return Err(format!("{other:?}").into()),
    }
    assert_eq!(store.pending()?.len(), 1, "no second payment was started");
    Ok(())
}

#[tokio::test]
async fn a_pending_record_left_by_a_crash_is_resolved_not_repaid() -> Result {
    let env = env("crash").await?;
    let db = env.dir.join("client.db");
    // "Process one" recorded a payment and paid it, then died before storing the token.
    let hash = {
        let store = SqliteStore::open(&db, None)?;
        let resp = reqwest::get(env.server.url("/")).await?;
        let offered = l402_http::challenges_from_headers(resp.headers())?;
        let challenge = l402_http::select(&offered)?;
        let invoice = l402_lightning::Invoice::parse(&challenge.invoice)?;
        let scope = l402_client::Scope::for_url(
            &reqwest::Url::parse(&env.server.url("/"))?,
            Default::default(),
        )?;
        let pending = l402_client::PendingPayment {
            time: env.clock.now(),
            url: env.server.url("/"),
            scope,
            payment_hash: invoice.payment_hash(),
            amount_msat: invoice.require_amount()?,
            max_fee_msat: 1_000,
            expires_at: invoice.expires_at(),
            bearer: Bearer::Macaroon(challenge.macaroon.clone()),
            scheme: challenge.scheme,
        };
        store.begin_payment(&pending, &Budget::unlimited(), SystemTime::now())?;
        env.payer
            .pay(PayRequest {
                bolt11: challenge.invoice.clone(),
                max_fee_msat: 1_000,
                timeout: Duration::from_secs(10),
            })
            .await?;
        invoice.payment_hash()
    };
    assert_eq!(env.spent(), PRICE_MSAT);
    // "Process two" opens the same store: its first request finds the token through the
    // payer's status lookup instead of paying again.
    let store: Arc<dyn TokenStore> = Arc::new(SqliteStore::open(&db, None)?);
    let m = env.middleware(store.clone(), Budget::unlimited());
    assert_eq!(get(&client(&m), &env.server.url("/")).await?.0, 200);
    assert_eq!(env.spent(), PRICE_MSAT, "not paid twice");
    let ledger = store.ledger(&LedgerQuery::all())?;
    assert_eq!(ledger.len(), 1);
    assert_eq!((ledger[0].payment_hash, &ledger[0].outcome), (hash, &Outcome::Paid));
    Ok(())
}

#[tokio::test]
async fn recover_resolves_paid_and_never_attempted_payments() -> Result {
    let env = env("recover").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let mut hashes = Vec::new();
    for (i, pay) in [(0, true), (1, false)] {
        let url = format!("http://127.0.0.{}:{}/", i + 1, env.server.addr.port());
        let resp = reqwest::get(env.server.url("/")).await?;
        let offered = l402_http::challenges_from_headers(resp.headers())?;
        let challenge = l402_http::select(&offered)?;
        let invoice = l402_lightning::Invoice::parse(&challenge.invoice)?;
        let pending = l402_client::PendingPayment {
            time: SystemTime::now(),
            url: url.clone(),
            scope: l402_client::Scope::for_url(&reqwest::Url::parse(&url)?, Default::default())?,
            payment_hash: invoice.payment_hash(),
            amount_msat: invoice.require_amount()?,
            max_fee_msat: 0,
            expires_at: invoice.expires_at(),
            bearer: Bearer::Macaroon(challenge.macaroon.clone()),
            scheme: challenge.scheme,
        };
        store.begin_payment(&pending, &Budget::unlimited(), SystemTime::now())?;
        if pay {
            env.payer
                .pay(PayRequest {
                    bolt11: challenge.invoice.clone(),
                    max_fee_msat: 0,
                    timeout: Duration::from_secs(10),
                })
                .await?;
        }
        hashes.push(invoice.payment_hash());
    }
    let m = env.middleware(store.clone(), Budget::unlimited());
    let mut report = m.recover().await?;
    report.sort_by_key(|r| hashes.iter().position(|h| *h == r.payment_hash));
    assert_eq!(report.len(), 2);
    assert_eq!(report[0].outcome, Outcome::Paid);
    assert_eq!(report[1].outcome, Outcome::Failed("not-attempted".into()));
    assert!(store.pending()?.is_empty());
    assert_eq!(store.spent(None, None)?, PRICE_MSAT, "the unpaid one released its reservation");
    assert_eq!(store.tokens()?.len(), 1);
    assert_eq!(env.spent(), PRICE_MSAT);
    Ok(())
}

#[tokio::test]
async fn quote_reports_price_and_refusals_without_paying() -> Result {
    let env = env("quote").await?;
    let m =
        env.middleware(Arc::new(MemoryStore::new()), Budget::unlimited().per_request(PRICE_MSAT));
    let resp = reqwest::get(env.server.url("/")).await?;
    let url = reqwest::Url::parse(&env.server.url("/"))?;
    let q = m.quote(&url, resp.headers()).await?;
    assert_eq!(q.amount_msat, PRICE_MSAT);
    assert!(q.refusal.as_deref().is_some_and(|r| r.contains("per-request")), "{q:?}");
    // A credential would cross the network in the clear: refused.
    let remote = reqwest::Url::parse("http://example.com/")?;
    let q = m.quote(&remote, resp.headers()).await?;
    assert!(q.refusal.as_deref().is_some_and(|r| r.contains("plain HTTP")), "{q:?}");
    assert_eq!(env.spent(), 0);
    Ok(())
}

#[tokio::test]
async fn path_prefix_scopes_buy_one_token_per_directory() -> Result {
    let env = env("prefix").await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = L402Middleware::builder(env.payer.clone(), store.clone())
        .network(Network::Regtest)
        .scope(l402_client::ScopePolicy::PathPrefix)
        .clock(env.clock.clone())
        .build();
    let c = client(&m);
    for path in ["/a/1", "/a/2", "/b/1", "/a/3"] {
        assert_eq!(get(&c, &env.server.url(path)).await?.0, 200);
    }
    assert_eq!(env.spent(), 2 * PRICE_MSAT, "one payment for /a/, one for /b/");
    let scopes: Vec<String> = store.tokens()?.iter().map(|t| t.scope.to_string()).collect();
    let origin = format!("http://{}", env.server.addr);
    assert_eq!(scopes, vec![format!("{origin}/a/"), format!("{origin}/b/")]);
    Ok(())
}
