//! `l402 get --cacert FILE`: trust a private CA (or a self-signed server certificate) on top of
//! the platform's roots (decision 0705). The file can also be named by `$L402_CACERT` or
//! `cacert` in the client configuration; the flag wins, then the environment (decision 0706).
//!
//! The file is read and every certificate parsed before anything touches the network, the
//! wallet or the store: a bad file is the user's argument, so it is a usage error with its own
//! code, not a TLS failure at the first request that would look like the server's fault.

use std::io::Read as _;
use std::path::PathBuf;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

/// Larger files are refused unread: system bundles are a few hundred kilobytes, and a path
/// like `/dev/zero` must not fill memory.
const MAX_BYTES: u64 = 4 << 20;

/// Why a `--cacert` file was refused. Reported with code `cacert` and exit code 2.
#[derive(Debug)]
pub(crate) struct CaCertError {
    /// Stable: `unreadable`, `malformed-pem`, `no-certificate`, `invalid-certificate`.
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

/// A CA file and where it was named, so that a stale `L402_CACERT` or configuration entry is
/// recognisable in the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CaCert {
    pub(crate) path: PathBuf,
    /// `--cacert`, `L402_CACERT`, or `cacert in <config file>`.
    pub(crate) from: String,
}

fn refuse(reason: &'static str, message: String) -> CaCertError {
    CaCertError { reason, message }
}

/// Every certificate in the PEM file, each checked to be usable as a trust anchor.
pub(crate) fn load(ca: &CaCert) -> Result<Vec<CertificateDer<'static>>, CaCertError> {
    let (from, shown) = (&ca.from, ca.path.display());
    let mut pem = Vec::new();
    std::fs::File::open(&ca.path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut pem))
        .map_err(|e| refuse("unreadable", format!("{from}: cannot read {shown}: {e}")))?;
    if pem.len() as u64 > MAX_BYTES {
        return Err(refuse(
            "unreadable",
            format!("{from}: {shown} is larger than {MAX_BYTES} bytes"),
        ));
    }
    // Parsed here as rustls will, so that the error names the file and the certificate at
    // fault instead of surfacing as a generic error when the client is built.
    let mut anchors = rustls::RootCertStore::empty();
    let mut certs = Vec::new();
    for (n, der) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let der = der.map_err(|e| refuse("malformed-pem", format!("{from}: {shown}: {e}")))?;
        anchors.add(der.clone()).map_err(|e| {
            let n = n + 1;
            refuse(
                "invalid-certificate",
                format!("{from}: {shown}: certificate {n} is unusable: {e}"),
            )
        })?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(refuse(
            "no-certificate",
            format!("{from}: {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        ));
    }
    Ok(certs)
}
