//! What the middleware may spend and where tokens apply, and how it is built.

use core::time::Duration;
use std::sync::Arc;

use l402_lightning::clock::Clock;
use l402_lightning::{Network, Payer};

use crate::store::TokenStore;
use crate::{Budget, L402Middleware, ScopePolicy};

/// What the middleware may spend and where tokens apply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The highest invoice amount paid without asking, in millisatoshis. Default 1000 sat,
    /// Aperture's client default.
    pub max_cost_msat: u64,
    /// The routing fee limit per payment, in millisatoshis. Default 10 sat.
    pub max_fee_msat: u64,
    /// The network invoices must be for. Default mainnet.
    pub network: Network,
    /// Spending limits kept in the store.
    pub budget: Budget,
    /// Which requests a token is reused for.
    pub scope: ScopePolicy,
    /// How long one payment may take before its outcome is treated as unknown. Default 60 s.
    pub pay_timeout: Duration,
    /// Send credentials over plain HTTP to hosts that are not loopback. Default false: the
    /// token is a bearer credential and anyone on the path could replay it.
    pub allow_insecure_http: bool,
    /// After the server refused a token just paid for, how long its scope is not paid again
    /// (`rejected-recently`). Default one hour (decision 0708).
    pub rejected_backoff: Duration,
    /// Pay a scope again even within its back-off. Default false.
    pub retry_rejected: bool,
    /// Answer challenges whose token is not a macaroon, sending the token back as received
    /// (decision 0711). Default false: such a token cannot be checked against the invoice, so
    /// the server could sell a token that buys nothing.
    pub opaque_tokens: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_cost_msat: 1_000_000,
            max_fee_msat: 10_000,
            network: Network::Mainnet,
            budget: Budget::default(),
            scope: ScopePolicy::default(),
            pay_timeout: Duration::from_secs(60),
            allow_insecure_http: false,
            rejected_backoff: Duration::from_secs(3600),
            retry_rejected: false,
            opaque_tokens: false,
        }
    }
}

/// Builds an [`L402Middleware`].
pub struct Builder {
    pub(crate) payer: Arc<dyn Payer>,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) config: Config,
    pub(crate) clock: Arc<dyn Clock>,
}

impl core::fmt::Debug for Builder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Builder").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Builder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Builder {
        self.config = config;
        self
    }

    /// Sets the highest invoice amount paid, in millisatoshis.
    pub fn max_cost_msat(mut self, msat: u64) -> Builder {
        self.config.max_cost_msat = msat;
        self
    }

    /// Sets the routing fee limit per payment, in millisatoshis.
    pub fn max_fee_msat(mut self, msat: u64) -> Builder {
        self.config.max_fee_msat = msat;
        self
    }

    /// Sets the network invoices must be for.
    pub fn network(mut self, network: Network) -> Builder {
        self.config.network = network;
        self
    }

    /// Sets the budgets.
    pub fn budget(mut self, budget: Budget) -> Builder {
        self.config.budget = budget;
        self
    }

    /// Sets the scope policy.
    pub fn scope(mut self, scope: ScopePolicy) -> Builder {
        self.config.scope = scope;
        self
    }

    /// Sets how long one payment may take.
    pub fn pay_timeout(mut self, timeout: Duration) -> Builder {
        self.config.pay_timeout = timeout;
        self
    }

    /// Allows credentials over plain HTTP to non-loopback hosts.
    pub fn allow_insecure_http(mut self, allow: bool) -> Builder {
        self.config.allow_insecure_http = allow;
        self
    }

    /// How long a scope whose fresh token was refused is not paid again (default one hour).
    pub fn rejected_backoff(mut self, backoff: Duration) -> Builder {
        self.config.rejected_backoff = backoff;
        self
    }

    /// Pays a scope again even within its back-off after a refused token.
    pub fn retry_rejected(mut self, retry: bool) -> Builder {
        self.config.retry_rejected = retry;
        self
    }

    /// Answers challenges whose token is not a macaroon (decision 0711).
    pub fn opaque_tokens(mut self, allow: bool) -> Builder {
        self.config.opaque_tokens = allow;
        self
    }

    /// Sets the clock used for invoice expiry and budget windows (tests use a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Builder {
        self.clock = clock;
        self
    }

    /// Builds the middleware.
    pub fn build(self) -> L402Middleware {
        L402Middleware::from_parts(self.payer, self.store, self.config, self.clock)
    }
}
