//! `lnrpc.Lightning`: AddInvoice, LookupInvoice, SubscribeInvoices.

use core::pin::Pin;
use core::time::Duration;

use l402_token::PaymentHash;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};

use crate::auth::Perm;
use crate::proto::lnrpc::lightning_server::Lightning;
use crate::proto::lnrpc::{self, AddInvoiceResponse, InvoiceSubscription};
use crate::server::Svc;

/// The stream type of SubscribeInvoices.
pub(crate) type InvoiceStream = Pin<Box<dyn Stream<Item = Result<lnrpc::Invoice, Status>> + Send>>;

fn hash_of(bytes: &[u8]) -> Result<PaymentHash, Status> {
    <[u8; 32]>::try_from(bytes).map(PaymentHash).map_err(|_| {
        Status::unknown(format!("payment hash must be exactly 32 bytes, is {}", bytes.len()))
    })
}

#[tonic::async_trait]
impl Lightning for Svc {
    async fn add_invoice(
        &self,
        request: Request<lnrpc::Invoice>,
    ) -> Result<Response<AddInvoiceResponse>, Status> {
        self.node.gate(request.metadata(), Perm::InvoicesWrite).await?;
        let invoice = request.into_inner();
        if invoice.value != 0 && invoice.value_msat != 0 {
            return Err(Status::unknown("sat and msat arguments are mutually exclusive"));
        }
        let msat = if invoice.value_msat != 0 {
            invoice.value_msat
        } else {
            invoice.value.saturating_mul(1000)
        };
        let amount =
            u64::try_from(msat).map_err(|_| Status::unknown("amount must not be negative"))?;
        if amount == 0 {
            // LND would issue an amountless invoice; L402 never asks for one, so this server
            // does not implement them.
            return Err(Status::unimplemented(
                "the test server does not issue amountless invoices",
            ));
        }
        let expiry = match u64::try_from(invoice.expiry) {
            Ok(0) => Duration::from_secs(3600),
            Ok(s) => Duration::from_secs(s),
            Err(_) => return Err(Status::unknown("expiry must not be negative")),
        };
        self.node
            .add_invoice(invoice.memo, amount, expiry)
            .map(Response::new)
            .map_err(|e| Status::unknown(e.to_string()))
    }

    async fn lookup_invoice(
        &self,
        request: Request<lnrpc::PaymentHash>,
    ) -> Result<Response<lnrpc::Invoice>, Status> {
        self.node.gate(request.metadata(), Perm::InvoicesRead).await?;
        let hash = hash_of(&request.get_ref().r_hash)?;
        self.node
            .invoice(&hash)
            .map(Response::new)
            .ok_or_else(|| Status::not_found("unable to locate invoice"))
    }

    type SubscribeInvoicesStream = InvoiceStream;

    async fn subscribe_invoices(
        &self,
        request: Request<InvoiceSubscription>,
    ) -> Result<Response<Self::SubscribeInvoicesStream>, Status> {
        self.node.gate(request.metadata(), Perm::InvoicesRead).await?;
        let mut settlements = self.node.dev.settlements(request.get_ref().settle_index);
        let (tx, rx) = mpsc::channel(16);
        let node = self.node.clone();
        let mut kill = self.kill.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = settlements.next() => {
                        let Some(s) = next else { return };
                        if let Some(invoice) = node.invoice(&s.payment_hash) {
                            if tx.send(Ok(invoice)).await.is_err() {
                                return;
                            }
                        }
                    }
                    _ = kill.changed() => {
                        // The node is going away: end the stream as LND's shutdown does.
                        let _ = tx.send(Err(Status::unavailable("server shutting down"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
