//! The listeners: accept with a bounded back-off, admit within the connection limits (shed
//! the connection that has waited longest for a request head when full), time the TLS
//! handshake, request heads and idleness, and serve HTTP/1.1 or HTTP/2 (decision 0811).

mod conn;
mod table;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use l402_caveats::IpNet;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, ListenConfig};
use crate::log_sampler::LogSampler;
use crate::metrics::Metrics;
use crate::Error;
use conn::{watchdog, Clocks, InFlight, Sending, Tracked};
use table::{Refusal, Table};

/// File descriptors kept back from the derived connection limit for everything that is not
/// a client connection: the listeners, the store, the dev node or LND, the admin API's own
/// connections ([`ADMIN_MAX_CONNECTIONS`]), logs, the runtime.
pub(crate) const RESERVE: u64 = 128;
/// The derived limit's bounds: enough to be useful on a tiny `ulimit -n`, and no more than
/// one process's buffers should hold when the limit is effectively unbounded.
const DERIVED_MIN: u64 = 16;
const DERIVED_MAX: u64 = 16_384;
/// The limit when the process's descriptor limit cannot be read.
const FALLBACK_MAX: u64 = 448;
/// The admin listener's connection limit (in all and per client).
pub(crate) const ADMIN_MAX_CONNECTIONS: usize = 32;
/// One log line per code and listener in this period.
const LOG_PERIOD: Duration = Duration::from_secs(10);
/// The accept back-off: doubles from the first delay to the last (as Go's `net/http`).
const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// One listener's limits.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    clocks: Clocks,
    max: usize,
    per_client: usize,
    exempt: Vec<IpNet>,
    h2_max_streams: u32,
}

fn ms(v: Option<u64>, default: u64) -> Duration {
    Duration::from_millis(v.unwrap_or(default))
}

fn clocks(l: &ListenConfig) -> Clocks {
    Clocks {
        header_read: ms(l.header_read_ms, ListenConfig::DEFAULT_HEADER_READ_MS),
        idle: ms(l.idle_ms, ListenConfig::DEFAULT_IDLE_MS),
        tls_handshake: ms(l.tls_handshake_ms, ListenConfig::DEFAULT_TLS_HANDSHAKE_MS),
        send: ms(l.send_ms, ListenConfig::DEFAULT_SEND_MS),
    }
}

impl Limits {
    /// The public listener's limits; `max_connections` derived from `fd_limit` (the soft
    /// `RLIMIT_NOFILE`) unless configured, and refused when configured above what it allows.
    pub(crate) fn public(config: &Config, fd_limit: Option<u64>) -> Result<Limits, Error> {
        let l = &config.listen;
        let max = match (l.max_connections, fd_limit) {
            (Some(m), Some(n)) if m.saturating_mul(2).saturating_add(RESERVE) > n => {
                return Err(Error::config(
                    "listen.max_connections",
                    format!(
                        "needs about {} file descriptors (2 per connection, {RESERVE} more), \
                         this process may open {n}: raise `ulimit -n` or lower the key",
                        m.saturating_mul(2).saturating_add(RESERVE)
                    ),
                ));
            }
            (Some(m), _) => m,
            (None, Some(n)) => (n.saturating_sub(RESERVE) / 2).clamp(DERIVED_MIN, DERIVED_MAX),
            (None, None) => FALLBACK_MAX,
        };
        let per_client = l
            .max_connections_per_client
            .unwrap_or(ListenConfig::DEFAULT_MAX_CONNECTIONS_PER_CLIENT);
        Ok(Limits {
            clocks: clocks(l),
            max: usize::try_from(max).unwrap_or(usize::MAX),
            per_client: usize::try_from(per_client).unwrap_or(usize::MAX),
            exempt: config.trusted_proxies.iter().filter_map(|n| IpNet::parse(n)).collect(),
            h2_max_streams: l.h2_max_streams.unwrap_or(ListenConfig::DEFAULT_H2_MAX_STREAMS),
        })
    }

    /// The admin listener's: the public clocks, [`ADMIN_MAX_CONNECTIONS`].
    pub(crate) fn admin(config: &Config) -> Limits {
        Limits {
            clocks: clocks(&config.listen),
            max: ADMIN_MAX_CONNECTIONS,
            per_client: ADMIN_MAX_CONNECTIONS,
            exempt: Vec::new(),
            h2_max_streams: ListenConfig::DEFAULT_H2_MAX_STREAMS,
        }
    }

    /// Client connections the listener holds at most.
    pub(crate) fn max_connections(&self) -> usize {
        self.max
    }
}

/// The soft limit on open file descriptors (`ulimit -n`), if there is one.
#[cfg(unix)]
pub(crate) fn fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// The soft limit on open file descriptors: none known off Unix.
#[cfg(not(unix))]
pub(crate) fn fd_limit() -> Option<u64> {
    None
}

/// Something connections are accepted from (a TCP listener; a fake one in unit tests).
pub(crate) trait Listener: Send + 'static {
    /// The accepted socket.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection.
    fn next(&mut self) -> impl Future<Output = io::Result<(Self::Io, SocketAddr)>> + Send;
}

impl Listener for TcpListener {
    type Io = TcpStream;

    async fn next(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((stream, peer))
    }
}

/// The delay before the next accept after a failure: doubling, bounded, reset by a success.
#[derive(Default)]
struct Backoff(Option<Duration>);

impl Backoff {
    fn fail(&mut self) -> Duration {
        let next = self.0.map_or(BACKOFF_FIRST, |d| (d * 2).min(BACKOFF_MAX));
        self.0 = Some(next);
        next
    }
}

/// A failure of one incoming connection, not of the listener: try the next one at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The stable code of an accept failure (log field and metric label).
fn accept_code(e: &io::Error) -> &'static str {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        let raw = e.raw_os_error();
        if raw == Some(Errno::MFILE.raw_os_error()) || raw == Some(Errno::NFILE.raw_os_error()) {
            return "fd-exhausted";
        }
        if raw == Some(Errno::NOBUFS.raw_os_error()) || raw == Some(Errno::NOMEM.raw_os_error()) {
            return "out-of-memory";
        }
    }
    let _ = e;
    "accept-failed"
}

/// A socket, plain or TLS, as hyper serves it.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// What every connection of one listener shares.
struct Listening<H> {
    name: &'static str,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    metrics: Arc<Metrics>,
    logs: Arc<LogSampler>,
    handler: H,
}

impl<H> Listening<H> {
    fn closed(&self, code: &'static str, peer: SocketAddr) {
        self.metrics
            .inc("l402_proxy_connections_closed_total", &[("listener", self.name), ("code", code)]);
        if let Some(skipped) = self.logs.allow(code) {
            tracing::info!(listener = self.name, %peer, code, skipped, "connection closed by the proxy");
        }
    }
}

/// Serves `listener` until `shutdown`, then drains for up to `grace`.
#[allow(clippy::too_many_arguments, reason = "one call site per listener, each named")]
pub(crate) async fn accept_loop<L, H, F>(
    listener: L,
    name: &'static str,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
    handler: H,
) where
    L: Listener,
    H: Fn(hyper::Request<Incoming>, SocketAddr, bool) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<crate::upstream::Body>> + Send + 'static,
{
    let logs = Arc::new(LogSampler::new(1, LOG_PERIOD));
    run(listener, name, tls, limits, metrics, logs, shutdown, grace, handler).await;
}

#[allow(clippy::too_many_arguments, reason = "accept_loop, with the log limit shown to tests")]
async fn run<L, H, F>(
    mut listener: L,
    name: &'static str,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    metrics: Arc<Metrics>,
    logs: Arc<LogSampler>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
    handler: H,
) where
    L: Listener,
    H: Fn(hyper::Request<Incoming>, SocketAddr, bool) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<crate::upstream::Body>> + Send + 'static,
{
    let gauge = {
        let metrics = Arc::clone(&metrics);
        move |open: usize| {
            let open = u64::try_from(open).unwrap_or(u64::MAX);
            metrics.set_with("l402_proxy_connections_open", &[("listener", name)], open);
        }
    };
    let table = Table::new(limits.max, limits.per_client, limits.exempt.clone(), Box::new(gauge));
    let shared = Arc::new(Listening { name, limits, tls, metrics, logs, handler });
    let graceful = GracefulShutdown::new();
    let mut backoff = Backoff::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.next() => match accepted {
                Ok(a) => {
                    backoff = Backoff::default();
                    a
                }
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    let code = accept_code(&e);
                    let delay = backoff.fail();
                    let labels = [("listener", name), ("code", code)];
                    shared.metrics.inc("l402_proxy_accept_errors_total", &labels);
                    if let Some(skipped) = shared.logs.allow(code) {
                        let retry_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                        tracing::warn!(
                            listener = name, code, error = %e, skipped, retry_ms,
                            "accept failed; backing off"
                        );
                    }
                    if code == "fd-exhausted" {
                        // Free a descriptor for the connections that are doing something.
                        table.shed_oldest(None);
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => continue,
                        _ = shutdown.changed() => break,
                    }
                }
            },
            _ = shutdown.changed() => break,
        };
        let slot = match table.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(Refusal::PerClient) => {
                drop(stream);
                shared.closed("per-client-limit", peer);
                continue;
            }
        };
        // Over the limit: wait until the connection waiting longest for a head has made
        // room, or, all busy, until one closes. Only this one accepted socket waits, so the
        // descriptors in use stay within one of the limit.
        let full = || {
            shared.metrics.inc("l402_proxy_listener_full_total", &[("listener", name)]);
            if let Some(skipped) = shared.logs.allow("listener-full") {
                tracing::warn!(
                    listener = name,
                    code = "listener-full",
                    skipped,
                    max_connections = shared.limits.max,
                    "every connection is busy; new ones wait until one closes"
                );
            }
        };
        tokio::select! {
            () = table.room(&slot, full) => {}
            _ = shutdown.changed() => break,
        }
        let io = Tracked::new(stream, slot);
        tokio::spawn(serve(Arc::clone(&shared), io, peer, graceful.watcher()));
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(listener = name, "grace period over; closing connections still open");
    }
}

async fn serve<S, H, F>(
    shared: Arc<Listening<H>>,
    io: Tracked<S>,
    peer: SocketAddr,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(hyper::Request<Incoming>, SocketAddr, bool) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<crate::upstream::Body>> + Send + 'static,
{
    let entry = Arc::clone(io.entry());
    let is_tls = shared.tls.is_some();
    // The clocks start now, not when the connection was accepted (it may have waited for
    // room).
    if is_tls {
        entry.handshaking();
    } else {
        entry.ready();
    }
    let serving = {
        let entry = Arc::clone(&entry);
        let shared = Arc::clone(&shared);
        async move {
            let io: Box<dyn Io> = match &shared.tls {
                Some(acceptor) => match acceptor.accept(io).await {
                    Ok(s) => Box::new(s),
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "tls handshake failed");
                        return;
                    }
                },
                None => Box::new(io),
            };
            if is_tls {
                entry.ready();
            }
            let handler = shared.handler.clone();
            let svc = service_fn(move |req: hyper::Request<Incoming>| {
                let in_flight = InFlight::start(&entry, req.version() == http::Version::HTTP_2);
                let handler = handler.clone();
                async move {
                    let response = handler(req, peer, is_tls).await;
                    Ok::<_, Infallible>(response.map(|b| Sending::new(b, in_flight).boxed()))
                }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(shared.limits.h2_max_streams);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc).into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
    };
    tokio::select! {
        // The socket is closed, or lives on in a tunnel (an upgrade): no clock applies.
        () = serving => entry.tunnel(),
        closed = watchdog(&entry, shared.limits.clocks) => shared.closed(closed.code(), peer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener out of file descriptors for good.
    struct Exhausted(Arc<std::sync::atomic::AtomicU64>);

    impl Listener for Exhausted {
        type Io = tokio::io::DuplexStream;

        async fn next(&mut self) -> io::Result<(tokio::io::DuplexStream, SocketAddr)> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(io::Error::from_raw_os_error(24))
        }
    }

    #[test]
    fn the_backoff_doubles_up_to_one_second() {
        let mut b = Backoff::default();
        let delays: Vec<u128> = (0..10).map(|_| b.fail().as_millis()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    }

    /// EMFILE for a minute of (paused) time: the loop backs off instead of spinning, every
    /// failure is counted, and the log gets one line per 10 seconds.
    #[tokio::test(start_paused = true)]
    async fn accept_errors_back_off_and_are_logged_at_a_bounded_rate() {
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let metrics = Arc::new(Metrics::new());
        let (stop, rx) = watch::channel(false);
        let config = Config::with_services(Vec::new());
        let limits = Limits::public(&config, Some(1024)).unwrap_or_else(|_| Limits::admin(&config));
        let logs = Arc::new(LogSampler::new(1, LOG_PERIOD));
        let task = tokio::spawn(run(
            Exhausted(Arc::clone(&calls)),
            "public",
            None,
            limits,
            Arc::clone(&metrics),
            Arc::clone(&logs),
            rx,
            Duration::from_secs(1),
            |_req, _peer, _tls| async {
                crate::proxy::full(http::StatusCode::OK, "text/plain", "")
            },
        ));
        tokio::time::sleep(Duration::from_secs(60)).await;
        let _ = stop.send(true);
        let _ = task.await;
        let n = calls.load(std::sync::atomic::Ordering::Relaxed);
        // 5 ms doubling to 1 s: 8 tries in the first 1.3 s, then one a second.
        assert!((50..=75).contains(&n), "{n} accept calls in 60 s");
        let counted = metrics.get(
            "l402_proxy_accept_errors_total",
            &[("listener", "public"), ("code", "fd-exhausted")],
        );
        assert_eq!(counted, n);
        // One line at once, then one per 10 s: 7 in 60 s, however many failures.
        assert!(logs.written() <= 7, "{} log lines", logs.written());
    }
}
