//! The server side on LND: AddInvoice, LookupInvoice, SubscribeInvoices.

use core::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use l402_token::PaymentHash;
use tokio::sync::mpsc;

use crate::backend::check_invoice_request;
use crate::lnd::config::Conn;
use crate::lnd::proto::lnrpc::invoice::InvoiceState as LndState;
use crate::lnd::proto::lnrpc::lightning_client::LightningClient;
use crate::lnd::proto::lnrpc::{self, InvoiceSubscription};
use crate::lnd::status::to_error;
use crate::lnd::LndConfig;
use crate::{
    CreatedInvoice, Error, Invoice, InvoiceBackend, InvoiceRequest, InvoiceState, Settlement,
    SettlementStream,
};

/// An [`InvoiceBackend`] on an LND node. Needs a macaroon with `invoices:read` and
/// `invoices:write` (LND's `invoice.macaroon`).
#[derive(Clone)]
pub struct LndInvoiceBackend {
    conn: Conn,
}

impl core::fmt::Debug for LndInvoiceBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LndInvoiceBackend")
            .field("network", &self.conn.network)
            .finish_non_exhaustive()
    }
}

impl LndInvoiceBackend {
    /// Prepares the connection; nothing is sent until the first call.
    pub fn new(config: &LndConfig) -> Result<LndInvoiceBackend, Error> {
        Ok(LndInvoiceBackend { conn: Conn::new(config)? })
    }

    fn client(&self) -> LightningClient<tonic::transport::Channel> {
        LightningClient::new(self.conn.channel.clone())
    }
}

fn hash_from(bytes: &[u8]) -> Result<PaymentHash, Error> {
    <[u8; 32]>::try_from(bytes)
        .map(PaymentHash)
        .map_err(|_| Error::Backend(format!("payment hash of {} bytes", bytes.len())))
}

fn msat(v: i64) -> u64 {
    // LND never reports negative amounts; clamp rather than wrap if it ever did.
    u64::try_from(v).unwrap_or(0)
}

/// The settlement carried by an invoice update, if it is settled.
fn settlement(invoice: &lnrpc::Invoice) -> Result<Option<Settlement>, Error> {
    if invoice.state != LndState::Settled as i32 {
        return Ok(None);
    }
    Ok(Some(Settlement {
        payment_hash: hash_from(&invoice.r_hash)?,
        amount_paid_msat: msat(invoice.amt_paid_msat),
        settle_index: invoice.settle_index,
    }))
}

fn expired(invoice: &lnrpc::Invoice, now: SystemTime) -> bool {
    // LND uses 3600 seconds when the expiry is zero.
    let expiry = if invoice.expiry > 0 { invoice.expiry } else { 3600 };
    let end = u64::try_from(invoice.creation_date).unwrap_or(0).saturating_add(msat(expiry));
    now >= UNIX_EPOCH + Duration::from_secs(end)
}

#[async_trait::async_trait]
impl InvoiceBackend for LndInvoiceBackend {
    async fn create_invoice(&self, request: InvoiceRequest) -> Result<CreatedInvoice, Error> {
        check_invoice_request(&request)?;
        let value_msat = i64::try_from(request.amount_msat)
            .map_err(|_| Error::InvalidRequest("amount too large".into()))?;
        let expiry = i64::try_from(request.expiry.as_secs())
            .map_err(|_| Error::InvalidRequest("expiry too large".into()))?;
        let invoice =
            lnrpc::Invoice { memo: request.memo, value_msat, expiry, ..Default::default() };
        let mut client = self.client();
        let response = self.conn.unary(client.add_invoice(self.conn.request(invoice))).await?;
        let payment_hash = hash_from(&response.r_hash)?;
        // Check what the node made: right network, right hash, right amount.
        let parsed = Invoice::parse(&response.payment_request)?;
        parsed.check_network(self.conn.network)?;
        if parsed.payment_hash() != payment_hash
            || parsed.amount_msat() != Some(request.amount_msat)
        {
            return Err(Error::Backend(
                "LND returned an invoice that does not match the request".into(),
            ));
        }
        Ok(CreatedInvoice {
            bolt11: response.payment_request,
            payment_hash,
            expires_at: parsed.expires_at(),
        })
    }

    async fn lookup_invoice(&self, payment_hash: &PaymentHash) -> Result<InvoiceState, Error> {
        let mut client = self.client();
        let query = lnrpc::PaymentHash { r_hash: payment_hash.0.to_vec() };
        let invoice = self.conn.unary(client.lookup_invoice(self.conn.request(query))).await?;
        let now = self.conn.clock.now();
        Ok(match LndState::try_from(invoice.state) {
            Ok(LndState::Settled) => match settlement(&invoice)? {
                Some(s) => InvoiceState::Settled(s),
                None => return Err(Error::Backend("settled invoice without settlement".into())),
            },
            // LND cancels invoices when they expire; past expiry, a cancel is an expiry.
            Ok(LndState::Canceled) if expired(&invoice, now) => InvoiceState::Expired,
            Ok(LndState::Canceled) => InvoiceState::Canceled,
            Ok(LndState::Open | LndState::Accepted) if expired(&invoice, now) => {
                InvoiceState::Expired
            }
            Ok(LndState::Open | LndState::Accepted) => InvoiceState::Open,
            Err(_) => {
                return Err(Error::Backend(format!("unknown invoice state {}", invoice.state)))
            }
        })
    }

    async fn subscribe_settlements(
        &self,
        after_settle_index: u64,
    ) -> Result<SettlementStream, Error> {
        // The first subscription is opened here, so a caller learns at once that the node is
        // unreachable or the macaroon wrong, and no settlement after this call is missed.
        let first = open(&self.conn, after_settle_index).await.map_err(|s| to_error(&s))?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(subscription(self.conn.clone(), after_settle_index, first, tx));
        Ok(Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)))
    }
}

type Updates = tonic::Streaming<lnrpc::Invoice>;

async fn open(conn: &Conn, settle_index: u64) -> Result<Updates, tonic::Status> {
    let mut client = LightningClient::new(conn.channel.clone());
    let request = conn.request(InvoiceSubscription { add_index: 0, settle_index });
    Ok(client.subscribe_invoices(request).await?.into_inner())
}

/// Keeps a SubscribeInvoices stream open for as long as someone listens, reconnecting with
/// backoff and resuming after the last settle index delivered. Never panics and never ends
/// the process: a failure is logged and retried.
async fn subscription(
    conn: Conn,
    mut last: u64,
    first: Updates,
    tx: mpsc::UnboundedSender<Settlement>,
) {
    let mut wait = conn.backoff.initial;
    let mut next_stream = Some(first);
    loop {
        let opened = match next_stream.take() {
            Some(stream) => Ok(stream),
            None => tokio::select! {
                r = open(&conn, last) => r,
                () = tx.closed() => return,
            },
        };
        match opened {
            Ok(mut stream) => loop {
                let next = tokio::select! {
                    m = stream.message() => m,
                    () = tx.closed() => return,
                };
                match next {
                    Ok(Some(invoice)) => {
                        // A working stream: the next outage starts its backoff afresh.
                        wait = conn.backoff.initial;
                        match settlement(&invoice) {
                            Ok(Some(s)) if s.settle_index > last => {
                                last = s.settle_index;
                                if tx.send(s).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "skipping malformed invoice update from LND")
                            }
                        }
                    }
                    Ok(None) => {
                        tracing::warn!("LND closed the invoice subscription; reconnecting");
                        break;
                    }
                    Err(status) => {
                        tracing::warn!(error = %to_error(&status), "invoice subscription failed; reconnecting");
                        break;
                    }
                }
            },
            Err(status) => {
                let e = to_error(&status);
                tracing::warn!(error = %e, code = e.code(), retry_in = ?wait, "cannot subscribe to LND invoices");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = tx.closed() => return,
        }
        wait = (wait * 2).min(conn.backoff.max);
    }
}
