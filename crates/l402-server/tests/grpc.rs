//! The tower layer in front of a real tonic gRPC server, called by a real tonic client: an
//! unpaid call gets Aperture's status-13 challenge, a paid one goes through with
//! `L402-Token-Status` in its trailers, a used-up token is challenged again and a broken
//! credential is UNAUTHENTICATED, all in the gRPC form.
#![allow(clippy::indexing_slicing, reason = "tests: a wrong index fails the test, as it should")]

use std::sync::Arc;
use std::time::Duration;

use l402_http::{challenges_from_headers, select, Credential, TokenStatus, TOKEN_STATUS};
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{PayRequest, Payer};
use l402_server::store::MemoryStore;
use l402_server::tower::L402Layer;
use l402_server::{Paywall, Price, Route};
use l402_token::Preimage;
use tonic::transport::server::TcpConnectInfo;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn with_credential(credential: &Credential) -> Result<tonic::Request<HealthCheckRequest>> {
    let mut headers = http::HeaderMap::new();
    credential.write_authorization(&mut headers);
    let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
    let value = headers.get(http::header::AUTHORIZATION).ok_or("no authorization")?;
    request.metadata_mut().insert("authorization", value.to_str()?.parse()?);
    Ok(request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_server_behind_the_layer_is_paid_in_the_grpc_form() -> Result {
    let node = DevNode::new()?;
    let payer = DevPayer::new(&node, 100_000);
    let paywall =
        Arc::new(Paywall::builder(Arc::new(node.clone()), Arc::new(MemoryStore::new())).build());
    let route = Route::new("health", Price::msat(3_000)).max_uses(1);
    let layer = L402Layer::new(paywall, route)
        .peer_from(|ext| ext.get::<TcpConnectInfo>().and_then(TcpConnectInfo::remote_addr));
    let (_reporter, health) = tonic_health::server::health_reporter();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(incoming),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?;
    let mut client = HealthClient::new(channel.connect().await?);

    // Unpaid: Aperture's challenge, status 13 "payment required" with the lines.
    let refused = client
        .check(HealthCheckRequest { service: String::new() })
        .await
        .err()
        .ok_or("an unpaid call must be refused")?;
    assert_eq!(refused.code(), Code::Internal);
    assert!(refused.message().contains("payment required"), "{}", refused.message());
    let offered = challenges_from_headers(&refused.metadata().clone().into_headers())?;
    let chosen = select(&offered)?;
    let paid = payer
        .pay(PayRequest {
            bolt11: chosen.invoice.clone(),
            max_fee_msat: 0,
            timeout: Duration::from_secs(10),
        })
        .await?;
    let credential = Credential::new(chosen.macaroon.clone(), paid.preimage);

    // Paid: the call goes through; its use is settled at the trailers, which carry the
    // token status (tonic merges a unary call's trailers into its metadata).
    let answer = client.check(with_credential(&credential)?).await?;
    let status = answer.metadata().get(TOKEN_STATUS.as_str()).ok_or("token status in trailers")?;
    let status = TokenStatus::parse(status.to_str()?).ok_or("readable token status")?;
    assert_eq!(status.remaining, Some(0));

    // Used up: paying again is the remedy, so a fresh challenge comes in the gRPC form.
    let again = client.check(with_credential(&credential)?).await.err().ok_or("used up")?;
    assert_eq!(again.code(), Code::Internal);
    let fresh = challenges_from_headers(&again.metadata().clone().into_headers())?;
    assert_ne!(select(&fresh)?.invoice, chosen.invoice, "a new invoice");

    // A wrong preimage cannot be fixed by paying: UNAUTHENTICATED, no challenge.
    let forged = Credential::new(chosen.macaroon.clone(), Preimage::from_bytes([7; 32]));
    let broken = client.check(with_credential(&forged)?).await.err().ok_or("forged")?;
    assert_eq!(broken.code(), Code::Unauthenticated);
    assert!(broken.metadata().get("www-authenticate").is_none());
    Ok(())
}
