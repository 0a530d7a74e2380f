//! Start-up and shutdown: backend, store, paywall, listeners (TLS optional), the admin API,
//! the settlement watcher, and a graceful drain.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use l402_lightning::dev::{DevNode, PairingServer};
use l402_lightning::InvoiceBackend;
use l402_server::tower::L402Layer;
use l402_server::{Paywall, PaywallConfig, Price, RateLimit, Route, Store};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, ServiceConfig};
use crate::error::TlsError;
use crate::forward::Service;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::proxy::Shared;
use crate::upstream::{Timeouts, Upstream};
use crate::Error;

/// Configures and starts a [`Proxy`].
#[must_use]
pub struct ProxyBuilder {
    config: Config,
    backend: Option<Arc<dyn InvoiceBackend>>,
    store: Option<Arc<dyn Store>>,
}

impl core::fmt::Debug for ProxyBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProxyBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A running proxy. Dropping it stops accepting at once; [`Proxy::shutdown`] drains first.
pub struct Proxy {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    metrics: Arc<Metrics>,
    ledger: Arc<Ledger>,
    paywall: Arc<Paywall>,
    dev_node: Option<DevNode>,
    pairing: Option<PairingServer>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    grace: Duration,
}

impl core::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("admin_addr", &self.admin_addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Proxy {
    /// Starts configuring a proxy from a validated configuration.
    pub fn builder(config: Config) -> ProxyBuilder {
        ProxyBuilder { config, backend: None, store: None }
    }

    /// The public listener's bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener's bound address, when the admin API is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// What this instance sold.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The paywall (mint, verifier, store).
    pub fn paywall(&self) -> &Arc<Paywall> {
        &self.paywall
    }

    /// The embedded dev node, when the configuration chose it (NOT FOR REAL MONEY).
    pub fn dev_node(&self) -> Option<&DevNode> {
        self.dev_node.as_ref()
    }

    /// The dev node's pairing file, which `l402 get` reads to pay.
    pub fn pairing_file(&self) -> Option<&Path> {
        self.pairing.as_ref().map(PairingServer::pairing_file)
    }

    /// Stops accepting, waits up to `shutdown_grace_secs` for in-flight requests to finish,
    /// then stops.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let deadline = self.grace + Duration::from_secs(1);
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(deadline, t).await;
        }
    }
}

impl ProxyBuilder {
    /// Uses this invoice backend instead of the configured one.
    pub fn backend(mut self, backend: Arc<dyn InvoiceBackend>) -> ProxyBuilder {
        self.backend = Some(backend);
        self
    }

    /// Uses this store instead of the configured one.
    pub fn store(mut self, store: Arc<dyn Store>) -> ProxyBuilder {
        self.store = Some(store);
        self
    }

    /// Builds everything and starts listening.
    pub async fn start(self) -> Result<Proxy, Error> {
        let config = self.config;
        config.validate()?;
        let (backend, dev_node, pairing) = match self.backend {
            Some(b) => (b, None, None),
            None => open_backend(&config).await?,
        };
        let store = match self.store {
            Some(s) => s,
            None => open_store(&config).await?,
        };
        let mut pw = PaywallConfig::default();
        pw.invoice_expiry = Duration::from_secs(config.invoice_expiry_secs);
        pw.rate_limit =
            RateLimit { challenges: config.challenges_per_minute, window: Duration::from_secs(60) };
        pw.rate_clients = config.rate_limit_clients;
        let nets = config.trusted_proxies.iter().filter_map(|n| l402_caveats::IpNet::parse(n));
        pw.trusted_proxies = l402_server::TrustedProxies::new(nets.collect());
        let paywall = Arc::new(Paywall::builder(Arc::clone(&backend), store).config(pw).build());

        let mut services = Vec::with_capacity(config.services.len());
        for (i, s) in config.services.iter().enumerate() {
            services.push(build_service(i, s, config.timeouts_for(s), config.body_limits_for(s))?);
        }
        let services: Arc<[Service]> = services.into();
        let metrics = Arc::new(Metrics::new());
        let ledger = Arc::new(Ledger::default());
        let router = crate::route::Router {
            configs: config.services.clone(),
            services: Arc::clone(&services),
            metrics: Arc::clone(&metrics),
        };
        let counter = crate::observe::Counter {
            metrics: Arc::clone(&metrics),
            ledger: Arc::clone(&ledger),
            paywall: Arc::clone(&paywall),
            logs: crate::log_sampler::LogSampler::default(),
        };
        let forward = crate::forward::Forward { services, metrics: Arc::clone(&metrics) };
        let pipeline = L402Layer::with_selector(Arc::clone(&paywall), router).observe(counter);
        let shared = Arc::new(Shared {
            pipeline: tower::Layer::layer(&pipeline, forward),
            paywall: Arc::clone(&paywall),
            metrics: Arc::clone(&metrics),
            health_path: config.listen.health_path.clone(),
            ready_path: config.listen.ready_path.clone(),
            live_path: config.listen.live_path.clone(),
            metrics_path: config.listen.metrics_path.clone(),
            in_flight: AtomicU64::new(0),
        });

        let grace = Duration::from_secs(config.shutdown_grace_secs);
        let (shutdown, rx) = watch::channel(false);
        let listen = config.listen_addr()?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Bind { addr: listen, source })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind { addr: listen, source })?;
        let tls = match (&config.listen.tls_cert, &config.listen.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            _ => None,
        };
        let limits = crate::listen::Limits::public(&config, crate::listen::fd_limit())?;
        tracing::info!(max_connections = limits.max_connections(), "connection limit");
        let mut tasks = Vec::new();
        let public = Arc::clone(&shared);
        tasks.push(tokio::spawn(crate::listen::accept_loop(
            listener,
            "public",
            tls,
            limits,
            Arc::clone(&metrics),
            rx.clone(),
            grace,
            move |req, peer, tls| {
                let shared = Arc::clone(&public);
                async move { shared.handle(req, peer, tls).await }
            },
        )));

        let mut admin_addr = None;
        if let Some(admin) = &config.admin {
            let want: SocketAddr = admin
                .addr
                .parse()
                .map_err(|_| Error::config("admin.addr", "must be an IP address and port"))?;
            let listener = TcpListener::bind(want)
                .await
                .map_err(|source| Error::Bind { addr: want, source })?;
            admin_addr =
                Some(listener.local_addr().map_err(|source| Error::Bind { addr: want, source })?);
            let api = Arc::new(crate::admin::Admin::new(
                &admin.token,
                Arc::clone(&paywall),
                Arc::clone(&metrics),
                Arc::clone(&ledger),
            ));
            let tls = match (&admin.tls_cert, &admin.tls_key) {
                (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
                _ => None,
            };
            tasks.push(tokio::spawn(crate::listen::accept_loop(
                listener,
                "admin",
                tls,
                crate::listen::Limits::admin(&config),
                Arc::clone(&metrics),
                rx.clone(),
                grace,
                move |req, _, _| {
                    let api = Arc::clone(&api);
                    async move { api.handle(req).await }
                },
            )));
        }

        tasks.push(tokio::spawn(watch_settlements(
            backend,
            Arc::clone(&metrics),
            Arc::clone(&ledger),
            rx,
        )));
        tracing::info!(%addr, admin = ?admin_addr, tls = config.listen.tls_cert.is_some(), "l402 proxy listening");
        Ok(Proxy {
            addr,
            admin_addr,
            metrics,
            ledger,
            paywall,
            dev_node,
            pairing,
            shutdown,
            tasks,
            grace,
        })
    }
}

type Opened = (Arc<dyn InvoiceBackend>, Option<DevNode>, Option<PairingServer>);

async fn open_backend(config: &Config) -> Result<Opened, Error> {
    match config.lightning.backend.as_str() {
        "lnd" => open_lnd(config),
        _ => {
            let node = DevNode::new()?;
            let dir =
                config.lightning.dev_dir.clone().unwrap_or_else(l402_lightning::dev::default_dir);
            let pairing = node.serve_pairing(&dir).await?;
            tracing::warn!(
                pairing = %pairing.pairing_file().display(),
                "using the embedded dev node: NOT FOR REAL MONEY"
            );
            Ok((Arc::new(node.clone()), Some(node), Some(pairing)))
        }
    }
}

#[cfg(feature = "lnd")]
fn open_lnd(config: &Config) -> Result<Opened, Error> {
    use l402_lightning::lnd::{LndConfig, LndInvoiceBackend};
    let l = &config.lightning;
    let network: l402_lightning::Network = l
        .network
        .as_deref()
        .unwrap_or("mainnet")
        .parse()
        .map_err(|_| Error::config("lightning.network", "unknown network"))?;
    let (Some(endpoint), Some(cert), Some(mac)) =
        (&l.lnd_endpoint, &l.lnd_tls_cert, &l.lnd_macaroon)
    else {
        return Err(Error::config("lightning.lnd_endpoint", "required with backend = \"lnd\""));
    };
    let lnd = LndConfig::from_files(endpoint.clone(), cert, mac, network)?;
    Ok((Arc::new(LndInvoiceBackend::new(&lnd)?), None, None))
}

#[cfg(not(feature = "lnd"))]
fn open_lnd(_: &Config) -> Result<Opened, Error> {
    Err(Error::config(
        "lightning.backend",
        "this build has no LND support (build l402-proxy with feature \"lnd\")",
    ))
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, Error> {
    match config.store.kind.as_str() {
        "postgres" => open_postgres(config).await,
        _ => {
            // Root keys live here: owner only (decision 0810).
            l402_lightning::owner_only::dir(&config.data_dir)
                .map_err(|source| Error::DataDir { path: config.data_dir.clone(), source })?;
            let path: PathBuf = config.data_dir.join("proxy.sqlite");
            let store = l402_server::store::SqliteStore::open(&path)?;
            Ok(Arc::new(store))
        }
    }
}

#[cfg(feature = "postgres")]
async fn open_postgres(config: &Config) -> Result<Arc<dyn Store>, Error> {
    let url = config.store.url.as_deref().unwrap_or_default();
    let store = l402_server::store::PostgresStore::connect(url).await?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_config: &Config) -> Result<Arc<dyn Store>, Error> {
    Err(Error::config("store.kind", "this build has no PostgreSQL support (feature \"postgres\")"))
}

fn build_service(
    i: usize,
    s: &ServiceConfig,
    timeouts: Timeouts,
    body_limits: crate::body_limit::BodyLimits,
) -> Result<Service, Error> {
    let at = |k: &str| format!("services[{i}].{k}");
    let uri: http::Uri =
        s.upstream.parse().map_err(|_| Error::config(at("upstream"), "invalid URL"))?;
    let parts = uri.into_parts();
    let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
        return Err(Error::config(at("upstream"), "must be an absolute http or https URL"));
    };
    let base_path =
        parts.path_and_query.map(|p| p.path().trim_end_matches('/').to_owned()).unwrap_or_default();
    let upstream = Upstream::new(s.upstream_ca_file.as_deref(), timeouts)?;
    let price = match (s.static_price_msat(), &s.pricing_url) {
        (Some(msat), _) => Price::msat(msat),
        (None, Some(url)) => {
            let url: http::Uri =
                url.parse().map_err(|_| Error::config(at("pricing_url"), "invalid URL"))?;
            crate::pricing::endpoint(upstream.http1.clone(), url, s.name.clone())
        }
        // A free service never mints; the route still needs a price to exist.
        (None, None) => Price::msat(1),
    };
    let c = &s.caveats;
    let mut route = Route::new(s.name.clone(), price);
    route.capabilities = c.capabilities.clone();
    route.capability = s.capability.clone();
    route.validity = c.valid_for_secs.map(Duration::from_secs);
    route.max_uses = c.max_uses;
    route.not_delivered = s.not_delivered();
    if !c.methods.is_empty() {
        route = route.caveat(l402_caveats::Caveat::Methods(c.methods.clone()));
    }
    if c.bind_path {
        route = route.caveat(l402_caveats::Caveat::PathPrefix(s.path_prefix.clone()));
    }
    route.caveats_at(0).map_err(|e| Error::config(at("caveats"), e.to_string()))?;
    let route = Arc::new(route);
    Ok(Service { config: s.clone(), route, scheme, authority, base_path, upstream, body_limits })
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, Error> {
    fn pem(path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> Error + '_ {
        move |e| Error::tls(Some(path), TlsError::Pem(e))
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(pem(cert))?
        .collect::<Result<_, _>>()
        .map_err(pem(cert))?;
    if certs.is_empty() {
        return Err(Error::tls(Some(cert), TlsError::NoCertificates));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
    let refused = |e| Error::tls(None, TlsError::Rustls(e));
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(refused)?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(refused)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

async fn watch_settlements(
    backend: Arc<dyn InvoiceBackend>,
    metrics: Arc<Metrics>,
    ledger: Arc<Ledger>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut stream = match backend.subscribe_settlements(0).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(
                code = e.code(),
                "cannot watch settlements; revenue metrics stay at zero"
            );
            return;
        }
    };
    loop {
        let next = std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx));
        let settlement = tokio::select! {
            s = next => s,
            _ = shutdown.changed() => return,
        };
        let Some(s) = settlement else { return };
        if let Some(service) = ledger.settled(&s.payment_hash, s.amount_paid_msat) {
            metrics.inc("l402_proxy_invoices_settled_total", &[]);
            metrics.add(
                "l402_proxy_revenue_msat_total",
                &[("service", &service)],
                s.amount_paid_msat,
            );
            ledger.notify();
        }
    }
}
