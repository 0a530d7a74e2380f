//! The middleware paying through LND (our gRPC client against the LND test server on
//! loopback), including a payment that stays in flight past the client's deadline.
#![allow(
    clippy::indexing_slicing,
    reason = "test code: a short index fails the test, as it should"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Result, TestServer, PRICE_MSAT};
use l402_client::{
    Budget, Error, L402Middleware, LedgerQuery, MemoryStore, Outcome, Paid, TokenStore,
};
use l402_lightning::clock::SystemClock;
use l402_lightning::lnd::{LndConfig, LndInvoiceBackend, LndPayer};
use l402_lightning::Network;
use l402_lnd_test::{Resolution, TestLnd, TestNet};

struct Net {
    _payee: TestLnd,
    payer_node: TestLnd,
    server: TestServer,
    payer: Arc<LndPayer>,
}

fn config(node: &TestLnd, macaroon: &[u8]) -> LndConfig {
    LndConfig::new(
        node.endpoint(),
        node.cert_pem().as_bytes().to_vec(),
        macaroon.to_vec(),
        Network::Regtest,
    )
}

async fn net() -> Result<Net> {
    let net = TestNet::new(Arc::new(SystemClock));
    let payee = net.start_node(0).await?;
    let payer_node = net.start_node(10_000_000).await?;
    let backend = Arc::new(LndInvoiceBackend::new(&config(&payee, payee.invoice_macaroon()))?);
    let payer = Arc::new(LndPayer::new(&config(&payer_node, payer_node.admin_macaroon()))?);
    let server = TestServer::start(backend).await?;
    Ok(Net { _payee: payee, payer_node, server, payer })
}

fn middleware(n: &Net, store: Arc<dyn TokenStore>) -> L402Middleware {
    L402Middleware::builder(n.payer.clone(), store)
        .network(Network::Regtest)
        .max_fee_msat(1_000)
        .budget(Budget::unlimited().total(1_000_000))
        // LND's own payment timeout is whole seconds; ours ends the wait, not the payment.
        .pay_timeout(Duration::from_secs(1))
        .build()
}

fn client(m: &L402Middleware) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(common::plain_reqwest()).with(m.clone()).build()
}

#[tokio::test(flavor = "multi_thread")]
async fn pays_through_lnd_and_reuses_the_token() -> Result {
    let n = net().await?;
    let before = n.payer_node.balance_msat();
    let c = client(&middleware(&n, Arc::new(MemoryStore::new())));
    for path in ["/a", "/b"] {
        let r = c.get(n.server.url(path)).send().await?;
        assert_eq!(r.status().as_u16(), 200);
    }
    assert_eq!(n.server.settled().await, 1);
    assert_eq!(before - n.payer_node.balance_msat(), PRICE_MSAT);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_in_flight_past_the_deadline_is_never_paid_twice() -> Result {
    let n = net().await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = middleware(&n, store.clone());
    let c = client(&m);
    n.payer_node.faults().set_hold_payments(true);

    let e = c.get(n.server.url("/")).send().await.err().ok_or("expected an error")?;
    let hash = match Error::from_middleware(&e) {
        Some(Error::PaymentFailed { paid: Paid::Unknown, payment_hash, .. }) => *payment_hash,
        other => return Err(format!("{other:?}").into()),
    };
    assert_eq!(n.payer_node.held_payments(), vec![hash]);
    // While LND still holds it, the scope is blocked: no second payment.
    let e = c.get(n.server.url("/")).send().await.err().ok_or("expected an error")?;
    assert_eq!(Error::from_middleware(&e).map(Error::code), Some("payment-pending"));
    assert_eq!(m.recover().await?[0].outcome, Outcome::Pending);

    // LND completes it later: recovery stores the token, and the next request uses it.
    assert!(n.payer_node.resolve_held(&hash, Resolution::Succeed));
    let report = m.recover().await?;
    assert_eq!((report.len(), &report[0].outcome), (1, &Outcome::Paid));
    let r = c.get(n.server.url("/")).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(n.server.settled().await, 1);
    assert_eq!(store.ledger(&LedgerQuery::all())?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_payment_that_fails_releases_its_reservation() -> Result {
    let n = net().await?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = middleware(&n, store.clone());
    let c = client(&m);
    n.payer_node.faults().set_hold_payments(true);
    assert!(c.get(n.server.url("/")).send().await.is_err());
    assert_eq!(store.spent(None, None)?, PRICE_MSAT + 1_000);
    let hash = store.pending()?[0].payment_hash;
    // 2: FAILURE_REASON_NO_ROUTE.
    assert!(n.payer_node.resolve_held(&hash, Resolution::Fail(2)));
    n.payer_node.faults().set_hold_payments(false);
    // The next request resolves the failure itself, then pays a fresh invoice.
    let r = c.get(n.server.url("/")).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    let ledger = store.ledger(&LedgerQuery::all())?;
    assert_eq!(ledger.len(), 2);
    assert_eq!(ledger[0].outcome, Outcome::Failed("no-route".into()));
    assert_eq!(ledger[1].outcome, Outcome::Paid);
    assert_eq!(store.spent(None, None)?, PRICE_MSAT);
    Ok(())
}
