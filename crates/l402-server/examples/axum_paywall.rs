//! An axum server selling a weather forecast for 2 sat, paid through the embedded dev node.
//! **NOT FOR REAL MONEY.**
//!
//! ```sh
//! cargo run -p l402-server --example axum_paywall          # listens on 127.0.0.1:8402
//! curl -i http://127.0.0.1:8402/forecast                   # 402 + challenge
//! l402 get http://127.0.0.1:8402/forecast                  # pays through the dev pairing
//! ```
//!
//! The dev node's pairing file is written to `l402_lightning::dev::default_dir()` so that a
//! wallet in another process (`DevPayer::connect`) can pay its invoices.
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use l402_caveats::Caveat;
use l402_lightning::dev::DevNode;
use l402_server::store::SqliteStore;
use l402_server::tower::L402Layer;
use l402_server::{Paywall, Price, Route, VerifiedToken};

async fn forecast(token: VerifiedToken) -> String {
    format!(
        "sunny; token {} has {} uses left\n",
        token.token_id,
        token.remaining.map_or("unlimited".to_owned(), |r| r.to_string())
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr =
        std::env::var("L402_ADDR").unwrap_or_else(|_| "127.0.0.1:8402".into()).parse()?;
    let node = DevNode::new()?;
    let dir = l402_lightning::dev::default_dir();
    std::fs::create_dir_all(&dir)?;
    let _pairing = node.serve_pairing(&dir).await?;

    let store = Arc::new(SqliteStore::open(&dir.join("server.sqlite"))?);
    let paywall = Arc::new(Paywall::builder(Arc::new(node), store).build());
    let route = Route::new("weather", Price::msat(2_000))
        .valid_for(Duration::from_secs(3600))
        .max_uses(5)
        .caveat(Caveat::Methods(vec!["GET".into()]));

    let app = Router::new()
        .route("/forecast", get(forecast).layer(L402Layer::new(paywall, route)))
        .route("/", get(|| async { "free: try /forecast\n" }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{addr} (dev node pairing in {})", dir.display());
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
