//! A small L402 server on loopback for the client's tests: mints a macaroon per challenge,
//! answers 402 with Aperture's two challenge lines, and accepts `Authorization` credentials
//! whose macaroon verifies against its root key with the paid preimage. It can be told to
//! misbehave (hostile challenges, rejecting tokens).
#![allow(dead_code, unreachable_pub, reason = "each test binary uses part of the helpers")]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash as _};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use l402_http::{write_challenges, ChallengeStyle, Credential, Scheme};
use l402_lightning::{InvoiceBackend, InvoiceRequest, InvoiceState};
use l402_token::{Identifier, Macaroon, PaymentHash};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use tokio::net::TcpListener;
use tokio::sync::Barrier;

/// How long the gate holds requests waiting for the rest of its group.
const GATE_WAIT: Duration = Duration::from_secs(60);

pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How the server answers an unpaid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A fresh invoice and macaroon, as Aperture does.
    Honest,
    /// The macaroon names another payment hash than the invoice.
    WrongHash,
    /// An invoice for far more than any sane maximum.
    Huge,
    /// An invoice without an amount.
    Amountless,
    /// A mainnet invoice (the client expects regtest).
    WrongNetwork,
    /// A challenge whose macaroon is not a macaroon.
    GarbageMacaroon,
    /// A `WWW-Authenticate` value that is not a challenge list.
    GarbageHeader,
    /// 402 without any `WWW-Authenticate`.
    NoChallenge,
    /// Honest challenges, but every credential is rejected with a new 402.
    RejectAllTokens,
    /// A well-formed macaroon whose identifier is not an L402 identifier.
    BadIdentifier,
    /// boltwall's way: only an `LSAT` challenge, and only `LSAT` credentials accepted.
    LsatOnly,
    /// Only an `L402` challenge, and only `L402` credentials accepted.
    L402Only,
    /// Each first path segment is its own service: a token names its service in a
    /// `services=` caveat and is accepted only there (Aperture with two services).
    PerService,
    /// Each first path segment is its own service, told by a `path_prefix=/<segment>/`
    /// caveat: a token is accepted only under its prefix.
    PathCaveat,
    /// lightning-toll's way: the challenge's token is not a macaroon but the server's own
    /// `<payment hash>.<tag>`, and it is accepted back as `L402 <token>:<preimage>`.
    Opaque,
}

/// The opaque token for `hash`: the hash and a tag only the server can make.
pub fn opaque_token(hash: &PaymentHash) -> String {
    let mut tagged = ROOT_KEY.to_vec();
    tagged.extend_from_slice(&hash.0);
    format!("{hash}.{}", sha256::Hash::hash(&tagged))
}

/// Reads an opaque credential the way such a server does: split at the first `:`, the token
/// must be one it made, the preimage must open the hash.
fn opaque_accepted(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((token, preimage)) = value.strip_prefix("L402 ").and_then(|r| r.split_once(':'))
    else {
        return false;
    };
    let Some(hash) = token.split('.').next().and_then(|h| h.parse::<PaymentHash>().ok()) else {
        return false;
    };
    let opens = l402_token::Preimage::from_hex(preimage).is_ok_and(|p| p.check(&hash).is_ok());
    opens && token == opaque_token(&hash)
}

pub const PRICE_MSAT: u64 = 21_000;
pub const ROOT_KEY: [u8; 32] = [0x42; 32];

pub struct ServerState {
    pub backend: Arc<dyn InvoiceBackend>,
    pub mode: Mutex<Mode>,
    pub price_msat: AtomicU64,
    pub challenges: AtomicU64,
    pub accepted: AtomicU64,
    revoked: Mutex<HashSet<PaymentHash>>,
    issued: Mutex<Vec<PaymentHash>>,
    /// Holds the first `n` unpaid requests until all `n` have arrived, so concurrent clients
    /// all see a 402 before any of them can pay.
    gate: Mutex<Option<(usize, Arc<Barrier>)>>,
    gate_seen: AtomicUsize,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Serves challenges for invoices of `backend` (the dev node, or LND through the test net).
    pub async fn start(backend: Arc<dyn InvoiceBackend>) -> Result<TestServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ServerState {
            backend,
            mode: Mutex::new(Mode::Honest),
            price_msat: AtomicU64::new(PRICE_MSAT),
            challenges: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            revoked: Mutex::new(HashSet::new()),
            issued: Mutex::new(Vec::new()),
            gate: Mutex::new(None),
            gate_seen: AtomicUsize::new(0),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(TestServer { addr, state, task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.state.mode) = mode;
    }

    /// Revokes every token issued so far (as deleting Aperture's root keys would).
    pub fn revoke_all(&self) {
        let issued = lock(&self.state.issued).clone();
        lock(&self.state.revoked).extend(issued);
    }

    /// Holds the next `n` unpaid requests until all have arrived.
    pub fn gate(&self, n: usize) {
        self.state.gate_seen.store(0, Ordering::SeqCst);
        *lock(&self.state.gate) = Some((n, Arc::new(Barrier::new(n))));
    }

    /// Payment hashes of every invoice issued so far.
    pub fn issued(&self) -> Vec<PaymentHash> {
        lock(&self.state.issued).clone()
    }

    /// How many issued invoices the backend has settled.
    pub async fn settled(&self) -> usize {
        let mut n = 0;
        for h in self.issued() {
            if matches!(self.state.backend.lookup_invoice(&h).await, Ok(InvoiceState::Settled(_))) {
                n += 1;
            }
        }
        n
    }

    pub fn challenges(&self) -> u64 {
        self.state.challenges.load(Ordering::SeqCst)
    }

    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }
}

/// A server that answers every request with `307` to `base` plus the request's path, until
/// dropped (the returned task).
pub async fn redirector(base: String) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let base = base.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<Incoming>| {
                    let to = format!("{base}{}", req.uri().path());
                    async move {
                        let mut h = HeaderMap::new();
                        h.insert(http::header::LOCATION, HeaderValue::from_str(&to)?);
                        Ok::<_, http::header::InvalidHeaderValue>(respond(
                            StatusCode::TEMPORARY_REDIRECT,
                            h,
                            String::new(),
                        ))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn respond(status: StatusCode, headers: HeaderMap, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

async fn handle(
    st: Arc<ServerState>,
    req: http::Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let mode = *lock(&st.mode);
    if mode == Mode::Opaque && opaque_accepted(&parts.headers) {
        st.accepted.fetch_add(1, Ordering::SeqCst);
        return Ok(respond(StatusCode::OK, HeaderMap::new(), format!("paid {}", parts.uri.path())));
    }
    if let Ok(credential) = Credential::from_headers(&parts.headers) {
        let verified = credential.macaroon.verify(&ROOT_KEY, Some(&credential.preimage));
        let service = first_segment(parts.uri.path());
        let has =
            |want: String| credential.macaroon.first_party_caveats().any(|c| c == want.as_bytes());
        let service_ok = match mode {
            Mode::PerService => has(format!("services={service}:0")),
            Mode::PathCaveat => has(format!("path_prefix=/{service}/")),
            _ => true,
        };
        let scheme_ok = service_ok
            && match mode {
                Mode::LsatOnly => credential.scheme == Scheme::Lsat,
                Mode::L402Only => credential.scheme == Scheme::L402,
                _ => true,
            };
        if let (Ok(id), true) = (verified, scheme_ok) {
            let revoked = lock(&st.revoked).contains(&id.payment_hash);
            if !revoked && mode != Mode::RejectAllTokens {
                st.accepted.fetch_add(1, Ordering::SeqCst);
                let text = format!(
                    "paid {} {} {}",
                    parts.method,
                    parts.uri.path(),
                    String::from_utf8_lossy(&body)
                );
                return Ok(respond(StatusCode::OK, HeaderMap::new(), text));
            }
        }
    } else {
        let gate = lock(&st.gate).clone();
        if let Some((n, barrier)) = gate {
            // Bounded, so a client that never arrives fails its test instead of hanging it.
            if st.gate_seen.fetch_add(1, Ordering::SeqCst) < n
                && tokio::time::timeout(GATE_WAIT, barrier.wait()).await.is_err()
            {
                eprintln!("gate: {n} requests expected, timed out waiting for the rest");
            }
        }
    }
    st.challenges.fetch_add(1, Ordering::SeqCst);
    let headers = match challenge(&st, mode, first_segment(parts.uri.path())).await {
        Ok(h) => h,
        Err(e) => {
            return Ok(respond(StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new(), e.to_string()))
        }
    };
    Ok(respond(StatusCode::PAYMENT_REQUIRED, headers, "payment required".into()))
}

/// A signed invoice the dev node does not know: for hostile modes only (never paid).
fn foreign_invoice(currency: Currency, hash: [u8; 32], amount_msat: Option<u64>) -> Result<String> {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[9; 32]).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let b = InvoiceBuilder::new(currency)
        .description("hostile".into())
        .payment_hash(sha256::Hash::from_byte_array(hash))
        .payment_secret(PaymentSecret([3; 32]))
        .duration_since_epoch(now)
        .expiry_time(Duration::from_secs(600))
        .min_final_cltv_expiry_delta(18);
    let inv = match amount_msat {
        Some(a) => {
            b.amount_milli_satoshis(a).build_signed(|m| secp.sign_ecdsa_recoverable(m, &sk))?
        }
        None => b.build_signed(|m| secp.sign_ecdsa_recoverable(m, &sk))?,
    };
    Ok(inv.to_string())
}

fn first_segment(path: &str) -> String {
    path.trim_start_matches('/').split('/').next().unwrap_or_default().to_owned()
}

async fn challenge(st: &ServerState, mode: Mode, service: String) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    let price = match mode {
        Mode::Huge => 5_000_000_000,
        _ => st.price_msat.load(Ordering::SeqCst),
    };
    let created = st
        .backend
        .create_invoice(InvoiceRequest {
            amount_msat: price,
            memo: "l402-client test".into(),
            expiry: Duration::from_secs(600),
        })
        .await?;
    lock(&st.issued).push(created.payment_hash);
    let mac_hash = match mode {
        Mode::WrongHash => PaymentHash([0x77; 32]),
        _ => created.payment_hash,
    };
    let macaroon = match mode {
        Mode::BadIdentifier => Macaroon::new(&ROOT_KEY, b"not an identifier", None),
        Mode::PerService => Macaroon::new_l402(&ROOT_KEY, &Identifier::random(mac_hash)?)
            .with_caveat(format!("services={service}:0")),
        Mode::PathCaveat => Macaroon::new_l402(&ROOT_KEY, &Identifier::random(mac_hash)?)
            .with_caveat(format!("path_prefix=/{service}/")),
        _ => Macaroon::new_l402(&ROOT_KEY, &Identifier::random(mac_hash)?),
    };
    let invoice = match mode {
        Mode::Amountless => foreign_invoice(Currency::Regtest, created.payment_hash.0, None)?,
        Mode::WrongNetwork => {
            foreign_invoice(Currency::Bitcoin, created.payment_hash.0, Some(price))?
        }
        _ => created.bolt11,
    };
    match mode {
        Mode::GarbageMacaroon => {
            let v = format!("L402 macaroon=\"bm90IGEgbWFjYXJvb24=\", invoice=\"{invoice}\"");
            headers.append(http::header::WWW_AUTHENTICATE, HeaderValue::from_str(&v)?);
        }
        Mode::GarbageHeader => {
            headers.append(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("L402 macaroon=\"unterminated, invoice=lnbcrt1"),
            );
        }
        Mode::NoChallenge => {}
        Mode::Opaque => {
            let token = opaque_token(&created.payment_hash);
            let v = format!("L402 invoice=\"{invoice}\", macaroon=\"{token}\"");
            headers.append(http::header::WWW_AUTHENTICATE, HeaderValue::from_str(&v)?);
        }
        Mode::LsatOnly => {
            let v = format!("LSAT macaroon=\"{}\", invoice=\"{invoice}\"", macaroon.to_base64());
            headers.append(http::header::WWW_AUTHENTICATE, HeaderValue::from_str(&v)?);
        }
        Mode::L402Only => {
            write_challenges(&mut headers, &macaroon, &invoice, ChallengeStyle::L402)?
        }
        _ => write_challenges(&mut headers, &macaroon, &invoice, ChallengeStyle::default())?,
    }
    Ok(headers)
}

/// A plain reqwest client. Built together with the rest of the workspace, reqwest has the
/// `rustls-no-provider` feature (the CLI turns it on), so the process must install a crypto
/// provider before the first client is built.
pub fn plain_reqwest() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
