//! One conformance suite, run against every backend pair (invoice backend + payer):
//! the dev node with an in-process wallet, the dev node with a wallet over the pairing
//! endpoint, and (with the `lnd` feature) the LND client against the LND test server.
//!
//! Each backend supplies a [`Harness`]; `conformance!` stamps out the same tests for each.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash as _};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use l402_lightning::{
    Error, Invoice, InvoiceBackend, InvoiceRequest, InvoiceState, PayRequest, Payer, PaymentStatus,
};
use l402_token::PaymentHash;
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use tokio_stream::StreamExt as _;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Where every harness's clock starts: a fixed, recent instant.
fn start_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

/// A backend pair under test.
trait Harness: Sized {
    /// Starts fresh nodes; the payer holds `balance_msat`.
    async fn start(balance_msat: u64) -> Result<Self>;
    fn backend(&self) -> Arc<dyn InvoiceBackend>;
    fn payer(&self) -> Arc<dyn Payer>;
    /// Moves the payee's clock forward.
    fn advance(&self, by: Duration);
    /// Cancels an invoice at the payee (LND's CancelInvoice; not part of our trait).
    fn cancel(&self, hash: &PaymentHash) -> Result;
}

const RICH: u64 = 100_000_000;

fn request(amount_msat: u64) -> InvoiceRequest {
    InvoiceRequest { amount_msat, memo: "conformance".into(), expiry: Duration::from_secs(600) }
}

fn pay_request(bolt11: &str) -> PayRequest {
    PayRequest { bolt11: bolt11.into(), max_fee_msat: 1_000, timeout: Duration::from_secs(30) }
}

/// A guard against a hung stream: the test fails instead of blocking forever.
const STREAM_GUARD: Duration = Duration::from_secs(60);

fn code<T>(r: std::result::Result<T, Error>) -> std::result::Result<T, &'static str> {
    r.map_err(|e| e.code())
}

/// A signed regtest invoice from a key no harness node has.
fn foreign_invoice(amount_msat: Option<u64>) -> Result<String> {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[0x42; 32]).map_err(|e| e.to_string())?;
    let mut b = InvoiceBuilder::new(Currency::Regtest)
        .description("elsewhere".into())
        .payment_hash(sha256::Hash::from_byte_array([0x24; 32]))
        .payment_secret(PaymentSecret([1; 32]))
        .timestamp(SystemTime::now())
        .min_final_cltv_expiry_delta(18);
    if let Some(a) = amount_msat {
        b = b.amount_milli_satoshis(a);
    }
    Ok(b.build_signed(|m| secp.sign_ecdsa_recoverable(m, &sk))?.to_string())
}

mod suite {
    use super::*;

    pub(crate) async fn created_invoice_is_open<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        let created = h.backend().create_invoice(request(21_000)).await?;
        let inv = Invoice::parse(&created.bolt11)?;
        assert_eq!(inv.payment_hash(), created.payment_hash);
        assert_eq!(inv.amount_msat(), Some(21_000));
        assert_eq!(inv.description(), Some("conformance"));
        assert_eq!(inv.expiry(), Duration::from_secs(600));
        assert_eq!(inv.expires_at(), created.expires_at);
        assert_eq!(h.backend().lookup_invoice(&created.payment_hash).await?, InvoiceState::Open);
        Ok(())
    }

    pub(crate) async fn bad_requests_are_refused<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        let b = h.backend();
        assert_eq!(code(b.create_invoice(request(0)).await), Err("amount-required"));
        let mut short = request(1000);
        short.expiry = Duration::ZERO;
        assert_eq!(code(b.create_invoice(short).await), Err("invalid-request"));
        assert_eq!(code(b.lookup_invoice(&PaymentHash([7; 32])).await), Err("invoice-not-found"));
        Ok(())
    }

    pub(crate) async fn paying_settles_and_proves<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        let created = h.backend().create_invoice(request(50_000)).await?;
        let paid = h.payer().pay(pay_request(&created.bolt11)).await?;
        paid.preimage.check(&created.payment_hash)?;
        assert_eq!(paid.payment_hash, created.payment_hash);
        assert_eq!(paid.amount_msat, 50_000);
        assert!(paid.fee_msat <= 1_000);
        match h.backend().lookup_invoice(&created.payment_hash).await? {
            InvoiceState::Settled(s) => {
                assert_eq!(s.payment_hash, created.payment_hash);
                assert_eq!(s.amount_paid_msat, 50_000);
                assert!(s.settle_index >= 1);
            }
            other => return Err(format!("expected settled, got {other:?}").into()),
        }
        assert_eq!(
            h.payer().payment_status(&created.payment_hash).await?,
            PaymentStatus::Succeeded(paid)
        );
        Ok(())
    }

    pub(crate) async fn paying_twice_is_refused<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        let created = h.backend().create_invoice(request(1_000)).await?;
        h.payer().pay(pay_request(&created.bolt11)).await?;
        assert_eq!(code(h.payer().pay(pay_request(&created.bolt11)).await), Err("already-paid"));
        Ok(())
    }

    pub(crate) async fn settlements_reach_subscribers<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        let mut stream = h.backend().subscribe_settlements(0).await?;
        let created = h.backend().create_invoice(request(2_000)).await?;
        h.payer().pay(pay_request(&created.bolt11)).await?;
        let s = tokio::time::timeout(STREAM_GUARD, stream.next()).await?.ok_or("stream ended")?;
        assert_eq!(s.payment_hash, created.payment_hash);
        assert_eq!(s.amount_paid_msat, 2_000);
        Ok(())
    }

    pub(crate) async fn subscription_resumes_after_settle_index<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        let first = h.backend().create_invoice(request(1_000)).await?;
        let second = h.backend().create_invoice(request(3_000)).await?;
        h.payer().pay(pay_request(&first.bolt11)).await?;
        h.payer().pay(pay_request(&second.bolt11)).await?;
        let first_index = match h.backend().lookup_invoice(&first.payment_hash).await? {
            InvoiceState::Settled(s) => s.settle_index,
            other => return Err(format!("expected settled, got {other:?}").into()),
        };
        let mut stream = h.backend().subscribe_settlements(first_index).await?;
        let s = tokio::time::timeout(STREAM_GUARD, stream.next()).await?.ok_or("stream ended")?;
        assert_eq!(s.payment_hash, second.payment_hash);
        assert!(s.settle_index > first_index);
        Ok(())
    }

    pub(crate) async fn expired_invoices_cannot_be_paid<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        let mut req = request(1_000);
        req.expiry = Duration::from_secs(60);
        let created = h.backend().create_invoice(req).await?;
        h.advance(Duration::from_secs(61));
        assert_eq!(h.backend().lookup_invoice(&created.payment_hash).await?, InvoiceState::Expired);
        assert_eq!(code(h.payer().pay(pay_request(&created.bolt11)).await), Err("invoice-expired"));
        Ok(())
    }

    pub(crate) async fn canceled_invoices_cannot_be_paid<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        let created = h.backend().create_invoice(request(1_000)).await?;
        h.cancel(&created.payment_hash)?;
        assert_eq!(
            h.backend().lookup_invoice(&created.payment_hash).await?,
            InvoiceState::Canceled
        );
        assert_eq!(code(h.payer().pay(pay_request(&created.bolt11)).await), Err("payment-failed"));
        Ok(())
    }

    pub(crate) async fn insufficient_balance_is_reported<H: Harness>() -> Result {
        let h = H::start(4_000).await?;
        let created = h.backend().create_invoice(request(5_000)).await?;
        let err = code(h.payer().pay(pay_request(&created.bolt11)).await);
        assert_eq!(err, Err("insufficient-balance"));
        assert_eq!(h.backend().lookup_invoice(&created.payment_hash).await?, InvoiceState::Open);
        let status = h.payer().payment_status(&created.payment_hash).await?;
        assert!(
            !matches!(status, PaymentStatus::Succeeded(_) | PaymentStatus::InFlight),
            "{status:?}"
        );
        // What is left is still spendable.
        let small = h.backend().create_invoice(request(3_000)).await?;
        h.payer().pay(pay_request(&small.bolt11)).await?;
        Ok(())
    }

    pub(crate) async fn unknown_payments_are_unknown<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        assert_eq!(h.payer().payment_status(&PaymentHash([9; 32])).await?, PaymentStatus::Unknown);
        Ok(())
    }

    pub(crate) async fn payer_refuses_bad_invoices<H: Harness>() -> Result {
        let h = H::start(RICH).await?;
        let p = h.payer();
        assert_eq!(code(p.pay(pay_request("lnbcrt1garbage")).await), Err("malformed-invoice"));
        // A testnet invoice (lsat-js data) for a regtest payer.
        let testnet = "lntb20n1psza5dwpp58kda9d0m7zcp8z2683k2spa6at08mcte88jlv8ukde5uqjpt07gsdzjfp85gnpqd9h8vmmfvdjjqurp09kk2mn5ypn8ymmdyppksctfdecx76twwssyxmmjv5sxcmny8gcnqvps8ycqzpgsp5m7xru8dlhrhmwjp8gynsj2l9mwan2jk52ah5xucrn9kc3p0pj5ns9qy9qsq7jjxypyyc7hvvs8srh6c3lvcp5l5wka94htnfxak99hd5qrx69sya9sj4zm3w5lncw0tksf944q73tduhlhs5apd63m9dte9dhva5dgqaceunx";
        assert_eq!(code(p.pay(pay_request(testnet)).await), Err("wrong-network"));
        assert_eq!(code(p.pay(pay_request(&foreign_invoice(None)?)).await), Err("amount-required"));
        assert_eq!(code(p.pay(pay_request(&foreign_invoice(Some(1_000))?)).await), Err("no-route"));
        Ok(())
    }
}

macro_rules! conformance {
    ($name:ident, $harness:ty) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn created_invoice_is_open() -> Result {
                suite::created_invoice_is_open::<$harness>().await
            }
            #[tokio::test]
            async fn bad_requests_are_refused() -> Result {
                suite::bad_requests_are_refused::<$harness>().await
            }
            #[tokio::test]
            async fn paying_settles_and_proves() -> Result {
                suite::paying_settles_and_proves::<$harness>().await
            }
            #[tokio::test]
            async fn paying_twice_is_refused() -> Result {
                suite::paying_twice_is_refused::<$harness>().await
            }
            #[tokio::test]
            async fn settlements_reach_subscribers() -> Result {
                suite::settlements_reach_subscribers::<$harness>().await
            }
            #[tokio::test]
            async fn subscription_resumes_after_settle_index() -> Result {
                suite::subscription_resumes_after_settle_index::<$harness>().await
            }
            #[tokio::test]
            async fn expired_invoices_cannot_be_paid() -> Result {
                suite::expired_invoices_cannot_be_paid::<$harness>().await
            }
            #[tokio::test]
            async fn canceled_invoices_cannot_be_paid() -> Result {
                suite::canceled_invoices_cannot_be_paid::<$harness>().await
            }
            #[tokio::test]
            async fn insufficient_balance_is_reported() -> Result {
                suite::insufficient_balance_is_reported::<$harness>().await
            }
            #[tokio::test]
            async fn unknown_payments_are_unknown() -> Result {
                suite::unknown_payments_are_unknown::<$harness>().await
            }
            #[tokio::test]
            async fn payer_refuses_bad_invoices() -> Result {
                suite::payer_refuses_bad_invoices::<$harness>().await
            }
        }
    };
}

mod dev {
    use l402_lightning::clock::ManualClock;
    use l402_lightning::dev::{DevNode, DevPayer, PairingServer};

    use super::*;

    /// The dev node with a wallet in the same process.
    pub(crate) struct Local {
        node: DevNode,
        clock: Arc<ManualClock>,
        payer: Arc<DevPayer>,
    }

    fn node() -> Result<(DevNode, Arc<ManualClock>)> {
        let clock = Arc::new(ManualClock::new(start_time()));
        Ok((DevNode::builder().clock(clock.clone()).build()?, clock))
    }

    impl Harness for Local {
        async fn start(balance_msat: u64) -> Result<Self> {
            let (node, clock) = node()?;
            let payer = Arc::new(DevPayer::new(&node, balance_msat));
            Ok(Local { node, clock, payer })
        }
        fn backend(&self) -> Arc<dyn InvoiceBackend> {
            Arc::new(self.node.clone())
        }
        fn payer(&self) -> Arc<dyn Payer> {
            self.payer.clone()
        }
        fn advance(&self, by: Duration) {
            self.clock.advance(by)
        }
        fn cancel(&self, hash: &PaymentHash) -> Result {
            Ok(self.node.cancel(hash)?)
        }
    }

    /// The dev node with a wallet that reaches it through the pairing endpoint and file, as a
    /// wallet in another process does.
    pub(crate) struct Paired {
        node: DevNode,
        clock: Arc<ManualClock>,
        payer: Arc<DevPayer>,
        _server: PairingServer,
        _dir: TempDir,
    }

    impl Harness for Paired {
        async fn start(balance_msat: u64) -> Result<Self> {
            let (node, clock) = node()?;
            let dir = TempDir::new()?;
            let server = node.serve_pairing(dir.path()).await?;
            let payer = Arc::new(DevPayer::connect(dir.path(), balance_msat)?);
            Ok(Paired { node, clock, payer, _server: server, _dir: dir })
        }
        fn backend(&self) -> Arc<dyn InvoiceBackend> {
            Arc::new(self.node.clone())
        }
        fn payer(&self) -> Arc<dyn Payer> {
            self.payer.clone()
        }
        fn advance(&self, by: Duration) {
            self.clock.advance(by)
        }
        fn cancel(&self, hash: &PaymentHash) -> Result {
            Ok(self.node.cancel(hash)?)
        }
    }

    /// A directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(std::path::PathBuf);

    impl TempDir {
        pub(crate) fn new() -> Result<TempDir> {
            let mut name = [0u8; 8];
            getrandom::fill(&mut name)?;
            let path = std::env::temp_dir().join(format!("l402-dev-{}", hex::encode(name)));
            std::fs::create_dir_all(&path)?;
            Ok(TempDir(path))
        }
        pub(crate) fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

conformance!(dev_local, dev::Local);
conformance!(dev_paired, dev::Paired);

#[cfg(feature = "lnd")]
mod lnd {
    use l402_lightning::clock::ManualClock;
    use l402_lightning::lnd::{Backoff, LndConfig, LndInvoiceBackend, LndPayer};
    use l402_lightning::Network;
    use l402_lnd_test::{TestLnd, TestNet};

    use super::*;

    /// Two test LND nodes on loopback: the payee serves invoices (invoice macaroon), the
    /// payer pays (admin macaroon); our clients talk real gRPC over TLS to both.
    pub(crate) struct Lnd {
        clock: Arc<ManualClock>,
        payee: TestLnd,
        _payer_node: TestLnd,
        backend: Arc<LndInvoiceBackend>,
        payer: Arc<LndPayer>,
    }

    pub(crate) fn config(node: &TestLnd, macaroon: &[u8], clock: Arc<ManualClock>) -> LndConfig {
        let mut c = LndConfig::new(
            node.endpoint(),
            node.cert_pem().as_bytes().to_vec(),
            macaroon.to_vec(),
            Network::Regtest,
        );
        c.clock = clock;
        c.backoff = Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(200) };
        c
    }

    impl Harness for Lnd {
        async fn start(balance_msat: u64) -> Result<Self> {
            let clock = Arc::new(ManualClock::new(start_time()));
            let net = TestNet::new(clock.clone());
            let payee = net.start_node(0).await?;
            let payer_node = net.start_node(balance_msat).await?;
            let backend = Arc::new(LndInvoiceBackend::new(&config(
                &payee,
                payee.invoice_macaroon(),
                clock.clone(),
            ))?);
            let payer = Arc::new(LndPayer::new(&config(
                &payer_node,
                payer_node.admin_macaroon(),
                clock.clone(),
            ))?);
            Ok(Lnd { clock, payee, _payer_node: payer_node, backend, payer })
        }
        fn backend(&self) -> Arc<dyn InvoiceBackend> {
            self.backend.clone()
        }
        fn payer(&self) -> Arc<dyn Payer> {
            self.payer.clone()
        }
        fn advance(&self, by: Duration) {
            self.clock.advance(by)
        }
        fn cancel(&self, hash: &PaymentHash) -> Result {
            Ok(self.payee.cancel_invoice(hash)?)
        }
    }
}

#[cfg(feature = "lnd")]
conformance!(lnd_grpc, lnd::Lnd);
