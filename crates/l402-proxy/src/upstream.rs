//! HTTP clients to the upstreams: HTTP/1.1 (and h2 by ALPN over TLS), and HTTP/2 with prior
//! knowledge (h2c) for gRPC. TLS is verified against the Mozilla roots, or a configured CA.

use std::path::Path;
use std::sync::Arc;

use http_body_util::combinators::BoxBody;
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::Error;

/// Errors inside bodies, boxed: bodies come from clients, upstreams and the proxy itself.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type the proxy sends and receives: streamed, never buffered.
pub type Body = BoxBody<Bytes, BoxError>;

/// One upstream client.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Body>;

/// The pair of clients one service uses.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// HTTP/1.1 over plain TCP; ALPN (h2, then HTTP/1.1) over TLS. Upgrades go through it.
    pub http1: HttpClient,
    /// HTTP/2 only: h2c over plain TCP, h2 over TLS. gRPC goes through it.
    pub http2: HttpClient,
}

fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
                roots.add(cert).map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(Error::Tls(format!("{}: no certificates", path.display())));
            }
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

impl Upstream {
    /// Clients verifying TLS against `ca_file`, or the Mozilla roots when `None`.
    pub fn new(ca_file: Option<&Path>) -> Result<Upstream, Error> {
        let mut plain = HttpConnector::new();
        plain.enforce_http(false);
        plain.set_nodelay(true);
        let h1 = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(ca_file)?)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(plain.clone());
        let h2 = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(ca_file)?)
            .https_or_http()
            .enable_http2()
            .wrap_connector(plain);
        Ok(Upstream {
            http1: Client::builder(TokioExecutor::new()).build(h1),
            http2: Client::builder(TokioExecutor::new()).http2_only(true).build(h2),
        })
    }
}
