//! No double payment across processes, and recovery after a real crash.
//!
//! This process runs the L402 test server and the dev node with its pairing endpoint; the
//! clients are this same binary re-executed as workers, each with its own `DevPayer` paired
//! through the endpoint and the same SQLite store, as separate `l402 get` runs would be.
//!
//! Run as: `cross_process` (parent), `cross_process worker <url> <db> <dir>` or
//! `cross_process crash <url> <db> <dir>` (children).
#![allow(
    clippy::indexing_slicing,
    reason = "test code: a short index fails the test, as it should"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use common::{Result, TestServer};
use l402_client::{Error, L402Middleware, LedgerQuery, Outcome, SqliteStore, TokenStore};
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{Network, PayRequest, Payer, Payment, PaymentStatus};
use l402_token::PaymentHash;

const WORKERS: usize = 4;
/// What a crashing worker prints once it has paid, for the parent to kill it.
const PAID: &str = "paid";
/// Far longer than a child needs (it pays the dev node on loopback), short of a hung CI job.
const CHILD_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Test runners that list before running (cargo nextest) get libtest's answer.
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("cross_process: test");
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match args.get(1).map(String::as_str) {
        Some(mode @ ("worker" | "crash")) => runtime.block_on(worker(mode == "crash", &args)),
        _ => {
            let r = runtime.block_on(parent());
            match &r {
                Ok(()) => println!("cross_process: 1 passed, 0 failed"),
                Err(e) => println!("cross_process: 0 passed, 1 failed ({e})"),
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

/// Pays, says so, and stops there until the parent kills it: the process dies between the
/// payment and the token being stored, as under `kill -9` or a power cut.
struct CrashAfterPaying(DevPayer);

#[async_trait::async_trait]
impl Payer for CrashAfterPaying {
    async fn pay(&self, r: PayRequest) -> std::result::Result<Payment, l402_lightning::Error> {
        self.0.pay(r).await?;
        println!("{PAID}");
        std::future::pending().await
    }
    async fn payment_status(
        &self,
        h: &PaymentHash,
    ) -> std::result::Result<PaymentStatus, l402_lightning::Error> {
        self.0.payment_status(h).await
    }
}

async fn worker(crash: bool, args: &[String]) -> Result {
    let (url, db, dir) = (arg(args, 2)?, arg(args, 3)?, arg(args, 4)?);
    let dev = DevPayer::connect(Path::new(dir), 10_000_000)?;
    let payer: Arc<dyn Payer> = if crash { Arc::new(CrashAfterPaying(dev)) } else { Arc::new(dev) };
    let m = L402Middleware::builder(payer, Arc::new(SqliteStore::open(db, None)?))
        .network(Network::Regtest)
        .build();
    let client = reqwest_middleware::ClientBuilder::new(common::plain_reqwest()).with(m).build();
    match client.get(url).send().await {
        Ok(r) => println!("status {}", r.status().as_u16()),
        Err(e) => println!("error {}", Error::from_middleware(&e).map_or("transport", Error::code)),
    }
    Ok(())
}

/// Runs this binary as a child; a child still running after [`CHILD_WAIT`] is killed and
/// fails the test with whatever it printed.
async fn run(
    mode: &'static str,
    url: String,
    db: PathBuf,
    dir: PathBuf,
) -> Result<(Option<i32>, String)> {
    let child = tokio::process::Command::new(std::env::current_exe()?)
        .args([mode, &url])
        .arg(&db)
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let out = tokio::time::timeout(CHILD_WAIT, child.wait_with_output())
        .await
        .map_err(|_| format!("{mode} child still running after {CHILD_WAIT:?}: killed"))??;
    let stdout = String::from_utf8(out.stdout)?.trim().to_owned();
    if out.status.code() != Some(0) {
        // A failing child's own account of why, for the test's error message.
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Ok((out.status.code(), format!("{stdout} / stderr: {}", stderr.trim())));
    }
    Ok((out.status.code(), stdout))
}

/// Runs a crashing worker and SIGKILLs it as soon as it says it has paid.
async fn crash(url: &str, db: &Path, dir: &Path) -> Result {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["crash", url])
        .arg(db)
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let said = tokio::time::timeout(CHILD_WAIT, lines.next_line())
        .await
        .map_err(|_| format!("crash child silent after {CHILD_WAIT:?}"))??;
    if said.as_deref() != Some(PAID) {
        return Err(format!("crash child said {said:?}, not {PAID:?}").into());
    }
    child.kill().await?;
    Ok(())
}

async fn parent() -> Result {
    let dir = std::env::temp_dir().join(format!("l402-client-xproc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = parent_in(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn parent_in(dir: &Path) -> Result {
    let node = DevNode::new()?;
    let _pairing = node.serve_pairing(dir).await?;
    let server = TestServer::start(Arc::new(node)).await?;
    let url = server.url("/resource");

    // Several processes hit the server at once; the server holds every first answer until
    // all have arrived, so all of them see a 402 and race to pay.
    let db = dir.join("shared.db");
    server.gate(WORKERS);
    let runs = (0..WORKERS).map(|_| run("worker", url.clone(), db.clone(), dir.to_owned()));
    for (code, out) in futures_join_all(runs).await? {
        if code != Some(0) || out != "status 200" {
            return Err(format!("worker: {code:?} {out}").into());
        }
    }
    if server.challenges() < WORKERS as u64 {
        return Err("the workers did not all see a challenge".into());
    }
    if server.settled().await != 1 {
        return Err(
            format!("{} payments for one scope across processes", server.settled().await).into()
        );
    }
    let ledger = SqliteStore::open(&db, None)?.ledger(&LedgerQuery::all())?;
    if ledger.len() != 1 || ledger[0].outcome != Outcome::Paid {
        return Err(format!("ledger: {ledger:?}").into());
    }

    // A worker pays and crashes before storing the token; the next one must not pay again.
    let db = dir.join("crash.db");
    let before = server.settled().await;
    crash(&url, &db, dir).await?;
    if server.settled().await != before + 1 {
        return Err("the crashing worker did not pay".into());
    }
    let store = SqliteStore::open(&db, None)?;
    if store.pending()?.len() != 1 {
        return Err("no pending record after the crash".into());
    }
    let (code, out) = run("worker", url.clone(), db.clone(), dir.to_owned()).await?;
    if code != Some(0) || out != "status 200" {
        return Err(format!("worker after crash: {code:?} {out}").into());
    }
    if server.settled().await != before + 1 {
        return Err("paid again after the crash".into());
    }
    if !store.pending()?.is_empty() || store.tokens()?.len() != 1 {
        return Err("the crashed payment was not resolved into a token".into());
    }
    Ok(())
}

/// Runs the futures concurrently and collects their results in order.
async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Result<Vec<T>>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await??);
    }
    Ok(out)
}
