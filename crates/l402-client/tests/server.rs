//! The middleware against `l402-server`'s tower layer on loopback, both paying and verifying
//! through the dev node: the client and server of this workspace, end to end.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::routing::get;
use axum::Router;
use l402_client::{Budget, L402Middleware, MemoryStore, Receipt, TokenStatus};
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::Network;
use l402_server::store::MemoryStore as ServerStore;
use l402_server::tower::L402Layer;
use l402_server::{Paywall, Price, Route, VerifiedToken};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PRICE_MSAT: u64 = 2_000;

async fn serve(node: &DevNode) -> Result<String> {
    let paywall =
        Arc::new(Paywall::builder(Arc::new(node.clone()), Arc::new(ServerStore::new())).build());
    let route = Route::new("weather", Price::msat(PRICE_MSAT))
        .valid_for(Duration::from_secs(3600))
        .max_uses(2);
    let app = Router::new().route(
        "/weather",
        get(|t: VerifiedToken| async move { format!("sunny for {}", t.service) })
            .layer(L402Layer::new(paywall, route)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ =
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    Ok(format!("http://{addr}/weather"))
}

fn receipt(r: &reqwest::Response) -> Result<Receipt> {
    Ok(r.extensions().get::<Receipt>().cloned().ok_or("no receipt")?)
}

#[tokio::test]
async fn pays_reuses_and_renews_when_the_allowance_is_used_up() -> Result {
    let node = DevNode::new()?;
    let url = serve(&node).await?;
    let payer = Arc::new(DevPayer::new(&node, 1_000_000));
    let m = L402Middleware::builder(payer.clone(), Arc::new(MemoryStore::new()))
        .network(Network::Regtest)
        .max_cost_msat(10_000)
        .budget(Budget::unlimited())
        .build();
    let c = reqwest_middleware::ClientBuilder::new(common::plain_reqwest()).with(m).build();

    // First call: 402, pay, retry, 200; the server says what the token still buys.
    let r = c.get(&url).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    assert!(receipt(&r)?.paid_now);
    let status = receipt(&r)?.token_status.ok_or("no L402-Token-Status read")?;
    assert_eq!(status.remaining, Some(1));
    // valid_for(3600): the server's expiry is in the future, not the token's purchase time.
    assert!(status.expires_at().ok_or("no expiry")? > SystemTime::now());
    let header = r.headers().get("l402-token-status").ok_or("no L402-Token-Status")?;
    assert_eq!(TokenStatus::parse(header.to_str()?), Some(status));
    assert_eq!(r.text().await?, "sunny for weather");

    // Second call: the cached token, no payment; the server says it is now used up.
    let r = c.get(&url).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    assert!(!receipt(&r)?.paid_now);
    assert_eq!(receipt(&r)?.token_status.and_then(|s| s.remaining), Some(0));
    assert_eq!(receipt(&r)?.token_status.and_then(|s| s.expires), status.expires);
    assert_eq!(1_000_000 - payer.balance_msat(), PRICE_MSAT);

    // Third call: the allowance of 2 is used up, the server answers 402 with a fresh challenge,
    // and the client drops the spent token and buys one more, once.
    let r = c.get(&url).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    assert!(receipt(&r)?.paid_now);
    assert_eq!(receipt(&r)?.token_status.and_then(|s| s.remaining), Some(1));
    assert_eq!(1_000_000 - payer.balance_msat(), 2 * PRICE_MSAT);
    Ok(())
}

#[tokio::test]
async fn a_price_over_the_limit_is_refused_without_paying() -> Result {
    let node = DevNode::new()?;
    let url = serve(&node).await?;
    let payer = Arc::new(DevPayer::new(&node, 1_000_000));
    let m = L402Middleware::builder(payer.clone(), Arc::new(MemoryStore::new()))
        .network(Network::Regtest)
        .max_cost_msat(PRICE_MSAT - 1)
        .build();
    let c = reqwest_middleware::ClientBuilder::new(common::plain_reqwest()).with(m).build();
    let e = c.get(&url).send().await.err().ok_or("expected a refusal")?;
    assert_eq!(
        l402_client::Error::from_middleware(&e).map(l402_client::Error::code),
        Some("over-max-cost")
    );
    assert_eq!(payer.balance_msat(), 1_000_000);
    Ok(())
}
