//! The proxy's configuration: a TOML file, environment overrides, and validation that names
//! the exact key at fault.
//!
//! Every key is documented in `docs/proxy.md`; `examples/proxy.toml` (in this crate) is an
//! annotated example. [`Config::load`] reads a file, applies `L402_PROXY__…` environment
//! overrides ([`ENV_PREFIX`]) and validates; [`Config::from_toml_str`] does the same from a
//! string and an explicit environment, which is what tests use.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::upstream::Timeouts;
use crate::Error;

mod env;
mod redact;
mod validate;

/// Environment variables starting with this override configuration keys: `__` separates
/// path segments, a number indexes an array, and names are lower-cased. For example
/// `L402_PROXY__LISTEN__ADDR=0.0.0.0:8080` or `L402_PROXY__SERVICES__0__PRICE_MSAT=5000`.
pub const ENV_PREFIX: &str = "L402_PROXY__";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The public listener.
    #[serde(default)]
    pub listen: ListenConfig,
    /// The admin API, on its own listener. Absent: no admin API.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// Where the SQLite store and other state live (default `./l402-proxy-data`).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The token store.
    #[serde(default)]
    pub store: StoreConfig,
    /// The Lightning backend that issues invoices.
    #[serde(default)]
    pub lightning: LightningConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// How long a graceful shutdown waits for in-flight requests, in seconds (default 30).
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// How long a challenge's invoice stays payable, in seconds (default 600).
    #[serde(default = "default_invoice_expiry")]
    pub invoice_expiry_secs: u64,
    /// Challenges (each one a new invoice) allowed per client address and minute (default 30).
    #[serde(default = "default_rate")]
    pub challenges_per_minute: u64,
    /// Client addresses the in-memory rate limit tracks per minute (default 65,536); when it
    /// is full, an address not yet tracked is refused `rate-limited` until the minute ends.
    #[serde(default = "default_rate_clients")]
    pub rate_limit_clients: usize,
    /// Load balancers in front of the proxy (addresses or CIDR networks): their
    /// `X-Forwarded-For`/`Forwarded` headers name the real client, for rate limits and
    /// `client_ip` caveats. Empty (default): the peer address is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// How long the proxy waits for upstreams; a service's own `upstream_timeouts` override
    /// these key by key.
    #[serde(default)]
    pub upstream_timeouts: TimeoutConfig,
    /// Bounds on request bodies, free and paid; a service's own `request_body` overrides
    /// these key by key.
    #[serde(default)]
    pub request_body: BodyConfig,
    /// The priced services, matched in order; the first match wins.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
}

/// `[listen]`: the public listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListenConfig {
    /// `host:port` to listen on (default `127.0.0.1:8402`).
    #[serde(default = "default_listen")]
    pub addr: String,
    /// PEM certificate chain: with `tls_key`, the listener speaks TLS (HTTP/1.1 and h2 by ALPN).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Path of the health endpoint, answered by the proxy itself (default `/healthz`).
    #[serde(default = "default_health")]
    pub health_path: String,
    /// Path of the readiness endpoint (default `/readyz`): 200 with JSON when the store and
    /// the Lightning backend both answer, else 503 naming the part that does not. The health
    /// path gives the same verdict as plain text; the live path only says the process serves.
    #[serde(default = "default_ready")]
    pub ready_path: String,
    /// Path of the liveness endpoint (default `/livez`): `ok` while the proxy serves at all.
    #[serde(default = "default_live")]
    pub live_path: String,
    /// Path of the Prometheus metrics endpoint on the public listener; empty (the default)
    /// serves none there. The admin listener always serves `/metrics`, behind its token
    /// (decision 0808: revenue and traffic are business data).
    #[serde(default)]
    pub metrics_path: String,
    /// Milliseconds a client has to send a whole request head: from the accept (after the
    /// TLS handshake) for the first request, from its first byte for a later one on a
    /// keep-alive connection (default [`ListenConfig::DEFAULT_HEADER_READ_MS`]); > 0.
    #[serde(default, deserialize_with = "millis")]
    pub header_read_ms: Option<u64>,
    /// Milliseconds a connection may stay open with no request in flight and nothing of the
    /// next one received, HTTP/2 PINGs included (default [`ListenConfig::DEFAULT_IDLE_MS`]);
    /// > 0.
    #[serde(default, deserialize_with = "millis")]
    pub idle_ms: Option<u64>,
    /// Milliseconds a TLS handshake may take (default
    /// [`ListenConfig::DEFAULT_TLS_HANDSHAKE_MS`]); > 0.
    #[serde(default, deserialize_with = "millis")]
    pub tls_handshake_ms: Option<u64>,
    /// Milliseconds a write to the client may make no progress, the client not reading what
    /// it asked for, before the connection is closed (default
    /// [`ListenConfig::DEFAULT_SEND_MS`]); > 0. It runs in every phase, tunnels included.
    #[serde(default, deserialize_with = "millis")]
    pub send_ms: Option<u64>,
    /// Client connections open at once. Default: derived from the process's file-descriptor
    /// limit (`ulimit -n`), leaving half of it, less a reserve, to upstream connections and
    /// the store (decision 0811).
    #[serde(default)]
    pub max_connections: Option<u64>,
    /// Client connections open at once from one IPv4 address or IPv6 /64 (default
    /// [`ListenConfig::DEFAULT_MAX_CONNECTIONS_PER_CLIENT`]); `trusted_proxies` are exempt.
    #[serde(default)]
    pub max_connections_per_client: Option<u64>,
    /// HTTP/2 streams a client may have open on one connection (default
    /// [`ListenConfig::DEFAULT_H2_MAX_STREAMS`]).
    #[serde(default)]
    pub h2_max_streams: Option<u32>,
}

impl ListenConfig {
    /// The header-read timeout when none is configured: 10 seconds.
    pub const DEFAULT_HEADER_READ_MS: u64 = 10_000;
    /// The idle timeout of client connections when none is configured: 60 seconds.
    pub const DEFAULT_IDLE_MS: u64 = 60_000;
    /// The TLS-handshake timeout when none is configured: 10 seconds.
    pub const DEFAULT_TLS_HANDSHAKE_MS: u64 = 10_000;
    /// The send timeout when none is configured: 60 seconds, nginx's `send_timeout`.
    pub const DEFAULT_SEND_MS: u64 = 60_000;
    /// The per-client connection limit when none is configured.
    pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: u64 = 64;
    /// The HTTP/2 stream limit per connection when none is configured.
    pub const DEFAULT_H2_MAX_STREAMS: u32 = 100;
}

/// `[admin]`: the admin API. `Debug` shows the token as `<redacted>`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminConfig {
    /// `host:port` of the admin listener (default `127.0.0.1:8403`).
    #[serde(default = "default_admin")]
    pub addr: String,
    /// The bearer token the admin API requires (at least 16 characters). Prefer setting it
    /// through `L402_PROXY__ADMIN__TOKEN`.
    #[serde(default)]
    pub token: String,
    /// PEM certificate chain: with `tls_key`, the admin listener speaks TLS.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("addr", &self.addr)
            .field("token", &redact::REDACTED)
            .finish()
    }
}

/// `[store]`: where root keys, revocations and usage counts are kept. `Debug` shows the
/// URL's password as `<redacted>`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreConfig {
    /// `"sqlite"` (default, `<data_dir>/proxy.sqlite`) or `"postgres"`.
    #[serde(default = "default_store_kind")]
    pub kind: String,
    /// The PostgreSQL connection string (`postgres://user:pass@host/db`), with `kind = "postgres"`.
    #[serde(default)]
    pub url: Option<String>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("kind", &self.kind)
            .field("url", &self.url.as_deref().map(redact::postgres_url))
            .finish()
    }
}

/// `[lightning]`: the invoice backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LightningConfig {
    /// `"dev"` (default; the embedded dev node, NOT FOR REAL MONEY) or `"lnd"`.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// Dev node: where its pairing file is written so `l402 get` can pay (default
    /// `$L402_DEV_DIR`, else `~/.l402/dev`).
    #[serde(default)]
    pub dev_dir: Option<PathBuf>,
    /// LND: the gRPC endpoint, e.g. `https://127.0.0.1:10009`.
    #[serde(default)]
    pub lnd_endpoint: Option<String>,
    /// LND: the node's `tls.cert`.
    #[serde(default)]
    pub lnd_tls_cert: Option<PathBuf>,
    /// LND: a macaroon file allowed to create and look up invoices (`invoice.macaroon`).
    #[serde(default)]
    pub lnd_macaroon: Option<PathBuf>,
    /// LND: `mainnet`, `testnet`, `signet` or `regtest` (default `mainnet`).
    #[serde(default)]
    pub network: Option<String>,
}

/// `[log]`: structured logs through `tracing`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LogConfig {
    /// `"text"` (default) or `"json"`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// `error`, `warn`, `info` (default), `debug` or `trace`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

/// One `[[services]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// The service name minted into tokens (`services=<name>:0`). Several entries may share
    /// a name (one token then covers all of them). Letters, digits, `-`, `.`, `_`.
    pub name: String,
    /// Host names this entry answers (`api.example.com`, or `*.example.com` for any
    /// subdomain); empty matches every host. Ports are ignored.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path prefix, matched on whole segments after normalisation (default `/`).
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// The upstream base URL (`http://…` or `https://…`); the request path is appended as is.
    pub upstream: String,
    /// Speak HTTP/2 to the upstream with prior knowledge (h2c over plain TCP). gRPC
    /// requests always use HTTP/2.
    #[serde(default)]
    pub upstream_http2: bool,
    /// A PEM CA bundle to verify the upstream's certificate with instead of the Mozilla roots.
    #[serde(default)]
    pub upstream_ca_file: Option<PathBuf>,
    /// Whether requests need a paid token (default true).
    #[serde(default = "default_true")]
    pub auth: bool,
    /// Static price in millisatoshis.
    #[serde(default)]
    pub price_msat: Option<u64>,
    /// Static price in satoshis (an alternative to `price_msat`).
    #[serde(default)]
    pub price_sat: Option<u64>,
    /// A pricing endpoint called for each challenge (see `docs/proxy.md`).
    #[serde(default)]
    pub pricing_url: Option<String>,
    /// Paths under this service that are served without payment, matched on whole segments.
    #[serde(default)]
    pub free_paths: Vec<String>,
    /// The upstream compares paths without regard to case (IIS, Express's default routing):
    /// `path_prefix` and `free_paths` match that way too (default false; decision 0809).
    #[serde(default)]
    pub case_insensitive: bool,
    /// The upstream reads a segment with trailing dots and spaces removed and cut at a `:`
    /// (Windows file names, IIS): `path_prefix` and `free_paths` match that way too
    /// (default false; decision 0809).
    #[serde(default)]
    pub strip_trailing_dots: bool,
    /// The capability a request to this entry exercises, checked against the token's
    /// `<name>_capabilities` caveat.
    #[serde(default)]
    pub capability: Option<String>,
    /// Caveats minted into new tokens.
    #[serde(default)]
    pub caveats: CaveatConfig,
    /// Forward the client's L402 credential (Authorization, Macaroon, Grpc-Metadata-Macaroon)
    /// to the upstream (default false: the preimage never leaves the proxy).
    #[serde(default)]
    pub forward_credentials: bool,
    /// This service's upstream timeouts; a key left out falls back to the top-level
    /// `[upstream_timeouts]`, then to the default.
    #[serde(default)]
    pub upstream_timeouts: TimeoutConfig,
    /// HTTP statuses (400-599) with which the upstream says it did not do the work: such an
    /// answer gives the use back (decision 0813). Default: every 5xx. `[]`: every answer
    /// is charged.
    #[serde(default)]
    pub not_delivered_statuses: Option<Vec<u16>>,
    /// gRPC status codes (1-16) with which a call that sent no message gives the use back.
    /// Default: 2, 4, 12, 13, 14, 15 (the codes that map to HTTP 5xx).
    #[serde(default)]
    pub not_delivered_grpc_statuses: Option<Vec<u32>>,
    /// This service's request-body bounds; a key left out falls back to the top-level
    /// `[request_body]`, then to the default.
    #[serde(default)]
    pub request_body: BodyConfig,
}

/// `[request_body]` and `[services.request_body]`: how large a request body may be and how
/// long the proxy waits for it; past either, the request is refused with 413
/// `body-too-large` or 408 `body-timeout` (decision 0811).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BodyConfig {
    /// Bytes a request body may have (default [`BodyConfig::DEFAULT_MAX_BYTES`]); > 0.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Milliseconds the upstream may wait for the next part of the body (default
    /// [`BodyConfig::DEFAULT_IDLE_MS`]); `0`: no limit.
    #[serde(default, deserialize_with = "millis")]
    pub idle_ms: Option<u64>,
    /// Milliseconds, in all, the upstream may wait for the client's body (default
    /// [`BodyConfig::DEFAULT_TIMEOUT_MS`]); `0`: no limit (long client streams).
    #[serde(default, deserialize_with = "millis")]
    pub timeout_ms: Option<u64>,
}

impl BodyConfig {
    /// The body size limit when none is configured: 10 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
    /// The longest gap in a body when none is configured: 30 seconds.
    pub const DEFAULT_IDLE_MS: u64 = 30_000;
    /// The longest wait for a whole body when none is configured: 5 minutes.
    pub const DEFAULT_TIMEOUT_MS: u64 = 300_000;
}

/// `[upstream_timeouts]` and `[services.upstream_timeouts]`: how long the proxy waits for an
/// upstream before answering 504 (`upstream-timeout`), and how long a response body may go
/// quiet. A request that times out before its headers does not use up the client's token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TimeoutConfig {
    /// Milliseconds to have a connection ready: TCP, TLS and the HTTP/2 handshake together
    /// (default [`TimeoutConfig::DEFAULT_CONNECT_MS`]); must be > 0.
    #[serde(default, deserialize_with = "millis")]
    pub connect_ms: Option<u64>,
    /// Milliseconds the proxy waits on the upstream before its response headers arrive
    /// (default [`TimeoutConfig::DEFAULT_RESPONSE_MS`]): the clock runs while connecting,
    /// while the upstream takes each part of the request body, and after the body is sent,
    /// never while the client is still sending. `0`: no limit (long polling).
    #[serde(default, deserialize_with = "millis")]
    pub response_ms: Option<u64>,
    /// Milliseconds the upstream may leave the client waiting for the next part of a
    /// response body (default [`TimeoutConfig::DEFAULT_IDLE_MS`]); longer, and the body is
    /// ended and the upstream dropped. `0`: no limit (silent streams, subscriptions).
    #[serde(default, deserialize_with = "millis")]
    pub idle_ms: Option<u64>,
}

/// Reads a millisecond count, so that `-1` or `"10s"` is refused as "expected a whole number
/// of milliseconds" rather than in terms of Rust's integer types.
fn millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Millis;
    impl serde::de::Visitor<'_> for Millis {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number of milliseconds, 0 or more")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
    }
    d.deserialize_u64(Millis).map(Some)
}

impl TimeoutConfig {
    /// The connect timeout when none is configured: 10 seconds.
    pub const DEFAULT_CONNECT_MS: u64 = 10_000;
    /// The response timeout when none is configured: 60 seconds.
    pub const DEFAULT_RESPONSE_MS: u64 = 60_000;
    /// The idle timeout of response bodies when none is configured: 5 minutes, well above
    /// the heartbeat interval of server-sent events (decision 0808).
    pub const DEFAULT_IDLE_MS: u64 = 300_000;
}

/// `[services.caveats]`: restrictions minted into each new token of a service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaveatConfig {
    /// `<name>_capabilities=…`: the capabilities the token grants (empty: unrestricted).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// `<name>_valid_until=now+N`: validity period in seconds.
    #[serde(default)]
    pub valid_for_secs: Option<u64>,
    /// `max_uses=N`: the usage allowance.
    #[serde(default)]
    pub max_uses: Option<u64>,
    /// `methods=…`: the HTTP methods the token may be used with.
    #[serde(default)]
    pub methods: Vec<String>,
    /// `path_prefix=<the service's path_prefix>`: bind the token to this entry's paths.
    #[serde(default)]
    pub bind_path: bool,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("l402-proxy-data")
}
fn default_grace() -> u64 {
    30
}
fn default_listen() -> String {
    "127.0.0.1:8402".into()
}
fn default_admin() -> String {
    "127.0.0.1:8403".into()
}
fn default_health() -> String {
    "/healthz".into()
}
fn default_ready() -> String {
    "/readyz".into()
}
fn default_live() -> String {
    "/livez".into()
}
fn default_store_kind() -> String {
    "sqlite".into()
}
fn default_backend() -> String {
    "dev".into()
}
fn default_log_format() -> String {
    "text".into()
}
fn default_log_level() -> String {
    "info".into()
}
fn default_prefix() -> String {
    "/".into()
}
fn default_true() -> bool {
    true
}
fn default_invoice_expiry() -> u64 {
    600
}
fn default_rate() -> u64 {
    30
}
fn default_rate_clients() -> usize {
    65_536
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            addr: default_listen(),
            tls_cert: None,
            tls_key: None,
            health_path: default_health(),
            ready_path: default_ready(),
            live_path: default_live(),
            metrics_path: String::new(),
            header_read_ms: None,
            idle_ms: None,
            tls_handshake_ms: None,
            send_ms: None,
            max_connections: None,
            max_connections_per_client: None,
            h2_max_streams: None,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { kind: default_store_kind(), url: None }
    }
}

impl Default for LightningConfig {
    fn default() -> Self {
        LightningConfig {
            backend: default_backend(),
            dev_dir: None,
            lnd_endpoint: None,
            lnd_tls_cert: None,
            lnd_macaroon: None,
            network: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: default_log_format(), level: default_log_level() }
    }
}

impl AdminConfig {
    /// An admin API on `addr` guarded by `token`.
    pub fn new(addr: impl Into<String>, token: impl Into<String>) -> AdminConfig {
        AdminConfig { addr: addr.into(), token: token.into(), tls_cert: None, tls_key: None }
    }
}

impl ServiceConfig {
    /// A service with the defaults: auth on, no price yet, prefix `/`, every host.
    pub fn new(name: impl Into<String>, upstream: impl Into<String>) -> ServiceConfig {
        ServiceConfig {
            name: name.into(),
            hosts: Vec::new(),
            path_prefix: default_prefix(),
            upstream: upstream.into(),
            upstream_http2: false,
            upstream_ca_file: None,
            auth: true,
            price_msat: None,
            price_sat: None,
            pricing_url: None,
            free_paths: Vec::new(),
            case_insensitive: false,
            strip_trailing_dots: false,
            capability: None,
            caveats: CaveatConfig::default(),
            forward_credentials: false,
            upstream_timeouts: TimeoutConfig::default(),
            not_delivered_statuses: None,
            not_delivered_grpc_statuses: None,
            request_body: BodyConfig::default(),
        }
    }

    /// The answers that give a use back: the configured lists, or the defaults.
    pub fn not_delivered(&self) -> l402_server::NotDelivered {
        let http: Vec<u16> = match &self.not_delivered_statuses {
            Some(l) => l.clone(),
            None => l402_server::NotDelivered::DEFAULT_HTTP.collect(),
        };
        let grpc: Vec<u32> = match &self.not_delivered_grpc_statuses {
            Some(l) => l.clone(),
            None => l402_server::NotDelivered::DEFAULT_GRPC.to_vec(),
        };
        l402_server::NotDelivered::new(http, grpc)
    }

    /// How this service's upstream compares paths (`case_insensitive`, `strip_trailing_dots`).
    pub fn matching(&self) -> crate::path::Matching {
        crate::path::Matching::new(self.case_insensitive, self.strip_trailing_dots)
    }

    /// The static price in millisatoshis, if one is configured.
    pub fn static_price_msat(&self) -> Option<u64> {
        self.price_msat.or_else(|| self.price_sat.and_then(|s| s.checked_mul(1000)))
    }
}

impl Config {
    /// A configuration with every default and the given services; not yet validated.
    pub fn with_services(services: Vec<ServiceConfig>) -> Config {
        Config {
            listen: ListenConfig::default(),
            admin: None,
            data_dir: default_data_dir(),
            store: StoreConfig::default(),
            lightning: LightningConfig::default(),
            log: LogConfig::default(),
            shutdown_grace_secs: default_grace(),
            invoice_expiry_secs: default_invoice_expiry(),
            challenges_per_minute: default_rate(),
            rate_limit_clients: default_rate_clients(),
            trusted_proxies: Vec::new(),
            upstream_timeouts: TimeoutConfig::default(),
            request_body: BodyConfig::default(),
            services,
        }
    }

    /// Reads `path`, applies the process environment's `L402_PROXY__…` overrides and validates.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Read { path: path.to_owned(), source })?;
        Config::from_toml_str(&text, std::env::vars())
    }

    /// Parses TOML, applies overrides from `env` (pairs of name and value; only names
    /// starting with [`ENV_PREFIX`] are used) and validates.
    pub fn from_toml_str<I>(text: &str, env: I) -> Result<Config, Error>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        // Neither error quotes the file: a secret's line must not reach a terminal or a log
        // (decision 0816).
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::ConfigSyntax(redact::syntax_error(text, &e)))?;
        let mut overrides: Vec<(String, String)> =
            env.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        // Sorted, so array entries are created in a predictable order.
        overrides.sort();
        for (name, value) in &overrides {
            env::apply_override(&mut table, name, value)?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| Error::ConfigSyntax(redact::schema_error(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The timeouts calls to `service`'s upstream use: the service's own keys, else the
    /// top-level `[upstream_timeouts]`, else the defaults.
    pub fn timeouts_for(&self, service: &ServiceConfig) -> Timeouts {
        let own = &service.upstream_timeouts;
        let global = &self.upstream_timeouts;
        let connect =
            own.connect_ms.or(global.connect_ms).unwrap_or(TimeoutConfig::DEFAULT_CONNECT_MS);
        let response =
            own.response_ms.or(global.response_ms).unwrap_or(TimeoutConfig::DEFAULT_RESPONSE_MS);
        let idle = own.idle_ms.or(global.idle_ms).unwrap_or(TimeoutConfig::DEFAULT_IDLE_MS);
        Timeouts {
            connect: Duration::from_millis(connect),
            response: (response > 0).then(|| Duration::from_millis(response)),
            idle: (idle > 0).then(|| Duration::from_millis(idle)),
        }
    }

    /// The request-body bounds of `service`: its own keys, else the top-level
    /// `[request_body]`, else the defaults.
    pub(crate) fn body_limits_for(&self, service: &ServiceConfig) -> crate::body_limit::BodyLimits {
        let own = &service.request_body;
        let global = &self.request_body;
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        crate::body_limit::BodyLimits {
            max_bytes: own.max_bytes.or(global.max_bytes).unwrap_or(BodyConfig::DEFAULT_MAX_BYTES),
            idle: ms(own.idle_ms.or(global.idle_ms).unwrap_or(BodyConfig::DEFAULT_IDLE_MS)),
            total: ms(own
                .timeout_ms
                .or(global.timeout_ms)
                .unwrap_or(BodyConfig::DEFAULT_TIMEOUT_MS)),
        }
    }

    /// The public listener's address (validated).
    pub fn listen_addr(&self) -> Result<SocketAddr, Error> {
        validate::parse_addr("listen.addr", &self.listen.addr)
    }
}
