//! Starting, stopping and restarting test nodes.

use std::net::SocketAddr;
use std::sync::Arc;

use l402_lightning::clock::Clock;
use l402_lightning::dev::DevNode;
use l402_lightning::Network;
use l402_token::PaymentHash;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::node::{Node, Registry};
use crate::proto::lnrpc::lightning_server::LightningServer;
use crate::proto::routerrpc::router_server::RouterServer;
use crate::{auth, tls, Error, Faults, Resolution};

/// What both gRPC services of one node share. `kill` flips when the node stops, ending its
/// open streams so the server can shut down.
#[derive(Debug, Clone)]
pub(crate) struct Svc {
    pub(crate) node: Arc<Node>,
    pub(crate) kill: watch::Receiver<bool>,
}

/// A set of test nodes that can pay each other, sharing one clock.
#[derive(Debug, Clone)]
pub struct TestNet {
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
}

impl TestNet {
    /// An empty test net whose nodes use `clock` for invoices and expiry.
    pub fn new(clock: Arc<dyn Clock>) -> TestNet {
        TestNet { registry: Arc::new(Registry::default()), clock }
    }

    /// Starts a regtest node on `127.0.0.1` (random port) holding `balance_msat`.
    pub async fn start_node(&self, balance_msat: u64) -> Result<TestLnd, Error> {
        let dev = DevNode::builder().network(Network::Regtest).clock(self.clock.clone()).build()?;
        let mut root_key = [0u8; 32];
        getrandom::fill(&mut root_key).map_err(|e| Error::Tls(format!("no randomness: {e}")))?;
        let node = Arc::new(Node::new(
            dev,
            root_key,
            self.clock.clone(),
            self.registry.clone(),
            balance_msat,
        ));
        let (cert_pem, key_pem) = tls::self_signed()?;
        let running =
            serve(node.clone(), SocketAddr::from(([127, 0, 0, 1], 0)), &cert_pem, &key_pem).await?;
        Ok(TestLnd {
            admin_macaroon: auth::mint(
                &root_key,
                "admin",
                &["invoices:read", "invoices:write", "offchain:read", "offchain:write"],
            ),
            invoice_macaroon: auth::mint(
                &root_key,
                "invoice",
                &["invoices:read", "invoices:write"],
            ),
            readonly_macaroon: auth::mint(
                &root_key,
                "readonly",
                &["invoices:read", "offchain:read"],
            ),
            addr: running.addr,
            node,
            cert_pem,
            key_pem,
            running: Some(running),
        })
    }
}

/// Routes each call to its service by the gRPC path's package (tonic's own router would pull
/// in a web framework for two services).
#[derive(Debug, Clone)]
struct Both {
    lightning: LightningServer<Svc>,
    router: RouterServer<Svc>,
}

type HttpRequest = tonic::codegen::http::Request<tonic::body::Body>;
type HttpResponse = tonic::codegen::http::Response<tonic::body::Body>;

impl tonic::codegen::Service<HttpRequest> for Both {
    type Response = HttpResponse;
    type Error = std::convert::Infallible;
    type Future = tonic::codegen::BoxFuture<HttpResponse, std::convert::Infallible>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // Both generated services are always ready.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        if request.uri().path().starts_with("/routerrpc.Router/") {
            let mut router = self.router.clone();
            Box::pin(async move { router.call(request).await })
        } else {
            // Unknown paths get the generated service's own `Unimplemented` answer.
            let mut lightning = self.lightning.clone();
            Box::pin(async move { lightning.call(request).await })
        }
    }
}

#[derive(Debug)]
struct Running {
    addr: SocketAddr,
    kill: watch::Sender<bool>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

async fn serve(
    node: Arc<Node>,
    addr: SocketAddr,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Running, Error> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (kill, kill_rx) = watch::channel(false);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let svc = Svc { node, kill: kill_rx };
    let both =
        Both { lightning: LightningServer::new(svc.clone()), router: RouterServer::new(svc) };
    let server = Server::builder()
        .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem)))
        .map_err(|e| Error::Tls(e.to_string()))?;
    let task = tokio::spawn(server.serve_with_incoming_shutdown(
        both,
        TcpListenerStream::new(listener),
        async {
            // A dropped sender (the TestLnd is gone) stops the server too.
            let _ = stop_rx.await;
        },
    ));
    Ok(Running { addr, kill, stop, task })
}

impl Running {
    async fn stop(self) {
        // Streams end first (they would hold a graceful shutdown open), then the server.
        let _ = self.kill.send(true);
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "test lnd server task failed");
        }
    }
}

/// A running (or stopped) test LND node.
#[derive(Debug)]
pub struct TestLnd {
    node: Arc<Node>,
    addr: SocketAddr,
    cert_pem: String,
    key_pem: String,
    admin_macaroon: Vec<u8>,
    invoice_macaroon: Vec<u8>,
    readonly_macaroon: Vec<u8>,
    running: Option<Running>,
}

impl TestLnd {
    /// The loopback address of its gRPC port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`, for `LndConfig::endpoint`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Its `tls.cert` (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A macaroon with every permission this server knows (like `admin.macaroon`).
    pub fn admin_macaroon(&self) -> &[u8] {
        &self.admin_macaroon
    }

    /// A macaroon with `invoices:read` and `invoices:write` only (like `invoice.macaroon`).
    pub fn invoice_macaroon(&self) -> &[u8] {
        &self.invoice_macaroon
    }

    /// A macaroon with read permissions only (like `readonly.macaroon`).
    pub fn readonly_macaroon(&self) -> &[u8] {
        &self.readonly_macaroon
    }

    /// The node's public key.
    pub fn node_id(&self) -> [u8; 33] {
        self.node.dev.node_id()
    }

    /// What its wallet holds, in millisatoshis (amounts of held payments are reserved).
    pub fn balance_msat(&self) -> u64 {
        self.node.balance_msat()
    }

    /// Its fault switches.
    pub fn faults(&self) -> &Faults {
        &self.node.faults
    }

    /// Cancels one of its invoices, as `invoicesrpc.CancelInvoice` would.
    pub fn cancel_invoice(&self, hash: &PaymentHash) -> Result<(), Error> {
        Ok(self.node.dev.cancel(hash)?)
    }

    /// Payments this node sent that are still in flight.
    pub fn held_payments(&self) -> Vec<PaymentHash> {
        self.node.held()
    }

    /// Ends a payment held in flight; false if there is none for `hash`.
    pub fn resolve_held(&self, hash: &PaymentHash, resolution: Resolution) -> bool {
        self.node.resolve(hash, resolution)
    }

    /// Whether the gRPC port is being served.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Takes the node away: open streams end with `Unavailable`, the port closes. State
    /// (invoices, payments, balance) is kept for [`TestLnd::restart`].
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Serves again on the same port with the same certificate and macaroons.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.stop().await;
        self.running =
            Some(serve(self.node.clone(), self.addr, &self.cert_pem, &self.key_pem).await?);
        Ok(())
    }
}

impl Drop for TestLnd {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.kill.send(true);
            let _ = running.stop.send(());
        }
    }
}
