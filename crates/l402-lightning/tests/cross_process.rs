//! A payment across two processes: this process runs the dev node and its pairing endpoint;
//! a child process (this same binary, re-executed) is the wallet, as `l402 get` would be.
//!
//! Run as: `cross_process` (parent), `cross_process pay <dir> <bolt11>` or
//! `cross_process status <dir> <payment-hash>` (child).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{
    InvoiceBackend, InvoiceRequest, InvoiceState, PayRequest, Payer, PaymentStatus,
};
use l402_token::{PaymentHash, Preimage};
use tokio_stream::StreamExt as _;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Test runners that list before running (cargo nextest) get libtest's answer.
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("cross_process: test");
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match args.get(1).map(String::as_str) {
        Some("pay") => runtime.block_on(child_pay(&args)),
        Some("status") => runtime.block_on(child_status(&args)),
        _ => {
            let r = runtime.block_on(parent());
            match &r {
                Ok(()) => println!("cross_process: 1 passed, 0 failed"),
                Err(_) => println!("cross_process: 0 passed, 1 failed"),
            }
            r
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn arg(args: &[String], i: usize) -> Result<&str> {
    Ok(args.get(i).ok_or("missing argument")?)
}

async fn child_pay(args: &[String]) -> Result {
    let payer = DevPayer::connect(Path::new(arg(args, 2)?), 1_000_000)?;
    let paid = payer
        .pay(PayRequest {
            bolt11: arg(args, 3)?.to_owned(),
            max_fee_msat: 0,
            timeout: Duration::from_secs(30),
        })
        .await;
    match paid {
        Ok(p) => println!("{}", p.preimage.to_hex()),
        Err(e) => println!("error {}", e.code()),
    }
    Ok(())
}

async fn child_status(args: &[String]) -> Result {
    let payer = DevPayer::connect(Path::new(arg(args, 2)?), 1_000_000)?;
    let hash: PaymentHash = arg(args, 3)?.parse()?;
    match payer.payment_status(&hash).await? {
        PaymentStatus::Succeeded(p) => println!("{}", p.preimage.to_hex()),
        other => println!("{other:?}"),
    }
    Ok(())
}

async fn run_child(args: &[&str]) -> Result<String> {
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.args(args).kill_on_drop(true);
    // Far longer than a child needs; a hung child fails the test instead of hanging CI.
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .map_err(|_| format!("child {args:?} still running after 120 s: killed"))??;
    if !out.status.success() {
        return Err(format!("child failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

async fn parent() -> Result {
    let dir = std::env::temp_dir().join(format!("l402-xproc-{}", std::process::id()));
    let result = parent_in(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn parent_in(dir: &Path) -> Result {
    let node = DevNode::new()?;
    let server = node.serve_pairing(dir).await?;
    let mut settlements = node.subscribe_settlements(0).await?;
    let created = node
        .create_invoice(InvoiceRequest {
            amount_msat: 42_000,
            memo: "cross-process".into(),
            expiry: Duration::from_secs(600),
        })
        .await?;
    let dir_arg = dir.to_str().ok_or("temp dir is not UTF-8")?;

    // The wallet in another process pays and prints the preimage.
    let preimage = Preimage::from_hex(&run_child(&["pay", dir_arg, &created.bolt11]).await?)?;
    preimage.check(&created.payment_hash)?;
    let s = tokio::time::timeout(Duration::from_secs(60), settlements.next())
        .await?
        .ok_or("settlement stream ended")?;
    if s.payment_hash != created.payment_hash {
        return Err("settlement for another invoice".into());
    }
    if !matches!(node.lookup_invoice(&created.payment_hash).await?, InvoiceState::Settled(_)) {
        return Err("invoice not settled".into());
    }

    // A second wallet process that never paid still learns the payment happened...
    let hash = created.payment_hash.to_string();
    let recovered = Preimage::from_hex(&run_child(&["status", dir_arg, &hash]).await?)?;
    if recovered != preimage {
        return Err("status lookup returned another preimage".into());
    }
    // ...and paying again is refused.
    let again = run_child(&["pay", dir_arg, &created.bolt11]).await?;
    if again != "error already-paid" {
        return Err(format!("second payment: {again}").into());
    }

    // Once the endpoint is gone, wallets are told the node is unreachable.
    let file = server.pairing_file().to_owned();
    drop(server);
    if file.exists() {
        return Err("pairing file left behind".into());
    }
    let gone = run_child(&["pay", dir_arg, &created.bolt11]).await;
    if gone.is_ok() {
        return Err("paying a stopped node succeeded".into());
    }
    Ok(())
}
