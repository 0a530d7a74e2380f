//! The reqwest middleware: answer 402s by paying, reuse tokens, never pay twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::{Extensions, StatusCode};
use l402_http::{challenges_from_headers, select, select_opaque, Scheme};
use l402_lightning::clock::{Clock, SystemClock};
use l402_lightning::{check_against_macaroon, Invoice, PayRequest, Payer, PaymentStatus};
use l402_token::PaymentHash;
use reqwest::{Request, Response, Url};
use reqwest_middleware::{Middleware, Next};

use crate::scope::{is_loopback, ledger_url};
use crate::store::TokenStore;
use crate::{
    Bearer, Builder, Config, Error, LedgerQuery, Outcome, Paid, PendingPayment, Resolution, Scope,
    ScopePolicy, Token, TokenStatus,
};

/// A reqwest middleware that pays L402 challenges. Cheap to clone; clones share their
/// in-process locks.
///
/// See the crate documentation for the flow and an example.
#[derive(Clone)]
pub struct L402Middleware {
    inner: Arc<Inner>,
}

struct Inner {
    payer: Arc<dyn Payer>,
    store: Arc<dyn TokenStore>,
    config: Config,
    clock: Arc<dyn Clock>,
    locks: Mutex<HashMap<Scope, Arc<tokio::sync::Mutex<()>>>>,
}

impl core::fmt::Debug for L402Middleware {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("L402Middleware")
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What a challenge would cost, without paying it (`l402 get --dry-run`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quote {
    /// The scope a token would be bought for.
    pub scope: Scope,
    /// The invoice's payment hash.
    pub payment_hash: PaymentHash,
    /// The price in millisatoshis.
    pub amount_msat: u64,
    /// The fee limit that would be used, in millisatoshis.
    pub max_fee_msat: u64,
    /// The first check paying would fail, if any (over budget, over max cost, bad invoice).
    pub refusal: Option<String>,
}

/// Attached to every response the middleware obtained with an L402 token:
/// `response.extensions().get::<Receipt>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The token's scope.
    pub scope: Scope,
    /// The token's payment hash.
    pub payment_hash: PaymentHash,
    /// True when this request paid for the token; false when it reused a stored one.
    pub paid_now: bool,
    /// The amount paid by this request in millisatoshis (0 when reused).
    pub amount_msat: u64,
    /// The fee paid by this request in millisatoshis (0 when reused).
    pub fee_msat: u64,
    /// What the token still buys after this request, when the server said so in an
    /// `L402-Token-Status` header (ours does; decision 0604).
    pub token_status: Option<TokenStatus>,
}

impl Receipt {
    fn reused(token: &Token) -> Receipt {
        Receipt {
            scope: token.scope.clone(),
            payment_hash: token.payment_hash,
            paid_now: false,
            amount_msat: 0,
            fee_msat: 0,
            token_status: None,
        }
    }

    /// Attaches the receipt to the response it describes, with the server's token status.
    fn attach(self, resp: &mut Response) {
        let token_status = TokenStatus::from_headers(resp.headers());
        resp.extensions_mut().insert(Receipt { token_status, ..self });
    }
}

/// How one pending payment was resolved by [`L402Middleware::recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The payment.
    pub payment_hash: PaymentHash,
    /// Its outcome now: `Paid` (token stored), `Failed`, or still `Pending`.
    pub outcome: Outcome,
}

/// Payer errors after which the payment certainly did not happen.
fn definitely_not_paid(e: &l402_lightning::Error) -> bool {
    use l402_lightning::Error as E;
    matches!(
        e,
        E::InvoiceExpired
            | E::NoRoute
            | E::InsufficientBalance
            | E::InvoiceNotFound
            | E::AmountRequired
            | E::WrongNetwork { .. }
            | E::MalformedInvoice(_)
            | E::InvalidInvoiceSignature
            | E::PaymentHashMismatch
            | E::PermissionDenied(_)
            | E::PaymentFailed(_)
            | E::FeeLimitExceeded
            | E::InvalidRequest(_)
            | E::Config(_)
    )
}

impl From<Error> for reqwest_middleware::Error {
    fn from(e: Error) -> Self {
        reqwest_middleware::Error::middleware(e)
    }
}

fn with_token(mut req: Request, token: &Token) -> Result<Request, Error> {
    req.headers_mut().insert(http::header::AUTHORIZATION, token.authorization()?);
    Ok(req)
}

/// The challenge a 402 is answered with: a macaroon challenge; else, when opaque tokens are
/// allowed (decision 0711), a challenge whose token is not a macaroon.
struct Chosen {
    scheme: Scheme,
    bearer: Bearer,
    invoice: String,
}

fn choose_challenge(headers: &http::HeaderMap, opaque: bool) -> Result<Chosen, Error> {
    let offered = challenges_from_headers(headers).map_err(Error::InvalidChallenge)?;
    let err = match select(&offered) {
        Ok(c) => {
            return Ok(Chosen {
                scheme: c.scheme,
                bearer: Bearer::Macaroon(c.macaroon.clone()),
                invoice: c.invoice.clone(),
            })
        }
        Err(e) => e,
    };
    match select_opaque(&offered) {
        Some(o) if opaque => {
            Ok(Chosen { scheme: o.scheme, bearer: Bearer::Opaque(o.token), invoice: o.invoice })
        }
        Some(_) => Err(Error::OpaqueToken(err)),
        None => Err(Error::InvalidChallenge(err)),
    }
}

/// A 402, or a 401 that carries an L402 challenge (Aperture's answer on some paths).
fn needs_payment(resp: &Response) -> bool {
    match resp.status() {
        StatusCode::PAYMENT_REQUIRED => true,
        StatusCode::UNAUTHORIZED => challenges_from_headers(resp.headers())
            .is_ok_and(|offered| select(&offered).is_ok() || select_opaque(&offered).is_some()),
        _ => false,
    }
}

fn replay(template: &Request) -> Result<Request, Error> {
    template.try_clone().ok_or(Error::BodyNotReplayable)
}

impl L402Middleware {
    /// Starts building a middleware that pays with `payer` and keeps tokens in `store`.
    pub fn builder(payer: Arc<dyn Payer>, store: Arc<dyn TokenStore>) -> Builder {
        Builder { payer, store, config: Config::default(), clock: Arc::new(SystemClock) }
    }

    pub(crate) fn from_parts(
        payer: Arc<dyn Payer>,
        store: Arc<dyn TokenStore>,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> L402Middleware {
        L402Middleware {
            inner: Arc::new(Inner {
                payer,
                store,
                config,
                clock,
                locks: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The token store.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.inner.store
    }

    async fn blocking<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&dyn TokenStore) -> Result<R, Error> + Send + 'static,
    {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|e| Error::Store(format!("store task failed: {e}")))?
    }

    fn local_lock(&self, scope: &Scope) -> Arc<tokio::sync::Mutex<()>> {
        // The map only grows by cloning Arcs in; a poisoned lock still holds a valid map.
        let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(scope.clone()).or_default().clone()
    }

    /// Takes this process's lock for `scope`, then the store's (other processes).
    async fn lock(
        &self,
        scope: &Scope,
    ) -> Result<(tokio::sync::OwnedMutexGuard<()>, crate::ScopeGuard), Error> {
        let local = self.local_lock(scope).lock_owned().await;
        let s = scope.clone();
        let guard = self.blocking(move |st| st.lock_scope(&s)).await?;
        Ok((local, guard))
    }

    /// Checks a challenge's invoice before any money moves.
    fn check_invoice(&self, challenge: &Chosen) -> Result<(Invoice, u64), Error> {
        let invoice = Invoice::parse(&challenge.invoice).map_err(Error::InvalidInvoice)?;
        let amount = invoice.require_amount().map_err(Error::InvalidInvoice)?;
        // An opaque token cannot be checked against the invoice: that is why it is opt-in.
        if let Bearer::Macaroon(macaroon) = &challenge.bearer {
            check_against_macaroon(&invoice, macaroon).map_err(|e| match e {
                l402_lightning::Error::PaymentHashMismatch => Error::InvoiceMismatch,
                // The macaroon is at fault, not the invoice: its identifier does not read.
                l402_lightning::Error::Token(t) => {
                    Error::InvalidChallenge(l402_http::Error::Token(t))
                }
                other => Error::InvalidInvoice(other),
            })?;
        }
        invoice.check_network(self.inner.config.network).map_err(Error::InvalidInvoice)?;
        invoice.check_not_expired(self.inner.clock.now()).map_err(Error::InvalidInvoice)?;
        if amount > self.inner.config.max_cost_msat {
            return Err(Error::OverMaxCost {
                amount_msat: amount,
                max_cost_msat: self.inner.config.max_cost_msat,
            });
        }
        Ok((invoice, amount))
    }

    fn check_transport(&self, url: &Url) -> Result<(), Error> {
        if url.scheme() == "http" && !is_loopback(url) && !self.inner.config.allow_insecure_http {
            return Err(Error::InsecureTransport);
        }
        Ok(())
    }

    /// What paying the challenge in a 402 response's headers would cost and whether it would
    /// be allowed, without paying. `url` is the request's.
    pub async fn quote(&self, url: &Url, headers: &http::HeaderMap) -> Result<Quote, Error> {
        let scope = Scope::for_url(url, self.inner.config.scope)?;
        let challenge = choose_challenge(headers, self.inner.config.opaque_tokens)?;
        let invoice = Invoice::parse(&challenge.invoice).map_err(Error::InvalidInvoice)?;
        let max_fee_msat = self.inner.config.max_fee_msat;
        let mut refusal = self.check_transport(url).err().map(|e| e.to_string());
        if refusal.is_none() {
            refusal = self.check_invoice(&challenge).err().map(|e| e.to_string());
        }
        let amount_msat = invoice.amount_msat().unwrap_or(0);
        if refusal.is_none() {
            let budget = self.inner.config.budget.clone();
            let domain = scope.domain().to_owned();
            let now = self.inner.clock.now();
            let needed = amount_msat.saturating_add(max_fee_msat);
            let checked = self
                .blocking(move |st| {
                    budget.check(needed, &domain, now, &mut |since, d| st.spent(since, d))
                })
                .await;
            refusal = checked.err().map(|e| e.to_string());
        }
        Ok(Quote {
            scope,
            payment_hash: invoice.payment_hash(),
            amount_msat,
            max_fee_msat,
            refusal,
        })
    }

    /// Resolves every pending payment in the store through the payer's status lookup: paid
    /// ones get their token stored, failed or never-attempted ones release their budget
    /// reservation, in-flight ones stay pending. Nothing is paid. Safe to run while other
    /// processes use the store: each payment is resolved under its scope's lock.
    pub async fn recover(&self) -> Result<Vec<Recovered>, Error> {
        let pending = self.blocking(|st| st.pending()).await?;
        let mut out = Vec::new();
        for p in pending {
            let _guards = self.lock(&p.scope).await?;
            // Resolved by someone else while we waited for the lock?
            let hash = p.payment_hash;
            let still = self
                .blocking(move |st| Ok(st.pending()?.into_iter().any(|q| q.payment_hash == hash)))
                .await?;
            if !still {
                continue;
            }
            let outcome = self.resolve_orphan(&p).await?;
            out.push(Recovered { payment_hash: hash, outcome });
        }
        Ok(out)
    }

    /// Resolves a pending payment whose owner is gone (the caller holds its scope's lock).
    async fn resolve_orphan(&self, p: &PendingPayment) -> Result<Outcome, Error> {
        let resolution = match self.inner.payer.payment_status(&p.payment_hash).await {
            Ok(PaymentStatus::Succeeded(paid)) if paid.preimage.check(&p.payment_hash).is_ok() => {
                Resolution::Paid { preimage: paid.preimage, fee_msat: paid.fee_msat }
            }
            Ok(PaymentStatus::Failed(e)) => Resolution::Failed(e.code().to_owned()),
            // The payer never attempted it: the process died between recording and paying.
            Ok(PaymentStatus::Unknown) => Resolution::Failed("not-attempted".to_owned()),
            // In flight, a success without a valid proof, or the payer cannot be asked: keep
            // the reservation and do not pay for this scope until it resolves.
            _ => return Ok(Outcome::Pending),
        };
        let hash = p.payment_hash;
        let now = self.inner.clock.now();
        let r = resolution.clone();
        self.blocking(move |st| st.resolve_payment(&hash, &r, now)).await?;
        Ok(match resolution {
            Resolution::Paid { .. } => Outcome::Paid,
            Resolution::Failed(code) => Outcome::Failed(code),
        })
    }

    /// Resolves pending payments of `scope` left by dead processes; fails if one stays
    /// unresolved. The caller holds the scope's lock.
    async fn settle_scope(&self, scope: &Scope) -> Result<(), Error> {
        let s = scope.clone();
        let pending = self
            .blocking(move |st| {
                let mine = |p: &PendingPayment| p.scope.origin() == s.origin();
                Ok(st.pending()?.into_iter().filter(mine).collect::<Vec<_>>())
            })
            .await?;
        for p in pending {
            if self.resolve_orphan(&p).await? == Outcome::Pending {
                return Err(Error::PaymentPending { payment_hash: p.payment_hash });
            }
        }
        Ok(())
    }

    /// Pays the challenge in `resp` for `scope` (the caller holds the scope's lock) and
    /// returns the stored token.
    async fn pay(&self, scope: &Scope, url: &Url, resp: &Response) -> Result<Token, Error> {
        // Redirects were followed below this middleware: the challenge is the last hop's.
        // Its origin must be the request's, so that budgets, the plain-HTTP rule and the
        // token's scope all speak of the server that is paid.
        let issuer = resp.url();
        let same =
            Scope::for_url(issuer, ScopePolicy::Origin).is_ok_and(|s| s.origin() == scope.origin());
        if !same {
            return Err(Error::RedirectedChallenge { url: ledger_url(issuer) });
        }
        self.check_transport(issuer)?;
        let challenge = choose_challenge(resp.headers(), self.inner.config.opaque_tokens)?;
        let (invoice, amount_msat) = self.check_invoice(&challenge)?;
        // The token's own caveats may say where it applies (a path, one service): keep it
        // there when that is narrower, so it is never sent where it is refused (decision
        // 0710). Both scopes cover `url`, so the longer is the narrower.
        let narrowed = challenge
            .bearer
            .macaroon()
            .and_then(|m| Scope::from_caveats(url, m))
            .filter(|s| s.as_str().len() > scope.as_str().len());
        let scope = narrowed.as_ref().unwrap_or(scope);
        self.check_transport(url)?;
        let cfg = &self.inner.config;
        let now = self.inner.clock.now();
        let hash = invoice.payment_hash();
        let pending = PendingPayment {
            time: now,
            url: ledger_url(url),
            scope: scope.clone(),
            payment_hash: hash,
            amount_msat,
            max_fee_msat: cfg.max_fee_msat,
            expires_at: invoice.expires_at(),
            bearer: challenge.bearer.clone(),
            scheme: challenge.scheme,
        };
        let (p, budget) = (pending.clone(), cfg.budget.clone());
        self.blocking(move |st| st.begin_payment(&p, &budget, now)).await?;
        tracing::info!(%hash, amount_msat, url = %pending.url, "paying L402 invoice");

        let paid = self
            .inner
            .payer
            .pay(PayRequest {
                bolt11: invoice.as_str().to_owned(),
                max_fee_msat: cfg.max_fee_msat,
                timeout: cfg.pay_timeout,
            })
            .await;
        let (resolution, failure) = match paid {
            Ok(p) if p.preimage.check(&hash).is_ok() => {
                (Resolution::Paid { preimage: p.preimage, fee_msat: p.fee_msat }, None)
            }
            Ok(_) => {
                let e = l402_lightning::Error::Backend("payer returned a wrong preimage".into());
                self.after_unknown(hash, e).await?
            }
            Err(e) if definitely_not_paid(&e) => (Resolution::Failed(e.code().to_owned()), Some(e)),
            Err(e) => self.after_unknown(hash, e).await?,
        };
        let now = self.inner.clock.now();
        let r = resolution.clone();
        self.blocking(move |st| st.resolve_payment(&hash, &r, now)).await?;
        match (resolution, failure) {
            (Resolution::Paid { preimage, fee_msat }, _) => Ok(Token {
                scope: scope.clone(),
                scheme: challenge.scheme,
                bearer: challenge.bearer,
                preimage,
                payment_hash: hash,
                amount_msat,
                fee_msat,
                created_at: now,
            }),
            (Resolution::Failed(code), failure) => Err(Error::PaymentFailed {
                payment_hash: hash,
                paid: Paid::No,
                source: failure.unwrap_or(l402_lightning::Error::PaymentFailed(code)),
            }),
        }
    }

    /// After an error that leaves the outcome open, asks the payer once. Returns the
    /// resolution if known; otherwise the payment stays pending and this is an error.
    async fn after_unknown(
        &self,
        hash: PaymentHash,
        e: l402_lightning::Error,
    ) -> Result<(Resolution, Option<l402_lightning::Error>), Error> {
        match self.inner.payer.payment_status(&hash).await {
            Ok(PaymentStatus::Succeeded(p)) if p.preimage.check(&hash).is_ok() => {
                Ok((Resolution::Paid { preimage: p.preimage, fee_msat: p.fee_msat }, None))
            }
            Ok(PaymentStatus::Failed(f)) => Ok((Resolution::Failed(f.code().to_owned()), Some(f))),
            _ => Err(Error::PaymentFailed { payment_hash: hash, paid: Paid::Unknown, source: e }),
        }
    }

    async fn run(
        &self,
        req: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // Only http(s) URLs with a host have a scope; anything else is not ours to pay for.
        let Ok(scope) = Scope::for_url(req.url(), self.inner.config.scope) else {
            return next.run(req, ext).await;
        };
        let url = req.url().clone();
        let template = req.try_clone();
        let cached = self.choose(&url, &[]).await?;
        let mut tried: Vec<PaymentHash> = Vec::new();
        // A token refused here but bought for another service of this origin is kept, and the
        // new one is bought for this service alone (decision 0710).
        let mut other_service = false;
        let first = match &cached {
            Some(t) => with_token(req, t)?,
            None => req,
        };
        let mut resp = next.clone().run(first, ext).await?;
        if !needs_payment(&resp) {
            if let Some(t) = &cached {
                Receipt::reused(t).attach(&mut resp);
            }
            return Ok(resp);
        }
        if let Some(t) = cached {
            tracing::info!(scope = %t.scope, hash = %t.payment_hash, "cached L402 token refused");
            other_service |= !self.refused(&t, &url).await?;
            tried.push(t.payment_hash);
        }
        let Some(template) = template else { return Err(Error::BodyNotReplayable.into()) };

        let token = {
            let _guards = self.lock(&scope).await?;
            self.settle_scope(&scope).await?;
            // Another task or process may have bought a token while we waited.
            if let Some(t) = self.choose(&url, &tried).await? {
                let mut r = next.clone().run(with_token(replay(&template)?, &t)?, ext).await?;
                if !needs_payment(&r) {
                    Receipt::reused(&t).attach(&mut r);
                    return Ok(r);
                }
                other_service |= !self.refused(&t, &url).await?;
                resp = r;
            }
            let buy_for = match other_service {
                true => Scope::service(&url)?,
                false => scope.clone(),
            };
            self.refused_recently(&url).await?;
            self.pay(&buy_for, &url, &resp).await?
        };

        let mut r = next.run(with_token(template, &token)?, ext).await?;
        if needs_payment(&r) {
            // Paid, and refused: remembered in the ledger, so that no run pays this scope
            // again within the back-off (decision 0708).
            let hash = token.payment_hash;
            self.blocking(move |st| st.reject_payment(&hash)).await?;
            self.drop_token(&token.scope, token.payment_hash).await?;
            return Err(Error::TokenRejected {
                payment_hash: token.payment_hash,
                status: r.status().as_u16(),
            }
            .into());
        }
        Receipt {
            paid_now: true,
            amount_msat: token.amount_msat,
            fee_msat: token.fee_msat,
            ..Receipt::reused(&token)
        }
        .attach(&mut r);
        Ok(r)
    }

    /// The token to send to `url`: of the stored tokens whose scope covers it (and not
    /// already `tried`), the one with the narrowest scope, so that a service's own token
    /// wins over one bought for its whole origin.
    async fn choose(&self, url: &Url, tried: &[PaymentHash]) -> Result<Option<Token>, Error> {
        let (scopes, tried) = (Scope::covering(url)?, tried.to_vec());
        self.blocking(move |st| {
            for s in &scopes {
                match st.token(s)? {
                    Some(t) if !tried.contains(&t.payment_hash) => return Ok(Some(t)),
                    _ => {}
                }
            }
            Ok(None)
        })
        .await
    }

    /// A token `url` refused. Dropped if it was bought for this service (it has expired or
    /// been revoked); kept if it was bought for another service of the same origin, which
    /// still accepts it. Returns whether it was dropped.
    async fn refused(&self, t: &Token, url: &Url) -> Result<bool, Error> {
        let own = if t.scope.has_path() {
            // It covers `url` (that is how it was chosen), and names one service.
            true
        } else {
            // Bought for the whole origin: where it was bought says which service sold it.
            let (hash, domain) = (t.payment_hash, t.scope.domain().to_owned());
            let query = LedgerQuery { since: None, domain: Some(domain) };
            let entries = self.blocking(move |st| st.ledger(&query)).await?;
            let bought = entries.into_iter().find(|e| e.payment_hash == hash);
            // Bought at the root (no first segment): it speaks for the whole origin.
            match bought
                .and_then(|e| Url::parse(&e.url).ok())
                .and_then(|at| Scope::service(&at).ok())
            {
                Some(sold) => !sold.has_path() || Scope::service(url).ok() == Some(sold),
                None => true,
            }
        };
        if own {
            self.drop_token(&t.scope, t.payment_hash).await?;
        }
        Ok(own)
    }

    /// Fails if the last payment for a scope covering `url` (the one about to be paid, or the
    /// narrower one a token's caveats chose) bought a token the server refused, within the
    /// back-off (unless `retry_rejected`). The ledger is the memory: nothing else to keep.
    async fn refused_recently(&self, url: &Url) -> Result<(), Error> {
        let covering = Scope::covering(url)?;
        let domain = Scope::for_url(url, ScopePolicy::Origin)?.domain().to_owned();
        let cfg = &self.inner.config;
        if cfg.retry_rejected || cfg.rejected_backoff.is_zero() {
            return Ok(());
        }
        let now = self.inner.clock.now();
        let since = now.checked_sub(cfg.rejected_backoff);
        let query = LedgerQuery { since, domain: Some(domain) };
        let entries = self.blocking(move |st| st.ledger(&query)).await?;
        let last = entries.into_iter().rev().find(|e| covering.contains(&e.scope));
        match last {
            Some(e) if e.outcome == Outcome::Rejected => Err(Error::RejectedRecently {
                payment_hash: e.payment_hash,
                until: e.time + cfg.rejected_backoff,
            }),
            _ => Ok(()),
        }
    }

    async fn drop_token(&self, scope: &Scope, hash: PaymentHash) -> Result<(), Error> {
        let s = scope.clone();
        self.blocking(move |st| st.remove_token(&s, Some(&hash))).await.map(|_| ())
    }
}

#[async_trait::async_trait]
impl Middleware for L402Middleware {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        self.run(req, extensions, next).await
    }
}
