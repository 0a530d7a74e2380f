//! Two `Paywall` instances sharing one store: a token with N uses buys exactly N requests,
//! however 32 concurrent requests are spread over the instances (SQLite file, PostgreSQL).

#[path = "support/pg.rs"]
mod pg;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use l402_http::Credential;
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{PayRequest, Payer};
use l402_server::store::{PostgresStore, SqliteStore};
use l402_server::{KeyMode, KeyRing, Paywall, Price, Route, Store};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Requests sent at once, half to each instance.
const CONCURRENT: usize = 32;

/// For each allowance, two fresh stores on one database (from `stores`): a one-use token
/// passes exactly once, a five-use token exactly five times.
async fn exact_for_one_and_five<F, Fut>(stores: F) -> Result
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(Arc<dyn Store>, Arc<dyn Store>)>>,
{
    for uses in [1, 5] {
        let (a, b) = stores().await?;
        exact_across_instances(a, b, uses).await?;
    }
    Ok(())
}

async fn exact_across_instances(a: Arc<dyn Store>, b: Arc<dyn Store>, uses: u64) -> Result {
    let node = DevNode::new()?;
    // Derived keys: both instances verify the token without sharing a key row.
    let make = |store| {
        Arc::new(
            Paywall::builder(Arc::new(node.clone()), store)
                .key_mode(KeyMode::Derived(KeyRing::new(1, [3; 32])))
                .build(),
        )
    };
    let (pa, pb) = (make(a), make(b));
    let route = Arc::new(Route::new("svc", Price::msat(1_000)).max_uses(uses));
    let (parts, ()) = http::Request::get("/x").body(())?.into_parts();
    let minted = pa.challenge(&route, &parts, None).await?;
    let paid = DevPayer::new(&node, 100_000)
        .pay(PayRequest {
            bolt11: minted.invoice.bolt11.clone(),
            max_fee_msat: 0,
            timeout: Duration::from_secs(5),
        })
        .await?;
    let (mut parts, ()) = http::Request::get("/x").body(())?.into_parts();
    Credential::new(minted.macaroon.clone(), paid.preimage).write_authorization(&mut parts.headers);
    let parts = Arc::new(parts);
    // Each instance loads its revocation set first, so that the requests below race on the
    // allowance alone.
    pa.sync_revocations().await?;
    pb.sync_revocations().await?;

    // Every task waits at the barrier, so the requests start together.
    let start = Arc::new(tokio::sync::Barrier::new(CONCURRENT));
    let mut tasks = Vec::new();
    for i in 0..CONCURRENT {
        let paywall = if i % 2 == 0 { Arc::clone(&pa) } else { Arc::clone(&pb) };
        let (route, parts, start) = (Arc::clone(&route), Arc::clone(&parts), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            match paywall.authorize(&route, &parts, None).await {
                Ok(auth) => {
                    paywall.finish(auth, true).await;
                    Ok(1u64)
                }
                Err(e) if e.code() == "uses-exhausted" => Ok(0),
                Err(e) => Err(e),
            }
        }));
    }
    let mut served = 0;
    for t in tasks {
        served += t.await??;
    }
    assert_eq!(served, uses, "{uses} uses mean {uses} across instances, of {CONCURRENT} requests");
    for p in [&pa, &pb] {
        let err = p.authorize(&route, &parts, None).await.err().map(|e| e.code());
        assert_eq!(err, Some("uses-exhausted"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_instances() -> Result {
    exact_for_one_and_five(|| async {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("l402-paywall-{}-{n}.sqlite", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path)?);
        let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path)?);
        Ok((a, b))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_instances() -> Result {
    let Some(server) = pg::PgServer::start_or_skip("paywall postgres")? else {
        return Ok(());
    };
    let server = Arc::new(server);
    exact_for_one_and_five(|| {
        let server = Arc::clone(&server);
        async move {
            let config = server.fresh_db().await?;
            let a: Arc<dyn Store> = Arc::new(PostgresStore::connect(&config).await?);
            let b: Arc<dyn Store> = Arc::new(PostgresStore::connect(&config).await?);
            Ok((a, b))
        }
    })
    .await
}

/// Two instances on one store, each with its own node (decision 0612). A token sold by A's
/// node and paid, but not yet used when its pending deadline passes, must not be forgotten
/// by B, whose node has never heard of the invoice: B leaves the key alone, A keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_key_is_judged_only_by_the_node_that_issued_it() -> Result {
    use l402_lightning::clock::ManualClock;
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let node_a = DevNode::builder().clock(clock.clone()).build()?;
    let node_b = DevNode::builder().clock(clock.clone()).build()?;
    let store: Arc<dyn Store> = Arc::new(l402_server::store::MemoryStore::new());
    let make = |node: &DevNode| {
        Paywall::builder(Arc::new(node.clone()), Arc::clone(&store)).clock(clock.clone()).build()
    };
    let (pa, pb) = (make(&node_a), make(&node_b));
    let route = Route::new("svc", Price::msat(1_000));
    let (parts, ()) = http::Request::get("/x").body(())?.into_parts();
    // B has issued an invoice of its own, so it knows which node it is.
    pb.challenge(&route, &parts, None).await?;
    let minted = pa.challenge(&route, &parts, None).await?;
    let paid = DevPayer::new(&node_a, 100_000)
        .pay(PayRequest {
            bolt11: minted.invoice.bolt11.clone(),
            max_fee_msat: 0,
            timeout: Duration::from_secs(5),
        })
        .await?;
    // Past the invoice's expiry and the pending grace: the key is due.
    clock.advance(Duration::from_secs(3 * 3600));
    let at_b = pb.prune().await?;
    assert_eq!(at_b.keys, 1, "B forgets only its own unpaid key");
    assert_eq!(at_b.confirmed, 0);
    let at_a = pa.prune().await?;
    assert_eq!((at_a.keys, at_a.confirmed), (0, 1), "A finds its invoice paid and keeps the key");
    let (mut parts, ()) = http::Request::get("/x").body(())?.into_parts();
    Credential::new(minted.macaroon, paid.preimage).write_authorization(&mut parts.headers);
    let authorized = pb.authorize(&route, &parts, None).await?;
    pb.finish(authorized, true).await;
    Ok(())
}
