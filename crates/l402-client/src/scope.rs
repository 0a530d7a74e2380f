//! Which requests a paid token is reused for (decision 0700).

use core::fmt;

use l402_caveats::Caveat;
use l402_token::Macaroon;
use reqwest::Url;

use crate::Error;

/// How far a token reaches: the requests it is sent with before paying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ScopePolicy {
    /// Every request to the same origin (scheme, host, port). The default: Aperture grants a
    /// token per service, which is an origin in almost every deployment, and lnget keys tokens
    /// by domain the same way.
    #[default]
    Origin,
    /// Requests to the same origin whose path starts with the paid request's directory (the
    /// path up to its last `/`), for hosts that sell several services under one origin.
    PathPrefix,
}

/// A token's reach, written as a URL prefix: `https://host:443` or `https://host:443/api/`.
///
/// Ports are always explicit and host names lower-case, so one origin has one scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    /// The scope of a request URL under `policy`. URLs without a host (`data:`, `file:`) and
    /// schemes other than `http` and `https` have none.
    pub fn for_url(url: &Url, policy: ScopePolicy) -> Result<Scope, Error> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(Error::Config(format!("no L402 scope for {scheme}: URLs")));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Error::Config("URL has no host".into()))?
            .to_ascii_lowercase();
        let port =
            url.port_or_known_default().ok_or_else(|| Error::Config("URL has no port".into()))?;
        let origin = format!("{scheme}://{host}:{port}");
        Ok(match policy {
            ScopePolicy::Origin => Scope(origin),
            ScopePolicy::PathPrefix => {
                let path = url.path();
                let dir = path.rfind('/').and_then(|i| path.get(..=i)).unwrap_or("/");
                Scope(format!("{origin}{dir}"))
            }
        })
    }

    /// Reads a scope back from its text form, as stored or typed by a user
    /// (`l402 tokens remove`). The text must be an `http`/`https` URL prefix in canonical form.
    pub fn parse(text: &str) -> Result<Scope, Error> {
        let url =
            Url::parse(text).map_err(|e| Error::Config(format!("bad scope {text:?}: {e}")))?;
        let origin = Scope::for_url(&url, ScopePolicy::Origin)?;
        let path = url.path();
        let scope = if path == "/" && !text.ends_with('/') {
            origin
        } else {
            Scope::for_url(&url, ScopePolicy::PathPrefix)?
        };
        if scope.0 != text {
            return Err(Error::Config(format!(
                "scope {text:?} is not canonical; did you mean {:?}?",
                scope.0
            )));
        }
        Ok(scope)
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The origin part (`https://host:443`), without any path prefix.
    pub fn origin(&self) -> &str {
        let after = self.0.find("://").map_or(0, |i| i + 3);
        let end = self.0.get(after..).and_then(|r| r.find('/')).map_or(self.0.len(), |i| after + i);
        self.0.get(..end).unwrap_or(&self.0)
    }

    /// Every scope a request to `url` is within, narrowest first: the path itself as a
    /// directory (`/beta/` for `/beta`), each directory above it, then the origin. A token
    /// store is asked for these few keys instead of being read whole on every request.
    pub fn covering(url: &Url) -> Result<Vec<Scope>, Error> {
        let origin = Scope::for_url(url, ScopePolicy::Origin)?;
        let path = url.path();
        let mut dirs: Vec<&str> =
            path.match_indices('/').filter_map(|(i, _)| path.get(..=i)).collect();
        let mut out: Vec<Scope> = Vec::with_capacity(dirs.len() + 2);
        if !path.ends_with('/') {
            out.push(Scope(format!("{}{path}/", origin.0)));
        }
        dirs.reverse();
        out.extend(dirs.into_iter().map(|d| Scope(format!("{}{d}", origin.0))));
        out.push(origin);
        Ok(out)
    }

    /// The scope of one service at `url`'s origin: its first path segment (`/alpha/` for
    /// `/alpha/x`), where several services share an origin; the origin for `/`.
    pub(crate) fn service(url: &Url) -> Result<Scope, Error> {
        let origin = Scope::for_url(url, ScopePolicy::Origin)?;
        let first = url.path().trim_start_matches('/').split('/').next().unwrap_or_default();
        if first.is_empty() {
            return Ok(origin);
        }
        Ok(Scope(format!("{}/{first}/", origin.0)))
    }

    /// The scope a macaroon's own caveats give it at `url` (decision 0710): its last (so
    /// narrowest) `path_prefix` as a directory, else the service its `services=` caveat names
    /// when it names exactly one and that is `url`'s first path segment (Aperture's and our
    /// proxy's usual layout). `None` when the caveats say nothing, or speak of somewhere that
    /// does not cover `url`.
    pub(crate) fn from_caveats(url: &Url, macaroon: &Macaroon) -> Option<Scope> {
        let mut prefix = None;
        let mut services = None;
        for raw in macaroon.first_party_caveats() {
            match Caveat::parse(raw) {
                Ok(Caveat::PathPrefix(p)) => prefix = Some(p),
                Ok(Caveat::Services(list)) => services = Some(list),
                _ => {}
            }
        }
        let origin = Scope::for_url(url, ScopePolicy::Origin).ok()?;
        let candidate = match (prefix, services) {
            (Some(p), _) => {
                let dir = if p.ends_with('/') { p } else { format!("{p}/") };
                Scope::parse(&format!("{}{dir}", origin.0)).ok()?
            }
            (None, Some(list)) => {
                let service = Scope::service(url).ok()?;
                match list.as_slice() {
                    [one] if service.0 == format!("{}/{}/", origin.0, one.name) => service,
                    _ => return None,
                }
            }
            (None, None) => return None,
        };
        Scope::covering(url).ok()?.contains(&candidate).then_some(candidate)
    }

    /// Whether this scope carries a path (it names one service, not a whole origin).
    pub(crate) fn has_path(&self) -> bool {
        self.0.len() > self.origin().len()
    }

    /// The host name, which budgets and the spend ledger call the domain.
    pub fn domain(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, r)| r);
        // IPv6 literals keep their brackets; the port follows the last ':' after them.
        let host_port = rest.split('/').next().unwrap_or("");
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The URL as written in the spend ledger: without query and fragment, which often carry API
/// keys or personal data, and without user info.
pub(crate) fn ledger_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    // Both only fail for URLs that cannot have a user (no host); those have none to remove.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Whether a URL's host is loopback, where plain HTTP cannot be observed by others.
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
