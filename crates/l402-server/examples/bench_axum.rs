//! The axum app of the "embedded in axum" benchmark row (`cargo xtask bench proxy`): one
//! handler served twice, at `/plain` without the layer and at `/paid` behind `L402Layer`,
//! with a credential bought from the embedded dev node before listening. **NOT FOR REAL
//! MONEY.**
//!
//! Prints `authorization: <value>` and then `listening: <addr>` on stdout. `L402_ADDR` sets
//! the address (default `127.0.0.1:0`), `L402_BENCH_DIR` the SQLite store's directory
//! (default: in memory).
#![allow(clippy::print_stdout, reason = "the benchmark script reads what it prints")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use l402_http::Credential;
use l402_lightning::dev::DevNode;
use l402_server::store::{MemoryStore, SqliteStore};
use l402_server::tower::L402Layer;
use l402_server::{Paywall, Price, Route, Store};

async fn hello() -> &'static str {
    "hello from the handler\n"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr =
        std::env::var("L402_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into()).parse()?;
    let node = Arc::new(DevNode::new()?);
    let store: Arc<dyn Store> = match std::env::var_os("L402_BENCH_DIR") {
        Some(dir) => Arc::new(SqliteStore::open(&std::path::Path::new(&dir).join("bench.db"))?),
        None => Arc::new(MemoryStore::new()),
    };
    let paywall = Arc::new(Paywall::builder(Arc::clone(&node) as _, store).build());
    // Unmetered, as the proxy benchmark's service: the warm check needs no store.
    let route = Route::new("bench", Price::msat(1_000)).valid_for(Duration::from_secs(86_400));

    let ask = http::Request::get("/paid").body(())?.into_parts().0;
    let minted = paywall.challenge(&route, &ask, Some(addr.ip())).await?;
    let paid = node.settle(&minted.invoice.bolt11)?;
    let credential = Credential::new(minted.macaroon, paid.preimage);
    println!("authorization: {}", credential.to_authorization_value().to_str()?);

    let app = Router::new()
        .route("/paid", get(hello).layer(L402Layer::new(paywall, route)))
        .route("/plain", get(hello));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening: {}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
