//! What a route sells, and the pure half of minting: caveats and the macaroon.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::time::Duration;
use std::borrow::Cow;
use std::sync::Arc;

use http::HeaderValue;
use l402_caveats::{Caveat, ServiceTier};
use l402_http::ChallengeStyle;
use l402_lightning::CreatedInvoice;
use l402_token::{Identifier, Macaroon};

use crate::charge::NotDelivered;
use crate::keys::RootKey;
use crate::Error;

/// The future a dynamic price returns: millisatoshis, or why no price could be set.
pub type PriceFuture = Pin<Box<dyn Future<Output = Result<u64, String>> + Send>>;

type PriceFn = dyn Fn(&http::request::Parts) -> PriceFuture + Send + Sync;

/// What a route costs, in millisatoshis (decision 0200).
#[derive(Clone)]
pub enum Price {
    /// The same price for every request.
    Fixed(u64),
    /// A price computed from the request (method, path, headers); it may look things up.
    Dynamic(Arc<PriceFn>),
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Price::Fixed(msat) => write!(f, "Fixed({msat} msat)"),
            Price::Dynamic(_) => f.write_str("Dynamic(..)"),
        }
    }
}

impl Price {
    /// A fixed price in millisatoshis.
    pub fn msat(msat: u64) -> Price {
        Price::Fixed(msat)
    }

    /// A price from an async function of the request.
    pub fn dynamic<F>(f: F) -> Price
    where
        F: Fn(&http::request::Parts) -> PriceFuture + Send + Sync + 'static,
    {
        Price::Dynamic(Arc::new(f))
    }

    /// The price of this request; zero is refused (`config`): a paywall that charges
    /// nothing would mint amountless invoices.
    pub async fn of(&self, request: &http::request::Parts) -> Result<u64, Error> {
        let msat = match self {
            Price::Fixed(msat) => *msat,
            Price::Dynamic(f) => f(request).await.map_err(Error::Pricing)?,
        };
        if msat == 0 {
            return Err(Error::Config("a route's price must be above zero".into()));
        }
        Ok(msat)
    }
}

/// One protected route: what service it is, what it costs, and what a token bought here
/// allows.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Route {
    /// The service name (`services=<name>:<tier>`, `<name>_capabilities`, …).
    pub service: String,
    /// The service tier written into `services` (Aperture mints 0).
    pub tier: u8,
    /// The price.
    pub price: Price,
    /// Capabilities sold (`<service>_capabilities`; empty = unrestricted, as Aperture mints).
    pub capabilities: Vec<String>,
    /// The capability this route needs, checked against the token's capabilities caveat.
    pub capability: Option<String>,
    /// How long a token stays valid (`<service>_valid_until` = mint time + this).
    pub validity: Option<Duration>,
    /// How many requests a token may make (`max_uses`).
    pub max_uses: Option<u64>,
    /// Further caveats to mint (for example `methods`, `path_prefix`, service constraints).
    pub caveats: Vec<Caveat>,
    /// The invoice description.
    pub memo: String,
    /// The answers that give the use back (decision 0813); by default every 5xx.
    pub not_delivered: NotDelivered,
}

impl Route {
    /// A route selling `service` at `price`, with no expiry and no allowance.
    pub fn new(service: impl Into<String>, price: Price) -> Route {
        let service = service.into();
        Route {
            memo: format!("L402: {service}"),
            service,
            tier: 0,
            price,
            capabilities: Vec::new(),
            capability: None,
            validity: None,
            max_uses: None,
            caveats: Vec::new(),
            not_delivered: NotDelivered::default(),
        }
    }

    /// Sets the capabilities sold.
    pub fn capabilities(mut self, caps: &[&str]) -> Route {
        self.capabilities = caps.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Sets the capability this route needs.
    pub fn requires(mut self, capability: impl Into<String>) -> Route {
        self.capability = Some(capability.into());
        self
    }

    /// Sets the validity period.
    pub fn valid_for(mut self, validity: Duration) -> Route {
        self.validity = Some(validity);
        self
    }

    /// Sets the usage allowance.
    pub fn max_uses(mut self, uses: u64) -> Route {
        self.max_uses = Some(uses);
        self
    }

    /// Adds an extension caveat.
    pub fn caveat(mut self, caveat: Caveat) -> Route {
        self.caveats.push(caveat);
        self
    }

    /// Sets the answers that give the use back (default [`NotDelivered::default`]).
    pub fn not_delivered(mut self, not_delivered: NotDelivered) -> Route {
        self.not_delivered = not_delivered;
        self
    }

    /// Sets the invoice description.
    pub fn memo(mut self, memo: impl Into<String>) -> Route {
        self.memo = memo.into();
        self
    }

    /// The caveats a token minted at `now` (Unix seconds) carries, in Aperture's order:
    /// services, capabilities, constraints (ours: the route's extension caveats, then
    /// `max_uses`), then the timeout. Each is checked to encode losslessly. For a dynamic
    /// price, [`Route::caveats_for`] gives what a token for one request carries.
    pub fn caveats_at(&self, now: i64) -> Result<Vec<Caveat>, Error> {
        self.caveats_under(&self.service, None, now)
    }

    /// Refuses a request whose method the route's own `methods` caveat does not sell
    /// (`method-not-sold`, 405): no token minted for it could be used, at any price.
    pub fn sells(&self, request: &http::request::Parts) -> Result<(), Error> {
        let method = request.method.as_str();
        let sold = self.caveats.iter().all(|c| match c {
            Caveat::Methods(m) => m.iter().any(|m| m == method),
            _ => true,
        });
        if sold {
            Ok(())
        } else {
            Err(Error::MethodNotSold { method: method.to_owned() })
        }
    }

    /// The caveats a token minted at `now` for `request` carries: those of
    /// [`Route::caveats_at`], and for a dynamic price, bound to what was priced: the service
    /// name is [`Route::resource`] (the request's path appended) and a `methods` caveat names
    /// the request's method (decision 0814). A method the route does not sell is refused
    /// ([`Route::sells`]), whatever the price.
    pub fn caveats_for(
        &self,
        request: &http::request::Parts,
        now: i64,
    ) -> Result<Vec<Caveat>, Error> {
        self.sells(request)?;
        let Price::Dynamic(_) = self.price else {
            return self.caveats_at(now);
        };
        let method = request.method.as_str();
        self.caveats_under(&self.resource(request), Some(method), now)
    }

    /// The service name tokens for `request` are minted under and judged against. For a
    /// fixed price, the route's service. For a dynamic price, the service followed by the
    /// request's path (`quotes/priced/cheap`, as Aperture names a dynamically priced
    /// resource), so that a token bought at one path's price buys nothing at another
    /// (decision 0814). Service names a route is configured with never contain `/`, so
    /// these names are apart from every fixed-price service's.
    pub fn resource(&self, request: &http::request::Parts) -> Cow<'_, str> {
        match self.price {
            Price::Fixed(_) => Cow::Borrowed(&self.service),
            Price::Dynamic(_) => Cow::Owned(priced_resource(&self.service, request.uri.path())),
        }
    }

    fn caveats_under(
        &self,
        service: &str,
        method: Option<&str>,
        now: i64,
    ) -> Result<Vec<Caveat>, Error> {
        let mut out = vec![
            Caveat::Services(vec![ServiceTier::new(service.to_owned(), self.tier)]),
            Caveat::Capabilities {
                service: service.to_owned(),
                capabilities: self.capabilities.clone(),
            },
        ];
        out.extend(self.caveats.iter().cloned());
        // After the route's own `methods`, which it narrows (checked by the caller).
        if let Some(m) = method {
            out.push(Caveat::Methods(vec![m.to_owned()]));
        }
        if let Some(n) = self.max_uses {
            out.push(Caveat::MaxUses(n));
        }
        if let Some(v) = self.validity {
            let secs = i64::try_from(v.as_secs()).unwrap_or(i64::MAX);
            out.push(Caveat::ValidUntil {
                service: service.to_owned(),
                unix: now.saturating_add(secs),
            });
        }
        for c in &out {
            c.validate().map_err(|e| Error::Config(format!("route caveat: {e}")))?;
        }
        Ok(out)
    }
}

/// `service` followed by `path`, with the bytes that the caveat grammar gives a meaning
/// (`,` and `:` in a `services` value, `=` in a per-service condition) and `%` itself
/// percent-encoded, so that the name is one `services` entry and distinct paths give
/// distinct names.
fn priced_resource(service: &str, path: &str) -> String {
    let mut out = String::with_capacity(service.len() + path.len());
    out.push_str(service);
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            ',' => out.push_str("%2C"),
            ':' => out.push_str("%3A"),
            '=' => out.push_str("%3D"),
            c => out.push(c),
        }
    }
    out
}

/// Builds the macaroon: V2, Aperture's location `lsat` (decision 0007), the identifier, then
/// the caveats in order.
pub fn macaroon(root_key: &RootKey, identifier: &Identifier, caveats: &[Caveat]) -> Macaroon {
    caveats
        .iter()
        .fold(Macaroon::new_l402(&root_key.0, identifier), |m, c| m.with_caveat(c.encode()))
}

/// A minted challenge: what a 402 response carries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MintedChallenge {
    /// The token, unpaid.
    pub macaroon: Macaroon,
    /// The invoice its identifier is bound to.
    pub invoice: CreatedInvoice,
    /// The identifier.
    pub identifier: Identifier,
    /// The price charged, in millisatoshis.
    pub amount_msat: u64,
    /// The `WWW-Authenticate` values, in order.
    pub headers: Vec<HeaderValue>,
}

impl MintedChallenge {
    /// Assembles a challenge and its header lines in `style`.
    pub fn new(
        macaroon: Macaroon,
        invoice: CreatedInvoice,
        identifier: Identifier,
        amount_msat: u64,
        style: ChallengeStyle,
    ) -> Result<MintedChallenge, Error> {
        let headers = l402_http::challenge_values(&macaroon, &invoice.bolt11, style)?;
        Ok(MintedChallenge { macaroon, invoice, identifier, amount_msat, headers })
    }
}
