//! The IO shell around the sans-IO core: mint challenges, look keys up, check revocation,
//! count uses.

use core::time::Duration;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::UNIX_EPOCH;

use http::HeaderMap;
use l402_caveats::{Context, Verifier};
use l402_http::{ChallengeStyle, Credential};
use l402_lightning::clock::{Clock, SystemClock};
use l402_lightning::{InvoiceBackend, InvoiceRequest, InvoiceState};
use l402_token::{Identifier, TokenId};

use crate::cache::KeyCache;
use crate::client::{bucket, TrustedProxies};
use crate::keys::{key_hash, KeyMode, RootKey};
use crate::mint::{macaroon, MintedChallenge, Route};
use crate::rate::RateGate;
use crate::settle::{retry, Op, Settlement};
use crate::store::{KeyRecord, Pruned, Reservation, RootKeyStore};
use crate::verify::{identify, verify, VerifiedToken};
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
        }
    }
}

/// The server side of L402: mints challenges and authorizes credentials.
///
/// Share one per process behind an `Arc`; it is what [`crate::tower::L402Layer`] calls.
pub struct Paywall {
    backend: Arc<dyn InvoiceBackend>,
    store: Arc<dyn RootKeyStore>,
    keys: RwLock<KeyMode>,
    cache: RwLock<KeyCache>,
    rate: RateGate,
    caveats: Verifier,
    config: PaywallConfig,
    clock: Arc<dyn Clock>,
    last_prune: AtomicI64,
    /// Set while a background prune runs, so that a slow node does not pile them up.
    pruning: Arc<AtomicBool>,
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
    /// What the token still buys, for `L402-Token-Status`. After a refused commit or
    /// give-back, the estimate made at verification.
    pub status: TokenStatus,
    /// How the use was settled.
    pub settlement: Settlement,
}

/// Configures a [`Paywall`].
pub struct PaywallBuilder {
    backend: Arc<dyn InvoiceBackend>,
    store: Arc<dyn RootKeyStore>,
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
        Paywall {
            backend: self.backend,
            store: self.store,
            keys: RwLock::new(self.keys),
            cache: RwLock::new(KeyCache::new(self.config.cache_capacity)),
            rate: RateGate::new(self.config.rate_limit, self.config.rate_clients),
            caveats: self.caveats,
            config: self.config,
            clock: self.clock,
            last_prune: AtomicI64::new(i64::MIN),
            pruning: Arc::default(),
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
    reservation: Option<Reservation>,
    store: Arc<dyn RootKeyStore>,
    /// How long a refused commit is retried (the lease).
    lease: Duration,
    /// Renews the reservation's lease while the request runs (a long stream would otherwise
    /// outlive it and be counted early by a prune, with no way left to give it back).
    keeper: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Authorized {
    fn drop(&mut self) {
        if let Some(k) = self.keeper.take() {
            k.abort();
        }
        // The request was abandoned (client gone, handler panicked or cancelled) after it was
        // let through: the work may be done, so the use is charged. Without a runtime the
        // reservation stays and counts when its lease lapses.
        if let (Some(r), Ok(rt)) = (self.reservation.take(), tokio::runtime::Handle::try_current())
        {
            let (store, lease) = (Arc::clone(&self.store), self.lease);
            rt.spawn(async move {
                if let Err(e) = store.commit_use(&r).await {
                    tracing::warn!(code = e.code(), "charging an abandoned use failed; retrying");
                    retry(store, r, Op::Commit, lease);
                }
            });
        }
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Clears the paywall's "a prune is running" flag when dropped.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn unix_now(clock: &dyn Clock) -> i64 {
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
    pub fn builder(
        backend: Arc<dyn InvoiceBackend>,
        store: Arc<dyn RootKeyStore>,
    ) -> PaywallBuilder {
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
    pub fn store(&self) -> &Arc<dyn RootKeyStore> {
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
        self.check_rate(client, now).await?;
        self.maybe_prune(now).await;
        let amount_msat = route.price.of(request).await?;
        let invoice = self
            .backend
            .create_invoice(InvoiceRequest {
                amount_msat,
                memo: route.memo.clone(),
                expiry: self.config.invoice_expiry,
            })
            .await?;
        let (identifier, root_key) = {
            let keys = read(&self.keys);
            match &*keys {
                KeyMode::PerToken => {
                    let token_id = TokenId::random()
                        .map_err(|e| Error::Config(format!("no randomness: {e}")))?;
                    (Identifier { payment_hash: invoice.payment_hash, token_id }, None)
                }
                KeyMode::Derived(ring) => {
                    let identifier = Identifier {
                        payment_hash: invoice.payment_hash,
                        token_id: ring.token_id()?,
                    };
                    let key = ring
                        .root_key(&identifier, now)
                        .ok_or_else(|| Error::Config("current key id has no key".into()))?;
                    (identifier, Some(key))
                }
            }
        };
        let root_key = match root_key {
            Some(k) => k,
            None => {
                let key = RootKey::random()?;
                let pending = secs(self.config.invoice_expiry)
                    .saturating_add(secs(self.config.pending_grace));
                self.store
                    .insert_key(KeyRecord {
                        key_hash: key_hash(&identifier),
                        token_id: identifier.token_id,
                        payment_hash: identifier.payment_hash,
                        root_key: key.clone(),
                        pending_until: Some(now.saturating_add(pending)),
                    })
                    .await?;
                key
            }
        };
        let caveats = route.caveats_for(request, now)?;
        let mac = macaroon(&root_key, &identifier, &caveats);
        MintedChallenge::new(mac, invoice, identifier, amount_msat, self.config.style)
    }

    /// This instance's gate first, in memory; only a request it lets through counts in the
    /// store's shared window, which writes nothing once that window is full (decision 0607).
    async fn check_rate(&self, client: Option<IpAddr>, now: i64) -> Result<(), Error> {
        let bucket = bucket(client);
        let window_end = self.rate.admit(&bucket, now)?;
        if !self.store.take_hit(&bucket, window_end, self.config.rate_limit.challenges).await? {
            let retry_after = u64::try_from(window_end.saturating_sub(now)).unwrap_or(1);
            return Err(Error::RateLimited { retry_after: retry_after.max(1) });
        }
        Ok(())
    }

    async fn maybe_prune(&self, now: i64) {
        let last = self.last_prune.load(Ordering::Relaxed);
        if now.saturating_sub(last) < secs(self.config.prune_interval) {
            return;
        }
        // One request prunes; the others go on.
        if self.last_prune.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err()
        {
            return;
        }
        if self.pruning.swap(true, Ordering::AcqRel) {
            return; // The previous one is still asking the node.
        }
        let (store, backend) = (Arc::clone(&self.store), Arc::clone(&self.backend));
        let pruning = Arc::clone(&self.pruning);
        let recheck_at = now.saturating_add(self.recheck_delay());
        let work = async move {
            // Cleared however the task ends (finished, or cancelled with its runtime).
            let _running = Running(pruning);
            if let Err(e) = prune(&*store, &*backend, now, recheck_at).await {
                tracing::warn!(code = e.code(), "pruning the store failed");
            }
        };
        // Checking due keys asks the node once per key: not on this request's time.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(work)),
            Err(_) => work.await,
        }
    }

    /// When a due key whose invoice could not be judged is looked at again.
    fn recheck_delay(&self) -> i64 {
        secs(self.config.prune_interval).max(60)
    }

    /// Verifies the credential in `request` for `route`, then reserves one use when the
    /// token has an allowance.
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
        let credential = Credential::from_headers(&request.headers)?;
        let identifier = identify(&credential)?;
        let (root_key, pending) = self.root_key(&identifier, now).await?;
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
        let accepted = verify(&credential, &root_key, &context, &self.caveats)?;
        if self.store.is_revoked(&identifier.token_id).await? {
            return Err(Error::Revoked);
        }
        if pending {
            // First use of a paid token: keep its key for good.
            self.store.confirm_key(&key_hash(&identifier)).await?;
        }
        let (reservation, used_before) = match accepted.verdict.max_uses {
            None => (None, None),
            Some(allowance) => {
                let lease = now.saturating_add(secs(self.config.reservation_lease));
                let Some(r) =
                    self.store.reserve_use(&identifier.token_id, allowance, lease).await?
                else {
                    let used = self.store.uses(&identifier.token_id).await?;
                    return Err(Error::Caveat(l402_caveats::Error::UsesExhausted {
                        allowance,
                        used,
                    }));
                };
                let used = self.store.uses(&identifier.token_id).await?;
                (Some(r), Some(used))
            }
        };
        let keeper = reservation.as_ref().and_then(|r| self.keep_lease(r));
        Ok(Authorized {
            token: VerifiedToken::new(&credential, &accepted, &route.service, used_before),
            reservation,
            store: Arc::clone(&self.store),
            lease: self.config.reservation_lease,
            keeper,
        })
    }

    /// A task renewing `r`'s lease every third of it, until the request is finished or
    /// dropped (which abort it) or the reservation is gone. `None` without a tokio runtime:
    /// a request outliving the lease is then counted by the next prune, whatever its end.
    fn keep_lease(&self, r: &Reservation) -> Option<tokio::task::JoinHandle<()>> {
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let (store, clock, r) = (Arc::clone(&self.store), Arc::clone(&self.clock), r.clone());
        let lease = self.config.reservation_lease;
        Some(rt.spawn(async move {
            loop {
                tokio::time::sleep((lease / 3).max(Duration::from_secs(1))).await;
                let until = unix_now(&*clock).saturating_add(secs(lease));
                match store.renew_use(&r, until).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(code = e.code(), "renewing a reserved use failed"),
                }
            }
        }))
    }

    async fn root_key(&self, identifier: &Identifier, now: i64) -> Result<(RootKey, bool), Error> {
        if let KeyMode::Derived(ring) = &*read(&self.keys) {
            return ring.root_key(identifier, now).map(|k| (k, false)).ok_or(Error::UnknownToken);
        }
        // The cache is keyed by the identifier itself: a hit then costs no SHA-256, only the
        // store's key needs `sha256(identifier)`, and only on a miss.
        if let Some(k) = read(&self.cache).get(identifier) {
            return Ok((k.clone(), false));
        }
        let hash = key_hash(identifier);
        let Some(stored) = self.store.root_key(&hash).await? else {
            return Err(if self.store.is_revoked(&identifier.token_id).await? {
                Error::Revoked
            } else {
                Error::UnknownToken
            });
        };
        if !stored.pending {
            write(&self.cache).insert(*identifier, stored.root_key.clone());
        }
        Ok((stored.root_key, stored.pending))
    }

    /// Settles a request's use: counted when `charge`, given back otherwise (only when the
    /// request provably did no work: decision 0813). Never fails: a store that refuses is
    /// retried in the background, and a reservation left unsettled counts as a use when its
    /// lease lapses (decision 0609). Returns what the token still buys, as far as known.
    pub async fn finish(&self, mut authorized: Authorized, charge: bool) -> Finished {
        if let Some(k) = authorized.keeper.take() {
            k.abort();
        }
        let estimate = authorized.token.remaining;
        let mut status = TokenStatus { expires: authorized.token.expires, remaining: estimate };
        let Some(r) = authorized.reservation.take() else {
            return Finished { status, settlement: Settlement::Unmetered };
        };
        let lease = self.config.reservation_lease;
        let store = &self.store;
        let settlement = if charge {
            match store.commit_use(&r).await {
                Ok(used) => {
                    status.remaining = Some(r.allowance.saturating_sub(used));
                    Settlement::Charged
                }
                Err(e) => {
                    tracing::warn!(code = e.code(), "counting a use failed; retrying");
                    retry(Arc::clone(store), r, Op::Commit, lease);
                    Settlement::ChargeRetried
                }
            }
        } else {
            match store.release_use(&r).await {
                Ok(()) => {
                    status.remaining = match store.uses(&r.token_id).await {
                        Ok(used) => Some(r.allowance.saturating_sub(used)),
                        Err(_) => estimate.map(|n| n.saturating_add(1)),
                    };
                    Settlement::GivenBack
                }
                Err(e) => {
                    tracing::warn!(code = e.code(), "giving a use back failed; retrying");
                    retry(Arc::clone(store), r, Op::Release, lease);
                    Settlement::GiveBackRetried
                }
            }
        };
        Finished { status, settlement }
    }

    /// Revokes a token id everywhere the store reaches.
    pub async fn revoke(&self, token_id: &TokenId) -> Result<(), Error> {
        self.store.revoke(token_id, self.now()).await?;
        write(&self.cache).clear();
        Ok(())
    }

    /// Rotates the derived-mode master key (see [`crate::KeyRing::rotate`]); a
    /// [`Error::Config`] in per-token mode.
    pub fn rotate(&self, key_id: u32, secret: [u8; 32]) -> Result<(), Error> {
        let now = self.now();
        match &mut *write(&self.keys) {
            KeyMode::Derived(ring) => ring.rotate(key_id, secret, now),
            KeyMode::PerToken => Err(Error::Config("per-token keys do not rotate".into())),
        }
    }

    /// Prunes now (minting also does it every `prune_interval`, in the background): pending
    /// keys past their deadline are checked against the node, paid ones kept and unpaid ones
    /// forgotten; lapsed reservations are counted as uses (decision 0609) and finished rate
    /// windows go.
    pub async fn prune(&self) -> Result<Pruned, Error> {
        let now = self.now();
        prune(&*self.store, &*self.backend, now, now.saturating_add(self.recheck_delay())).await
    }
}

/// Pending keys claimed per store round trip.
const SWEEP_BATCH: usize = 64;
/// Keys checked per prune at most, so one prune's work stays bounded; the rest wait for the
/// next.
const SWEEP_MAX: usize = 1024;

/// The store's own prune, after settling the pending keys whose deadline passed (decision
/// 0600): a buyer who paid but has not presented the token yet must not lose it, so a key is
/// only forgotten once the node says its invoice can no longer be paid. A key the node cannot
/// judge now (unreachable, invoice still open) is claimed again at `recheck_at`. The store's
/// own prune runs even when settling fails.
async fn prune(
    store: &dyn RootKeyStore,
    backend: &dyn InvoiceBackend,
    now: i64,
    recheck_at: i64,
) -> Result<Pruned, Error> {
    // Half the recheck delay: claims made by this prune do not lapse while it still works on
    // them, so no other prune asks the node about them again.
    let budget =
        Duration::from_secs(u64::try_from(recheck_at.saturating_sub(now) / 2).unwrap_or(0));
    let settled = settle_due_keys(store, backend, now, recheck_at, budget).await;
    let store_pruned = store.prune(now).await;
    let settled = settled?;
    let store_pruned = store_pruned?;
    Ok(Pruned { reservations: store_pruned.reservations, windows: store_pruned.windows, ..settled })
}

async fn settle_due_keys(
    store: &dyn RootKeyStore,
    backend: &dyn InvoiceBackend,
    now: i64,
    recheck_at: i64,
    budget: Duration,
) -> Result<Pruned, Error> {
    use l402_lightning::Error as Ln;
    let started = std::time::Instant::now();
    let mut settled = Pruned::default();
    let mut seen = 0;
    'sweep: while seen < SWEEP_MAX && started.elapsed() < budget {
        let due = store.claim_due_keys(now, recheck_at, SWEEP_BATCH).await?;
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
