//! The client side on LND: routerrpc SendPaymentV2 and TrackPaymentV2.

use l402_token::{PaymentHash, Preimage};

use crate::lnd::config::Conn;
use crate::lnd::proto::lnrpc::payment::PaymentStatus as LndStatus;
use crate::lnd::proto::lnrpc::Payment as LndPayment;
use crate::lnd::proto::routerrpc::router_client::RouterClient;
use crate::lnd::proto::routerrpc::{SendPaymentRequest, TrackPaymentRequest};
use crate::lnd::status::{failure, to_error};
use crate::lnd::LndConfig;
use crate::{Error, Invoice, PayRequest, Payer, Payment, PaymentStatus};

/// A [`Payer`] on an LND node. Needs a macaroon with `offchain:read` and `offchain:write`.
#[derive(Clone)]
pub struct LndPayer {
    conn: Conn,
}

impl core::fmt::Debug for LndPayer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LndPayer").field("network", &self.conn.network).finish_non_exhaustive()
    }
}

impl LndPayer {
    /// Prepares the connection; nothing is sent until the first call.
    pub fn new(config: &LndConfig) -> Result<LndPayer, Error> {
        Ok(LndPayer { conn: Conn::new(config)? })
    }

    fn client(&self) -> RouterClient<tonic::transport::Channel> {
        RouterClient::new(self.conn.channel.clone())
    }
}

/// Where one payment update leaves us: still going, or a final outcome.
fn outcome(p: &LndPayment, hash: &PaymentHash) -> Option<Result<Payment, Error>> {
    match LndStatus::try_from(p.status) {
        Ok(LndStatus::Succeeded) => Some(succeeded(p, hash)),
        Ok(LndStatus::Failed) => Some(Err(failure(p.failure_reason))),
        Ok(LndStatus::InFlight | LndStatus::Initiated | LndStatus::Unknown) | Err(_) => None,
    }
}

fn succeeded(p: &LndPayment, hash: &PaymentHash) -> Result<Payment, Error> {
    let preimage = Preimage::from_hex(&p.payment_preimage)
        .map_err(|_| Error::Backend("LND reported success without a valid preimage".into()))?;
    // The preimage is the whole point: never hand on one that does not open the hash.
    preimage
        .check(hash)
        .map_err(|_| Error::Backend("LND's preimage does not match the payment hash".into()))?;
    Ok(Payment {
        payment_hash: *hash,
        preimage,
        amount_msat: u64::try_from(p.value_msat).unwrap_or(0),
        fee_msat: u64::try_from(p.fee_msat).unwrap_or(0),
    })
}

#[async_trait::async_trait]
impl Payer for LndPayer {
    async fn pay(&self, request: PayRequest) -> Result<Payment, Error> {
        let invoice = Invoice::parse(&request.bolt11)?;
        invoice.check_network(self.conn.network)?;
        invoice.require_amount()?;
        invoice.check_not_expired(self.conn.clock.now())?;
        let hash = invoice.payment_hash();
        let send = SendPaymentRequest {
            payment_request: invoice.as_str().to_owned(),
            // LND requires a positive whole number of seconds.
            timeout_seconds: i32::try_from(request.timeout.as_secs().max(1)).unwrap_or(i32::MAX),
            fee_limit_msat: i64::try_from(request.max_fee_msat).unwrap_or(i64::MAX),
            no_inflight_updates: true,
        };
        let mut client = self.client();
        let run = async {
            let mut stream = client
                .send_payment_v2(self.conn.request(send))
                .await
                .map_err(|s| to_error(&s))?
                .into_inner();
            loop {
                match stream.message().await.map_err(|s| to_error(&s))? {
                    Some(update) => {
                        if let Some(done) = outcome(&update, &hash) {
                            return done;
                        }
                    }
                    None => {
                        return Err(Error::Backend(
                            "LND ended the payment stream without an outcome".into(),
                        ))
                    }
                }
            }
        };
        // LND's own timeout only stops new attempts; ours bounds the wait. The payment may
        // still complete afterwards: callers ask `payment_status` before paying again.
        match tokio::time::timeout(request.timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout),
        }
    }

    async fn payment_status(&self, payment_hash: &PaymentHash) -> Result<PaymentStatus, Error> {
        let mut client = self.client();
        let track = TrackPaymentRequest {
            payment_hash: payment_hash.0.to_vec(),
            no_inflight_updates: false,
        };
        let run = async {
            let mut stream = match client.track_payment_v2(self.conn.request(track)).await {
                Ok(r) => r.into_inner(),
                Err(s) if s.code() == tonic::Code::NotFound => return Ok(PaymentStatus::Unknown),
                Err(s) => return Err(to_error(&s)),
            };
            match stream.message().await {
                Ok(Some(update)) => Ok(match outcome(&update, payment_hash) {
                    Some(Ok(p)) => PaymentStatus::Succeeded(p),
                    Some(Err(e)) => PaymentStatus::Failed(e),
                    None => PaymentStatus::InFlight,
                }),
                Ok(None) => Ok(PaymentStatus::Unknown),
                Err(s) if s.code() == tonic::Code::NotFound => Ok(PaymentStatus::Unknown),
                Err(s) => Err(to_error(&s)),
            }
        };
        match tokio::time::timeout(self.conn.call_timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout),
        }
    }
}
