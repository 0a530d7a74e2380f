//! LND-specific behaviour against the LND test server over real gRPC and TLS on loopback:
//! macaroons and permissions, certificate pinning, faults, in-flight payments, and a
//! settlement subscription that survives the node going away.
#![cfg(feature = "lnd")]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use l402_lightning::clock::ManualClock;
use l402_lightning::lnd::{Backoff, LndConfig, LndInvoiceBackend, LndPayer};
use l402_lightning::{
    Error, InvoiceBackend, InvoiceRequest, InvoiceState, Network, PayRequest, Payer, PaymentStatus,
};
use l402_lnd_test::{Resolution, TestLnd, TestNet};
use tokio_stream::StreamExt as _;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const GUARD: Duration = Duration::from_secs(60);

struct Pair {
    clock: Arc<ManualClock>,
    payee: TestLnd,
    payer: TestLnd,
}

async fn pair(balance_msat: u64) -> Result<Pair> {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let net = TestNet::new(clock.clone());
    let payee = net.start_node(0).await?;
    let payer = net.start_node(balance_msat).await?;
    Ok(Pair { clock, payee, payer })
}

fn config(p: &Pair, node: &TestLnd, macaroon: &[u8]) -> LndConfig {
    let mut c = LndConfig::new(
        format!("https://{}", node.endpoint()),
        node.cert_pem().as_bytes().to_vec(),
        macaroon.to_vec(),
        Network::Regtest,
    );
    c.clock = p.clock.clone();
    c.backoff = Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(100) };
    c
}

fn invoice(amount_msat: u64) -> InvoiceRequest {
    InvoiceRequest { amount_msat, memo: "lnd".into(), expiry: Duration::from_secs(600) }
}

fn pay(bolt11: &str, timeout: Duration) -> PayRequest {
    PayRequest { bolt11: bolt11.into(), max_fee_msat: 10, timeout }
}

fn code<T>(r: std::result::Result<T, Error>) -> std::result::Result<(), &'static str> {
    r.map(|_| ()).map_err(|e| e.code())
}

#[tokio::test]
async fn macaroons_are_checked_like_lnd() -> Result {
    let p = pair(1_000_000).await?;
    // Another node's macaroon does not verify here.
    let forged = LndInvoiceBackend::new(&config(&p, &p.payee, p.payer.admin_macaroon()))?;
    assert_eq!(code(forged.create_invoice(invoice(1000)).await), Err("permission-denied"));
    // Garbage is not a macaroon.
    let garbage = LndInvoiceBackend::new(&config(&p, &p.payee, b"not a macaroon"))?;
    assert_eq!(code(garbage.lookup_invoice(&[1; 32].into()).await), Err("permission-denied"));
    assert_eq!(code(garbage.subscribe_settlements(0).await), Err("permission-denied"));
    // The invoice macaroon cannot pay; the read-only one cannot create invoices.
    let backend = LndInvoiceBackend::new(&config(&p, &p.payee, p.payee.invoice_macaroon()))?;
    let created = backend.create_invoice(invoice(1000)).await?;
    let invoice_only = LndPayer::new(&config(&p, &p.payer, p.payer.invoice_macaroon()))?;
    assert_eq!(code(invoice_only.pay(pay(&created.bolt11, GUARD)).await), Err("permission-denied"));
    let readonly = LndInvoiceBackend::new(&config(&p, &p.payee, p.payee.readonly_macaroon()))?;
    assert_eq!(code(readonly.create_invoice(invoice(1000)).await), Err("permission-denied"));
    assert_eq!(readonly.lookup_invoice(&created.payment_hash).await?, InvoiceState::Open);
    Ok(())
}

#[tokio::test]
async fn only_the_pinned_certificate_is_trusted() -> Result {
    let p = pair(0).await?;
    let mut c = config(&p, &p.payee, p.payee.invoice_macaroon());
    c.tls_cert_pem = p.payer.cert_pem().as_bytes().to_vec();
    let wrong_cert = LndInvoiceBackend::new(&c)?;
    assert_eq!(code(wrong_cert.create_invoice(invoice(1000)).await), Err("unreachable"));
    c.tls_cert_pem = b"not pem".to_vec();
    assert_eq!(code(LndInvoiceBackend::new(&c)), Err("config"));
    Ok(())
}

#[tokio::test]
async fn unavailable_and_stopped_nodes_are_unreachable_then_recover() -> Result {
    let mut p = pair(0).await?;
    let backend = LndInvoiceBackend::new(&config(&p, &p.payee, p.payee.invoice_macaroon()))?;
    p.payee.faults().set_unavailable(true);
    assert_eq!(code(backend.create_invoice(invoice(1000)).await), Err("unreachable"));
    p.payee.faults().set_unavailable(false);
    backend.create_invoice(invoice(1000)).await?;

    p.payee.stop().await;
    assert_eq!(code(backend.create_invoice(invoice(1000)).await), Err("unreachable"));
    p.payee.restart().await?;
    // The same client reconnects on its own.
    backend.create_invoice(invoice(1000)).await?;
    Ok(())
}

#[tokio::test]
async fn a_slow_node_times_out() -> Result {
    let p = pair(0).await?;
    let mut c = config(&p, &p.payee, p.payee.invoice_macaroon());
    c.call_timeout = Duration::from_millis(50);
    let backend = LndInvoiceBackend::new(&c)?;
    p.payee.faults().set_delay(Duration::from_secs(3600));
    assert_eq!(code(backend.create_invoice(invoice(1000)).await), Err("timeout"));
    Ok(())
}

#[tokio::test]
async fn insufficient_balance_fault() -> Result {
    let p = pair(1_000_000).await?;
    let backend = LndInvoiceBackend::new(&config(&p, &p.payee, p.payee.invoice_macaroon()))?;
    let payer = LndPayer::new(&config(&p, &p.payer, p.payer.admin_macaroon()))?;
    let created = backend.create_invoice(invoice(1000)).await?;
    p.payer.faults().set_insufficient_balance(true);
    assert_eq!(code(payer.pay(pay(&created.bolt11, GUARD)).await), Err("insufficient-balance"));
    assert_eq!(
        payer.payment_status(&created.payment_hash).await?,
        PaymentStatus::Failed(Error::InsufficientBalance)
    );
    // A failed payment may be retried.
    p.payer.faults().set_insufficient_balance(false);
    payer.pay(pay(&created.bolt11, GUARD)).await?;
    Ok(())
}

#[tokio::test]
async fn in_flight_payment_that_later_succeeds() -> Result {
    let p = pair(1_000_000).await?;
    let backend = LndInvoiceBackend::new(&config(&p, &p.payee, p.payee.invoice_macaroon()))?;
    let payer = LndPayer::new(&config(&p, &p.payer, p.payer.admin_macaroon()))?;
    let created = backend.create_invoice(invoice(25_000)).await?;
    p.payer.faults().set_hold_payments(true);

    // The node holds the payment, so our wait ends first; the outcome is unknown, not failed.
    assert_eq!(
        code(payer.pay(pay(&created.bolt11, Duration::from_millis(100))).await),
        Err("timeout")
    );
    assert_eq!(payer.payment_status(&created.payment_hash).await?, PaymentStatus::InFlight);
    assert_eq!(code(payer.pay(pay(&created.bolt11, GUARD)).await), Err("payment-in-flight"));
    assert_eq!(p.payer.balance_msat(), 975_000, "the amount is reserved while in flight");

    assert!(p.payer.resolve_held(&created.payment_hash, Resolution::Succeed));
    match payer.payment_status(&created.payment_hash).await? {
        PaymentStatus::Succeeded(paid) => paid.preimage.check(&created.payment_hash)?,
        other => return Err(format!("expected success, got {other:?}").into()),
    }
    assert!(matches!(
        backend.lookup_invoice(&created.payment_hash).await?,
        InvoiceState::Settled(_)
    ));
    assert_eq!(code(payer.pay(pay(&created.bolt11, GUARD)).await), Err("already-paid"));
    Ok(())
}

#[tokio::test]
async fn in_flight_payment_that_later_fails() -> Result {
    let p = pair(1_000_000).await?;
    let backend = LndInvoiceBackend::new(&config(&p, &p.payee, p.payee.invoice_macaroon()))?;
    let payer = LndPayer::new(&config(&p, &p.payer, p.payer.admin_macaroon()))?;
    let created = backend.create_invoice(invoice(25_000)).await?;
    p.payer.faults().set_hold_payments(true);
    let waiting = {
        let payer = payer.clone();
        let bolt11 = created.bolt11.clone();
        tokio::spawn(async move { payer.pay(pay(&bolt11, GUARD)).await })
    };
    // The payment is registered once the status call sees it in flight.
    loop {
        match payer.payment_status(&created.payment_hash).await? {
            PaymentStatus::InFlight => break,
            PaymentStatus::Unknown => tokio::task::yield_now().await,
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    assert!(p.payer.resolve_held(&created.payment_hash, Resolution::Fail(2)));
    assert_eq!(code(waiting.await?), Err("no-route"));
    assert_eq!(
        payer.payment_status(&created.payment_hash).await?,
        PaymentStatus::Failed(Error::NoRoute)
    );
    assert_eq!(p.payer.balance_msat(), 1_000_000, "a failed payment costs nothing");
    assert_eq!(backend.lookup_invoice(&created.payment_hash).await?, InvoiceState::Open);
    Ok(())
}

#[tokio::test]
async fn subscription_survives_the_node_going_away() -> Result {
    let mut p = pair(1_000_000).await?;
    let backend = LndInvoiceBackend::new(&config(&p, &p.payee, p.payee.invoice_macaroon()))?;
    let payer = LndPayer::new(&config(&p, &p.payer, p.payer.admin_macaroon()))?;
    let mut settlements = backend.subscribe_settlements(0).await?;
    let first = backend.create_invoice(invoice(1000)).await?;
    let second = backend.create_invoice(invoice(2000)).await?;

    payer.pay(pay(&first.bolt11, GUARD)).await?;
    let s = tokio::time::timeout(GUARD, settlements.next()).await?.ok_or("stream ended")?;
    assert_eq!(s.payment_hash, first.payment_hash);

    // The payee's RPC port goes away; its invoices still get paid meanwhile.
    p.payee.stop().await;
    payer.pay(pay(&second.bolt11, GUARD)).await?;
    p.payee.restart().await?;

    // The stream reconnects on its own and resumes after the last settle index it saw.
    let s = tokio::time::timeout(GUARD, settlements.next()).await?.ok_or("stream ended")?;
    assert_eq!(s.payment_hash, second.payment_hash);
    assert_eq!(s.amount_paid_msat, 2000);
    Ok(())
}

#[tokio::test]
async fn a_node_on_another_network_is_refused() -> Result {
    let p = pair(0).await?;
    let mut c = config(&p, &p.payee, p.payee.invoice_macaroon());
    c.network = Network::Testnet;
    let backend = LndInvoiceBackend::new(&c)?;
    assert_eq!(code(backend.create_invoice(invoice(1000)).await), Err("wrong-network"));
    Ok(())
}
