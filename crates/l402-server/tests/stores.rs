//! The store conformance suite against every backend: memory, SQLite, PostgreSQL (a real
//! server started by the harness), and the upgrades of old databases.

#[path = "support/conformance.rs"]
mod conformance;
#[path = "support/pg.rs"]
mod pg;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use conformance::{run_all, Pair, Result};
use l402_server::store::{
    MemoryStore, PostgresStore, RateStore, RevocationStore, SqliteStore, Store,
};
use l402_token::TokenId;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory() -> Result {
    run_all("memory", || async {
        let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
        Ok(Pair { a: Arc::clone(&s), b: s })
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
        Ok(Pair { a: Arc::new(SqliteStore::open(&path)?), b: Arc::new(SqliteStore::open(&path)?) })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory() -> Result {
    run_all("sqlite-memory", || async {
        let s: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory()?);
        Ok(Pair { a: Arc::clone(&s), b: s })
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
            let b = Arc::new(PostgresStore::connect(&config).await?);
            Ok(Pair { a, b })
        }
    })
    .await
}

/// What the first release wrote: `l402_keys` without `payment_hash`.
const OLD_KEYS: &str = "CREATE TABLE l402_keys (key_hash {b} PRIMARY KEY, token_id {b} NOT NULL,
    root_key {b} NOT NULL, pending_until {i});
    INSERT INTO l402_keys VALUES ({h1}, {h1}, {h1}, 100), ({h2}, {h2}, {h2}, NULL);";

fn old_schema(blob: &str, int: &str, hex: fn(u8) -> String) -> String {
    OLD_KEYS
        .replace("{b}", blob)
        .replace("{i}", int)
        .replace("{h1}", &hex(1))
        .replace("{h2}", &hex(2))
}

/// A store opened on a database of the first release keeps its keys, reports the old pending
/// key as due without a payment hash, and a paywall forgets it unchecked, as that release did.
async fn upgraded(store: Arc<dyn Store>) -> Result {
    assert!(store.root_key(&[1; 32]).await?.ok_or("old pending key")?.pending);
    assert!(!store.root_key(&[2; 32]).await?.ok_or("old confirmed key")?.pending);
    let node = l402_lightning::dev::DevNode::new()?;
    let paywall = l402_server::Paywall::builder(Arc::new(node), Arc::clone(&store)).build();
    let pruned = paywall.prune().await?;
    assert_eq!((pruned.keys, pruned.confirmed), (1, 0));
    assert_eq!(store.root_key(&[1; 32]).await?, None);
    assert!(store.root_key(&[2; 32]).await?.is_some());
    // New keys carry their payment hash.
    let hash = l402_token::PaymentHash([7; 32]);
    store
        .insert_key(l402_server::store::KeyRecord {
            key_hash: [3; 32],
            token_id: TokenId([3; 32]),
            payment_hash: hash,
            root_key: l402_server::RootKey([3; 32]),
            pending_until: Some(100),
            issuer: None,
        })
        .await?;
    let due = store.claim_due_keys(100, 200, 10, None).await?;
    assert_eq!(
        due,
        vec![l402_server::store::DueKey { key_hash: [3; 32], payment_hash: Some(hash) }]
    );
    Ok(())
}

#[tokio::test]
async fn sqlite_opens_a_first_release_database() -> Result {
    let path = temp_db();
    let old = rusqlite::Connection::open(&path)?;
    old.execute_batch(&old_schema("BLOB", "INTEGER", |n| format!("x'{}'", hex::encode([n; 32]))))?;
    drop(old);
    upgraded(Arc::new(SqliteStore::open(&path)?)).await?;
    // Opening it again finds the column in place.
    SqliteStore::open(&path)?;
    Ok(())
}

/// Instances started together may open one new file at the same moment: every open must
/// succeed, however their set-up interleaves.
#[test]
fn concurrent_first_opens_of_one_sqlite_file_all_succeed() -> Result {
    const OPENERS: usize = 8;
    for _ in 0..20 {
        let path = temp_db();
        let start = Arc::new(std::sync::Barrier::new(OPENERS));
        let openers: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    SqliteStore::open(&path).map(drop).map_err(|e| e.to_string())
                })
            })
            .collect();
        for o in openers {
            o.join().map_err(|_| "opener panicked")??;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_opens_a_first_release_database() -> Result {
    let Some(server) = pg::PgServer::start_or_skip("postgres upgrade")? else {
        return Ok(());
    };
    let config = server.fresh_db().await?;
    let (client, conn) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await?;
    let task = tokio::spawn(conn);
    let sql = old_schema("BYTEA", "BIGINT", |n| format!("'\\x{}'::bytea", hex::encode([n; 32])));
    client.batch_execute(&sql).await?;
    drop(client);
    let _ = task.await;
    upgraded(Arc::new(PostgresStore::connect(&config).await?)).await
}

/// `sslmode=require` runs over TLS and checks the server against `sslrootcert`; the server
/// here refuses TCP connections without TLS, so a success proves TLS was used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_verifies_the_server() -> Result {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])?;
    let Some(server) = pg::PgServer::start_tls_or_skip(
        "postgres tls",
        &cert.cert.pem(),
        &cert.signing_key.serialize_pem(),
    )?
    else {
        return Ok(());
    };
    let dir = temp_db().with_extension("d");
    std::fs::create_dir_all(&dir)?;
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, cert.cert.pem())?;
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()])?;
    let stranger = dir.join("other ca.pem");
    std::fs::write(&stranger, other.cert.pem())?;
    let base = server.config("postgres");

    let store =
        PostgresStore::connect(&format!("{base} sslmode=require sslrootcert={}", ca.display()))
            .await?;
    assert!(store.revoked_since(0).await?.token_ids.is_empty());
    store.revoke(&TokenId([1; 32]), 5).await?;
    assert_eq!(store.revoked_since(0).await?.token_ids, [TokenId([1; 32])]);

    let refused = |config: String| async move {
        match PostgresStore::connect(&config).await {
            Ok(_) => Err(format!("connected with {config}")),
            Err(e) => Ok(format!("{} {e}", e.code())),
        }
    };
    // The plain connection is refused by the server: the store does not fall back to it.
    let plain = refused(base.clone()).await?;
    assert!(plain.starts_with("store "), "{plain}");
    // A certificate from another authority, or none of the webpki roots, is refused by us.
    let quoted = format!("{base} sslmode=require sslrootcert='{}'", stranger.display());
    let wrong = refused(quoted).await?;
    assert!(wrong.contains("certificate"), "{wrong}");
    let webpki = refused(format!("{base} sslmode=require")).await?;
    assert!(webpki.contains("certificate"), "{webpki}");
    // Configuration mistakes are named as such.
    let missing = refused(format!("{base} sslmode=require sslrootcert=/nonexistent.pem")).await?;
    assert!(missing.starts_with("config ") && missing.contains("/nonexistent.pem"), "{missing}");
    let no_mode = refused(format!("{base} sslrootcert={}", ca.display())).await?;
    assert!(no_mode.starts_with("config ") && no_mode.contains("sslmode"), "{no_mode}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn wal_len(db: &std::path::Path) -> u64 {
    std::fs::metadata(format!("{}-wal", db.display())).map(|m| m.len()).unwrap_or(0)
}

/// A refusal costs the store no write (decision 0607): once a window is full, taking from it
/// leaves the WAL exactly as it was, while a hit that counts does append.
#[tokio::test]
async fn a_full_sqlite_window_appends_nothing_to_the_wal() -> Result {
    let path = temp_db();
    let store = SqliteStore::open(&path)?;
    assert!(store.take_hit("ip:192.0.2.1", 60, 2).await?);
    let before = wal_len(&path);
    assert!(store.take_hit("ip:192.0.2.1", 60, 2).await?);
    assert!(wal_len(&path) > before, "a counted hit is written");
    let full = wal_len(&path);
    for _ in 0..500 {
        assert!(!store.take_hit("ip:192.0.2.1", 60, 2).await?);
    }
    assert_eq!(wal_len(&path), full, "500 refusals appended nothing");
    Ok(())
}

/// The WAL is checkpointed while the store is in use, and cut back to a few MiB: it does not
/// keep growing with writes (it grew by a frame per rate-limit hit, without bound, because
/// those commits never reached SQLite's auto-checkpoint), and a prune empties it.
#[tokio::test]
async fn the_sqlite_wal_is_checkpointed_and_bounded() -> Result {
    let path = temp_db();
    let store = SqliteStore::open(&path)?;
    let mut largest = 0;
    for i in 0..6_000 {
        assert!(store.take_hit(&format!("ip:10.0.{}.{}", i / 256, i % 256), 60, 1).await?);
        largest = largest.max(wal_len(&path));
    }
    // 6,000 commits of at least one 4 KiB page each would be 24 MiB without checkpoints;
    // SQLite checkpoints every 1,000 pages and the WAL is cut back to 4 MiB after that.
    assert!(largest < 12 * 1024 * 1024, "the WAL reached {largest} bytes");
    store.prune(0).await?;
    assert_eq!(wal_len(&path), 0, "a prune checkpoints and truncates the WAL");
    Ok(())
}

/// Root keys are for the store's owner only (decision 0810): the database and its `-wal`
/// and `-shm` are created `0600`, and files an earlier release left `0644` are tightened on
/// open.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_owner_only() -> Result {
    use std::os::unix::fs::PermissionsExt;
    let path = temp_db();
    let files = |p: &std::path::Path| {
        ["", "-wal", "-shm"].map(|s| std::path::PathBuf::from(format!("{}{s}", p.display())))
    };
    let mode = |p: &std::path::Path| -> Result<u32> {
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
    };
    let a = SqliteStore::open(&path)?;
    assert!(a.take_hit("ip:192.0.2.1", 60, 1).await?);
    for f in files(&path) {
        assert_eq!(mode(&f)?, 0o600, "{}", f.display());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644))?;
    }
    let _b = SqliteStore::open(&path)?;
    for f in files(&path) {
        assert_eq!(mode(&f)?, 0o600, "{} tightened", f.display());
    }
    Ok(())
}
