//! The dev node itself: a key, an invoice book and a settlement feed, all in memory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bitcoin::hashes::{sha256, Hash as _};
use bitcoin::secp256k1::{All, PublicKey, Secp256k1, SecretKey};
use l402_token::{PaymentHash, Preimage};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use tokio::sync::mpsc;

use crate::backend::check_invoice_request;
use crate::clock::{Clock, SystemClock};
use crate::dev::pairing::PairingServer;
use crate::{
    CreatedInvoice, Error, Invoice, InvoiceBackend, InvoiceRequest, InvoiceState, Network, Payment,
    PaymentStatus, Settlement, SettlementStream,
};

/// BOLT 11's `c` field; the dev node never routes, so any value LND would accept will do.
const MIN_FINAL_CLTV_EXPIRY_DELTA: u64 = 18;

/// An embedded Lightning "node" for development and tests. **NOT FOR REAL MONEY.**
///
/// It signs real BOLT 11 invoices with its own secp256k1 key (regtest by default), keeps the
/// preimages in memory, and settles an invoice the instant its paired wallet
/// ([`DevPayer`](crate::dev::DevPayer)) pays it. No money moves and no network is used, except
/// the loopback pairing endpoint that [`DevNode::serve_pairing`] starts for wallets in other
/// processes. It refuses to run on mainnet and logs a warning when created.
///
/// Cloning is cheap and every clone is the same node. Invoices live as long as the node: a
/// restarted node knows none of the old ones.
#[derive(Clone, Debug)]
pub struct DevNode {
    inner: Arc<Inner>,
}

struct Inner {
    key: SecretKey,
    node_id: PublicKey,
    network: Network,
    clock: Arc<dyn Clock>,
    secp: Secp256k1<All>,
    book: Mutex<Book>,
}

impl core::fmt::Debug for Inner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("DevNode")
            .field("node_id", &hex::encode(self.node_id.serialize()))
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Book {
    invoices: HashMap<PaymentHash, Entry>,
    settlements: Vec<Settlement>,
    subscribers: Vec<mpsc::UnboundedSender<Settlement>>,
}

struct Entry {
    preimage: Preimage,
    amount_msat: u64,
    expires_at: SystemTime,
    status: EntryStatus,
}

enum EntryStatus {
    Open,
    Settled(Settlement),
    Canceled,
}

/// Configures a [`DevNode`] before it starts.
#[derive(Debug)]
pub struct DevNodeBuilder {
    network: Network,
    seed: Option<[u8; 32]>,
    clock: Arc<dyn Clock>,
}

impl DevNodeBuilder {
    /// The network its invoices are for; regtest by default. Mainnet is refused by
    /// [`DevNodeBuilder::build`].
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// A fixed node key seed, for a node id that stays the same across runs. Without one a
    /// random key is drawn.
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The clock used for invoice timestamps and expiry (tests use
    /// [`ManualClock`](crate::clock::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Starts the node. Fails with [`Error::Config`] on mainnet.
    pub fn build(self) -> Result<DevNode, Error> {
        if self.network == Network::Mainnet {
            return Err(Error::Config(
                "the dev node issues fake invoices and refuses to run on mainnet".into(),
            ));
        }
        let secp = Secp256k1::new();
        let key = match self.seed {
            Some(seed) => secret_key_from(seed)?,
            None => random_secret_key()?,
        };
        let node_id = PublicKey::from_secret_key(&secp, &key);
        tracing::warn!(
            node_id = %hex::encode(node_id.serialize()),
            network = %self.network,
            "DEV NODE STARTED: invoices are fake and settle without payment; NOT FOR REAL MONEY"
        );
        Ok(DevNode {
            inner: Arc::new(Inner {
                key,
                node_id,
                network: self.network,
                clock: self.clock,
                secp,
                book: Mutex::new(Book::default()),
            }),
        })
    }
}

fn secret_key_from(seed: [u8; 32]) -> Result<SecretKey, Error> {
    SecretKey::from_slice(&seed)
        .map_err(|_| Error::Config("seed is not a valid secp256k1 key".into()))
}

fn random_secret_key() -> Result<SecretKey, Error> {
    // A uniformly random 32-byte string is a valid key except with probability ~2^-128; retry
    // rather than fail in that case.
    loop {
        if let Ok(k) = SecretKey::from_slice(&random32()?) {
            return Ok(k);
        }
    }
}

pub(crate) fn random32() -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Backend(format!("no randomness: {e}")))?;
    Ok(b)
}

impl DevNode {
    /// A regtest node with a random key and the system clock.
    pub fn new() -> Result<DevNode, Error> {
        DevNode::builder().build()
    }

    /// Configures a node.
    pub fn builder() -> DevNodeBuilder {
        DevNodeBuilder { network: Network::Regtest, seed: None, clock: Arc::new(SystemClock) }
    }

    /// The node's public key (33 bytes, compressed): the payee of all its invoices.
    pub fn node_id(&self) -> [u8; 33] {
        self.inner.node_id.serialize()
    }

    /// The network its invoices are for.
    pub fn network(&self) -> Network {
        self.inner.network
    }

    /// The node's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        // A panic while holding the lock cannot leave the book half-updated: every update is
        // a single insert or field store.
        self.inner.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates and signs an invoice (the synchronous core of
    /// [`InvoiceBackend::create_invoice`]).
    pub fn create(&self, request: &InvoiceRequest) -> Result<CreatedInvoice, Error> {
        check_invoice_request(request)?;
        let preimage = Preimage::from_bytes(random32()?);
        let payment_hash = preimage.payment_hash();
        let currency = match self.inner.network {
            Network::Mainnet => Currency::Bitcoin,
            Network::Testnet => Currency::BitcoinTestnet,
            Network::Signet => Currency::Signet,
            Network::Regtest => Currency::Regtest,
            Network::Simnet => Currency::Simnet,
        };
        let signed = InvoiceBuilder::new(currency)
            .description(request.memo.clone())
            // With the `n` field, a tampered invoice fails signature verification instead of
            // recovering to some other key.
            .payee_pub_key(self.inner.node_id)
            .payment_hash(sha256::Hash::from_byte_array(payment_hash.0))
            .payment_secret(PaymentSecret(random32()?))
            .timestamp(self.now())
            .min_final_cltv_expiry_delta(MIN_FINAL_CLTV_EXPIRY_DELTA)
            .amount_milli_satoshis(request.amount_msat)
            .expiry_time(request.expiry)
            .build_signed(|msg| self.inner.secp.sign_ecdsa_recoverable(msg, &self.inner.key))
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let bolt11 = signed.to_string();
        let expires_at = Invoice::parse(&bolt11)?.expires_at();
        self.book().invoices.insert(
            payment_hash,
            Entry {
                preimage,
                amount_msat: request.amount_msat,
                expires_at,
                status: EntryStatus::Open,
            },
        );
        Ok(CreatedInvoice { bolt11, payment_hash, expires_at })
    }

    /// The state of one of this node's invoices.
    pub fn state(&self, payment_hash: &PaymentHash) -> Result<InvoiceState, Error> {
        let now = self.now();
        let book = self.book();
        let entry = book.invoices.get(payment_hash).ok_or(Error::InvoiceNotFound)?;
        Ok(match &entry.status {
            EntryStatus::Settled(s) => InvoiceState::Settled(s.clone()),
            EntryStatus::Canceled => InvoiceState::Canceled,
            EntryStatus::Open if now >= entry.expires_at => InvoiceState::Expired,
            EntryStatus::Open => InvoiceState::Open,
        })
    }

    /// Cancels an open invoice, as LND's `CancelInvoice` does; a settled one cannot be
    /// canceled ([`Error::AlreadyPaid`]).
    pub fn cancel(&self, payment_hash: &PaymentHash) -> Result<(), Error> {
        let mut book = self.book();
        let entry = book.invoices.get_mut(payment_hash).ok_or(Error::InvoiceNotFound)?;
        match entry.status {
            EntryStatus::Settled(_) => Err(Error::AlreadyPaid),
            EntryStatus::Open | EntryStatus::Canceled => {
                entry.status = EntryStatus::Canceled;
                Ok(())
            }
        }
    }

    /// Checks that this node can be paid `invoice` right now and returns its amount. Nothing
    /// changes. Used by wallets to fail early, before reserving a balance.
    pub fn check_payable(&self, bolt11: &str) -> Result<(Invoice, u64), Error> {
        let invoice = Invoice::parse(bolt11)?;
        invoice.check_network(self.inner.network)?;
        let amount = invoice.require_amount()?;
        if invoice.payee() != self.node_id() {
            // The dev node has no channels: it can only "reach" itself.
            return Err(Error::NoRoute);
        }
        Ok((invoice, amount))
    }

    /// Settles one of this node's invoices as if it had been paid, and returns the proof.
    ///
    /// This is what the paired wallet calls, in this process or through the pairing endpoint.
    /// Refused: another network, another payee ([`Error::NoRoute`]), amountless, unknown,
    /// settled ([`Error::AlreadyPaid`]), canceled ([`Error::PaymentFailed`]) or expired
    /// invoices.
    pub fn settle(&self, bolt11: &str) -> Result<Payment, Error> {
        let (invoice, amount_msat) = self.check_payable(bolt11)?;
        let now = self.now();
        let mut book = self.book();
        let next_index = book.settlements.len() as u64 + 1;
        let entry = book.invoices.get_mut(&invoice.payment_hash()).ok_or(Error::InvoiceNotFound)?;
        match entry.status {
            EntryStatus::Settled(_) => return Err(Error::AlreadyPaid),
            EntryStatus::Canceled => return Err(Error::PaymentFailed("invoice canceled".into())),
            EntryStatus::Open if now >= entry.expires_at => return Err(Error::InvoiceExpired),
            EntryStatus::Open => {}
        }
        let settlement = Settlement {
            payment_hash: invoice.payment_hash(),
            amount_paid_msat: amount_msat.max(entry.amount_msat),
            settle_index: next_index,
        };
        entry.status = EntryStatus::Settled(settlement.clone());
        let payment = Payment {
            payment_hash: invoice.payment_hash(),
            preimage: entry.preimage.clone(),
            amount_msat: settlement.amount_paid_msat,
            fee_msat: 0,
        };
        book.settlements.push(settlement.clone());
        // A closed receiver is a dropped stream: forget it.
        book.subscribers.retain(|tx| tx.send(settlement.clone()).is_ok());
        tracing::debug!(payment_hash = %payment.payment_hash, "dev node settled an invoice");
        Ok(payment)
    }

    /// What the paired wallet can learn about a payment to this node: succeeded (with the
    /// preimage) if the invoice is settled, unknown otherwise.
    pub fn payment(&self, payment_hash: &PaymentHash) -> PaymentStatus {
        let book = self.book();
        match book.invoices.get(payment_hash) {
            Some(Entry { status: EntryStatus::Settled(s), preimage, .. }) => {
                PaymentStatus::Succeeded(Payment {
                    payment_hash: *payment_hash,
                    preimage: preimage.clone(),
                    amount_msat: s.amount_paid_msat,
                    fee_msat: 0,
                })
            }
            _ => PaymentStatus::Unknown,
        }
    }

    /// Subscribes to settlements (the synchronous core of
    /// [`InvoiceBackend::subscribe_settlements`]).
    pub fn settlements(&self, after_settle_index: u64) -> SettlementStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut book = self.book();
        if after_settle_index > 0 {
            // Replay and registration happen under one lock, so nothing is missed or doubled.
            for s in book.settlements.iter().filter(|s| s.settle_index > after_settle_index) {
                // The receiver is alive: it is in our hands.
                let _ = tx.send(s.clone());
            }
        }
        book.subscribers.push(tx);
        Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
    }

    /// Serves the pairing endpoint on loopback and writes the pairing file into `dir`, so a
    /// [`DevPayer`](crate::dev::DevPayer) in another process can pay this node
    /// (decision 0201). The endpoint stops, and the file is removed, when the returned handle
    /// is dropped.
    pub async fn serve_pairing(&self, dir: &Path) -> Result<PairingServer, Error> {
        PairingServer::start(self.clone(), dir).await
    }
}

#[async_trait::async_trait]
impl InvoiceBackend for DevNode {
    async fn create_invoice(&self, request: InvoiceRequest) -> Result<CreatedInvoice, Error> {
        self.create(&request)
    }

    async fn lookup_invoice(&self, payment_hash: &PaymentHash) -> Result<InvoiceState, Error> {
        self.state(payment_hash)
    }

    async fn subscribe_settlements(
        &self,
        after_settle_index: u64,
    ) -> Result<SettlementStream, Error> {
        Ok(self.settlements(after_settle_index))
    }
}
