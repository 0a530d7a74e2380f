//! `l402 get` configured with an LND wallet (files and environment, as a user would), paying
//! through our gRPC client against the protocol-faithful LND test server on loopback.
#![cfg(feature = "lnd")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

#[path = "../../l402-client/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::{TestServer, PRICE_MSAT};
use l402_lightning::clock::SystemClock;
use l402_lightning::lnd::{LndConfig, LndInvoiceBackend};
use l402_lightning::Network;
use l402_lnd_test::TestNet;

#[tokio::test(flavor = "multi_thread")]
async fn get_pays_through_an_lnd_wallet_from_config_and_reuses_the_token() {
    let net = TestNet::new(Arc::new(SystemClock));
    let payee = net.start_node(0).await.unwrap();
    let payer = net.start_node(10_000_000).await.unwrap();
    let backend = LndInvoiceBackend::new(&LndConfig::new(
        payee.endpoint(),
        payee.cert_pem().as_bytes().to_vec(),
        payee.invoice_macaroon().to_vec(),
        Network::Regtest,
    ))
    .unwrap();
    let server = TestServer::start(Arc::new(backend)).await.unwrap();

    let dir = std::env::temp_dir().join(format!("l402-cli-get-lnd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    std::fs::write(dir.join("tls.cert"), payer.cert_pem()).unwrap();
    std::fs::write(dir.join("payer.macaroon"), payer.admin_macaroon()).unwrap();
    // The wallet comes from a config file; the store from the environment.
    std::fs::write(
        dir.join("client.toml"),
        format!(
            "network = \"regtest\"\nmax_cost_sat = 100\n\n[wallet]\nkind = \"lnd\"\naddress = \"{}\"\ntls_cert = \"{}\"\nmacaroon = \"{}\"\n",
            payer.endpoint(),
            dir.join("tls.cert").display(),
            dir.join("payer.macaroon").display(),
        ),
    )
    .unwrap();

    let before = payer.balance_msat();
    let run = |path: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_l402"));
        for (k, _) in std::env::vars() {
            if k.starts_with("L402_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["get", "--json", "--config"])
            .arg(dir.join("client.toml"))
            .arg(server.url(path))
            .env("HOME", dir.join("home"))
            .env("L402_STORE", dir.join("client.db"))
            .output()
            .unwrap()
    };
    let first = run("/weather");
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["payment"]["paid_now"], true);
    assert_eq!(before - payer.balance_msat(), PRICE_MSAT);

    let second = run("/other");
    assert_eq!(second.status.code(), Some(0), "{}", String::from_utf8_lossy(&second.stderr));
    let v: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(v["payment"]["paid_now"], false);
    assert_eq!(before - payer.balance_msat(), PRICE_MSAT, "the second request paid nothing");
    let _ = std::fs::remove_dir_all(&dir);
}
