//! Readiness: can something be bought right now? The store must answer, and so must the
//! Lightning node that issues the invoices. Liveness (the process serves) is the caller's.
//!
//! Probes come from load balancers, and on a public listener from anyone, so one result is
//! kept for [`FRESH`]: a flood of probes costs the store and the node one check a second.

use core::time::Duration;

use l402_lightning::InvoiceBackend;
use l402_token::PaymentHash;
use tokio::time::Instant;

use crate::store::Store;

/// How long one check's result answers probes.
const FRESH: Duration = Duration::from_secs(1);
/// How long each part may take to answer before it counts as down.
const WAIT: Duration = Duration::from_secs(2);

/// What a readiness check found: each part `None` when it answers, else the stable code of
/// why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// The store.
    pub store: Option<&'static str>,
    /// The Lightning backend.
    pub lightning: Option<&'static str>,
}

impl Readiness {
    /// Both parts answer: challenges can be issued and paid tokens counted.
    pub fn is_ready(&self) -> bool {
        self.store.is_none() && self.lightning.is_none()
    }
}

#[derive(Default)]
pub(crate) struct Probe {
    last: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
}

impl Probe {
    pub(crate) async fn check(&self, store: &dyn Store, backend: &dyn InvoiceBackend) -> Readiness {
        // Held across the check: probes arriving meanwhile wait for it and share its result.
        let mut last = self.last.lock().await;
        if let Some((at, r)) = *last {
            if at.elapsed() < FRESH {
                return r;
            }
        }
        let (store, lightning) = tokio::join!(
            async {
                match tokio::time::timeout(WAIT, store.ping()).await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.code()),
                    Err(_) => Some("store-timeout"),
                }
            },
            async {
                // Any answer about an invoice nobody issued shows the node is there.
                match tokio::time::timeout(WAIT, backend.lookup_invoice(&PaymentHash([0; 32])))
                    .await
                {
                    Ok(Ok(_) | Err(l402_lightning::Error::InvoiceNotFound)) => None,
                    Ok(Err(e)) => Some(e.code()),
                    Err(_) => Some("lightning-timeout"),
                }
            }
        );
        let r = Readiness { store, lightning };
        *last = Some((Instant::now(), r));
        r
    }
}
