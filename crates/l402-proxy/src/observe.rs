//! What the pipeline decided, counted: the proxy's [`Observe`]r feeds the metrics, the
//! ledger and the sampled refusal log (decisions 0608, 0803).

use std::sync::Arc;

use l402_server::tower::{Observe, Problem, Reason};
use l402_server::{Error, MintedChallenge, Paywall, Route, Settlement};

use crate::ledger::Ledger;
use crate::log_sampler::LogSampler;
use crate::metrics::Metrics;

pub(crate) struct Counter {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ledger: Arc<Ledger>,
    /// For the ledger's clock.
    pub(crate) paywall: Arc<Paywall>,
    /// Refusal log lines, sampled per code (decision 0608).
    pub(crate) logs: LogSampler,
}

impl Observe for Counter {
    fn verdict(&self, route: &Route, code: &'static str) {
        let service = route.service.as_str();
        self.metrics.inc("l402_proxy_verdicts_total", &[("service", service), ("code", code)]);
        if !matches!(code, "ok" | "free") {
            self.logs.log(code, || tracing::info!(service, code, "refused"));
        }
    }

    /// A request refused before any service saw it (its host or path): counted as service
    /// "-" (decision 0809).
    fn refused(&self, problem: &Problem) {
        let code = problem.code();
        self.metrics.inc("l402_proxy_requests_total", &[("service", "-")]);
        self.metrics.inc("l402_proxy_verdicts_total", &[("service", "-"), ("code", code)]);
        self.logs.log(code, || tracing::info!(code, "refused request"));
    }

    fn challenged(&self, route: &Route, c: &MintedChallenge) {
        let service = route.service.as_str();
        self.metrics.inc("l402_proxy_challenges_issued_total", &[("service", service)]);
        let id = &c.identifier;
        let now = self.paywall.now();
        self.ledger.minted(&id.token_id, &id.payment_hash, service, c.amount_msat, now);
    }

    fn challenge_failed(&self, route: &Route, e: &Error) {
        let (service, code) = (route.service.as_str(), e.code());
        self.metrics
            .inc("l402_proxy_challenges_refused_total", &[("service", service), ("code", code)]);
        self.logs.log(code, || tracing::warn!(service, code, "minting a challenge failed"));
    }

    fn settled(&self, route: &Route, reason: Reason, settlement: Settlement) {
        let service = route.service.as_str();
        let outcome = if reason.charged() { "charged" } else { "refunded" };
        let labels = [("service", service), ("outcome", outcome), ("reason", reason.code())];
        self.metrics.inc("l402_proxy_uses_total", &labels);
        if settlement == Settlement::GiveBackRetried {
            let labels = [("service", service), ("settlement", settlement.code())];
            self.metrics.inc("l402_proxy_use_retries_total", &labels);
        }
    }
}
