//! The dev node's paired wallet: a balance and a payment book, paying only dev node invoices.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use l402_token::PaymentHash;

use crate::dev::pairing::{Pairing, PairingClient};
use crate::dev::DevNode;
use crate::{Error, Network, PayRequest, Payer, Payment, PaymentStatus};

/// A wallet that pays a [`DevNode`]'s invoices, in this process or another. **NOT FOR REAL
/// MONEY**: its balance is a number it keeps for itself, so that running out
/// (`insufficient-balance`) can be exercised.
///
/// It pays only invoices of its node (others fail with `no-route`) and never pays fees.
#[derive(Debug)]
pub struct DevPayer {
    target: Target,
    network: Network,
    book: Mutex<Book>,
}

#[derive(Debug)]
enum Target {
    Local(DevNode),
    Remote(PairingClient),
}

#[derive(Debug)]
struct Book {
    balance_msat: u64,
    payments: HashMap<PaymentHash, PaymentStatus>,
}

impl DevPayer {
    /// A wallet paired with `node` in this process, holding `balance_msat`.
    pub fn new(node: &DevNode, balance_msat: u64) -> DevPayer {
        DevPayer::with_target(Target::Local(node.clone()), node.network(), balance_msat)
    }

    /// A wallet paired with a dev node in another process through the pairing file in `dir`
    /// (written by [`DevNode::serve_pairing`]), holding `balance_msat`.
    pub fn connect(dir: &Path, balance_msat: u64) -> Result<DevPayer, Error> {
        let pairing = Pairing::read(dir)?;
        Ok(DevPayer::from_pairing(pairing, balance_msat))
    }

    /// Like [`DevPayer::connect`], from pairing details already read.
    pub fn from_pairing(pairing: Pairing, balance_msat: u64) -> DevPayer {
        let network = pairing.network;
        DevPayer::with_target(Target::Remote(PairingClient { pairing }), network, balance_msat)
    }

    fn with_target(target: Target, network: Network, balance_msat: u64) -> DevPayer {
        tracing::warn!(%network, balance_msat, "DEV WALLET: pays only the dev node; NOT FOR REAL MONEY");
        DevPayer {
            target,
            network,
            book: Mutex::new(Book { balance_msat, payments: HashMap::new() }),
        }
    }

    /// What is left to spend, in millisatoshis.
    pub fn balance_msat(&self) -> u64 {
        self.book().balance_msat
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        // Every update below is a few field stores; a poisoned lock still holds a whole book.
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn settle(&self, bolt11: &str) -> Result<Payment, Error> {
        match &self.target {
            Target::Local(node) => node.settle(bolt11),
            Target::Remote(client) => client.pay(bolt11).await,
        }
    }

    async fn remote_status(&self, hash: &PaymentHash) -> Result<Option<Payment>, Error> {
        match &self.target {
            Target::Local(node) => Ok(match node.payment(hash) {
                PaymentStatus::Succeeded(p) => Some(p),
                _ => None,
            }),
            Target::Remote(client) => client.lookup(hash).await,
        }
    }
}

#[async_trait::async_trait]
impl Payer for DevPayer {
    async fn pay(&self, request: PayRequest) -> Result<Payment, Error> {
        let invoice = crate::Invoice::parse(&request.bolt11)?;
        invoice.check_network(self.network)?;
        let amount = invoice.require_amount()?;
        let hash = invoice.payment_hash();
        {
            let mut book = self.book();
            match book.payments.get(&hash) {
                Some(PaymentStatus::Succeeded(_)) => return Err(Error::AlreadyPaid),
                Some(PaymentStatus::InFlight) => return Err(Error::PaymentInFlight),
                _ => {}
            }
            // Reserve before calling out, so two concurrent payments cannot both spend it.
            book.balance_msat =
                book.balance_msat.checked_sub(amount).ok_or(Error::InsufficientBalance)?;
            book.payments.insert(hash, PaymentStatus::InFlight);
        }
        let outcome =
            match tokio::time::timeout(request.timeout, self.settle(invoice.as_str())).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout),
            };
        let mut book = self.book();
        match outcome {
            Ok(payment) => {
                book.payments.insert(hash, PaymentStatus::Succeeded(payment.clone()));
                Ok(payment)
            }
            Err(e) => {
                book.balance_msat = book.balance_msat.saturating_add(amount);
                // After a timeout the node may still have settled: forget our record so that
                // `payment_status` asks the node, which knows.
                if e == Error::Timeout {
                    book.payments.remove(&hash);
                } else {
                    book.payments.insert(hash, PaymentStatus::Failed(e.clone()));
                }
                Err(e)
            }
        }
    }

    async fn payment_status(&self, payment_hash: &PaymentHash) -> Result<PaymentStatus, Error> {
        let local = self.book().payments.get(payment_hash).cloned();
        match local {
            Some(s @ (PaymentStatus::Succeeded(_) | PaymentStatus::InFlight)) => Ok(s),
            other => match self.remote_status(payment_hash).await? {
                Some(p) => Ok(PaymentStatus::Succeeded(p)),
                None => Ok(other.unwrap_or(PaymentStatus::Unknown)),
            },
        }
    }
}
