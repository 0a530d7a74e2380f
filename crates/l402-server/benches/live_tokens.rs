//! Verification cost does not grow with the number of live tokens (issue 13, decision 0610):
//! a warm `Paywall::authorize` of a valid per-token credential, unmetered and metered (then
//! charged), with 10^3 and 10^6 other live tokens in the store (a confirmed root key and a
//! usage count each), in SQLite and in PostgreSQL. The figure that matters is the ratio of the
//! 10^6 row to the 10^3 row of the same bench, from one run.
//!
//! The other tokens are written straight into the store's tables in one transaction (one
//! statement each) rather than minted one by one. PostgreSQL is started as the tests start it
//! (`tests/support/pg.rs`); its rows are skipped with a printed reason when it cannot be.
#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a failure is a bug to surface at once"
)]

#[path = "../tests/support/pg.rs"]
#[allow(dead_code, reason = "the bench uses only part of the test harness")]
mod pg;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use l402_http::Credential;
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{PayRequest, Payer};
use l402_server::store::{PostgresStore, SqliteStore};
use l402_server::{Paywall, PaywallConfig, Price, RateLimit, Route, Store};
use tokio::runtime::Runtime;

/// Live tokens besides the two measured.
const SIZES: [u64; 2] = [1_000, 1_000_000];

/// Uses the metered token may have: more than any run makes.
const ALLOWANCE: u64 = 1 << 40;

fn temp_db(n: u64) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("l402-live-tokens-{}-{n}.sqlite", std::process::id()));
    remove_db(&path);
    path
}

fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// `n` live tokens in the store's schema, in one transaction, then a checkpoint so that the
/// measured reads do not walk a large WAL.
fn populate_sqlite(path: &std::path::Path, n: u64) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    c.execute_batch("PRAGMA cache_size = -262144").unwrap();
    c.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
         INSERT INTO l402_keys (key_hash, token_id, root_key, pending_until, payment_hash)
         SELECT randomblob(32), randomblob(32), randomblob(32), NULL, randomblob(32) FROM s;
         INSERT INTO l402_usage (token_id, used) SELECT token_id, 1 FROM l402_keys;
         COMMIT;
         PRAGMA wal_checkpoint(TRUNCATE);"
    ))
    .unwrap();
}

/// `n` live tokens in the store's schema, one statement per table.
async fn populate_postgres(config: &str, n: u64) {
    let (client, conn) = tokio_postgres::connect(config, tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "BEGIN;
             INSERT INTO l402_keys (key_hash, token_id, root_key, pending_until, payment_hash)
             SELECT sha256(('k' || i)::bytea), sha256(('t' || i)::bytea),
                    sha256(('r' || i)::bytea), NULL, sha256(('p' || i)::bytea)
             FROM generate_series(1, {n}) AS i;
             INSERT INTO l402_usage (token_id, used) SELECT token_id, 1 FROM l402_keys;
             COMMIT;"
        ))
        .await
        .unwrap();
    // One statement per call: several in one simple query run as one transaction block,
    // which VACUUM refuses.
    for table in ["l402_keys", "l402_usage"] {
        client.batch_execute(&format!("VACUUM ANALYZE {table}")).await.unwrap();
    }
    drop(client);
    let _ = task.await;
}

/// A paid credential for `route`, used once (its key confirmed and cached: warm).
fn warm_credential(
    rt: &Runtime,
    node: &DevNode,
    paywall: &Paywall,
    route: &Route,
) -> http::request::Parts {
    rt.block_on(async {
        let (parts, ()) = http::Request::get("/forecast").body(()).unwrap().into_parts();
        let minted = paywall.challenge(route, &parts, None).await.unwrap();
        let paid = DevPayer::new(node, 10_000_000)
            .pay(PayRequest {
                bolt11: minted.invoice.bolt11.clone(),
                max_fee_msat: 0,
                timeout: Duration::from_secs(5),
            })
            .await
            .unwrap();
        let (mut parts, ()) = http::Request::get("/forecast").body(()).unwrap().into_parts();
        Credential::new(minted.macaroon.clone(), paid.preimage)
            .write_authorization(&mut parts.headers);
        let authorized = paywall.authorize(route, &parts, None).await.unwrap();
        paywall.finish(authorized, true).await;
        parts
    })
}

fn measure(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    name: &str,
    n: u64,
    store: Arc<dyn Store>,
) {
    let node = DevNode::new().unwrap();
    let mut config = PaywallConfig::default();
    config.rate_limit = RateLimit { challenges: u64::MAX, window: Duration::from_secs(60) };
    let paywall = Paywall::builder(Arc::new(node.clone()), store).config(config).build();
    let unmetered = Route::new("weather", Price::msat(2_000));
    let metered = Route::new("weather", Price::msat(2_000)).max_uses(ALLOWANCE);
    let open = warm_credential(rt, &node, &paywall, &unmetered);
    let counted = warm_credential(rt, &node, &paywall, &metered);
    g.bench_with_input(BenchmarkId::new(format!("{name}-unmetered"), n), &n, |b, _| {
        b.iter(|| black_box(rt.block_on(paywall.authorize(&unmetered, &open, None)).unwrap()))
    });
    g.bench_with_input(BenchmarkId::new(format!("{name}-metered"), n), &n, |b, _| {
        b.iter(|| {
            rt.block_on(async {
                let authorized = paywall.authorize(&metered, &counted, None).await.unwrap();
                black_box(paywall.finish(authorized, true).await)
            })
        })
    });
}

fn bench(c: &mut Criterion) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let pg = match pg::PgServer::start_or_skip("live-tokens bench, PostgreSQL rows") {
        Ok(server) => server,
        Err(e) => {
            eprintln!("skipping the PostgreSQL rows: {e}");
            None
        }
    };
    let mut g = c.benchmark_group("live-tokens");
    for n in SIZES {
        let path = temp_db(n);
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        populate_sqlite(&path, n);
        measure(&mut g, &rt, "sqlite", n, store);
        remove_db(&path);
        if let Some(server) = &pg {
            let config = rt.block_on(server.fresh_db()).unwrap();
            let store = rt.block_on(PostgresStore::connect(&config)).unwrap();
            rt.block_on(populate_postgres(&config, n));
            measure(&mut g, &rt, "postgres", n, Arc::new(store));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
