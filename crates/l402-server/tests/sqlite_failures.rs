//! A SQLite store that cannot write fails closed and recovers by itself (decision 0613):
//! another connection holding the write lock past the busy timeout, or a full disk. Calls
//! that must write (a challenge, a metered use, the readiness ping) are refused `store`, which
//! the layer answers 503; tokens already paid and unmetered keep verifying from memory; once
//! the lock is released or space is back, the same store and paywall mint and meter again.
//!
//! The full disk is the kernel's: a child process (this test binary, running
//! `full_disk_child`) with SIGXFSZ ignored lowers its own file-size limit (`RLIMIT_FSIZE`,
//! through util-linux's `prlimit`) to 0, so every `write(2)` to a file fails as it does on a
//! full disk (`EFBIG` rather than `ENOSPC`), then raises it again.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use l402_http::Credential;
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{PayRequest, Payer};
use l402_server::store::{SqliteOptions, SqliteStore, Store};
use l402_server::tower::Disposition;
use l402_server::{Error, Paywall, Price, Route, Settlement};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Fails a test that would otherwise hang; never used to wait for something to happen.
const GUARD: Duration = Duration::from_secs(60);

/// The store's whole wait for a call, kept short so that refusals come quickly.
const BUSY: Duration = Duration::from_millis(200);

/// Concurrent metered requests sent while the store cannot write.
const CONCURRENT: usize = 8;

/// Set in the child's environment: the path of its database.
const CHILD: &str = "L402_SQLITE_FULL_DISK_DB";

/// What the child prints when its scenario passed, so that a child that ran no test at all
/// (a filter that matched nothing) fails the parent.
const DONE: &str = "full-disk scenario passed";

fn temp_db(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "l402-{name}-{}-{}.sqlite",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

struct Fixture {
    node: DevNode,
    paywall: Arc<Paywall>,
    store: Arc<SqliteStore>,
    metered: Arc<Route>,
    unmetered: Arc<Route>,
}

impl Fixture {
    fn open(path: &std::path::Path) -> Result<Fixture> {
        let node = DevNode::new()?;
        let store =
            Arc::new(SqliteStore::open_with(path, SqliteOptions::default().busy_timeout(BUSY))?);
        let paywall =
            Arc::new(Paywall::builder(Arc::new(node.clone()), Arc::clone(&store) as _).build());
        Ok(Fixture {
            node,
            paywall,
            store,
            metered: Arc::new(Route::new("metered", Price::msat(1_000)).max_uses(100)),
            unmetered: Arc::new(Route::new("open", Price::msat(1_000))),
        })
    }

    /// Buys a token for `route` and returns a request carrying it.
    async fn buy(&self, route: &Route) -> Result<http::request::Parts> {
        let (parts, ()) = http::Request::get("/x").body(())?.into_parts();
        let minted = self.paywall.challenge(route, &parts, None).await?;
        let paid = DevPayer::new(&self.node, 1_000_000)
            .pay(PayRequest {
                bolt11: minted.invoice.bolt11.clone(),
                max_fee_msat: 0,
                timeout: Duration::from_secs(5),
            })
            .await?;
        let (mut parts, ()) = http::Request::get("/x").body(())?.into_parts();
        Credential::new(minted.macaroon, paid.preimage).write_authorization(&mut parts.headers);
        Ok(parts)
    }

    /// One paid request, charged.
    async fn serve(&self, route: &Route, request: &http::request::Parts) -> Result<Settlement> {
        let authorized = self.paywall.authorize(route, request, None).await?;
        Ok(self.paywall.finish(authorized, true).await.settlement)
    }
}

/// The code of a refusal the layer answers 503 (Unavailable), or why it is not one.
fn unavailable<T>(r: std::result::Result<T, Error>) -> std::result::Result<&'static str, String> {
    match r {
        Ok(_) => Err("served while the store cannot write".into()),
        Err(e) if Disposition::from(&e) == Disposition::Unavailable => Ok(e.code()),
        Err(e) => Err(format!("refused, but not 503: {} ({e})", e.code())),
    }
}

/// Two paid tokens, each used once while the store can write: one unmetered (its key is then
/// cached), one metered.
async fn paid_and_used(f: &Fixture) -> Result<(http::request::Parts, http::request::Parts)> {
    let open = f.buy(&f.unmetered).await?;
    let metered = f.buy(&f.metered).await?;
    assert_eq!(f.serve(&f.unmetered, &open).await?, Settlement::Unmetered);
    assert_eq!(f.serve(&f.metered, &metered).await?, Settlement::Charged);
    Ok((open, metered))
}

/// While the store cannot write: nothing new is sold or metered, and every refusal is a 503
/// `store`; a paid unmetered token is served from memory.
async fn refuses_what_needs_a_write(
    f: &Fixture,
    open: &http::request::Parts,
    metered: &http::request::Parts,
) -> Result {
    let (parts, ()) = http::Request::get("/x").body(())?.into_parts();
    for route in [&f.unmetered, &f.metered] {
        assert_eq!(unavailable(f.paywall.challenge(route, &parts, None).await)?, "store");
    }
    assert_eq!(unavailable(f.paywall.authorize(&f.metered, metered, None).await)?, "store");
    // Many at once: each is refused, none waits on the ones queued before it for ever.
    let metered = Arc::new(metered.clone());
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENT {
        let (paywall, route, request) =
            (Arc::clone(&f.paywall), Arc::clone(&f.metered), Arc::clone(&metered));
        tasks.push(tokio::spawn(async move {
            unavailable(paywall.authorize(&route, &request, None).await)
        }));
    }
    for t in tasks {
        assert_eq!(tokio::time::timeout(GUARD, t).await??, Ok("store"));
    }
    assert_eq!(f.serve(&f.unmetered, open).await?, Settlement::Unmetered);
    assert_eq!(f.serve(&f.unmetered, open).await?, Settlement::Unmetered);
    let ready = f.paywall.readiness().await;
    assert!(!ready.is_ready(), "not ready while nothing can be bought: {ready:?}");
    assert!(ready.store.is_some() && ready.lightning.is_none(), "{ready:?}");
    Ok(())
}

/// Once the store can write again, the same paywall sells and meters: no restart.
async fn works_again(f: &Fixture, metered: &http::request::Parts) -> Result {
    f.store.ping().await?;
    let fresh = f.buy(&f.metered).await?;
    assert_eq!(f.serve(&f.metered, &fresh).await?, Settlement::Charged);
    assert_eq!(f.serve(&f.metered, metered).await?, Settlement::Charged);
    let open = f.buy(&f.unmetered).await?;
    assert_eq!(f.serve(&f.unmetered, &open).await?, Settlement::Unmetered);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_past_the_busy_timeout_fails_closed_and_recovers() -> Result {
    let path = temp_db("locked");
    let f = Fixture::open(&path)?;
    let (open, metered) = paid_and_used(&f).await?;

    // Another process's connection takes the write lock and keeps it.
    let other = rusqlite::Connection::open(&path)?;
    other.busy_timeout(Duration::from_secs(10))?;
    other.execute_batch("BEGIN EXCLUSIVE")?;
    refuses_what_needs_a_write(&f, &open, &metered).await?;

    other.execute_batch("ROLLBACK")?;
    drop(other);
    works_again(&f, &metered).await
}

/// Reads and sets this process's soft file-size limit through `prlimit` (util-linux).
fn file_size_limit(set: Option<&str>) -> Result<String> {
    let pid = format!("--pid={}", std::process::id());
    let mut c = Command::new("prlimit");
    match set {
        Some(soft) => c.args([pid.as_str(), &format!("--fsize={soft}:")]),
        None => c.args([pid.as_str(), "--fsize", "--raw", "--noheadings", "--output=SOFT"]),
    };
    let out = c.output()?;
    if !out.status.success() {
        return Err(format!("prlimit: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_closed_and_recovers() -> Result {
    if let Err(e) = Command::new("prlimit").arg("--version").output() {
        if std::env::var_os("CI").is_some() {
            return Err(format!("prlimit (util-linux) is required in CI: {e}").into());
        }
        eprintln!("skipping the full-disk test: no prlimit (util-linux): {e}");
        return Ok(());
    }
    let path = temp_db("full");
    // SIGXFSZ would kill the child at its first refused write; ignored (and an ignored signal
    // stays ignored across exec), the write fails with EFBIG instead.
    let child = tokio::process::Command::new("sh")
        .args(["-c", "trap '' XFSZ; exec \"$0\" \"$@\""])
        .arg(std::env::current_exe()?)
        .args(["full_disk_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, &path)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(GUARD, child).await??;
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(DONE), "the child did not run its scenario:\n{stdout}\n{stderr}");
    Ok(())
}

/// The child half of `a_full_disk_fails_closed_and_recovers`, which runs it in a process of
/// its own: the file-size limit is per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_full_disk_fails_closed_and_recovers in a child process"]
async fn full_disk_child() -> Result {
    let Some(path) = std::env::var_os(CHILD) else {
        eprintln!(
            "full_disk_child only runs as the child of a_full_disk_fails_closed_and_recovers"
        );
        return Ok(());
    };
    let f = Fixture::open(std::path::Path::new(&path))?;
    let (open, metered) = paid_and_used(&f).await?;

    let before = file_size_limit(None)?;
    file_size_limit(Some("0"))?;
    let full = refuses_what_needs_a_write(&f, &open, &metered).await;
    file_size_limit(Some(&before))?;
    full?;

    works_again(&f, &metered).await?;
    println!("{DONE}");
    Ok(())
}
