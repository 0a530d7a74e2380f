//! Which service a request belongs to: host, then path prefix, in configuration order.

use crate::config::ServiceConfig;
use crate::path::under;

/// The outcome of matching one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index of the service in the configuration.
    pub index: usize,
    /// The path is one of the service's free paths (or the service has `auth = false`).
    pub free: bool,
}

/// Finds the first service whose hosts and path prefix cover the request. `host` may carry a
/// port (ignored) and any case; `path` must already be normalised.
pub fn route(services: &[ServiceConfig], host: Option<&str>, path: &str) -> Option<Match> {
    let host = host.map(strip_port).map(str::to_ascii_lowercase);
    services.iter().enumerate().find_map(|(index, s)| {
        if !host_matches(&s.hosts, host.as_deref()) || !under(path, &s.path_prefix) {
            return None;
        }
        let free = !s.auth || s.free_paths.iter().any(|p| under(path, p));
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

    #[test]
    fn first_match_wins_by_host_then_path() {
        let services = vec![
            svc("a", &["api.example.com"], "/v1", &["/v1/health"]),
            svc("b", &["*.example.com"], "/", &[]),
            svc("c", &[], "/", &[]),
        ];
        assert_eq!(
            route(&services, Some("API.example.com:443"), "/v1/x"),
            Some(Match { index: 0, free: false })
        );
        assert_eq!(
            route(&services, Some("api.example.com"), "/v1/health"),
            Some(Match { index: 0, free: true })
        );
        assert_eq!(
            route(&services, Some("api.example.com"), "/v1/healthz"),
            Some(Match { index: 0, free: false })
        );
        assert_eq!(
            route(&services, Some("api.example.com"), "/v2"),
            Some(Match { index: 1, free: false })
        );
        assert_eq!(
            route(&services, Some("x.example.com"), "/v1/x"),
            Some(Match { index: 1, free: false })
        );
        assert_eq!(
            route(&services, Some("example.com"), "/"),
            Some(Match { index: 2, free: false })
        );
        assert_eq!(route(&services, None, "/"), Some(Match { index: 2, free: false }));
        assert_eq!(route(&services[..2], Some("other.org"), "/"), None);
        assert_eq!(route(&services[..1], Some("[::1]:80"), "/v1"), None);
    }
}
