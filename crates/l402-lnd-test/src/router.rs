//! `routerrpc.Router`: SendPaymentV2, TrackPaymentV2.

use core::pin::Pin;

use l402_lightning::Invoice;
use l402_token::PaymentHash;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::auth::Perm;
use crate::proto::lnrpc::payment::PaymentStatus;
use crate::proto::lnrpc::Payment;
use crate::proto::routerrpc::router_server::Router;
use crate::proto::routerrpc::{SendPaymentRequest, TrackPaymentRequest};
use crate::server::Svc;

/// The stream type of both payment calls.
pub(crate) type PaymentStream = Pin<Box<dyn Stream<Item = Result<Payment, Status>> + Send>>;

fn is_final(p: &Payment) -> bool {
    p.status == PaymentStatus::Succeeded as i32 || p.status == PaymentStatus::Failed as i32
}

/// Streams a payment's updates until it is final (only the final one with
/// `no_inflight_updates`), or until the node goes away.
fn forward(
    mut updates: watch::Receiver<Payment>,
    final_only: bool,
    mut kill: watch::Receiver<bool>,
) -> PaymentStream {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let current = updates.borrow_and_update().clone();
            let done = is_final(&current);
            if (done || !final_only) && tx.send(Ok(current)).await.is_err() {
                return;
            }
            if done {
                return;
            }
            tokio::select! {
                changed = updates.changed() => if changed.is_err() { return },
                _ = kill.changed() => {
                    let _ = tx.send(Err(Status::unavailable("server shutting down"))).await;
                    return;
                }
                () = tx.closed() => return,
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

#[tonic::async_trait]
impl Router for Svc {
    type SendPaymentV2Stream = PaymentStream;

    async fn send_payment_v2(
        &self,
        request: Request<SendPaymentRequest>,
    ) -> Result<Response<Self::SendPaymentV2Stream>, Status> {
        self.node.gate(request.metadata(), Perm::OffchainWrite).await?;
        let req = request.into_inner();
        if req.timeout_seconds <= 0 {
            return Err(Status::invalid_argument("timeout_seconds must be specified"));
        }
        let invoice = Invoice::parse(&req.payment_request)
            .map_err(|e| Status::invalid_argument(format!("invalid payment request: {e}")))?;
        let network = self.node.dev.network();
        if invoice.network() != network {
            return Err(Status::unknown(format!(
                "invoice not for current active network '{network}'"
            )));
        }
        if invoice.amount_msat().is_none() {
            return Err(Status::invalid_argument(
                "amount must be specified when paying a zero amount invoice",
            ));
        }
        if invoice.is_expired_at(self.node.clock.now()) {
            return Err(Status::unknown(format!(
                "invoice expired. Valid until {:?}",
                invoice.expires_at()
            )));
        }
        let updates = self.node.start_payment(&invoice)?;
        Ok(Response::new(forward(updates, req.no_inflight_updates, self.kill.clone())))
    }

    type TrackPaymentV2Stream = PaymentStream;

    async fn track_payment_v2(
        &self,
        request: Request<TrackPaymentRequest>,
    ) -> Result<Response<Self::TrackPaymentV2Stream>, Status> {
        self.node.gate(request.metadata(), Perm::OffchainRead).await?;
        let req = request.into_inner();
        let hash = <[u8; 32]>::try_from(req.payment_hash.as_slice())
            .map(PaymentHash)
            .map_err(|_| Status::invalid_argument("invalid hash"))?;
        let updates =
            self.node.track(&hash).ok_or_else(|| Status::not_found("payment isn't initiated"))?;
        Ok(Response::new(forward(updates, req.no_inflight_updates, self.kill.clone())))
    }
}
