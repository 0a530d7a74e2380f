//! Where the node is and how to authenticate, and the shared gRPC connection.

use core::time::Duration;
use std::path::Path;
use std::sync::Arc;

use http::Uri;
use hyper_util::rt::TokioIo;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::clock::{Clock, SystemClock};
use crate::lnd::tls;
use crate::{Error, Network};

/// Reconnect pacing for the settlement subscription: waits start at `initial` and double up
/// to `max` while the node stays away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(30) }
    }
}

/// How to reach an LND node.
#[derive(Clone)]
pub struct LndConfig {
    /// `host:port` of LND's gRPC interface (`https://` prefix optional), e.g.
    /// `127.0.0.1:10009`.
    pub endpoint: String,
    /// The node's `tls.cert`, PEM.
    pub tls_cert_pem: Vec<u8>,
    /// The macaroon file's raw bytes (sent as hex).
    pub macaroon: Vec<u8>,
    /// The network the node runs on; invoices for another network are refused.
    pub network: Network,
    /// Time source for expiry checks.
    pub clock: Arc<dyn Clock>,
    /// Reconnect pacing for subscriptions.
    pub backoff: Backoff,
    /// Deadline for each non-streaming call.
    pub call_timeout: Duration,
}

impl core::fmt::Debug for LndConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The macaroon is a bearer credential: never in logs.
        f.debug_struct("LndConfig")
            .field("endpoint", &self.endpoint)
            .field("network", &self.network)
            .field("backoff", &self.backoff)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

impl LndConfig {
    /// A configuration from in-memory certificate and macaroon, with the system clock.
    pub fn new(
        endpoint: impl Into<String>,
        tls_cert_pem: Vec<u8>,
        macaroon: Vec<u8>,
        network: Network,
    ) -> LndConfig {
        LndConfig {
            endpoint: endpoint.into(),
            tls_cert_pem,
            macaroon,
            network,
            clock: Arc::new(SystemClock),
            backoff: Backoff::default(),
            call_timeout: Duration::from_secs(30),
        }
    }

    /// A configuration from LND's files: `tls.cert` and a macaroon file (for example
    /// `~/.lnd/data/chain/bitcoin/mainnet/invoice.macaroon`).
    pub fn from_files(
        endpoint: impl Into<String>,
        tls_cert: &Path,
        macaroon: &Path,
        network: Network,
    ) -> Result<LndConfig, Error> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))
        };
        Ok(LndConfig::new(endpoint, read(tls_cert)?, read(macaroon)?, network))
    }
}

/// A lazily connecting gRPC channel plus the macaroon header, shared by both sides.
#[derive(Clone)]
pub(crate) struct Conn {
    pub(crate) channel: Channel,
    pub(crate) macaroon: MetadataValue<Ascii>,
    pub(crate) network: Network,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) backoff: Backoff,
    pub(crate) call_timeout: Duration,
}

impl Conn {
    pub(crate) fn new(config: &LndConfig) -> Result<Conn, Error> {
        let cert = tls::parse_pem_cert(&config.tls_cert_pem)?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(tls::client_config(cert)?));
        let endpoint = config.endpoint.trim();
        let endpoint = endpoint.strip_prefix("https://").unwrap_or(endpoint);
        // The scheme is `http` because TLS happens in our connector, below tonic, which
        // refuses `https` URIs unless it does TLS itself.
        let uri: Uri = format!("http://{endpoint}")
            .parse()
            .map_err(|e| Error::Config(format!("bad LND endpoint {endpoint:?}: {e}")))?;
        let connector = tower::service_fn(move |uri: Uri| {
            let tls = tls.clone();
            async move {
                let host = uri
                    .host()
                    .unwrap_or("localhost")
                    .trim_matches(|c| c == '[' || c == ']')
                    .to_owned();
                let port = uri.port_u16().unwrap_or(10009);
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                // The verifier pins the certificate, so the name only feeds SNI.
                let name = rustls::pki_types::ServerName::try_from(host)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let stream = tls.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        });
        let channel = Endpoint::from(uri)
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect_with_connector_lazy(connector);
        let macaroon = hex::encode(&config.macaroon)
            .parse()
            .map_err(|_| Error::Config("macaroon cannot be sent as metadata".into()))?;
        Ok(Conn {
            channel,
            macaroon,
            network: config.network,
            clock: config.clock.clone(),
            backoff: config.backoff,
            call_timeout: config.call_timeout,
        })
    }

    /// A request carrying the macaroon.
    pub(crate) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("macaroon", self.macaroon.clone());
        request
    }

    /// Runs a call under the per-call deadline.
    pub(crate) async fn unary<T>(
        &self,
        call: impl core::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(crate::lnd::status::to_error(&status)),
            Err(_) => Err(Error::Timeout),
        }
    }
}
