//! Narrowing a token in one call, refusing anything that would widen it.

use l402_token::Macaroon;

use crate::caveat::{Caveat, ServiceTier, SERVICES};
use crate::{Error, IpNet, Timestamp};

/// Attenuation helpers on [`Macaroon`]: each returns a new token with one more caveat, or an
/// error when that caveat would widen the last caveat with the same condition already in the
/// token (`caveat-escalation`), when that earlier caveat is itself malformed, or when the
/// value cannot be encoded (`malformed-caveat`).
///
/// Only the caveat's own condition is compared: `expire_at` adds `expires_at`, which
/// narrows independently of any `<service>_valid_until`. Aperture enforces only `services`
/// and `<service>_valid_until`; use [`Attenuate::valid_until`] to narrow a token for it.
pub trait Attenuate {
    /// Adds any typed caveat after the narrowing check.
    fn attenuate(&self, caveat: &Caveat) -> Result<Macaroon, Error>;

    /// `services=<service>:<tier>`, keeping the tier the token already gives the service
    /// (0 when the token has no `services` caveat).
    fn restrict_to_service(&self, service: &str) -> Result<Macaroon, Error>;

    /// `<service>_capabilities=a,b`. An empty list is refused (it would mean "no
    /// restriction").
    fn restrict_capabilities(
        &self,
        service: &str,
        capabilities: &[&str],
    ) -> Result<Macaroon, Error>;

    /// `<service>_valid_until=<unix seconds>`, the expiry Aperture enforces.
    fn valid_until(&self, service: &str, unix: i64) -> Result<Macaroon, Error>;

    /// `expires_at=<RFC 3339>` for a Unix second (years 0000-9999).
    fn expire_at(&self, unix: i64) -> Result<Macaroon, Error>;

    /// `path_prefix=<prefix>`.
    fn limit_paths(&self, prefix: &str) -> Result<Macaroon, Error>;

    /// `methods=A,B`.
    fn limit_methods(&self, methods: &[&str]) -> Result<Macaroon, Error>;

    /// `client_ip=a,b`.
    fn limit_clients(&self, clients: &[IpNet]) -> Result<Macaroon, Error>;

    /// `max_uses=<n>`.
    fn limit_uses(&self, uses: u64) -> Result<Macaroon, Error>;
}

fn last_with_condition(m: &Macaroon, condition: &[u8]) -> Option<(usize, Vec<u8>)> {
    m.first_party_caveats()
        .enumerate()
        .filter(|(_, c)| crate::grammar::split(c).is_some_and(|(cond, _)| cond == condition))
        .last()
        .map(|(i, c)| (i, c.to_vec()))
}

impl Attenuate for Macaroon {
    fn attenuate(&self, caveat: &Caveat) -> Result<Macaroon, Error> {
        caveat.validate()?;
        if let Some(condition) = caveat.condition() {
            if let Some((i, prev)) = last_with_condition(self, &condition) {
                let prev = Caveat::parse(&prev).map_err(|e| match e {
                    Error::Malformed { condition, reason, .. } => {
                        Error::Malformed { index: Some(i), condition, reason }
                    }
                    other => other,
                })?;
                if !caveat.narrows(&prev) {
                    return Err(Error::Escalation {
                        index: self.first_party_caveats().count(),
                        condition: String::from_utf8_lossy(&condition).into_owned(),
                    });
                }
            }
        }
        Ok(self.clone().with_caveat(caveat.encode()))
    }

    fn restrict_to_service(&self, service: &str) -> Result<Macaroon, Error> {
        let tier = match last_with_condition(self, SERVICES.as_bytes()) {
            Some((_, raw)) => match Caveat::parse(&raw)? {
                Caveat::Services(list) => list.iter().find(|s| s.name == service).map(|s| s.tier),
                _ => None,
            },
            None => Some(0),
        };
        // A service the token does not name: asking for it is a widening, reported as such.
        let tier = tier.ok_or_else(|| Error::Escalation {
            index: self.first_party_caveats().count(),
            condition: SERVICES.to_owned(),
        })?;
        self.attenuate(&Caveat::Services(vec![ServiceTier::new(service, tier)]))
    }

    fn restrict_capabilities(
        &self,
        service: &str,
        capabilities: &[&str],
    ) -> Result<Macaroon, Error> {
        if capabilities.is_empty() {
            return Err(Error::Malformed {
                index: None,
                condition: format!("{service}_capabilities"),
                reason: "an empty capability list would mean no restriction",
            });
        }
        self.attenuate(&Caveat::Capabilities {
            service: service.to_owned(),
            capabilities: capabilities.iter().map(|c| (*c).to_owned()).collect(),
        })
    }

    fn valid_until(&self, service: &str, unix: i64) -> Result<Macaroon, Error> {
        self.attenuate(&Caveat::ValidUntil { service: service.to_owned(), unix })
    }

    fn expire_at(&self, unix: i64) -> Result<Macaroon, Error> {
        let t = Timestamp::from_unix(unix).ok_or(Error::Malformed {
            index: None,
            condition: crate::caveat::EXPIRES_AT.to_owned(),
            reason: "outside years 0000-9999",
        })?;
        self.attenuate(&Caveat::ExpiresAt(t))
    }

    fn limit_paths(&self, prefix: &str) -> Result<Macaroon, Error> {
        self.attenuate(&Caveat::PathPrefix(prefix.to_owned()))
    }

    fn limit_methods(&self, methods: &[&str]) -> Result<Macaroon, Error> {
        self.attenuate(&Caveat::Methods(methods.iter().map(|m| (*m).to_owned()).collect()))
    }

    fn limit_clients(&self, clients: &[IpNet]) -> Result<Macaroon, Error> {
        self.attenuate(&Caveat::ClientIp(clients.to_vec()))
    }

    fn limit_uses(&self, uses: u64) -> Result<Macaroon, Error> {
        self.attenuate(&Caveat::MaxUses(uses))
    }
}
