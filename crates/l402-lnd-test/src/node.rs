//! One test node's state: its dev node (invoices), wallet (balance, payments) and faults.

use core::time::Duration;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use l402_lightning::clock::Clock;
use l402_lightning::dev::DevNode;
use l402_lightning::{Error as LnError, Invoice, InvoiceState};
use l402_token::PaymentHash;
use tokio::sync::watch;
use tonic::Status;

use crate::auth::{self, Perm};
use crate::proto::lnrpc::invoice::InvoiceState as LndInvoiceState;
use crate::proto::lnrpc::payment::PaymentStatus;
use crate::proto::lnrpc::{self, PaymentFailureReason};

/// Faults to inject into a node, switchable at any time.
#[derive(Debug, Default)]
pub struct Faults {
    unavailable: AtomicBool,
    delay_ms: AtomicU64,
    insufficient_balance: AtomicBool,
    hold_payments: AtomicBool,
}

impl Faults {
    /// Every call fails with `Unavailable`, as LND answers while it is starting.
    pub fn set_unavailable(&self, on: bool) {
        self.unavailable.store(on, Ordering::SeqCst);
    }

    /// Every call waits this long before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Every payment fails with `FAILURE_REASON_INSUFFICIENT_BALANCE`, whatever the balance.
    pub fn set_insufficient_balance(&self, on: bool) {
        self.insufficient_balance.store(on, Ordering::SeqCst);
    }

    /// New payments stay in flight until [`TestLnd::resolve_held`](crate::TestLnd::resolve_held).
    pub fn set_hold_payments(&self, on: bool) {
        self.hold_payments.store(on, Ordering::SeqCst);
    }
}

/// How a held payment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The payee settles: the payment succeeds (if the invoice is still payable).
    Succeed,
    /// The payment fails with this LND failure reason number (for example 2, no route).
    Fail(i32),
}

/// Every node started from one test net, by node id, so payments can find their payee.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    nodes: Mutex<HashMap<[u8; 33], DevNode>>,
}

impl Registry {
    pub(crate) fn add(&self, node: DevNode) {
        lock(&self.nodes).insert(node.node_id(), node);
    }

    fn get(&self, id: &[u8; 33]) -> Option<DevNode> {
        lock(&self.nodes).get(id).cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Test state: a panic elsewhere must not hide the next assertion behind a poison error.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct InvoiceMeta {
    bolt11: String,
    add_index: u64,
}

#[derive(Debug)]
struct Wallet {
    balance_msat: u64,
    payments: HashMap<PaymentHash, watch::Sender<lnrpc::Payment>>,
    next_index: u64,
}

/// The state behind one node's two gRPC services.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) dev: DevNode,
    pub(crate) root_key: [u8; 32],
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) faults: Faults,
    registry: Arc<Registry>,
    invoices: Mutex<HashMap<PaymentHash, InvoiceMeta>>,
    add_index: AtomicU64,
    wallet: Mutex<Wallet>,
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Node {
    pub(crate) fn new(
        dev: DevNode,
        root_key: [u8; 32],
        clock: Arc<dyn Clock>,
        registry: Arc<Registry>,
        balance_msat: u64,
    ) -> Node {
        registry.add(dev.clone());
        Node {
            dev,
            root_key,
            clock,
            faults: Faults::default(),
            registry,
            invoices: Mutex::new(HashMap::new()),
            add_index: AtomicU64::new(0),
            wallet: Mutex::new(Wallet { balance_msat, payments: HashMap::new(), next_index: 0 }),
        }
    }

    /// Macaroon, then faults: what every call goes through first.
    pub(crate) async fn gate(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        perm: Perm,
    ) -> Result<(), Status> {
        let delay = self.faults.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.faults.unavailable.load(Ordering::SeqCst) {
            return Err(Status::unavailable("waiting to start, RPC services not available"));
        }
        auth::check(&self.root_key, metadata, perm)
    }

    pub(crate) fn balance_msat(&self) -> u64 {
        lock(&self.wallet).balance_msat
    }

    // ---- invoices ----

    pub(crate) fn add_invoice(
        &self,
        memo: String,
        amount_msat: u64,
        expiry: Duration,
    ) -> Result<lnrpc::AddInvoiceResponse, LnError> {
        let created =
            self.dev.create(&l402_lightning::InvoiceRequest { amount_msat, memo, expiry })?;
        let add_index = self.add_index.fetch_add(1, Ordering::SeqCst) + 1;
        lock(&self.invoices).insert(
            created.payment_hash,
            InvoiceMeta { bolt11: created.bolt11.clone(), add_index },
        );
        Ok(lnrpc::AddInvoiceResponse {
            r_hash: created.payment_hash.0.to_vec(),
            payment_request: created.bolt11,
            add_index,
            payment_addr: Vec::new(),
        })
    }

    /// The invoice as LND would return it from LookupInvoice.
    pub(crate) fn invoice(&self, hash: &PaymentHash) -> Option<lnrpc::Invoice> {
        let (bolt11, add_index) = {
            let invoices = lock(&self.invoices);
            let meta = invoices.get(hash)?;
            (meta.bolt11.clone(), meta.add_index)
        };
        let parsed = Invoice::parse(&bolt11).ok()?;
        let state = self.dev.state(hash).ok()?;
        let mut out = lnrpc::Invoice {
            memo: parsed.description().unwrap_or_default().to_owned(),
            r_hash: hash.0.to_vec(),
            value: i64_of(parsed.amount_msat().unwrap_or(0) / 1000),
            value_msat: i64_of(parsed.amount_msat().unwrap_or(0)),
            creation_date: i64_of(parsed.timestamp()),
            payment_request: bolt11,
            expiry: i64_of(parsed.expiry().as_secs()),
            add_index,
            ..Default::default()
        };
        match state {
            InvoiceState::Settled(s) => {
                out.state = LndInvoiceState::Settled as i32;
                out.settle_index = s.settle_index;
                out.amt_paid_msat = i64_of(s.amount_paid_msat);
                out.amt_paid_sat = i64_of(s.amount_paid_msat / 1000);
                if let l402_lightning::PaymentStatus::Succeeded(p) = self.dev.payment(hash) {
                    out.r_preimage = p.preimage.as_bytes().to_vec();
                }
            }
            // LND's invoice registry cancels an invoice when it expires.
            InvoiceState::Canceled | InvoiceState::Expired => {
                out.state = LndInvoiceState::Canceled as i32
            }
            _ => out.state = LndInvoiceState::Open as i32,
        }
        Some(out)
    }

    // ---- payments ----

    /// Starts a payment and returns the receiver of its updates.
    pub(crate) fn start_payment(
        &self,
        invoice: &Invoice,
    ) -> Result<watch::Receiver<lnrpc::Payment>, Status> {
        let hash = invoice.payment_hash();
        let amount = invoice.amount_msat().unwrap_or(0);
        let mut wallet = lock(&self.wallet);
        if let Some(existing) = wallet.payments.get(&hash) {
            match PaymentStatus::try_from(existing.borrow().status) {
                Ok(PaymentStatus::Succeeded) => {
                    return Err(Status::already_exists("invoice is already paid"))
                }
                Ok(PaymentStatus::Failed) => {}
                _ => return Err(Status::already_exists("payment is in transition")),
            }
        }
        wallet.next_index += 1;
        let record = lnrpc::Payment {
            payment_hash: hash.to_string(),
            value_sat: i64_of(amount / 1000),
            value_msat: i64_of(amount),
            payment_request: invoice.as_str().to_owned(),
            status: PaymentStatus::InFlight as i32,
            creation_time_ns: i64_of(
                self.clock.now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
                    * 1_000_000_000,
            ),
            payment_index: wallet.next_index,
            ..Default::default()
        };
        let (tx, rx) = watch::channel(record);
        let payee = self.registry.get(&invoice.payee());
        if self.faults.insufficient_balance.load(Ordering::SeqCst) || amount > wallet.balance_msat {
            let reason = PaymentFailureReason::FailureReasonInsufficientBalance;
            finish(&tx, &mut wallet.balance_msat, amount, false, Err(reason));
        } else if payee.is_none() {
            let reason = PaymentFailureReason::FailureReasonNoRoute;
            finish(&tx, &mut wallet.balance_msat, amount, false, Err(reason));
        } else {
            // Reserved while in flight, as LND locks the HTLC amount.
            wallet.balance_msat -= amount;
            if !self.faults.hold_payments.load(Ordering::SeqCst) {
                let outcome = settle_at(payee.as_ref(), invoice.as_str());
                finish(&tx, &mut wallet.balance_msat, amount, true, outcome);
            }
        }
        wallet.payments.insert(hash, tx);
        Ok(rx)
    }

    /// The updates of an existing payment.
    pub(crate) fn track(&self, hash: &PaymentHash) -> Option<watch::Receiver<lnrpc::Payment>> {
        lock(&self.wallet).payments.get(hash).map(watch::Sender::subscribe)
    }

    /// Hashes of payments still in flight.
    pub(crate) fn held(&self) -> Vec<PaymentHash> {
        lock(&self.wallet)
            .payments
            .iter()
            .filter(|(_, tx)| tx.borrow().status == PaymentStatus::InFlight as i32)
            .map(|(h, _)| *h)
            .collect()
    }

    /// Ends a held payment. Returns false if there is no such payment in flight.
    pub(crate) fn resolve(&self, hash: &PaymentHash, resolution: Resolution) -> bool {
        let mut wallet = lock(&self.wallet);
        let Some(tx) = wallet.payments.get(hash).cloned() else { return false };
        let (bolt11, amount) = {
            let p = tx.borrow();
            if p.status != PaymentStatus::InFlight as i32 {
                return false;
            }
            (p.payment_request.clone(), u64::try_from(p.value_msat).unwrap_or(0))
        };
        let outcome = match resolution {
            Resolution::Succeed => {
                let payee =
                    Invoice::parse(&bolt11).ok().and_then(|i| self.registry.get(&i.payee()));
                settle_at(payee.as_ref(), &bolt11)
            }
            Resolution::Fail(reason) => Err(PaymentFailureReason::try_from(reason)
                .unwrap_or(PaymentFailureReason::FailureReasonError)),
        };
        finish(&tx, &mut wallet.balance_msat, amount, true, outcome);
        true
    }
}

/// Settles at the payee; the payee refusing is LND's "incorrect payment details".
fn settle_at(
    payee: Option<&DevNode>,
    bolt11: &str,
) -> Result<l402_lightning::Payment, PaymentFailureReason> {
    let payee = payee.ok_or(PaymentFailureReason::FailureReasonNoRoute)?;
    payee.settle(bolt11).map_err(|e| match e {
        LnError::NoRoute | LnError::WrongNetwork { .. } => {
            PaymentFailureReason::FailureReasonNoRoute
        }
        _ => PaymentFailureReason::FailureReasonIncorrectPaymentDetails,
    })
}

/// Publishes a final state; a failure gives back the amount if it was `reserved`.
fn finish(
    tx: &watch::Sender<lnrpc::Payment>,
    balance: &mut u64,
    amount: u64,
    reserved: bool,
    outcome: Result<l402_lightning::Payment, PaymentFailureReason>,
) {
    tx.send_modify(|p| match outcome {
        Ok(paid) => {
            p.status = PaymentStatus::Succeeded as i32;
            p.payment_preimage = paid.preimage.to_hex();
            p.fee_msat = 0;
            p.fee_sat = 0;
        }
        Err(reason) => {
            if reserved {
                *balance = balance.saturating_add(amount);
            }
            p.status = PaymentStatus::Failed as i32;
            p.failure_reason = reason as i32;
        }
    });
}
