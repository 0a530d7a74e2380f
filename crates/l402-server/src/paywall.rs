//! The paywall: the IO shell around the sans-IO core. It owns one part per job and runs
//! them in order: the [`Limiter`] and pricing before a challenge, the [`RootKeys`], the
//! core, the [`Revocations`] and the [`Meter`] for a credential, the [`Pruner`] behind both.

use core::time::Duration;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use http::HeaderMap;
use l402_caveats::{Context, Verifier};
use l402_http::{ChallengeStyle, Credential};
use l402_lightning::clock::{Clock, SystemClock};
use l402_lightning::{InvoiceBackend, InvoiceRequest};
use l402_token::TokenId;

use crate::client::TrustedProxies;
use crate::keys::KeyMode;
use crate::meter::{Held, Meter};
use crate::mint::{macaroon, MintedChallenge, Route};
use crate::proven::{Proof, Proven};
use crate::prune::Pruner;
use crate::rate::Limiter;
use crate::ready::{Probe, Readiness};
use crate::revoked::Revocations;
use crate::root_keys::RootKeys;
use crate::settle::Settlement;
use crate::store::{Pruned, Store};
use crate::verify::{identify, judge, verify, VerifiedToken};
use crate::Error;
use l402_http::TokenStatus;

/// Invoice issuance limit per client address (the known DoS on Aperture: every unpaid
/// challenge costs an invoice on the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Challenges allowed per window and client bucket.
    pub challenges: u64,
    /// The window length.
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { challenges: 30, window: Duration::from_secs(60) }
    }
}

/// Tunables of a [`Paywall`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PaywallConfig {
    /// How long invoices can be paid (default 10 minutes).
    pub invoice_expiry: Duration,
    /// How long an unpaid per-token key is kept after its invoice expires (default one
    /// hour): a client that paid at the last moment still gets its token accepted.
    pub pending_grace: Duration,
    /// How challenges are written (default Aperture's `LSAT` + `L402` lines).
    pub style: ChallengeStyle,
    /// Invoice issuance limit per client.
    pub rate_limit: RateLimit,
    /// Client buckets the in-memory rate gate tracks per window (default 65,536). When it is
    /// full, a client not yet tracked is refused `rate-limited` until the window ends: fail
    /// closed (decision 0607).
    pub rate_clients: usize,
    /// Proxies whose forwarding headers name the real client.
    pub trusted_proxies: TrustedProxies,
    /// How long a reserved use is held without renewal before it counts as a use (default
    /// 5 minutes): a crashed instance stops renewing, and its requests are charged then
    /// (decision 0609). It also bounds how long a refused commit or give-back is retried.
    pub reservation_lease: Duration,
    /// How often minting also prunes the store (default one minute).
    pub prune_interval: Duration,
    /// Root keys kept in the per-instance cache (per-token mode); when it is full, the half
    /// least recently added is forgotten.
    pub cache_capacity: usize,
    /// How often the revocation set reads the store's feed (default 250 ms): the bound on
    /// how long a revocation made by another instance takes to reach this one while the
    /// store answers (decision 0610).
    pub revocation_poll: Duration,
}

impl Default for PaywallConfig {
    fn default() -> Self {
        PaywallConfig {
            invoice_expiry: Duration::from_secs(600),
            pending_grace: Duration::from_secs(3600),
            style: ChallengeStyle::default(),
            rate_limit: RateLimit::default(),
            rate_clients: 65_536,
            trusted_proxies: TrustedProxies::none(),
            reservation_lease: Duration::from_secs(300),
            prune_interval: Duration::from_secs(60),
            cache_capacity: 65_536,
            revocation_poll: Duration::from_millis(250),
        }
    }
}

/// The server side of L402: mints challenges and authorizes credentials.
///
/// Share one per process behind an `Arc`; it is what [`crate::tower::L402Layer`] calls.
pub struct Paywall {
    backend: Arc<dyn InvoiceBackend>,
    store: Arc<dyn Store>,
    proven: Proven,
    keys: RootKeys,
    limiter: Limiter,
    revoked: Revocations,
    meter: Meter,
    pruner: Pruner,
    probe: Probe,
    caveats: Verifier,
    config: PaywallConfig,
    clock: Arc<dyn Clock>,
}

impl core::fmt::Debug for Paywall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Paywall")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What [`Paywall::finish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finished {
    /// What the token still buys, for `L402-Token-Status`, as far as this instance knows.
    pub status: TokenStatus,
    /// How the use was settled.
    pub settlement: Settlement,
}

/// Configures a [`Paywall`].
pub struct PaywallBuilder {
    backend: Arc<dyn InvoiceBackend>,
    store: Arc<dyn Store>,
    keys: KeyMode,
    caveats: Verifier,
    config: PaywallConfig,
    clock: Arc<dyn Clock>,
}

impl PaywallBuilder {
    /// Chooses the root-key mode (default [`KeyMode::PerToken`]).
    pub fn key_mode(mut self, keys: KeyMode) -> Self {
        self.keys = keys;
        self
    }

    /// Replaces the caveat verifier (default: every built-in, lenient, as the spec asks).
    pub fn caveat_verifier(mut self, caveats: Verifier) -> Self {
        self.caveats = caveats;
        self
    }

    /// Replaces the tunables.
    pub fn config(mut self, config: PaywallConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses another clock (tests of expiry without sleeping).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the paywall.
    pub fn build(self) -> Paywall {
        let c = &self.config;
        let store = self.store;
        Paywall {
            keys: RootKeys::new(self.keys, c.cache_capacity, Arc::clone(&store) as _),
            proven: Proven::new(c.cache_capacity),
            limiter: Limiter::new(c.rate_limit, c.rate_clients, Arc::clone(&store) as _),
            revoked: Revocations::new(Arc::clone(&store) as _),
            meter: Meter::new(
                Arc::clone(&store) as _,
                c.reservation_lease,
                Arc::clone(&self.clock),
            ),
            pruner: Pruner::new(Arc::clone(&store), Arc::clone(&self.backend), c.prune_interval),
            probe: Probe::default(),
            backend: self.backend,
            store,
            caveats: self.caveats,
            config: self.config,
            clock: self.clock,
        }
    }
}

/// A request that passed verification, with its use reserved. Hand it back to
/// [`Paywall::finish`] once the handler has answered; dropping it instead charges the use
/// (the request was abandoned after it was let through: decision 0813).
#[derive(Debug)]
pub struct Authorized {
    /// The verified token, for the handler.
    pub token: VerifiedToken,
    held: Option<Held>,
}

pub(crate) fn unix_now(clock: &dyn Clock) -> i64 {
    match clock.now().duration_since(UNIX_EPOCH) {
        Ok(d) => secs(d),
        Err(e) => -secs(e.duration()),
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Paywall {
    /// Starts configuring a paywall selling through `backend` and keeping state in `store`.
    pub fn builder(backend: Arc<dyn InvoiceBackend>, store: Arc<dyn Store>) -> PaywallBuilder {
        PaywallBuilder {
            backend,
            store,
            keys: KeyMode::PerToken,
            caveats: Verifier::new(),
            config: PaywallConfig::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The tunables.
    pub fn config(&self) -> &PaywallConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Now, in Unix seconds, from the paywall's clock.
    pub fn now(&self) -> i64 {
        unix_now(&*self.clock)
    }

    /// The real client address for a request from `peer` (see [`TrustedProxies`]).
    pub fn client_addr(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        self.config.trusted_proxies.client_addr(peer, headers)
    }

    /// Mints a challenge for `route`: rate limit, price, invoice, token id, root key,
    /// caveats, header lines.
    pub async fn challenge(
        &self,
        route: &Route,
        request: &http::request::Parts,
        client: Option<IpAddr>,
    ) -> Result<MintedChallenge, Error> {
        let now = self.now();
        // Refused requests stop here, before anything writes (decision 0607).
        self.limiter.check(client, now).await?;
        // Nor does a method no token could be used for get an invoice.
        route.sells(request)?;
        self.pruner.maybe(now).await;
        let amount_msat = route.price.of(request).await?;
        let invoice = self
            .backend
            .create_invoice(InvoiceRequest {
                amount_msat,
                memo: route.memo.clone(),
                expiry: self.config.invoice_expiry,
            })
            .await?;
        let pending_until = now
            .saturating_add(secs(self.config.invoice_expiry))
            .saturating_add(secs(self.config.pending_grace));
        let issuer = self.pruner.learn(&invoice.bolt11);
        let (identifier, root_key) =
            self.keys.mint(invoice.payment_hash, now, pending_until, issuer).await?;
        let caveats = route.caveats_for(request, now)?;
        let mac = macaroon(&root_key, &identifier, &caveats);
        MintedChallenge::new(mac, invoice, identifier, amount_msat, self.config.style)
    }

    /// Verifies the credential in `request` for `route`, then reserves one use when the
    /// token has an allowance. A token without one costs no store round trip once its key
    /// is cached (decision 0610).
    ///
    /// Order (decision 0602): credential decode, identifier, root key (`unknown-token`),
    /// preimage, signature, caveats, revocation, allowance (`uses-exhausted`).
    pub async fn authorize(
        &self,
        route: &Route,
        request: &http::request::Parts,
        client: Option<IpAddr>,
    ) -> Result<Authorized, Error> {
        let now = self.now();
        let poll = self.config.revocation_poll;
        // A credential seen before skips decoding; its signature is skipped too if the key
        // ring still gives its identifier the key it was proven under (decision 0616).
        let remembered = self.proven.get(&request.headers);
        let parsed;
        let (credential, identifier) = match &remembered {
            Some(p) => (&p.credential, p.identifier),
            None => {
                parsed = Credential::from_headers(&request.headers)?;
                let identifier = identify(&parsed)?;
                (&parsed, identifier)
            }
        };
        let Some(found) = self.keys.find(&identifier, now).await? else {
            return Err(if self.revoked.contains(&identifier.token_id, poll).await? {
                Error::Revoked
            } else {
                Error::UnknownToken
            });
        };
        let mut context = Context::new()
            .with_service(route.resource(request).into_owned())
            .with_now(now)
            .with_method(request.method.as_str())
            .with_path(request.uri.path());
        if let Some(c) = client {
            context = context.with_client(c);
        }
        if let Some(cap) = &route.capability {
            context = context.with_capability(cap.clone());
        }
        let proven = remembered.as_ref().is_some_and(|p| p.key == found.key);
        let accepted = match proven {
            true => judge(credential, identifier, &context, &self.caveats)?,
            false => verify(credential, &found.key, &context, &self.caveats)?,
        };
        // A caveat left unjudged for want of a fact (the client's address) never passes.
        if let Some(condition) = accepted.verdict.unchecked.first() {
            return Err(Error::Unverifiable { condition: condition.clone() });
        }
        if self.revoked.contains(&identifier.token_id, poll).await? {
            return Err(Error::Revoked);
        }
        if found.pending {
            // First use of a paid token: keep its key for good.
            self.keys.confirm(&identifier, &found.key).await?;
        }
        if !proven {
            let proof = Proof { credential: credential.clone(), identifier, key: found.key };
            self.proven.insert(&request.headers, proof);
        }
        let (held, used_before) = match accepted.verdict.max_uses {
            None => (None, None),
            Some(allowance) => {
                let Some(held) = self.meter.reserve(&identifier.token_id, allowance, now).await?
                else {
                    let used = self.meter.uses(&identifier.token_id).await?;
                    return Err(Error::Caveat(l402_caveats::Error::UsesExhausted {
                        allowance,
                        used,
                    }));
                };
                let used = held.used_before();
                (Some(held), Some(used))
            }
        };
        Ok(Authorized {
            token: VerifiedToken::new(credential, &accepted, &route.service, used_before),
            held,
        })
    }

    /// Settles a request's use: counted when `charge`, given back otherwise (only when the
    /// request provably did no work: decision 0813). Never fails and does not wait for the
    /// store to count: the reservation already holds the use, and the count is written in
    /// the background (decisions 0609, 0610). A give-back is waited for. Returns what the
    /// token still buys, as far as known.
    pub async fn finish(&self, mut authorized: Authorized, charge: bool) -> Finished {
        let mut status = TokenStatus {
            expires: authorized.token.expires,
            remaining: authorized.token.remaining,
        };
        let Some(held) = authorized.held.take() else {
            return Finished { status, settlement: Settlement::Unmetered };
        };
        let (settlement, remaining) = held.settle(charge).await;
        if remaining.is_some() {
            status.remaining = remaining;
        }
        Finished { status, settlement }
    }

    /// Revokes a token id everywhere the store reaches: here at once, in other instances
    /// within their `revocation_poll`.
    pub async fn revoke(&self, token_id: &TokenId) -> Result<(), Error> {
        self.revoked.revoke(token_id, self.now()).await?;
        self.keys.forget_cached();
        self.proven.clear();
        Ok(())
    }

    /// Reads the store's revocation feed now instead of at the next poll; returns how many
    /// ids it carried (tests, and operators who want a revocation seen at once).
    pub async fn sync_revocations(&self) -> Result<usize, Error> {
        self.revoked.sync().await
    }

    /// Rotates the derived-mode master key (see [`crate::KeyRing::rotate`]); a
    /// [`Error::Config`] in per-token mode.
    pub fn rotate(&self, key_id: u32, secret: [u8; 32]) -> Result<(), Error> {
        self.keys.rotate(key_id, secret, self.now())
    }

    /// Whether something can be bought now: the store and the Lightning backend both answer
    /// (each within 2 s; one result serves the probes of a second). For readiness probes;
    /// paid tokens may still verify while this says no.
    pub async fn readiness(&self) -> Readiness {
        self.probe.check(&*self.store, &*self.backend).await
    }

    /// Prunes now (minting also does it every `prune_interval`, in the background): pending
    /// keys past their deadline are checked against the node, paid ones kept and unpaid ones
    /// forgotten; lapsed reservations are counted as uses (decision 0609) and finished rate
    /// windows go.
    pub async fn prune(&self) -> Result<Pruned, Error> {
        self.pruner.now(self.now()).await
    }
}
