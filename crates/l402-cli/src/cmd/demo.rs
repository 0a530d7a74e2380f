//! `l402 demo`: the whole L402 loop on one machine, step by step.
//!
//! A sample API, the proxy in front of it (dev node, NOT FOR REAL MONEY; SQLite store in a
//! temporary directory), and a client that walks through the protocol by hand so every step
//! is visible: 402 and the challenge, the invoice decoded, the payment and preimage, the
//! retry, the 200, and a second request that reuses the token without paying. Then the same
//! through `l402-client`'s middleware (what `l402 get` uses): one payment, one reuse.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use l402_client::L402Middleware;
use l402_http::{challenges_from_headers, select, Credential};
use l402_lightning::dev::DevPayer;
use l402_lightning::{check_against_macaroon, Invoice, Network, PayRequest, Payer};
use l402_proxy::config::ServiceConfig;
use l402_proxy::sample::SampleApi;
use l402_proxy::{Config, Proxy};

use crate::out;

/// Arguments of `l402 demo`.
#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// After the walkthrough, keep the API and the proxy running and print the `l402 get`
    /// command to use from another terminal; stop with Ctrl-C.
    #[arg(long)]
    serve: bool,
    /// With --serve: where the dev node writes its pairing file (default: $L402_DEV_DIR,
    /// else ~/.l402/dev, which `l402 get` reads by default).
    #[arg(long)]
    dev_dir: Option<PathBuf>,
    /// The proxy's listen address (default: a free port on 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
}

/// Why the demo stopped.
struct Failed {
    code: &'static str,
    message: String,
}

fn failed(code: &'static str, e: impl std::fmt::Display) -> Failed {
    Failed { code, message: e.to_string() }
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn get(
    client: &HttpClient,
    url: &str,
    credential: Option<&Credential>,
) -> Result<Answer, Failed> {
    let mut request = Request::get(url).body(Empty::new()).map_err(|e| failed("request", e))?;
    if let Some(c) = credential {
        c.write_authorization(request.headers_mut());
    }
    let response = client.request(request).await.map_err(|e| failed("http", e))?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| failed("http", e))?.to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn short(s: &str, keep: usize) -> String {
    if s.len() <= keep {
        s.to_owned()
    } else {
        format!("{}…({} chars)", s.get(..keep).unwrap_or(s), s.len())
    }
}

fn step(n: u32, title: &str) {
    println!("\n[{n}] {title}");
}

pub(crate) fn run(args: DemoArgs) -> ExitCode {
    crate::cmd::proxy::init_logs("text", "warn");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return out::refused("runtime", &e),
    };
    match runtime.block_on(demo(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => out::fail(f.code, &f.message, out::REFUSED),
    }
}

async fn demo(args: DemoArgs) -> Result<(), Failed> {
    let temp = std::env::temp_dir().join(format!(
        "l402-demo-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&temp).map_err(|e| failed("io", e))?;
    let result = walkthrough(&args, &temp).await;
    let _ = std::fs::remove_dir_all(&temp);
    result
}

async fn walkthrough(args: &DemoArgs, temp: &std::path::Path) -> Result<(), Failed> {
    println!("L402 demo: a sample API behind the l402 proxy, paid with the embedded dev node.");
    println!("The dev node is NOT FOR REAL MONEY: its invoices are regtest and settle instantly.");

    let api = SampleApi::start().await.map_err(|e| failed(e.code(), e))?;
    let mut service = ServiceConfig::new("quotes", api.url());
    service.path_prefix = "/api".into();
    service.price_sat = Some(10);
    service.caveats.valid_for_secs = Some(3600);
    service.caveats.max_uses = Some(100);
    let mut config = Config::with_services(vec![service]);
    config.listen.addr = args.listen.clone();
    config.data_dir = temp.join("data");
    config.lightning.dev_dir = Some(match (&args.dev_dir, args.serve) {
        (Some(d), _) => d.clone(),
        (None, true) => l402_lightning::dev::default_dir(),
        (None, false) => temp.join("dev"),
    });
    config.validate().map_err(|e| failed(e.code(), e))?;
    let proxy = Proxy::builder(config).start().await.map_err(|e| failed(e.code(), e))?;
    let node =
        proxy.dev_node().cloned().ok_or_else(|| failed("demo", "the proxy has no dev node"))?;
    let url = format!("http://{}/api/quote", proxy.addr());
    println!(
        "sample API: {}   proxy: http://{}   SQLite store: {}",
        api.url(),
        proxy.addr(),
        temp.join("data").display()
    );
    println!("price: 10 sat per token; a token is good for 100 requests within one hour");

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    step(1, &format!("GET {url} without a credential"));
    let first = get(&client, &url, None).await?;
    println!("    <- {}", first.status);
    if first.status != StatusCode::PAYMENT_REQUIRED {
        return Err(failed("demo", format!("expected 402, got {}", first.status)));
    }
    for v in first.headers.get_all(WWW_AUTHENTICATE) {
        println!("    WWW-Authenticate: {}", short(v.to_str().unwrap_or("?"), 96));
    }

    step(2, "Pick the challenge to answer and decode its invoice");
    let offered = challenges_from_headers(&first.headers).map_err(|e| failed(e.code(), e))?;
    let challenge = select(&offered).map_err(|e| failed(e.code(), e))?.clone();
    println!(
        "    chosen scheme: {:?} (the client answers L402 when offered both)",
        challenge.scheme
    );
    let invoice = Invoice::parse(&challenge.invoice).map_err(|e| failed(e.code(), e))?;
    let view = invoice.view();
    println!("    amount:       {} msat", view.amount_msat.unwrap_or(0));
    println!("    payment hash: {}", view.payment_hash);
    println!("    network:      {}", view.network);
    println!("    description:  {}", view.description.as_deref().unwrap_or("-"));
    println!("    expires in:   {} s", view.expiry);
    check_against_macaroon(&invoice, &challenge.macaroon).map_err(|e| failed(e.code(), e))?;
    println!("    the macaroon's identifier carries the same payment hash: safe to pay");

    step(3, "Pay the invoice with the dev wallet");
    let wallet = DevPayer::new(&node, 1_000_000);
    let before = wallet.balance_msat();
    let paid = wallet
        .pay(PayRequest {
            bolt11: challenge.invoice.clone(),
            max_fee_msat: 1_000,
            timeout: Duration::from_secs(30),
        })
        .await
        .map_err(|e| failed(e.code(), e))?;
    paid.preimage.check(&invoice.payment_hash()).map_err(|e| failed(e.code(), e))?;
    println!(
        "    paid {} msat (fee {} msat); wallet {} -> {} msat",
        paid.amount_msat,
        paid.fee_msat,
        before,
        wallet.balance_msat()
    );
    println!("    preimage: {}", hex::encode(paid.preimage.as_bytes()));
    println!("    sha256(preimage) == payment hash: proof of payment");

    step(4, "Retry with Authorization: L402 <macaroon>:<preimage>");
    let credential = Credential::new(challenge.macaroon.clone(), paid.preimage);
    let value = credential.to_authorization_value();
    println!("    {}: {}", AUTHORIZATION, short(value.to_str().unwrap_or("?"), 96));
    let second = get(&client, &url, Some(&credential)).await?;
    println!("    <- {}", second.status);
    print_status_header(&second);
    println!("    body: {}", second.body.trim());
    if second.status != StatusCode::OK {
        return Err(failed("demo", format!("expected 200 after paying, got {}", second.status)));
    }

    step(5, "Request again with the same token: no new payment");
    let balance = wallet.balance_msat();
    let third = get(&client, &url, Some(&credential)).await?;
    println!("    <- {}", third.status);
    print_status_header(&third);
    println!("    body: {}", third.body.trim());
    if third.status != StatusCode::OK || wallet.balance_msat() != balance {
        return Err(failed("demo", "the token was not reused"));
    }
    let challenges =
        proxy.metrics().get("l402_proxy_challenges_issued_total", &[("service", "quotes")]);
    println!(
        "    wallet balance unchanged ({balance} msat); challenges issued so far: {challenges}"
    );

    step(6, "The same with l402-client, the auto-paying middleware behind `l402 get`");
    // Built like `l402 get`'s, so the demo also runs on a machine without a CA bundle.
    let http = super::tls::client(&[], super::tls::Options::DEFAULT)
        .map_err(|e| failed("http", e))?
        .client;
    let wallet = Arc::new(DevPayer::new(&node, 1_000_000));
    let middleware = L402Middleware::builder(
        Arc::clone(&wallet) as Arc<dyn Payer>,
        Arc::new(l402_client::MemoryStore::new()),
    )
    .network(Network::Regtest)
    .max_cost_msat(50_000)
    .build();
    let client = reqwest_middleware::ClientBuilder::new(http).with(middleware).build();
    let mut balances = Vec::new();
    for i in 1..=2 {
        let r = client.get(&url).send().await.map_err(|e| failed("client", e))?;
        let status = r.status();
        let body = r.text().await.map_err(|e| failed("client", e))?;
        balances.push(wallet.balance_msat());
        println!(
            "    request {i}: {status}, wallet {} msat, body: {}",
            wallet.balance_msat(),
            body.trim()
        );
        if status != reqwest::StatusCode::OK {
            return Err(failed("demo", format!("l402-client got {status}")));
        }
    }
    if balances != [990_000, 990_000] {
        return Err(failed(
            "demo",
            format!("expected one payment of 10000 msat, balances {balances:?}"),
        ));
    }
    println!(
        "    paid once (402 -> pay -> retry inside the middleware), then reused the cached token"
    );

    // Settlements are counted by a background watcher; give it a moment to catch up.
    let _ = tokio::time::timeout(Duration::from_secs(5), proxy.ledger().wait_settled(2)).await;
    let revenue = proxy.ledger().revenue();
    println!(
        "\nDone: {} invoice(s) settled, {} msat earned by the proxy.",
        revenue.settled, revenue.total_msat
    );

    if args.serve {
        println!("\nServing until Ctrl-C. From another terminal, pay and fetch with:");
        let dev_dir =
            proxy.pairing_file().and_then(|f| f.parent()).map(|d| d.display().to_string());
        let default = l402_lightning::dev::default_dir().display().to_string();
        match dev_dir {
            Some(d) if d != default => println!("    L402_DEV_DIR={d} l402 get {url}"),
            _ => println!("    l402 get {url}"),
        }
        println!("(cargo run --release -p l402-cli -- get {url} works too.)");
        crate::cmd::proxy::shutdown_signal().await;
    }
    proxy.shutdown().await;
    drop(api);
    Ok(())
}

fn print_status_header(a: &Answer) {
    if let Some(v) = a.headers.get("l402-token-status").and_then(|v| v.to_str().ok()) {
        println!("    L402-Token-Status: {v}");
    }
}
