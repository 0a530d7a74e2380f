//! The embedded default: SQLite in WAL mode, compiled into the binary.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use l402_token::TokenId;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use crate::keys::RootKey;
use crate::store::{
    array32, due_key, reservation_id, DueKey, KeyRecord, KeyStore, Pruned, RateStore, Reservation,
    RevocationStore, Revoked, Store, StoredKey, UsageStore,
};
use crate::Error;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS l402_keys (
    key_hash BLOB PRIMARY KEY,
    token_id BLOB NOT NULL,
    root_key BLOB NOT NULL,
    pending_until INTEGER,
    payment_hash BLOB,
    issuer TEXT
);
CREATE INDEX IF NOT EXISTS l402_keys_token ON l402_keys (token_id);
CREATE INDEX IF NOT EXISTS l402_keys_pending ON l402_keys (pending_until)
    WHERE pending_until IS NOT NULL;
CREATE TABLE IF NOT EXISTS l402_revocations (
    token_id BLOB PRIMARY KEY,
    revoked_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS l402_usage (
    token_id BLOB PRIMARY KEY,
    used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS l402_reservations (
    id INTEGER PRIMARY KEY,
    token_id BLOB NOT NULL,
    lease_until INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS l402_reservations_token ON l402_reservations (token_id);
CREATE TABLE IF NOT EXISTS l402_rate (
    bucket TEXT NOT NULL,
    window_end INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_end)
);
";

/// How a [`SqliteStore`] is opened ([`SqliteStore::open_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// How long one call waits in all, queued behind the store's other statements and then
    /// for another connection's write lock, before it fails `store` (default 10 s). A call
    /// whose wait is over when its turn comes fails without running (decision 0613).
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { busy_timeout: BUSY_TIMEOUT }
    }
}

impl SqliteOptions {
    /// Sets [`SqliteOptions::busy_timeout`].
    pub fn busy_timeout(mut self, wait: Duration) -> Self {
        self.busy_timeout = wait;
        self
    }
}

/// A store in one SQLite file (WAL journal). Several stores, in one process or several, may
/// open the same file: writes that must be exact run in `BEGIN IMMEDIATE` transactions.
///
/// The connection lives on a thread of its own, which runs the store's statements one after
/// the other: a call hands its statement over a channel and awaits the answer, so no call
/// blocks an async task or takes a thread from tokio's blocking pool (decision 0610).
///
/// A store that cannot write (another connection holds the write lock past the busy
/// timeout, the disk is full) fails the calls that write with `store`, and works again by
/// itself once it can: nothing is left half-done on the connection (decision 0613).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    feed: Arc<Feed>,
}

/// A statement for the connection's thread, with the time it was queued.
type Job = (Instant, Statement);

/// Runs a call's statements and answers it; given no connection (its wait ran out in the
/// queue), it only answers.
type Statement = Box<dyn FnOnce(Option<&mut Connection>) + Send>;

/// What the revocation feed needs to answer "nothing changed" without reading a table.
#[derive(Debug, Default)]
struct Feed {
    /// `PRAGMA data_version` at the last read of the feed: it changes when another connection
    /// (another instance) commits.
    version: AtomicI64,
    /// This connection revoked something since the last read (its own commits do not change
    /// its `data_version`).
    ours: AtomicBool,
}

fn db(e: rusqlite::Error) -> Error {
    Error::Store(format!("sqlite: {e}"))
}

/// How long a statement waits for another instance's write before failing `store`, unless
/// [`SqliteOptions::busy_timeout`] says otherwise.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How far a WAL is cut back after a checkpoint (decision 0607).
const WAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// How long the prune's checkpoint waits for other instances.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(200);

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and its tables, with the default
    /// [`SqliteOptions`].
    ///
    /// Root keys are secrets: the file is created `0600` before SQLite opens it (SQLite gives
    /// its `-wal` and `-shm` the database's mode), and an existing database, `-wal` or `-shm`
    /// that group or others can read is tightened to `0600`, or refused when it cannot be
    /// (decision 0810). The directory is the caller's to protect.
    pub fn open(path: &Path) -> Result<SqliteStore, Error> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with `options`.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteStore, Error> {
        owner_only(path)?;
        let conn = Connection::open(path).map_err(db)?;
        SqliteStore::init(conn, options)
    }

    /// A private in-memory database, for tests and throwaway servers.
    pub fn open_in_memory() -> Result<SqliteStore, Error> {
        SqliteStore::init(Connection::open_in_memory().map_err(db)?, SqliteOptions::default())
    }

    fn init(mut conn: Connection, options: SqliteOptions) -> Result<SqliteStore, Error> {
        let wait = options.busy_timeout;
        // Waiting for another writer is normal with several instances on one file.
        conn.busy_timeout(wait).map_err(db)?;
        set_up(&mut conn, wait).map_err(db)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        // The thread ends when the last clone of the store is dropped (the channel closes).
        std::thread::Builder::new()
            .name("l402-sqlite".into())
            .spawn(move || {
                while let Ok((queued, job)) = queue.recv() {
                    run(&mut conn, wait.saturating_sub(queued.elapsed()), job);
                }
            })
            .map_err(|e| Error::Store(format!("sqlite: no thread for the connection: {e}")))?;
        Ok(SqliteStore { jobs, feed: Arc::default() })
    }

    async fn with<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(move |c: Option<&mut Connection>| {
            // Its caller is gone (the request was dropped): nobody wants the answer.
            if tx.is_closed() {
                return;
            }
            drop(tx.send(c.map_or_else(|| Err(waited_out()), |c| f(c).map_err(db))));
        });
        self.jobs.send((Instant::now(), job)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// Runs one job with what is left of its wait, and leaves the connection as it found it.
///
/// - A job whose wait ran out in the queue (the thread was waiting on a lock for the jobs
///   before it) fails without running: otherwise a locked database would hold each of `n`
///   queued calls for `n` busy timeouts, not one.
/// - SQLite may roll a transaction back by itself on `SQLITE_FULL`, `SQLITE_IOERR` or
///   `SQLITE_BUSY`, or leave it open; a transaction still open after a job (its rollback
///   failed) is rolled back here, so the next job does not fail with "cannot start a
///   transaction within a transaction" for ever.
/// - A panic in a job is caught, so one bad call does not stop the thread and every call
///   after it.
fn run(conn: &mut Connection, left: Duration, job: Statement) {
    if left.is_zero() {
        job(None);
        return;
    }
    if let Err(e) = conn.busy_timeout(left) {
        tracing::warn!(code = "store", "sqlite: setting the busy timeout failed: {e}");
    }
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Some(&mut *conn))));
    if ran.is_err() {
        tracing::error!(code = "store", "sqlite: a statement panicked; the store goes on");
    }
    if !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::warn!(code = "store", "sqlite: rolling back a failed transaction failed: {e}");
        }
    }
}

/// A call's whole wait ran out before the connection got to it.
fn waited_out() -> Error {
    Error::Store("sqlite: database is locked (the busy timeout ran out in the queue)".into())
}

/// The connection's thread is gone: only a panic inside SQLite's wrapper ends it early.
fn gone() -> Error {
    Error::Store("sqlite: the connection's thread stopped".into())
}

fn owner_only(path: &Path) -> Result<(), Error> {
    let private = |p: &Path, create| {
        l402_lightning::owner_only::file(p, create)
            .map_err(|e| Error::Store(format!("sqlite: {e}")))
    };
    private(path, true)?;
    for sidecar in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(sidecar);
        private(Path::new(&p), false)?;
    }
    Ok(())
}

/// Journal mode, tables and upgrades, retried while another instance sets up the same file.
///
/// SQLite answers `SQLITE_BUSY` at once, without waiting out the busy timeout, when waiting
/// could deadlock: two connections that both read the schema and then both want to write it
/// (instances starting together on one new file). The tables and upgrades take the write lock
/// first (`BEGIN IMMEDIATE`), so the busy timeout applies to them; the switch to WAL cannot be
/// in a transaction, so it is retried.
fn set_up(conn: &mut Connection, wait: Duration) -> Result<(), rusqlite::Error> {
    let started = Instant::now();
    loop {
        // WAL lets readers (every request) run beside the writer; in-memory databases keep
        // their own journal mode, which is fine.
        let r = conn.pragma_update(None, "journal_mode", "WAL").and_then(|()| {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // After a checkpoint, the WAL is cut back to this size when it is next reused
            // (by default it keeps its largest size for good).
            conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
            migrate(conn)
        });
        match r {
            Err(e) if is_busy(&e) && started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Copies the WAL into the database and empties it, so the WAL's size on disk stays bounded
/// even if something held auto-checkpoints off (another instance's long read). It waits for
/// other instances' writers and readers only briefly: a busy checkpoint is simply retried at
/// the next prune, and SQLite's auto-checkpoint goes on meanwhile. (The next job sets its
/// own busy timeout again.)
fn checkpoint(c: &mut Connection) -> Result<(), rusqlite::Error> {
    c.busy_timeout(CHECKPOINT_WAIT)?;
    let done = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    match done {
        Err(e) if is_busy(&e) => Ok(()),
        other => other,
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Creates the tables and brings a database written by an earlier version up to date. Several
/// processes may open one file at once, so the check and the change share an IMMEDIATE
/// transaction.
fn migrate(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let has_hash = tx
        .prepare("SELECT 1 FROM pragma_table_info('l402_keys') WHERE name = 'payment_hash'")?
        .exists([])?;
    if !has_hash {
        // Old rows get NULL: they are forgotten at their deadline unchecked, as they were.
        tx.execute_batch("ALTER TABLE l402_keys ADD COLUMN payment_hash BLOB")?;
    }
    let has_issuer = tx
        .prepare("SELECT 1 FROM pragma_table_info('l402_keys') WHERE name = 'issuer'")?
        .exists([])?;
    if !has_issuer {
        // Old rows get NULL: any instance judges them, as before (decision 0612).
        tx.execute_batch("ALTER TABLE l402_keys ADD COLUMN issuer TEXT")?;
    }
    tx.commit()
}

#[async_trait::async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        self.with(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO l402_keys
                 (key_hash, token_id, root_key, pending_until, payment_hash, issuer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &record.key_hash[..],
                &record.token_id.0[..],
                &record.root_key.0[..],
                record.pending_until,
                &record.payment_hash.0[..],
                record.issuer,
            ])
            .map(drop)
        })
        .await
    }

    async fn root_key(&self, key_hash: &[u8; 32]) -> Result<Option<StoredKey>, Error> {
        let key_hash = *key_hash;
        let row = self
            .with(move |c| {
                c.prepare_cached(
                    "SELECT root_key, pending_until FROM l402_keys WHERE key_hash = ?1",
                )?
                .query_row(params![&key_hash[..]], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<i64>>(1)?))
                })
                .optional()
            })
            .await?;
        row.map(|(key, pending)| {
            Ok(StoredKey {
                root_key: RootKey(array32(key, "root key")?),
                pending: pending.is_some(),
            })
        })
        .transpose()
    }

    async fn confirm_key(&self, key_hash: &[u8; 32]) -> Result<(), Error> {
        let key_hash = *key_hash;
        self.with(move |c| {
            c.prepare_cached("UPDATE l402_keys SET pending_until = NULL WHERE key_hash = ?1")?
                .execute(params![&key_hash[..]])
                .map(drop)
        })
        .await
    }

    async fn claim_due_keys(
        &self,
        now: i64,
        recheck_at: i64,
        limit: usize,
        issuer: Option<&str>,
    ) -> Result<Vec<DueKey>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let issuer = issuer.map(str::to_owned);
        let rows = self
            .with(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let rows = tx
                    .prepare_cached(
                        "UPDATE l402_keys SET pending_until = ?2 WHERE key_hash IN (
                             SELECT key_hash FROM l402_keys
                             WHERE pending_until IS NOT NULL AND pending_until <= ?1
                               AND (issuer IS NULL OR issuer = ?4)
                             ORDER BY pending_until LIMIT ?3)
                         RETURNING key_hash, payment_hash",
                    )?
                    .query_map(params![now, recheck_at, limit, issuer], |r| {
                        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                tx.commit()?;
                Ok(rows)
            })
            .await?;
        rows.into_iter().map(|(key_hash, hash)| due_key(key_hash, hash)).collect()
    }

    async fn forget_pending(&self, key_hash: &[u8; 32]) -> Result<bool, Error> {
        let key_hash = *key_hash;
        self.with(move |c| {
            c.prepare_cached(
                "DELETE FROM l402_keys WHERE key_hash = ?1 AND pending_until IS NOT NULL",
            )?
            .execute(params![&key_hash[..]])
            .map(|n| n > 0)
        })
        .await
    }
}

#[async_trait::async_trait]
impl RevocationStore for SqliteStore {
    async fn revoke(&self, token_id: &TokenId, now: i64) -> Result<(), Error> {
        let token_id = *token_id;
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM l402_keys WHERE token_id = ?1", params![&token_id.0[..]])?;
            tx.execute(
                "INSERT OR IGNORE INTO l402_revocations (token_id, revoked_at) VALUES (?1, ?2)",
                params![&token_id.0[..], now],
            )?;
            tx.commit()
        })
        .await?;
        self.feed.ours.store(true, Ordering::Release);
        Ok(())
    }

    /// The cursor is the table's rowid: revocations are never deleted and SQLite has one
    /// writer at a time, so rowids grow in commit order. `PRAGMA data_version` (no page
    /// read) tells whether another connection committed anything since the last call.
    async fn revoked_since(&self, cursor: i64) -> Result<Revoked, Error> {
        let feed = Arc::clone(&self.feed);
        self.with(move |c| {
            let version: i64 = c.query_row("PRAGMA data_version", [], |r| r.get(0))?;
            let ours = feed.ours.swap(false, Ordering::AcqRel);
            if cursor > 0 && !ours && feed.version.swap(version, Ordering::AcqRel) == version {
                return Ok(Revoked { token_ids: Vec::new(), cursor });
            }
            feed.version.store(version, Ordering::Release);
            let mut next = cursor;
            let mut token_ids = Vec::new();
            let mut rows = c.prepare_cached(
                "SELECT rowid, token_id FROM l402_revocations WHERE rowid > ?1 ORDER BY rowid",
            )?;
            let mut rows = rows.query(params![cursor])?;
            while let Some(row) = rows.next()? {
                next = next.max(row.get::<_, i64>(0)?);
                if let Ok(id) = <[u8; 32]>::try_from(row.get::<_, Vec<u8>>(1)?) {
                    token_ids.push(TokenId(id));
                }
            }
            Ok(Revoked { token_ids, cursor: next })
        })
        .await
    }
}

#[async_trait::async_trait]
impl UsageStore for SqliteStore {
    async fn reserve_use(
        &self,
        token_id: &TokenId,
        allowance: u64,
        lease_until: i64,
    ) -> Result<Option<Reservation>, Error> {
        let (token_id, id) = (*token_id, reservation_id()?);
        let reserved = self
            .with(move |c| {
                // IMMEDIATE takes the write lock before reading, so two instances cannot both
                // see the last free use.
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let used: i64 = tx
                    .query_row(
                        "SELECT used FROM l402_usage WHERE token_id = ?1",
                        params![&token_id.0[..]],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(0);
                let held: i64 = tx.query_row(
                    "SELECT count(*) FROM l402_reservations WHERE token_id = ?1",
                    params![&token_id.0[..]],
                    |r| r.get(0),
                )?;
                if count(used).saturating_add(count(held)) >= allowance {
                    return Ok(None);
                }
                tx.execute(
                    "INSERT INTO l402_reservations (id, token_id, lease_until) VALUES (?1, ?2, ?3)",
                    params![id, &token_id.0[..], lease_until],
                )?;
                tx.commit()?;
                Ok(Some(count(used).saturating_add(count(held))))
            })
            .await?;
        Ok(reserved.map(|used| Reservation { id, token_id, allowance, used }))
    }

    async fn commit_use(&self, reservation: &Reservation) -> Result<u64, Error> {
        let (id, token_id) = (reservation.id, reservation.token_id);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let gone = tx.execute("DELETE FROM l402_reservations WHERE id = ?1", params![id])?;
            if gone > 0 {
                tx.execute(
                    "INSERT INTO l402_usage (token_id, used) VALUES (?1, 1)
                     ON CONFLICT (token_id) DO UPDATE SET used = used + 1",
                    params![&token_id.0[..]],
                )?;
            }
            let used: i64 = tx
                .query_row(
                    "SELECT used FROM l402_usage WHERE token_id = ?1",
                    params![&token_id.0[..]],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            tx.commit()?;
            Ok(count(used))
        })
        .await
    }

    async fn renew_use(&self, reservation: &Reservation, lease_until: i64) -> Result<bool, Error> {
        let id = reservation.id;
        self.with(move |c| {
            c.prepare_cached("UPDATE l402_reservations SET lease_until = ?2 WHERE id = ?1")?
                .execute(params![id, lease_until])
                .map(|n| n > 0)
        })
        .await
    }

    async fn release_use(&self, reservation: &Reservation) -> Result<(), Error> {
        let id = reservation.id;
        self.with(move |c| {
            c.prepare_cached("DELETE FROM l402_reservations WHERE id = ?1")?
                .execute(params![id])
                .map(drop)
        })
        .await
    }

    async fn uses(&self, token_id: &TokenId) -> Result<u64, Error> {
        let token_id = *token_id;
        self.with(move |c| {
            c.prepare_cached("SELECT used FROM l402_usage WHERE token_id = ?1")?
                .query_row(params![&token_id.0[..]], |r| r.get::<_, i64>(0))
                .optional()
                .map(|u| count(u.unwrap_or(0)))
        })
        .await
    }
}

#[async_trait::async_trait]
impl RateStore for SqliteStore {
    async fn take_hit(&self, bucket: &str, window_end: i64, limit: u64) -> Result<bool, Error> {
        let bucket = bucket.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            // A full window fails the update's condition: no page changes, so the commit
            // appends nothing to the WAL. `execute` steps the statement to its end, which is
            // where SQLite runs its WAL hook (the auto-checkpoint); the counter it replaces read
            // one `RETURNING` row and reset the statement, so its commits never checkpointed.
            c.prepare_cached(
                "INSERT INTO l402_rate (bucket, window_end, hits) SELECT ?1, ?2, 1 WHERE ?3 > 0
                 ON CONFLICT (bucket, window_end) DO UPDATE SET hits = hits + 1 WHERE hits < ?3",
            )?
            .execute(params![bucket, window_end, limit])
            .map(|n| n > 0)
        })
        .await
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn prune(&self, now: i64) -> Result<Pruned, Error> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // A lapsed reservation counts as a use (decision 0609).
            tx.execute(
                "INSERT INTO l402_usage (token_id, used)
                 SELECT token_id, count(*) FROM l402_reservations WHERE lease_until <= ?1
                 GROUP BY token_id
                 ON CONFLICT (token_id) DO UPDATE SET used = used + excluded.used",
                params![now],
            )?;
            let reservations =
                tx.execute("DELETE FROM l402_reservations WHERE lease_until <= ?1", params![now])?;
            let windows =
                tx.execute("DELETE FROM l402_rate WHERE window_end <= ?1", params![now])?;
            tx.commit()?;
            checkpoint(c)?;
            Ok(Pruned {
                reservations: reservations as u64,
                windows: windows as u64,
                ..Pruned::default()
            })
        })
        .await
    }

    /// A write, not a read: in WAL mode reads go on while another connection holds the write
    /// lock or the disk is full, and readiness must say "no" when nothing can be bought
    /// (decision 0613). It bumps one row that no client bucket can name and no prune drops;
    /// probes reach the store once a second at most.
    async fn ping(&self) -> Result<(), Error> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO l402_rate (bucket, window_end, hits) VALUES ('l402-ping', 9223372036854775807, 1)
                 ON CONFLICT (bucket, window_end) DO UPDATE SET hits = hits + 1",
            )?
            .execute([])
            .map(drop)
        })
        .await
    }
}
