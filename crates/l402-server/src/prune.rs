//! Upkeep of the store: pending keys past their deadline are judged by the node, lapsed
//! reservations counted, finished rate windows dropped (decisions 0600, 0609). Minting runs
//! it every `prune_interval`, in the background.

use core::time::Duration;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use l402_lightning::{InvoiceBackend, InvoiceState};

use crate::store::{Pruned, Store};
use crate::Error;

/// Pending keys claimed per store round trip.
const SWEEP_BATCH: usize = 64;
/// Keys checked per prune at most, so one prune's work stays bounded; the rest wait for the
/// next.
const SWEEP_MAX: usize = 1024;

pub(crate) struct Pruner {
    store: Arc<dyn Store>,
    backend: Arc<dyn InvoiceBackend>,
    interval: Duration,
    last: AtomicI64,
    /// Set while a background prune runs, so that a slow node does not pile them up.
    running: Arc<AtomicBool>,
    /// This instance's node (hex public key), learnt from the first invoice it issued: due
    /// keys are claimed only if this node issued them, or nobody recorded who did (0612).
    issuer: Arc<OnceLock<String>>,
}

/// Clears the "a prune is running" flag when dropped.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Pruner {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        backend: Arc<dyn InvoiceBackend>,
        interval: Duration,
    ) -> Pruner {
        Pruner {
            store,
            backend,
            interval,
            last: AtomicI64::new(i64::MIN),
            running: Arc::default(),
            issuer: Arc::default(),
        }
    }

    /// The node that issued `bolt11` (its payee), remembered as this instance's; `None` if
    /// the invoice does not parse (then the key is judged by any instance, as before).
    pub(crate) fn learn(&self, bolt11: &str) -> Option<String> {
        if let Some(known) = self.issuer.get() {
            return Some(known.clone());
        }
        let payee = l402_lightning::Invoice::parse(bolt11).ok()?.payee();
        Some(self.issuer.get_or_init(|| hex::encode(payee)).clone())
    }

    /// Starts a prune in the background if the last one is `prune_interval` old.
    pub(crate) async fn maybe(&self, now: i64) {
        let last = self.last.load(Ordering::Relaxed);
        if now.saturating_sub(last) < secs(self.interval) {
            return;
        }
        // One request prunes; the others go on.
        if self.last.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return; // The previous one is still asking the node.
        }
        let (store, backend) = (Arc::clone(&self.store), Arc::clone(&self.backend));
        let running = Arc::clone(&self.running);
        let issuer = Arc::clone(&self.issuer);
        let recheck_at = now.saturating_add(self.recheck_delay());
        let work = async move {
            // Cleared however the task ends (finished, or cancelled with its runtime).
            let _running = Running(running);
            let issuer = issuer.get().map(String::as_str);
            if let Err(e) = prune(&*store, &*backend, now, recheck_at, issuer).await {
                tracing::warn!(code = e.code(), "pruning the store failed");
            }
        };
        // Checking due keys asks the node once per key: not on this request's time.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(work)),
            Err(_) => work.await,
        }
    }

    /// Prunes now.
    pub(crate) async fn now(&self, now: i64) -> Result<Pruned, Error> {
        let recheck_at = now.saturating_add(self.recheck_delay());
        let issuer = self.issuer.get().map(String::as_str);
        prune(&*self.store, &*self.backend, now, recheck_at, issuer).await
    }

    /// When a due key whose invoice could not be judged is looked at again.
    fn recheck_delay(&self) -> i64 {
        secs(self.interval).max(60)
    }
}

/// The store's own prune, after settling the pending keys whose deadline passed (decision
/// 0600): a buyer who paid but has not presented the token yet must not lose it, so a key is
/// only forgotten once the node says its invoice can no longer be paid. A key the node cannot
/// judge now (unreachable, invoice still open) is claimed again at `recheck_at`. The store's
/// own prune runs even when settling fails.
async fn prune(
    store: &dyn Store,
    backend: &dyn InvoiceBackend,
    now: i64,
    recheck_at: i64,
    issuer: Option<&str>,
) -> Result<Pruned, Error> {
    // Half the recheck delay: claims made by this prune do not lapse while it still works on
    // them, so no other prune asks the node about them again.
    let budget =
        Duration::from_secs(u64::try_from(recheck_at.saturating_sub(now) / 2).unwrap_or(0));
    let settled = settle_due_keys(store, backend, now, recheck_at, budget, issuer).await;
    let store_pruned = store.prune(now).await;
    let settled = settled?;
    let store_pruned = store_pruned?;
    Ok(Pruned { reservations: store_pruned.reservations, windows: store_pruned.windows, ..settled })
}

async fn settle_due_keys(
    store: &dyn Store,
    backend: &dyn InvoiceBackend,
    now: i64,
    recheck_at: i64,
    budget: Duration,
    issuer: Option<&str>,
) -> Result<Pruned, Error> {
    use l402_lightning::Error as Ln;
    let started = std::time::Instant::now();
    let mut settled = Pruned::default();
    let mut seen = 0;
    'sweep: while seen < SWEEP_MAX && started.elapsed() < budget {
        let due = store.claim_due_keys(now, recheck_at, SWEEP_BATCH, issuer).await?;
        seen += due.len();
        let last = due.len() < SWEEP_BATCH;
        for key in due {
            let Some(hash) = key.payment_hash else {
                // Written before the store kept payment hashes: forgotten unchecked, as then.
                settled.keys += u64::from(store.forget_pending(&key.key_hash).await?);
                continue;
            };
            match backend.lookup_invoice(&hash).await {
                Ok(InvoiceState::Settled(_)) => {
                    store.confirm_key(&key.key_hash).await?;
                    settled.confirmed += 1;
                }
                Ok(InvoiceState::Canceled | InvoiceState::Expired) | Err(Ln::InvoiceNotFound) => {
                    settled.keys += u64::from(store.forget_pending(&key.key_hash).await?);
                }
                // Still payable (the node's clock or expiry differs), or a state this version
                // does not know: judged again later.
                Ok(_) => {}
                Err(e @ (Ln::Unreachable(_) | Ln::Timeout | Ln::PermissionDenied(_))) => {
                    // The node is unreachable or refuses us: asking about the next key would
                    // only wait again. The claimed keys come back at `recheck_at`.
                    tracing::warn!(code = e.code(), "checking due keys' invoices failed");
                    break 'sweep;
                }
                Err(e) => {
                    // About this invoice only: the others are still worth asking about.
                    tracing::warn!(code = e.code(), "checking a due key's invoice failed");
                }
            }
        }
        if last {
            break;
        }
    }
    Ok(settled)
}
