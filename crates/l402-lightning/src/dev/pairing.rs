//! The dev node's pairing endpoint: JSON lines over loopback TCP (decision 0201).
//!
//! The node's owner process listens on `127.0.0.1:<random port>` and writes a pairing file
//! (address, a random secret, network, node id; mode 0600) into a data directory. A wallet in
//! another process reads the file and sends one JSON request per connection, carrying the
//! secret; the answer is one JSON line.

use core::time::Duration;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use l402_token::{PaymentHash, Preimage};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::dev::node::random32;
use crate::dev::DevNode;
use crate::{Error, InvoiceRequest, Network, Payment, PaymentStatus};

/// The pairing file's name inside the data directory.
pub const PAIRING_FILE: &str = "dev-node.json";

/// The pairing protocol version; a file or request with another version is refused.
const VERSION: u32 = 1;

/// The longest request or response line, in bytes.
const MAX_LINE: u64 = 16 * 1024;

/// How long the endpoint waits for a request line before dropping the connection.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A wallet's bound on one whole call; the node answers at once, so only a wedged node or a
/// stalled loopback hits it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a wallet needs to reach a dev node in another process: the contents of the pairing
/// file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairing {
    /// Protocol version, currently 1.
    pub v: u32,
    /// The loopback address the node listens on.
    pub addr: SocketAddr,
    /// 64 hex digits; every request must carry it.
    pub secret: String,
    /// The node's network.
    pub network: Network,
    /// The node's public key in hex.
    pub node_id: String,
}

impl core::fmt::Debug for Pairing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pairing")
            .field("addr", &self.addr)
            .field("network", &self.network)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Pairing {
    /// Reads `dir/dev-node.json`.
    pub fn read(dir: &Path) -> Result<Pairing, Error> {
        let path = dir.join(PAIRING_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Unreachable(format!(
                "no dev node pairing file at {} ({e}); is the dev node running?",
                path.display()
            ))
        })?;
        let pairing: Pairing = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("bad pairing file {}: {e}", path.display())))?;
        if pairing.v != VERSION {
            return Err(Error::Config(format!("pairing file version {} is not 1", pairing.v)));
        }
        if !pairing.addr.ip().is_loopback() {
            return Err(Error::Config("the dev node pairing address must be loopback".into()));
        }
        Ok(pairing)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Request {
    Pay {
        v: u32,
        secret: String,
        bolt11: String,
    },
    Lookup {
        v: u32,
        secret: String,
        payment_hash: String,
    },
    /// Asks the node for an invoice, so a payee in another process (a third-party server under
    /// test) sells through the same node the wallets pay.
    Invoice {
        v: u32,
        secret: String,
        amount_msat: u64,
        memo: String,
        expiry_secs: u64,
    },
}

#[derive(Serialize, Deserialize)]
struct WirePayment {
    payment_hash: String,
    preimage: String,
    amount_msat: u64,
    fee_msat: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
enum Response {
    Paid { payment: WirePayment },
    Status { payment: Option<WirePayment> },
    Invoice { bolt11: String, payment_hash: String, expires_at: u64 },
    Error { code: String, message: String },
}

impl From<&Payment> for WirePayment {
    fn from(p: &Payment) -> Self {
        WirePayment {
            payment_hash: p.payment_hash.to_string(),
            preimage: p.preimage.to_hex(),
            amount_msat: p.amount_msat,
            fee_msat: p.fee_msat,
        }
    }
}

impl WirePayment {
    fn into_payment(self) -> Result<Payment, Error> {
        let bad = |what: &str| Error::Backend(format!("dev node sent a malformed {what}"));
        let payment_hash: PaymentHash =
            self.payment_hash.parse().map_err(|_| bad("payment hash"))?;
        let preimage = Preimage::from_hex(&self.preimage).map_err(|_| bad("preimage"))?;
        // Never trust a preimage that does not open the hash, even from our own node.
        preimage.check(&payment_hash).map_err(|_| bad("preimage"))?;
        Ok(Payment {
            payment_hash,
            preimage,
            amount_msat: self.amount_msat,
            fee_msat: self.fee_msat,
        })
    }
}

fn error_response(e: &Error) -> Response {
    Response::Error { code: e.code().to_owned(), message: e.detail() }
}

/// The running pairing endpoint. Dropping it stops the endpoint and removes the pairing file.
#[derive(Debug)]
pub struct PairingServer {
    addr: SocketAddr,
    file: PathBuf,
    task: JoinHandle<()>,
}

impl PairingServer {
    pub(crate) async fn start(node: DevNode, dir: &Path) -> Result<PairingServer, Error> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::Config(format!("cannot listen on loopback: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Error::Config(e.to_string()))?;
        let secret = hex::encode(random32()?);
        let pairing = Pairing {
            v: VERSION,
            addr,
            secret: secret.clone(),
            network: node.network(),
            node_id: hex::encode(node.node_id()),
        };
        let file = write_pairing_file(dir, &pairing)?;
        let task = tokio::spawn(accept_loop(listener, node, secret));
        tracing::warn!(%addr, file = %file.display(), "dev node pairing endpoint listening; NOT FOR REAL MONEY");
        Ok(PairingServer { addr, file, task })
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The pairing file it wrote.
    pub fn pairing_file(&self) -> &Path {
        &self.file
    }
}

impl Drop for PairingServer {
    fn drop(&mut self) {
        self.task.abort();
        // Best effort: a stale file only makes a wallet fail with `unreachable`.
        let _ = std::fs::remove_file(&self.file);
    }
}

fn write_pairing_file(dir: &Path, pairing: &Pairing) -> Result<PathBuf, Error> {
    let cfg = |e: std::io::Error| Error::Config(format!("cannot write pairing file: {e}"));
    // The file is 0600; the directory too is the owner's (decision 0810).
    crate::owner_only::dir(dir).map_err(cfg)?;
    let path = dir.join(PAIRING_FILE);
    let tmp = dir.join(format!("{PAIRING_FILE}.tmp"));
    let text = serde_json::to_string_pretty(pairing).map_err(|e| Error::Config(e.to_string()))?;
    // A temporary file left by a crash keeps its mode when reopened: tighten it first.
    crate::owner_only::file(&tmp, true).map_err(cfg)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        // The secret lets anyone settle invoices: readable by the owner only.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = options.open(&tmp).map_err(cfg)?;
        f.write_all(text.as_bytes()).map_err(cfg)?;
        f.sync_all().map_err(cfg)?;
    }
    // Rename so a wallet never reads a half-written file.
    std::fs::rename(&tmp, &path).map_err(cfg)?;
    Ok(path)
}

async fn accept_loop(listener: TcpListener, node: DevNode, secret: String) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let node = node.clone();
                let secret = secret.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_one(stream, &node, &secret).await {
                        tracing::debug!(error = %e, "dev node pairing connection failed");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: log and keep serving.
                tracing::warn!(error = %e, "dev node pairing endpoint accept failed");
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn serve_one(stream: TcpStream, node: &DevNode, secret: &str) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_LINE));
    match tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await {
        Ok(r) => r?,
        Err(_) => return Ok(()),
    };
    let response = answer(&line, node, secret);
    let mut out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

fn answer(line: &str, node: &DevNode, secret: &str) -> Response {
    let request: Request = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => return error_response(&Error::InvalidRequest(format!("bad request: {e}"))),
    };
    let (v, given) = match &request {
        Request::Pay { v, secret, .. }
        | Request::Lookup { v, secret, .. }
        | Request::Invoice { v, secret, .. } => (*v, secret),
    };
    if !bool::from(given.as_bytes().ct_eq(secret.as_bytes())) {
        return error_response(&Error::PermissionDenied("wrong pairing secret".into()));
    }
    if v != VERSION {
        return error_response(&Error::InvalidRequest(format!("protocol version {v} is not 1")));
    }
    match request {
        Request::Pay { bolt11, .. } => match node.settle(&bolt11) {
            Ok(p) => Response::Paid { payment: WirePayment::from(&p) },
            Err(e) => error_response(&e),
        },
        Request::Lookup { payment_hash, .. } => match payment_hash.parse::<PaymentHash>() {
            Ok(hash) => match node.payment(&hash) {
                PaymentStatus::Succeeded(p) => Response::Status { payment: Some((&p).into()) },
                _ => Response::Status { payment: None },
            },
            Err(_) => {
                error_response(&Error::InvalidRequest("payment hash is not 64 hex digits".into()))
            }
        },
        Request::Invoice { amount_msat, memo, expiry_secs, .. } => {
            let request =
                InvoiceRequest { amount_msat, memo, expiry: Duration::from_secs(expiry_secs) };
            match node.create(&request) {
                Ok(c) => Response::Invoice {
                    bolt11: c.bolt11,
                    payment_hash: c.payment_hash.to_string(),
                    expires_at: c
                        .expires_at
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                },
                Err(e) => error_response(&e),
            }
        }
    }
}

/// The wallet's side of the pairing protocol.
#[derive(Debug, Clone)]
pub(crate) struct PairingClient {
    pub(crate) pairing: Pairing,
}

impl PairingClient {
    /// One request and its answer, bounded: a wedged dev node fails the call with `timeout`,
    /// which leaves a payment's outcome open for the caller to look up, instead of hanging.
    async fn call(&self, request: &Request) -> Result<Response, Error> {
        tokio::time::timeout(CALL_TIMEOUT, self.exchange(request))
            .await
            .unwrap_or(Err(Error::Timeout))
    }

    async fn exchange(&self, request: &Request) -> Result<Response, Error> {
        let unreachable = |e: std::io::Error| {
            Error::Unreachable(format!("dev node at {}: {e}", self.pairing.addr))
        };
        let mut stream = TcpStream::connect(self.pairing.addr).await.map_err(unreachable)?;
        let mut out = serde_json::to_vec(request).map_err(|e| Error::Backend(e.to_string()))?;
        out.push(b'\n');
        stream.write_all(&out).await.map_err(unreachable)?;
        let mut line = String::new();
        let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(stream, MAX_LINE));
        reader.read_line(&mut line).await.map_err(unreachable)?;
        if line.is_empty() {
            return Err(Error::Unreachable("dev node closed the connection".into()));
        }
        serde_json::from_str(&line)
            .map_err(|e| Error::Backend(format!("dev node sent a malformed answer: {e}")))
    }

    pub(crate) async fn pay(&self, bolt11: &str) -> Result<Payment, Error> {
        let request = Request::Pay {
            v: VERSION,
            secret: self.pairing.secret.clone(),
            bolt11: bolt11.to_owned(),
        };
        match self.call(&request).await? {
            Response::Paid { payment } => payment.into_payment(),
            Response::Error { code, message } => Err(remote_error(&code, message)),
            Response::Status { .. } | Response::Invoice { .. } => {
                Err(Error::Backend("dev node answered out of turn".into()))
            }
        }
    }

    pub(crate) async fn lookup(&self, hash: &PaymentHash) -> Result<Option<Payment>, Error> {
        let request = Request::Lookup {
            v: VERSION,
            secret: self.pairing.secret.clone(),
            payment_hash: hash.to_string(),
        };
        match self.call(&request).await? {
            Response::Status { payment: None } => Ok(None),
            Response::Status { payment: Some(p) } => p.into_payment().map(Some),
            Response::Error { code, message } => Err(remote_error(&code, message)),
            Response::Paid { .. } | Response::Invoice { .. } => {
                Err(Error::Backend("dev node answered out of turn".into()))
            }
        }
    }
}

fn remote_error(code: &str, message: String) -> Error {
    match Error::from_code(code, message.clone()) {
        Some(e) => e,
        None => Error::Backend(format!("{code}: {message}")),
    }
}
