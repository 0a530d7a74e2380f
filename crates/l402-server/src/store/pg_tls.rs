//! TLS for the PostgreSQL store (decision 0606): rustls, with the server's certificate checked
//! against the PEM file named by `sslrootcert`, or the webpki roots.
//!
//! tokio-postgres knows `sslmode` but not `sslrootcert` and refuses unknown options, so this
//! module takes `sslrootcert` out of the configuration before tokio-postgres reads it.

use core::pin::Pin;
use core::task::{Context, Poll};
use std::future::Future;
use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::Error;

/// Splits `sslrootcert` off a libpq-style configuration, in either form: `key=value` words
/// (values may be single-quoted, with `\'` and `\\` escapes) or a `postgres://` URL whose
/// query holds it. Returns the rest, for tokio-postgres, and the path.
pub(crate) fn take_root_cert(config: &str) -> Result<(String, Option<String>), Error> {
    if config.starts_with("postgres://") || config.starts_with("postgresql://") {
        let Some((base, query)) = config.split_once('?') else {
            return Ok((config.to_owned(), None));
        };
        let mut path = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| match kv.strip_prefix("sslrootcert=") {
                Some(v) => {
                    path = Some(percent_decode(v));
                    false
                }
                None => true,
            })
            .collect();
        let rest =
            if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        return Ok((rest, path));
    }
    let mut rest = String::new();
    let mut path = None;
    let mut chars = config.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(_) = chars.peek() else { break };
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if key.is_empty() || chars.next() != Some('=') {
            // Not naming the word: it may be part of an unquoted password.
            return Err(Error::Config("postgres configuration: a key without '='".into()));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        // The value, unquoted for us; re-quoted below for tokio-postgres.
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::Config("postgres configuration: unclosed quote".into()))
                    }
                }
            }
        } else {
            // As tokio-postgres reads it: `\` escapes the next character, a space included.
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                match c {
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
            if value.is_empty() {
                return Err(Error::Config(format!("postgres configuration: no value for {key}")));
            }
        }
        if key == "sslrootcert" {
            path = Some(value);
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            rest.push_str(&format!("{key}='{quoted}' "));
        }
    }
    Ok((rest.trim_end().to_owned(), path))
}

/// `%XX` escapes of a URL query value; a malformed escape stays as written.
fn percent_decode(v: &str) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut rest = v.as_bytes();
    while let Some((&c, tail)) = rest.split_first() {
        let byte = tail
            .get(..2)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| core::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, byte) {
            (b'%', Some(b)) => {
                out.push(b);
                rest = tail.get(2..).unwrap_or_default();
            }
            _ => {
                out.push(c);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rustls connector: trusts the certificates of `root_cert` (PEM), or the webpki roots.
#[derive(Clone)]
pub(crate) struct Tls(Arc<ClientConfig>);

impl Tls {
    pub(crate) fn new(root_cert: Option<&str>) -> Result<Tls, Error> {
        let mut roots = RootCertStore::empty();
        match root_cert {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| Error::Config(format!("sslrootcert {path}: {e}")))?;
                if certs.is_empty() {
                    return Err(Error::Config(format!("sslrootcert {path}: no certificate")));
                }
                for c in certs {
                    roots.add(c).map_err(|e| Error::Config(format!("sslrootcert {path}: {e}")))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("tls: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // What PostgreSQL 17 demands with `sslnegotiation=direct`; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Tls(Arc::new(config)))
    }
}

impl<S> MakeTlsConnect<S> for Tls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connect> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Connect { config: Arc::clone(&self.0), name })
    }
}

pub(crate) struct Connect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { connector.connect(self.name, stream).await.map(Stream) })
    }
}

pub(crate) struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM channel binding (`tls-server-end-point`) needs the hash named by the
        // certificate's signature algorithm; without it, SCRAM still runs over the verified
        // TLS session.
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Taking nothing out changes nothing: what the splitter accepts and hands on,
        /// tokio-postgres reads (or refuses) exactly as it reads the original (so no value can smuggle an
        /// option past it), and the splitter never panics. The splitter may refuse what
        /// tokio-postgres would let through (it stops at a stray `=`, we do not).
        #[test]
        fn the_rest_reads_as_the_original(
            words in prop::collection::vec(
                ("(host|user|password|dbname|sslmode|port)", "[a-z\\\\' =]{0,8}"),
                0..5,
            ),
            glue in "[ =']{0,2}",
        ) {
            let config: String =
                words.iter().map(|(k, v)| format!("{k}={v}{glue}")).collect::<Vec<_>>().join(" ");
            if let Ok((rest, path)) = take_root_cert(&config) {
                prop_assert_eq!(path, None);
                let rest = rest.parse::<tokio_postgres::Config>().ok();
                prop_assert_eq!(rest, config.parse::<tokio_postgres::Config>().ok(), "{}", config);
            }
        }
    }

    #[test]
    fn root_cert_is_taken_out_of_both_forms() {
        let cases = [
            (
                "host=h sslmode=require sslrootcert=/etc/ca.pem",
                "host='h' sslmode='require'",
                Some("/etc/ca.pem"),
            ),
            (
                "host=h  sslrootcert = '/my dir/ca\\'s.pem' user=u",
                "host='h' user='u'",
                Some("/my dir/ca's.pem"),
            ),
            ("host=h password='a b\\\\c'", "host='h' password='a b\\\\c'", None),
            (
                "postgres://u@h/db?sslmode=require&sslrootcert=/ca.pem",
                "postgres://u@h/db?sslmode=require",
                Some("/ca.pem"),
            ),
            ("postgresql://u@h/db?sslrootcert=/ca.pem", "postgresql://u@h/db", Some("/ca.pem")),
            ("postgres://u@h/db", "postgres://u@h/db", None),
            (
                "postgres://h/db?sslrootcert=/my%20dir/ca.pem",
                "postgres://h/db",
                Some("/my dir/ca.pem"),
            ),
            // Unquoted values escape with `\` too: the space stays in the password, and
            // nothing after it becomes an option.
            (
                "password=x\\ sslmode=disable sslmode=require",
                "password='x sslmode=disable' sslmode='require'",
                None,
            ),
            ("password=ab\\cd", "password='abcd'", None),
            ("password=a\\\\b", "password='a\\\\b'", None),
        ];
        for (config, rest, path) in cases {
            let got = take_root_cert(config).unwrap();
            assert_eq!((got.0.as_str(), got.1.as_deref()), (rest, path), "{config}");
            // What is left parses, to the very configuration tokio-postgres reads from the
            // original when there was nothing to take out.
            let rest: tokio_postgres::Config = got.0.parse().unwrap();
            if path.is_none() {
                assert_eq!(Some(rest), config.parse().ok(), "{config}");
            }
        }
        for bad in ["host", "host=h user='u", "=x", "host=h user"] {
            assert!(take_root_cert(bad).is_err(), "{bad}");
        }
    }
}
