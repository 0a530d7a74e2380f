//! Which service a request belongs to: host, then path prefix, in configuration order.
//!
//! Each service's `path_prefix` and `free_paths` match as its upstream compares paths
//! ([`Matching`]). Because the upstream chosen reads the path its own way, the route must not
//! change when every service is matched that way too; a path whose route would change to a
//! paid service (`/PAID` sent to a case-insensitive free upstream while `/paid` is paid
//! elsewhere) is refused as ambiguous (decision 0809).

use core::fmt;

use crate::config::ServiceConfig;
use crate::path::{covers, Lean, Matching};

/// The outcome of matching one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Match {
    /// Index of the service in the configuration.
    pub index: usize,
    /// The path is one of the service's free paths (or the service has `auth = false`).
    pub free: bool,
}

/// Why a request was refused before any service saw it (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum RouteError {
    /// Read the way the chosen upstream reads paths, the path belongs to another service that
    /// charges for it. Code `path-ambiguous`.
    Ambiguous,
}

impl RouteError {
    /// A stable code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            RouteError::Ambiguous => "path-ambiguous",
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the path's spelling would reach a paid service at its upstream")
    }
}

impl std::error::Error for RouteError {}

/// Finds the first service whose hosts and path prefix cover the request. `host` may carry a
/// port (ignored) and any case; `path` must already be normalised.
pub(crate) fn route(
    services: &[ServiceConfig],
    host: Option<&str>,
    path: &str,
) -> Result<Option<Match>, RouteError> {
    let host = host.map(strip_port).map(str::to_ascii_lowercase);
    let Some(own) = first(services, host.as_deref(), path, Matching::EXACT) else {
        return Ok(None);
    };
    let upstream = services.get(own.index).map(ServiceConfig::matching).unwrap_or_default();
    if upstream == Matching::EXACT {
        return Ok(Some(own));
    }
    // Read as the chosen upstream reads it, an earlier service may cover the path.
    match first(services, host.as_deref(), path, upstream) {
        Some(wide) if wide.index != own.index && !wide.free => Err(RouteError::Ambiguous),
        _ => Ok(Some(own)),
    }
}

/// The first match, each service compared with its own options and `also`.
fn first(
    services: &[ServiceConfig],
    host: Option<&str>,
    path: &str,
    also: Matching,
) -> Option<Match> {
    services.iter().enumerate().find_map(|(index, s)| {
        let matching = s.matching().union(also);
        let lean = if s.auth { Lean::Paid } else { Lean::Free };
        if !host_matches(&s.hosts, host) || !covers(path, &s.path_prefix, matching, lean) {
            return None;
        }
        let free = !s.auth || s.free_paths.iter().any(|p| covers(path, p, matching, Lean::Free));
        Some(Match { index, free })
    })
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn host_matches(patterns: &[String], host: Option<&str>) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let Some(host) = host else { return false };
    let host = host.trim_end_matches('.');
    patterns.iter().any(|p| {
        let p = p.to_ascii_lowercase();
        match p.strip_prefix("*.") {
            Some(domain) => host.len() > domain.len() && host.ends_with(&format!(".{domain}")),
            None => host == p,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, hosts: &[&str], prefix: &str, free: &[&str]) -> ServiceConfig {
        let mut s = ServiceConfig::new(name, "http://127.0.0.1:1");
        s.hosts = hosts.iter().map(|h| (*h).to_owned()).collect();
        s.path_prefix = prefix.into();
        s.free_paths = free.iter().map(|h| (*h).to_owned()).collect();
        s.price_msat = Some(1000);
        s
    }

    fn route_ok(services: &[ServiceConfig], host: Option<&str>, path: &str) -> Option<Match> {
        route(services, host, path).unwrap()
    }

    #[test]
    fn first_match_wins_by_host_then_path() {
        let services = vec![
            svc("a", &["api.example.com"], "/v1", &["/v1/health"]),
            svc("b", &["*.example.com"], "/", &[]),
            svc("c", &[], "/", &[]),
        ];
        assert_eq!(
            route_ok(&services, Some("API.example.com:443"), "/v1/x"),
            Some(Match { index: 0, free: false })
        );
        assert_eq!(
            route_ok(&services, Some("api.example.com"), "/v1/health"),
            Some(Match { index: 0, free: true })
        );
        assert_eq!(
            route_ok(&services, Some("api.example.com"), "/v1/healthz"),
            Some(Match { index: 0, free: false })
        );
        assert_eq!(
            route_ok(&services, Some("api.example.com"), "/v2"),
            Some(Match { index: 1, free: false })
        );
        assert_eq!(
            route_ok(&services, Some("x.example.com"), "/v1/x"),
            Some(Match { index: 1, free: false })
        );
        assert_eq!(
            route_ok(&services, Some("example.com"), "/"),
            Some(Match { index: 2, free: false })
        );
        assert_eq!(route_ok(&services, None, "/"), Some(Match { index: 2, free: false }));
        assert_eq!(route_ok(&services[..2], Some("other.org"), "/"), None);
        assert_eq!(route_ok(&services[..1], Some("[::1]:80"), "/v1"), None);
    }

    /// A paid `/paid` and a free `/` on one IIS-like upstream: `/PAID` and `/paid.` are never
    /// free, whichever service carries the options.
    #[test]
    fn options_on_one_service_hold_for_the_others() {
        let free = || {
            let mut f = svc("site", &[], "/", &[]);
            f.auth = false;
            f
        };
        let iis = |mut s: ServiceConfig| {
            s.case_insensitive = true;
            s.strip_trailing_dots = true;
            s
        };
        let spellings = ["/PAID/x", "/Paid", "/paid./x", "/paid%20/x", "/PAID.", "/paid::$DATA"];
        // On the paid service: charged there.
        let services = vec![iis(svc("paid", &[], "/paid", &[])), free()];
        for p in spellings {
            assert_eq!(route(&services, None, p), Ok(Some(Match { index: 0, free: false })), "{p}");
        }
        assert_eq!(route(&services, None, "/paidx"), Ok(Some(Match { index: 1, free: true })));
        // On the free service only: refused as ambiguous, never free.
        let services = vec![svc("paid", &[], "/paid", &[]), iis(free())];
        for p in spellings {
            assert_eq!(route(&services, None, p), Err(RouteError::Ambiguous), "{p}");
        }
        assert_eq!(route(&services, None, "/paid"), Ok(Some(Match { index: 0, free: false })));
        assert_eq!(route(&services, None, "/other"), Ok(Some(Match { index: 1, free: true })));
        // Free paths of a case-insensitive service match that way; their neighbours stay paid.
        let services = vec![iis(svc("alpha", &[], "/alpha", &["/alpha/free"]))];
        assert_eq!(
            route(&services, None, "/ALPHA/FREE./x"),
            Ok(Some(Match { index: 0, free: true }))
        );
        assert_eq!(
            route(&services, None, "/ALPHA/freex"),
            Ok(Some(Match { index: 0, free: false }))
        );
        // A cheaper case-insensitive service cannot sell a dearer one's paths.
        let mut dear = svc("dear", &[], "/premium", &[]);
        dear.price_msat = Some(1_000_000);
        let services = vec![dear, iis(svc("cheap", &[], "/", &[]))];
        assert_eq!(route(&services, None, "/PREMIUM/x"), Err(RouteError::Ambiguous));
        // A free earlier service under the wider reading is no conflict: charged as chosen.
        let mut public = svc("public", &[], "/pub", &[]);
        public.auth = false;
        let services = vec![public, iis(svc("all", &[], "/", &[]))];
        assert_eq!(route(&services, None, "/PUB/x"), Ok(Some(Match { index: 1, free: false })));
    }
}

/// The proxy's route selector for the pipeline: host, then path prefix. It leaves the
/// [`Routed`] service in the request for forwarding.
pub(crate) struct Router {
    pub(crate) configs: Vec<ServiceConfig>,
    pub(crate) services: std::sync::Arc<[crate::forward::Service]>,
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// The service a request was routed to, and the host it named.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    pub(crate) index: usize,
    pub(crate) host: Option<String>,
}

impl l402_server::tower::Select for Router {
    fn select(
        &self,
        request: &mut http::request::Parts,
    ) -> Result<l402_server::tower::Selected, l402_server::tower::Problem> {
        use http::StatusCode;
        use l402_server::tower::{grpc_code, Problem, Selected};
        let bad = |code| Problem::new(StatusCode::BAD_REQUEST, code);
        let host =
            crate::host::request_host(&request.uri, &request.headers).map_err(|e| bad(e.code()))?;
        let m = route(&self.configs, host.as_deref(), request.uri.path())
            .map_err(|e| bad(e.code()))?
            .ok_or_else(|| {
                Problem::new(StatusCode::NOT_FOUND, "no-service")
                    .grpc(grpc_code::NOT_FOUND, "no service")
                    .detail("no service for this host and path")
            })?;
        let service = self.services.get(m.index).ok_or_else(|| bad("no-service"))?;
        let route = std::sync::Arc::clone(&service.route);
        let name = route.service.as_str();
        self.metrics.inc("l402_proxy_requests_total", &[("service", name)]);
        // A declared length over the limit is refused before a challenge is minted, free
        // or paid (decision 0811).
        if let Err(refusal) =
            crate::body_limit::check_declared(&request.headers, &service.body_limits)
        {
            let labels = [("service", name), ("code", refusal.code())];
            self.metrics.inc("l402_proxy_request_bodies_refused_total", &labels);
            tracing::debug!(service = name, code = refusal.code(), "request body refused");
            return Ok(Selected::Refused(route.clone(), crate::forward::body_refused(refusal)));
        }
        request.extensions.insert(Routed { index: m.index, host });
        Ok(if m.free { Selected::Free(route) } else { Selected::Paid(route) })
    }
}
