//! Dev-node behaviour beyond the shared conformance suite: mainnet refusal, pairing security,
//! recovery after a wallet restart, and balance accounting under concurrency.

use std::sync::Arc;
use std::time::Duration;

use l402_lightning::dev::{DevNode, DevPayer, Pairing};
use l402_lightning::{Error, Invoice, InvoiceRequest, Network, PayRequest, Payer, PaymentStatus};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn request(amount_msat: u64) -> InvoiceRequest {
    InvoiceRequest { amount_msat, memo: "dev".into(), expiry: Duration::from_secs(600) }
}

fn pay(bolt11: &str) -> PayRequest {
    PayRequest { bolt11: bolt11.into(), max_fee_msat: 0, timeout: Duration::from_secs(30) }
}

fn temp_dir(tag: &str) -> Result<std::path::PathBuf> {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r)?;
    let dir = std::env::temp_dir().join(format!("l402-dev-{tag}-{}", hex::encode(r)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[test]
fn mainnet_is_refused() {
    let err = DevNode::builder().network(Network::Mainnet).build().map(|_| ());
    assert_eq!(err.map_err(|e| e.code()), Err("config"));
}

#[test]
fn other_test_networks_and_fixed_seeds_work() -> Result {
    let a = DevNode::builder().network(Network::Testnet).seed([1; 32]).build()?;
    let b = DevNode::builder().network(Network::Testnet).seed([1; 32]).build()?;
    assert_eq!(a.node_id(), b.node_id());
    let created = a.create(&request(1000))?;
    assert!(created.bolt11.starts_with("lntb"));
    assert_eq!(Invoice::parse(&created.bolt11)?.network(), Network::Testnet);
    // b has the same key but not a's invoices.
    assert_eq!(
        b.settle(&created.bolt11).map_err(|e| e.code()).map(|_| ()),
        Err("invoice-not-found")
    );
    Ok(())
}

#[test]
fn a_wallet_only_pays_its_own_network() -> Result {
    let regtest = DevNode::new()?;
    let testnet = DevNode::builder().network(Network::Testnet).build()?;
    let created = testnet.create(&request(1000))?;
    assert_eq!(
        regtest.settle(&created.bolt11),
        Err(Error::WrongNetwork { expected: Network::Regtest, found: Network::Testnet })
    );
    Ok(())
}

#[tokio::test]
async fn wrong_pairing_secret_is_permission_denied() -> Result {
    let dir = temp_dir("secret")?;
    let node = DevNode::new()?;
    let _server = node.serve_pairing(&dir).await?;
    let mut pairing = Pairing::read(&dir)?;
    pairing.secret = "00".repeat(32);
    let payer = DevPayer::from_pairing(pairing, 10_000);
    let created = node.create(&request(1000))?;
    assert_eq!(
        payer.pay(pay(&created.bolt11)).await.map_err(|e| e.code()).map(|_| ()),
        Err("permission-denied")
    );
    // The failed attempt gave the reservation back.
    assert_eq!(payer.balance_msat(), 10_000);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A node that accepts the connection and never answers: the status lookup ends with
/// `timeout` (the outcome stays open for the caller) instead of hanging its caller.
#[tokio::test(start_paused = true)]
async fn a_silent_dev_node_times_out_the_lookup() -> Result {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let pairing = Pairing {
        v: 1,
        addr: listener.local_addr()?,
        secret: "00".repeat(32),
        network: Network::Regtest,
        node_id: "02".repeat(33),
    };
    let held = tokio::spawn(async move {
        // Keep the accepted connections open and silent.
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let payer = DevPayer::from_pairing(pairing, 10_000);
    let status = payer.payment_status(&l402_token::PaymentHash([7; 32])).await;
    assert_eq!(status.map_err(|e| e.code()).map(|_| ()), Err("timeout"));
    held.abort();
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn pairing_file_is_private() -> Result {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("mode")?;
    let server = DevNode::new()?.serve_pairing(&dir).await?;
    let mode = std::fs::metadata(server.pairing_file())?.permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    assert!(server.addr().ip().is_loopback());
    drop(server);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The pairing secret settles invoices: its directory is the owner's too, created `0700`
/// or tightened to it, and a shared sticky directory is refused (decision 0810).
#[cfg(unix)]
#[tokio::test]
async fn pairing_directory_is_private() -> Result {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| -> Result<u32> {
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o7777)
    };
    let chmod =
        |p: &std::path::Path, m: u32| std::fs::set_permissions(p, PermissionsExt::from_mode(m));
    let base = temp_dir("dir")?;
    let node = DevNode::new()?;

    let server = node.serve_pairing(&base.join("new")).await?;
    assert_eq!(mode(&base.join("new"))?, 0o700, "created owner-only");
    drop(server);

    chmod(&base, 0o755)?;
    let server = node.serve_pairing(&base).await?;
    assert_eq!(mode(&base)?, 0o700, "an existing looser directory is tightened");
    assert_eq!(mode(server.pairing_file())?, 0o600);
    drop(server);

    let shared = base.join("shared");
    std::fs::create_dir(&shared)?;
    chmod(&shared, 0o1777)?;
    let refused = node.serve_pairing(&shared).await.map(|_| ()).map_err(|e| e.code());
    assert_eq!(refused, Err("config"));
    assert_eq!(mode(&shared)?, 0o1777, "left as it was");
    std::fs::remove_dir_all(&base)?;
    Ok(())
}

#[test]
fn missing_pairing_file_is_unreachable() -> Result {
    let dir = temp_dir("missing")?;
    assert_eq!(DevPayer::connect(&dir, 1).map(|_| ()).map_err(|e| e.code()), Err("unreachable"));
    std::fs::write(dir.join(l402_lightning::dev::PAIRING_FILE), "{not json")?;
    assert_eq!(DevPayer::connect(&dir, 1).map(|_| ()).map_err(|e| e.code()), Err("config"));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn a_restarted_wallet_finds_out_it_already_paid() -> Result {
    let dir = temp_dir("restart")?;
    let node = DevNode::new()?;
    let _server = node.serve_pairing(&dir).await?;
    let created = node.create(&request(7_000))?;
    let first = DevPayer::connect(&dir, 10_000)?;
    let paid = first.pay(pay(&created.bolt11)).await?;
    assert_eq!(first.balance_msat(), 3_000);
    drop(first);

    let second = DevPayer::connect(&dir, 10_000)?;
    assert_eq!(second.payment_status(&created.payment_hash).await?, PaymentStatus::Succeeded(paid));
    assert_eq!(
        second.pay(pay(&created.bolt11)).await.map_err(|e| e.code()).map(|_| ()),
        Err("already-paid")
    );
    assert_eq!(second.balance_msat(), 10_000, "a refused payment costs nothing");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payments_never_overspend() -> Result {
    let node = DevNode::new()?;
    let payer = Arc::new(DevPayer::new(&node, 10_500));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let bolt11 = node.create(&request(1_000))?.bolt11;
        let payer = payer.clone();
        tasks.push(tokio::spawn(async move { payer.pay(pay(&bolt11)).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await? {
            Ok(_) => ok += 1,
            Err(Error::InsufficientBalance) => {}
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(payer.balance_msat(), 500);
    Ok(())
}

#[tokio::test]
async fn dropped_subscribers_do_not_block_settlement() -> Result {
    use l402_lightning::InvoiceBackend;
    let node = DevNode::new()?;
    drop(node.subscribe_settlements(0).await?);
    let payer = DevPayer::new(&node, 5_000);
    let created = node.create(&request(1_000))?;
    payer.pay(pay(&created.bolt11)).await?;
    Ok(())
}

/// One JSON line to the pairing endpoint and its answer, as a process in another language
/// speaks it.
async fn pairing_call(pairing: &Pairing, request: serde_json::Value) -> Result<serde_json::Value> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(pairing.addr).await?;
    stream.write_all(format!("{request}\n").as_bytes()).await?;
    let mut line = String::new();
    tokio::io::BufReader::new(stream).read_line(&mut line).await?;
    Ok(serde_json::from_str(&line)?)
}

/// A payee in another process (a third-party server under test) gets its invoices from the
/// node the wallets pay; only with the secret, and only for a real amount.
#[tokio::test]
async fn a_paired_process_sells_through_the_node() -> Result {
    let dir = temp_dir("invoice")?;
    let node = DevNode::new()?;
    let _server = node.serve_pairing(&dir).await?;
    let pairing = Pairing::read(&dir)?;
    let ask = |secret: &str, amount_msat: u64| {
        serde_json::json!({"op": "invoice", "v": 1, "secret": secret,
            "amount_msat": amount_msat, "memo": "from afar", "expiry_secs": 600})
    };
    let answer = pairing_call(&pairing, ask(&pairing.secret, 21_000)).await?;
    assert_eq!(answer["result"], "invoice", "{answer}");
    let bolt11 = answer["bolt11"].as_str().ok_or("no bolt11")?;
    let invoice = Invoice::parse(bolt11)?;
    assert_eq!(invoice.amount_msat(), Some(21_000));
    assert_eq!(answer["payment_hash"], invoice.payment_hash().to_string());
    assert!(answer["expires_at"].as_u64().ok_or("no expiry")? > 0);

    let payer = DevPayer::from_pairing(pairing.clone(), 100_000);
    let paid = payer.pay(pay(bolt11)).await?;
    assert_eq!(paid.payment_hash, invoice.payment_hash());
    let looked = pairing_call(
        &pairing,
        serde_json::json!({"op": "lookup", "v": 1, "secret": pairing.secret,
            "payment_hash": invoice.payment_hash().to_string()}),
    )
    .await?;
    assert_eq!(looked["payment"]["preimage"], paid.preimage.to_hex());

    let wrong = pairing_call(&pairing, ask(&"00".repeat(32), 21_000)).await?;
    assert_eq!(
        (wrong["result"].as_str(), wrong["code"].as_str()),
        (Some("error"), Some("permission-denied"))
    );
    let zero = pairing_call(&pairing, ask(&pairing.secret, 0)).await?;
    assert_eq!(
        (zero["result"].as_str(), zero["code"].as_str()),
        (Some("error"), Some("amount-required"))
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
