//! The HTTP client of `l402 get` and `l402 demo`, and which roots it trusts (decision 0706).
//!
//! reqwest verifies HTTPS with `rustls-platform-verifier`. On Linux and the BSDs that reads
//! the system's CA bundle when the client is *built*, and refuses to build without one, so on
//! a machine with no bundle (a distroless or scratch container, a minimal chroot) not even
//! `http://127.0.0.1/` could be fetched. When the platform has no roots, the client trusts
//! the Mozilla roots compiled into `l402` instead (`webpki-roots`, already linked for the
//! proxy's upstreams), plus any `--cacert`. Plain HTTP never looks at either.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use crate::out;

/// Where the client's trust roots came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Roots {
    /// The platform's store (on top of which `--cacert` adds its certificates).
    Platform,
    /// The platform had none: the Mozilla roots built into `l402`, plus `--cacert`.
    Bundled,
}

impl Roots {
    /// Stable: `platform`, `bundled`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Roots::Platform => "platform",
            Roots::Bundled => "bundled",
        }
    }
}

/// How the client behaves: how long it waits for a connection (TCP and TLS) and for a whole
/// exchange (headers and body, each HTTP request on its own; `None`: no limit), how many
/// redirects it follows (curl's: none unless `-L`), and whether it skips certificate checks
/// (`-k`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) connect: std::time::Duration,
    pub(crate) total: Option<std::time::Duration>,
    pub(crate) redirects: usize,
    pub(crate) insecure: bool,
}

impl Options {
    /// `l402 get`'s defaults: 10 s to connect, 300 s per exchange, no redirects, verified.
    pub(crate) const DEFAULT: Options = Options {
        connect: std::time::Duration::from_secs(10),
        total: Some(std::time::Duration::from_secs(300)),
        redirects: 0,
        insecure: false,
    };

    fn apply(self, b: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let policy = match self.redirects {
            0 => reqwest::redirect::Policy::none(),
            n => reqwest::redirect::Policy::limited(n),
        };
        let b = b.connect_timeout(self.connect).redirect(policy);
        let b = if self.insecure { b.danger_accept_invalid_certs(true) } else { b };
        match self.total {
            Some(t) => b.timeout(t),
            None => b,
        }
    }
}

/// A built client.
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) roots: Roots,
    /// Why the platform's roots could not be used, when they were not.
    pub(crate) platform_error: Option<String>,
}

/// Builds the client, trusting `extra` on top of the platform's roots, or on top of the
/// bundled ones when the platform has none. The error is the whole cause chain.
pub(crate) fn client(extra: &[CertificateDer<'static>], limits: Options) -> Result<Http, String> {
    // Another part of the program may have installed it already; either way one is in place.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Probed without `extra`: with them the platform verifier builds even on a machine
    // without roots, and would then trust `--cacert` alone, so a redirect to a public host
    // would fail there while it works everywhere else.
    let platform_error = match limits.apply(reqwest::Client::builder()).build() {
        Ok(client) if extra.is_empty() => {
            return Ok(Http { client, roots: Roots::Platform, platform_error: None })
        }
        Ok(_) => {
            let certs = extra.iter().map(|c| reqwest::Certificate::from_der(c));
            let certs = certs.collect::<Result<Vec<_>, _>>().map_err(|e| out::causes(&e))?;
            let client = limits
                .apply(reqwest::Client::builder())
                .tls_certs_merge(certs)
                .build()
                .map_err(|e| out::causes(&e))?;
            return Ok(Http { client, roots: Roots::Platform, platform_error: None });
        }
        Err(e) => out::causes(&e),
    };
    let mut anchors = rustls::RootCertStore::empty();
    anchors.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        // `cacert::load` already added each one to a store like this, so this cannot fail.
        anchors.add(cert.clone()).map_err(|e| e.to_string())?;
    }
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(anchors)
        .with_no_client_auth();
    // What reqwest offers itself when built, as here, without HTTP/2.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let client =
        limits.apply(reqwest::Client::builder()).tls_backend_preconfigured(tls).build().map_err(
            |e| format!("{platform_error}; with the bundled roots: {}", out::causes(&e)),
        )?;
    Ok(Http { client, roots: Roots::Bundled, platform_error: Some(platform_error) })
}
