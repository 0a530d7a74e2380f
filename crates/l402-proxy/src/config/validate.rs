//! Validation: every value checked, the first key at fault named exactly.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::{BodyConfig, Config, ListenConfig, ServiceConfig, TimeoutConfig};
use crate::Error;
use l402_http::path::normalize;

impl Config {
    /// Checks every value; the error names the first key at fault.
    pub fn validate(&self) -> Result<(), Error> {
        let listen = self.listen_addr()?;
        match (&self.listen.tls_cert, &self.listen.tls_key) {
            (Some(_), None) => {
                return Err(Error::config("listen.tls_key", "required with listen.tls_cert"))
            }
            (None, Some(_)) => {
                return Err(Error::config("listen.tls_cert", "required with listen.tls_key"))
            }
            _ => {}
        }
        check_own_path("listen.health_path", &self.listen.health_path, false)?;
        check_own_path("listen.ready_path", &self.listen.ready_path, false)?;
        check_own_path("listen.live_path", &self.listen.live_path, false)?;
        check_own_path("listen.metrics_path", &self.listen.metrics_path, true)?;
        check_connections(&self.listen)?;
        if let Some(admin) = &self.admin {
            let addr = parse_addr("admin.addr", &admin.addr)?;
            if addr == listen && addr.port() != 0 {
                return Err(Error::config("admin.addr", "must differ from listen.addr"));
            }
            if admin.token.chars().count() < 16 {
                return Err(Error::config("admin.token", "must be at least 16 characters"));
            }
            match (&admin.tls_cert, &admin.tls_key) {
                (Some(_), None) => {
                    return Err(Error::config("admin.tls_key", "required with admin.tls_cert"))
                }
                (None, Some(_)) => {
                    return Err(Error::config("admin.tls_cert", "required with admin.tls_key"))
                }
                _ => {}
            }
        }
        match self.store.kind.as_str() {
            "sqlite" => {}
            "postgres" => {
                if self.store.url.as_deref().is_none_or(str::is_empty) {
                    return Err(Error::config(
                        "store.url",
                        "required with store.kind = \"postgres\"",
                    ));
                }
            }
            _ => return Err(Error::config("store.kind", "must be \"sqlite\" or \"postgres\"")),
        }
        self.validate_lightning()?;
        match self.log.format.as_str() {
            "text" | "json" => {}
            _ => return Err(Error::config("log.format", "must be \"text\" or \"json\"")),
        }
        match self.log.level.as_str() {
            "error" | "warn" | "info" | "debug" | "trace" => {}
            _ => {
                return Err(Error::config(
                    "log.level",
                    "must be one of error, warn, info, debug, trace",
                ))
            }
        }
        if self.invoice_expiry_secs == 0 {
            return Err(Error::config("invoice_expiry_secs", "must be > 0"));
        }
        if self.challenges_per_minute == 0 {
            return Err(Error::config("challenges_per_minute", "must be > 0"));
        }
        if self.rate_limit_clients == 0 {
            return Err(Error::config("rate_limit_clients", "must be > 0"));
        }
        for (i, net) in self.trusted_proxies.iter().enumerate() {
            if l402_caveats::IpNet::parse(net).is_none() {
                return Err(Error::config(
                    format!("trusted_proxies[{i}]"),
                    "must be an IP address or a CIDR network without host bits",
                ));
            }
        }
        check_timeouts("upstream_timeouts", &self.upstream_timeouts)?;
        check_body("request_body", &self.request_body)?;
        if self.services.is_empty() {
            return Err(Error::config("services", "at least one [[services]] entry is required"));
        }
        for (i, service) in self.services.iter().enumerate() {
            validate_service(&format!("services[{i}]"), service)?;
        }
        check_priced_names(&self.services)?;
        Ok(())
    }

    fn validate_lightning(&self) -> Result<(), Error> {
        let l = &self.lightning;
        match l.backend.as_str() {
            "dev" => Ok(()),
            "lnd" => {
                if l.lnd_endpoint.as_deref().is_none_or(str::is_empty) {
                    return Err(Error::config(
                        "lightning.lnd_endpoint",
                        "required with backend = \"lnd\"",
                    ));
                }
                if l.lnd_tls_cert.is_none() {
                    return Err(Error::config(
                        "lightning.lnd_tls_cert",
                        "required with backend = \"lnd\"",
                    ));
                }
                if l.lnd_macaroon.is_none() {
                    return Err(Error::config(
                        "lightning.lnd_macaroon",
                        "required with backend = \"lnd\"",
                    ));
                }
                if let Some(n) = &l.network {
                    if !matches!(
                        n.as_str(),
                        "mainnet" | "bitcoin" | "testnet" | "signet" | "regtest"
                    ) {
                        return Err(Error::config(
                            "lightning.network",
                            "must be mainnet, testnet, signet or regtest",
                        ));
                    }
                }
                if cfg!(feature = "lnd") {
                    Ok(())
                } else {
                    Err(Error::config(
                        "lightning.backend",
                        "this build has no LND support (build l402-proxy with feature \"lnd\")",
                    ))
                }
            }
            _ => Err(Error::config("lightning.backend", "must be \"dev\" or \"lnd\"")),
        }
    }
}

fn validate_service(at: &str, s: &ServiceConfig) -> Result<(), Error> {
    let key = |k: &str| format!("{at}.{k}");
    if s.name.is_empty()
        || !s.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(Error::config(
            key("name"),
            "must be non-empty: letters, digits, '-', '.', '_'",
        ));
    }
    for (j, host) in s.hosts.iter().enumerate() {
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if bare.is_empty()
            || !bare.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        {
            return Err(Error::config(
                format!("{at}.hosts[{j}]"),
                "must be a host name or *.domain",
            ));
        }
    }
    check_prefix(&key("path_prefix"), &s.path_prefix)?;
    let upstream: http::Uri = s
        .upstream
        .parse()
        .map_err(|_| Error::config(key("upstream"), "must be an absolute http or https URL"))?;
    match upstream.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(Error::config(key("upstream"), "must be an absolute http or https URL")),
    }
    if upstream.authority().is_none() {
        return Err(Error::config(key("upstream"), "must name a host"));
    }
    if upstream.query().is_some() {
        return Err(Error::config(key("upstream"), "must not have a query"));
    }
    if let Some(url) = &s.pricing_url {
        let uri: http::Uri = url.parse().map_err(|_| {
            Error::config(key("pricing_url"), "must be an absolute http or https URL")
        })?;
        if !matches!(uri.scheme_str(), Some("http") | Some("https")) || uri.authority().is_none() {
            return Err(Error::config(key("pricing_url"), "must be an absolute http or https URL"));
        }
    }
    let prices = [s.price_msat.is_some(), s.price_sat.is_some(), s.pricing_url.is_some()];
    let set = prices.iter().filter(|p| **p).count();
    if s.auth {
        if set == 0 {
            return Err(Error::config(
                key("price_msat"),
                "required with auth = true (or price_sat, or pricing_url)",
            ));
        }
        if set > 1 {
            return Err(Error::config(
                key("price_msat"),
                "set only one of price_msat, price_sat, pricing_url",
            ));
        }
        if s.price_msat == Some(0) {
            return Err(Error::config(
                key("price_msat"),
                "must be > 0 (use auth = false or free_paths for free access)",
            ));
        }
        if s.price_sat == Some(0) {
            return Err(Error::config(
                key("price_sat"),
                "must be > 0 (use auth = false or free_paths for free access)",
            ));
        }
        if s.price_sat.is_some_and(|sat| sat.checked_mul(1000).is_none()) {
            return Err(Error::config(key("price_sat"), "too large"));
        }
    } else if set > 0 {
        let k = if s.price_msat.is_some() {
            "price_msat"
        } else if s.price_sat.is_some() {
            "price_sat"
        } else {
            "pricing_url"
        };
        return Err(Error::config(key(k), "set, but auth = false makes the service free"));
    }
    check_timeouts(&key("upstream_timeouts"), &s.upstream_timeouts)?;
    for (j, code) in s.not_delivered_statuses.iter().flatten().enumerate() {
        if !(400..=599).contains(code) {
            return Err(Error::config(
                format!("{at}.not_delivered_statuses[{j}]"),
                "must be an HTTP error status, 400-599",
            ));
        }
    }
    for (j, code) in s.not_delivered_grpc_statuses.iter().flatten().enumerate() {
        if !(1..=16).contains(code) {
            return Err(Error::config(
                format!("{at}.not_delivered_grpc_statuses[{j}]"),
                "must be a gRPC error code, 1-16",
            ));
        }
    }
    check_body(&key("request_body"), &s.request_body)?;
    for (j, p) in s.free_paths.iter().enumerate() {
        check_prefix(&format!("{at}.free_paths[{j}]"), p)?;
    }
    if let Some(c) = &s.capability {
        check_list_item(&key("capability"), c)?;
    }
    let c = &s.caveats;
    for (j, cap) in c.capabilities.iter().enumerate() {
        check_list_item(&format!("{at}.caveats.capabilities[{j}]"), cap)?;
    }
    if s.auth && !c.capabilities.is_empty() && s.capability.is_none() {
        // Its own tokens would be refused here (missing-capability, decision 0306).
        return Err(Error::config(
            key("capability"),
            "required with caveats.capabilities: a token limited to capabilities is refused where none is named",
        ));
    }
    if c.valid_for_secs == Some(0) {
        return Err(Error::config(key("caveats.valid_for_secs"), "must be > 0"));
    }
    if c.valid_for_secs.is_some_and(|v| i64::try_from(v).is_err()) {
        return Err(Error::config(key("caveats.valid_for_secs"), "too large"));
    }
    if c.max_uses == Some(0) {
        return Err(Error::config(key("caveats.max_uses"), "must be > 0"));
    }
    let mut seen = BTreeSet::new();
    for (j, m) in c.methods.iter().enumerate() {
        if http::Method::from_bytes(m.as_bytes()).is_err()
            || m.is_empty()
            || !m.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(Error::config(
                format!("{at}.caveats.methods[{j}]"),
                "must be an upper-case HTTP method",
            ));
        }
        if !seen.insert(m) {
            return Err(Error::config(format!("{at}.caveats.methods[{j}]"), "listed twice"));
        }
    }
    Ok(())
}

/// Tokens of a service with a pricing endpoint are bound to `<name><path>` (decision 0814);
/// two such services with one name would accept each other's tokens where their prices
/// differ.
fn check_priced_names(services: &[ServiceConfig]) -> Result<(), Error> {
    let mut seen = BTreeSet::new();
    for (i, s) in services.iter().enumerate() {
        if s.auth && s.pricing_url.is_some() && !seen.insert(s.name.as_str()) {
            return Err(Error::config(
                format!("services[{i}].name"),
                "another service with a pricing_url has this name; give each its own",
            ));
        }
    }
    Ok(())
}

/// A response or idle timeout of 0 means "no limit" (long polling, silent streams); a connect
/// timeout of 0 would mean no connection ever succeeds, so it is refused rather than read as
/// "no limit".
fn check_timeouts(at: &str, t: &TimeoutConfig) -> Result<(), Error> {
    if t.connect_ms == Some(0) {
        return Err(Error::config(
            format!("{at}.connect_ms"),
            "must be > 0 (only response_ms and idle_ms may be 0, for no limit)",
        ));
    }
    Ok(())
}

/// The client-side timeouts and limits cannot be turned off: each one is what keeps a slow or
/// idle client from holding the proxy (decision 0811).
fn check_connections(l: &ListenConfig) -> Result<(), Error> {
    let positive = [
        ("listen.header_read_ms", l.header_read_ms),
        ("listen.idle_ms", l.idle_ms),
        ("listen.tls_handshake_ms", l.tls_handshake_ms),
        ("listen.send_ms", l.send_ms),
        ("listen.max_connections", l.max_connections),
        ("listen.max_connections_per_client", l.max_connections_per_client),
        ("listen.h2_max_streams", l.h2_max_streams.map(u64::from)),
    ];
    for (key, value) in positive {
        if value == Some(0) {
            return Err(Error::config(key, "must be > 0"));
        }
    }
    Ok(())
}

/// A body limit of 0 bytes would refuse every body; the two clocks may be 0, for no limit.
fn check_body(at: &str, b: &BodyConfig) -> Result<(), Error> {
    if b.max_bytes == Some(0) {
        return Err(Error::config(
            format!("{at}.max_bytes"),
            "must be > 0 (only idle_ms and timeout_ms may be 0, for no limit)",
        ));
    }
    Ok(())
}

pub(super) fn parse_addr(key: &str, value: &str) -> Result<SocketAddr, Error> {
    value
        .parse()
        .map_err(|_| Error::config(key, "must be an IP address and port, e.g. 127.0.0.1:8402"))
}

/// Prefixes and free paths must be written in normal form, so what the operator reads is
/// what is matched.
fn check_prefix(key: &str, value: &str) -> Result<(), Error> {
    if !value.starts_with('/') {
        return Err(Error::config(key, "must start with '/'"));
    }
    match normalize(value) {
        Ok(n) if n == value || (n.len() + 1 == value.len() && value.ends_with('/')) => Ok(()),
        Ok(n) => Err(Error::config(key, format!("must be in normal form: {n}"))),
        Err(e) => Err(Error::config(key, format!("must be a valid path ({})", e.code()))),
    }
}

fn check_own_path(key: &str, value: &str, may_be_empty: bool) -> Result<(), Error> {
    if value.is_empty() && may_be_empty {
        return Ok(());
    }
    check_prefix(key, value)
}

fn check_list_item(key: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.contains(',') || value.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(Error::config(
            key,
            "must be non-empty, without ',' spaces or control characters",
        ));
    }
    Ok(())
}
