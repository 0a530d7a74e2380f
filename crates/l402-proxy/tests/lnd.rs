//! The proxy with an LND backend from its configuration file (a protocol-faithful LND on
//! loopback, `l402-lnd-test`), paid by another LND node.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use l402_lightning::clock::SystemClock;
use l402_lightning::lnd::{LndConfig, LndPayer};
use l402_lightning::{Network, PayRequest, Payer};
use l402_lnd_test::TestNet;
use l402_proxy::sample::SampleApi;
use l402_proxy::{Config, Proxy};
use support::{authorization, raw, temp_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_sells_through_lnd_from_its_config() {
    let net = TestNet::new(Arc::new(SystemClock));
    let seller = net.start_node(0).await.unwrap();
    let buyer = net.start_node(1_000_000).await.unwrap();
    let dir = temp_dir("lnd");
    std::fs::write(dir.0.join("tls.cert"), seller.cert_pem()).unwrap();
    std::fs::write(dir.0.join("invoice.macaroon"), seller.invoice_macaroon()).unwrap();
    let api = SampleApi::start().await.unwrap();
    let text = format!(
        "data_dir = {data:?}\n[listen]\naddr = \"127.0.0.1:0\"\n\
         [lightning]\nbackend = \"lnd\"\nlnd_endpoint = \"{endpoint}\"\nlnd_tls_cert = {cert:?}\n\
         lnd_macaroon = {mac:?}\nnetwork = \"regtest\"\n\
         [[services]]\nname = \"quotes\"\nupstream = \"{up}\"\nprice_sat = 21\n",
        data = dir.0.join("data"),
        endpoint = seller.endpoint(),
        cert = dir.0.join("tls.cert"),
        mac = dir.0.join("invoice.macaroon"),
        up = api.url(),
    );
    let config = Config::from_toml_str(&text, Vec::new()).unwrap();
    let proxy = Proxy::builder(config).start().await.unwrap();
    assert!(proxy.dev_node().is_none());

    let challenge = raw(proxy.addr(), "GET", "/api/quote", &[]).await;
    assert_eq!(challenge.status, 402, "{}", challenge.head);
    let offered = l402_http::challenges_from_headers(&challenge.headers()).unwrap();
    let chosen = l402_http::select(&offered).unwrap().clone();
    let payer = LndPayer::new(&LndConfig::new(
        buyer.endpoint(),
        buyer.cert_pem().as_bytes().to_vec(),
        buyer.admin_macaroon().to_vec(),
        Network::Regtest,
    ))
    .unwrap();
    let paid = payer
        .pay(PayRequest {
            bolt11: chosen.invoice.clone(),
            max_fee_msat: 1_000,
            timeout: Duration::from_secs(10),
        })
        .await
        .unwrap();
    assert_eq!(paid.amount_msat, 21_000);
    let credential = l402_http::Credential::new(chosen.macaroon, paid.preimage);
    let ok = raw(proxy.addr(), "GET", "/api/quote", &[authorization(&credential, "L402")]).await;
    assert_eq!(ok.status, 200, "{}", ok.head);
    // LND's settlement stream reaches the proxy's ledger.
    tokio::time::timeout(support::GUARD, proxy.ledger().wait_settled(1)).await.unwrap();
    assert_eq!(proxy.ledger().revenue().total_msat, 21_000);
    proxy.shutdown().await;
}
