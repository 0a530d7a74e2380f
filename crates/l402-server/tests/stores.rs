//! The store conformance suite against every backend: memory, SQLite, PostgreSQL (a real
//! server started by the harness), plus the PostgreSQL revocation poller.

#[path = "support/conformance.rs"]
mod conformance;
#[path = "support/pg.rs"]
mod pg;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use conformance::{no_sync, run_all, Pair, Result};
use l402_server::store::{MemoryStore, PostgresStore, RootKeyStore, SqliteStore};
use l402_token::TokenId;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory() -> Result {
    run_all("memory", || async {
        let s: Arc<dyn RootKeyStore> = Arc::new(MemoryStore::new());
        Ok(Pair { a: Arc::clone(&s), b: s, sync: no_sync() })
    })
    .await
}

fn temp_db() -> std::path::PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "l402-server-test-{}-{}.sqlite",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_instances_on_one_file() -> Result {
    run_all("sqlite", || async {
        let path = temp_db();
        Ok(Pair {
            a: Arc::new(SqliteStore::open(&path)?),
            b: Arc::new(SqliteStore::open(&path)?),
            sync: no_sync(),
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory() -> Result {
    run_all("sqlite-memory", || async {
        let s: Arc<dyn RootKeyStore> = Arc::new(SqliteStore::open_in_memory()?);
        Ok(Pair { a: Arc::clone(&s), b: s, sync: no_sync() })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_instances_on_one_database() -> Result {
    let Some(server) = pg::PgServer::start_or_skip("postgres conformance")? else {
        return Ok(());
    };
    let server = Arc::new(server);
    run_all("postgres", || {
        let server = Arc::clone(&server);
        async move {
            let config = server.fresh_db().await?;
            let a = Arc::new(PostgresStore::connect(&config).await?);
            // A long poll interval: the suite syncs `b` explicitly, so the check does not
            // depend on the poller's timing.
            let b =
                Arc::new(PostgresStore::connect_with(&config, Duration::from_secs(3600)).await?);
            let b2 = Arc::clone(&b);
            let sync: conformance::SyncFn = Arc::new(move || {
                let b = Arc::clone(&b2);
                Box::pin(async move {
                    b.sync_revocations().await?;
                    Ok(())
                })
            });
            Ok(Pair { a, b, sync })
        }
    })
    .await
}

/// The poller delivers a revocation made by another instance without anyone calling
/// `sync_revocations`. The bound is generous (the default interval is 250 ms): this checks
/// that revocations propagate on their own, not how fast the machine is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_poller_propagates_revocations() -> Result {
    let Some(server) = pg::PgServer::start_or_skip("postgres poller")? else {
        return Ok(());
    };
    let config = server.fresh_db().await?;
    let a = PostgresStore::connect(&config).await?;
    let b = PostgresStore::connect(&config).await?;
    let token = TokenId([42; 32]);
    assert!(!b.is_revoked(&token).await?);
    a.revoke(&token, 1).await?;
    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if b.is_revoked(&token).await.unwrap_or(false) {
                return;
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "revocation never reached the second instance");
    Ok(())
}
