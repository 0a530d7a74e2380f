//! A certificate shaped like LND's `tls.cert`: self-signed, CA-flagged, ECDSA P-256, valid for
//! `localhost` and `127.0.0.1`.

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};

use crate::Error;

/// PEM certificate and PEM private key.
pub(crate) fn self_signed() -> Result<(String, String), Error> {
    let tls = |e: rcgen::Error| Error::Tls(e.to_string());
    let key = KeyPair::generate().map_err(tls)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(tls)?;
    params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).map_err(tls)?;
    Ok((cert.pem(), key.serialize_pem()))
}
