//! The SQLite store: many tokens, many processes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use l402_token::PaymentHash;
use rusqlite::{params, Connection, OptionalExtension as _, TransactionBehavior};

use crate::record::{to_unix, PaymentRow, TokenRow};
use crate::seal::{Sealer, TokenKey};
use crate::store::lock::lock_file_for_scope;
use crate::store::state::already_recorded;
use crate::store::{ScopeGuard, TokenStore};
use crate::{Budget, Error, LedgerEntry, LedgerQuery, PendingPayment, Resolution, Scope, Token};

/// How long a writer waits for another process's transaction before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    scope TEXT PRIMARY KEY,
    payment_hash TEXT NOT NULL,
    amount_msat INTEGER NOT NULL,
    fee_msat INTEGER NOT NULL,
    created INTEGER NOT NULL,
    secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    payment_hash TEXT PRIMARY KEY,
    time INTEGER NOT NULL,
    url TEXT NOT NULL,
    domain TEXT NOT NULL,
    scope TEXT NOT NULL,
    amount_msat INTEGER NOT NULL,
    max_fee_msat INTEGER NOT NULL,
    fee_msat INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    expires INTEGER NOT NULL,
    secret TEXT
);
CREATE INDEX IF NOT EXISTS payments_time ON payments (time);
CREATE INDEX IF NOT EXISTS payments_domain_time ON payments (domain, time);
";

/// Journal mode and tables, retried while another process sets up the same new file.
///
/// SQLite answers `SQLITE_BUSY` at once, without waiting out the busy timeout, when waiting
/// could deadlock: two connections that both read the schema and then both want to write it
/// (separate `l402 get` runs opening one new database). Taking the write lock first
/// (`BEGIN IMMEDIATE`) lets the busy timeout apply to the tables; the switch to WAL cannot be
/// in a transaction, so it is retried.
fn set_up(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    let started = std::time::Instant::now();
    loop {
        let r = conn.pragma_update(None, "journal_mode", "WAL").and_then(|()| {
            conn.pragma_update(None, "synchronous", "FULL")?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA)?;
            tx.commit()
        });
        match r {
            Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Keeps tokens and the ledger in a SQLite database (WAL mode).
///
/// The budget check and the pending record are one `BEGIN IMMEDIATE` transaction, so two
/// processes cannot both squeeze under a limit. Scope locks are OS file locks in
/// `<db>.locks/`.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    sealer: Sealer,
}

// Amounts are u64 but SQLite integers are i64: no real amount comes near 2^63 msat
// (that is far above 21M BTC), so saturate on the way in and refuse negatives on the way out.
fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql(v: i64) -> Result<u64, rusqlite::Error> {
    u64::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, v))
}

fn token_row(r: &rusqlite::Row<'_>) -> Result<TokenRow, rusqlite::Error> {
    Ok(TokenRow {
        scope: r.get(0)?,
        payment_hash: r.get(1)?,
        amount_msat: from_sql(r.get(2)?)?,
        fee_msat: from_sql(r.get(3)?)?,
        created: from_sql(r.get(4)?)?,
        secret: r.get(5)?,
    })
}

const TOKEN_COLS: &str = "scope, payment_hash, amount_msat, fee_msat, created, secret";
const PAYMENT_COLS: &str = "payment_hash, time, url, domain, scope, amount_msat, max_fee_msat, fee_msat, outcome, error, expires, secret";

fn payment_row(r: &rusqlite::Row<'_>) -> Result<PaymentRow, rusqlite::Error> {
    Ok(PaymentRow {
        payment_hash: r.get(0)?,
        time: from_sql(r.get(1)?)?,
        url: r.get(2)?,
        domain: r.get(3)?,
        scope: r.get(4)?,
        amount_msat: from_sql(r.get(5)?)?,
        max_fee_msat: from_sql(r.get(6)?)?,
        fee_msat: from_sql(r.get(7)?)?,
        outcome: r.get(8)?,
        error: r.get(9)?,
        expires: from_sql(r.get(10)?)?,
        secret: r.get(11)?,
    })
}

fn put_token_row(conn: &Connection, row: &TokenRow) -> Result<(), Error> {
    conn.execute(
        &format!("INSERT OR REPLACE INTO tokens ({TOKEN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            row.scope,
            row.payment_hash,
            to_sql(row.amount_msat),
            to_sql(row.fee_msat),
            to_sql(row.created),
            row.secret
        ],
    )?;
    Ok(())
}

fn put_payment_row(conn: &Connection, row: &PaymentRow) -> Result<(), Error> {
    conn.execute(
        &format!(
            "INSERT OR REPLACE INTO payments ({PAYMENT_COLS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            row.payment_hash,
            to_sql(row.time),
            row.url,
            row.domain,
            row.scope,
            to_sql(row.amount_msat),
            to_sql(row.max_fee_msat),
            to_sql(row.fee_msat),
            row.outcome,
            row.error,
            to_sql(row.expires),
            row.secret
        ],
    )?;
    Ok(())
}

fn spent(conn: &Connection, since: Option<SystemTime>, domain: Option<&str>) -> Result<u64, Error> {
    let since = to_sql(since.map_or(0, to_unix));
    let total: i64 = conn.query_row(
        "SELECT COALESCE(SUM(amount_msat + fee_msat), 0) FROM payments \
         WHERE outcome IN ('paid', 'pending', 'rejected') AND time >= ?1 AND (?2 IS NULL OR domain = ?2)",
        params![since, domain],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(total).unwrap_or(0))
}

impl SqliteStore {
    /// Opens (creating) the database at `path`, with tokens sealed by `key` if given.
    pub fn open(path: impl Into<PathBuf>, key: Option<TokenKey>) -> Result<SqliteStore, Error> {
        let path = path.into();
        super::parent_dir(&path)?;
        // Tokens are bearer credentials: the database is created 0600 before SQLite opens it,
        // and SQLite gives its -wal and -shm the database's mode (decision 0810).
        l402_lightning::owner_only::file(&path, true)?;
        for sidecar in ["-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(sidecar);
            l402_lightning::owner_only::file(Path::new(&p), false)?;
        }
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        set_up(&mut conn)?;
        Ok(SqliteStore { conn: Mutex::new(conn), path, sealer: Sealer::new(key) })
    }

    /// The database's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // SQLite rolls back an unfinished transaction itself; the connection stays usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn token_row(&self, scope: &str) -> Result<Option<TokenRow>, Error> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {TOKEN_COLS} FROM tokens WHERE scope = ?1"),
                params![scope],
                token_row,
            )
            .optional()?)
    }

    fn payment_rows(
        &self,
        sql_where: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<PaymentRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {PAYMENT_COLS} FROM payments WHERE {sql_where} ORDER BY time, rowid"
        ))?;
        let rows = stmt.query_map(args, payment_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

impl TokenStore for SqliteStore {
    fn token(&self, scope: &Scope) -> Result<Option<Token>, Error> {
        self.token_row(scope.as_str())?.map(|r| r.open(&self.sealer)).transpose()
    }

    fn tokens(&self) -> Result<Vec<Token>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY scope"))?;
        let rows = stmt.query_map([], token_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.iter().map(|r| r.open(&self.sealer)).collect()
    }

    fn put_token(&self, token: &Token) -> Result<(), Error> {
        let row = TokenRow::seal(token, &self.sealer)?;
        put_token_row(&self.conn(), &row)
    }

    fn remove_token(&self, scope: &Scope, only: Option<&PaymentHash>) -> Result<bool, Error> {
        let conn = self.conn();
        let n = match only {
            None => conn.execute("DELETE FROM tokens WHERE scope = ?1", params![scope.as_str()])?,
            Some(h) => conn.execute(
                "DELETE FROM tokens WHERE scope = ?1 AND payment_hash = ?2",
                params![scope.as_str(), h.to_string()],
            )?,
        };
        Ok(n > 0)
    }

    fn begin_payment(
        &self,
        pending: &PendingPayment,
        budget: &Budget,
        now: SystemTime,
    ) -> Result<(), Error> {
        let row = PaymentRow::pending(pending, &self.sealer)?;
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock first, so the sums read below cannot change before
        // the insert commits, in any process.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = tx
            .query_row(
                &format!("SELECT {PAYMENT_COLS} FROM payments WHERE payment_hash = ?1"),
                params![row.payment_hash],
                payment_row,
            )
            .optional()?;
        if let Some(existing) = existing {
            return Err(already_recorded(&existing, pending.payment_hash));
        }
        let needed = pending.amount_msat.saturating_add(pending.max_fee_msat);
        budget.check(needed, pending.scope.domain(), now, &mut |since, domain| {
            spent(&tx, since, domain)
        })?;
        put_payment_row(&tx, &row)?;
        tx.commit()?;
        Ok(())
    }

    fn resolve_payment(
        &self,
        payment_hash: &PaymentHash,
        resolution: &Resolution,
        now: SystemTime,
    ) -> Result<(), Error> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = tx
            .query_row(
                &format!(
                    "SELECT {PAYMENT_COLS} FROM payments WHERE payment_hash = ?1 AND outcome = 'pending'"
                ),
                params![payment_hash.to_string()],
                payment_row,
            )
            .optional()?;
        let Some(mut row) = row else { return Ok(()) };
        if let Some(token) = row.resolve(resolution, &self.sealer, now)? {
            put_token_row(&tx, &token)?;
        }
        put_payment_row(&tx, &row)?;
        tx.commit()?;
        Ok(())
    }

    fn reject_payment(&self, payment_hash: &PaymentHash) -> Result<bool, Error> {
        let n = self.conn().execute(
            "UPDATE payments SET outcome = 'rejected' WHERE payment_hash = ?1 AND outcome = 'paid'",
            params![payment_hash.to_string()],
        )?;
        Ok(n > 0)
    }

    fn pending(&self) -> Result<Vec<PendingPayment>, Error> {
        self.payment_rows("outcome = 'pending'", &[])?
            .iter()
            .map(|r| r.open_pending(&self.sealer))
            .collect()
    }

    fn ledger(&self, query: &LedgerQuery) -> Result<Vec<LedgerEntry>, Error> {
        let since = to_sql(query.since.map_or(0, to_unix));
        self.payment_rows("time >= ?1 AND (?2 IS NULL OR domain = ?2)", &[&since, &query.domain])?
            .iter()
            .map(PaymentRow::entry)
            .collect()
    }

    fn spent(&self, since: Option<SystemTime>, domain: Option<&str>) -> Result<u64, Error> {
        spent(&self.conn(), since, domain)
    }

    fn lock_scope(&self, scope: &Scope) -> Result<ScopeGuard, Error> {
        let mut dir = self.path.clone().into_os_string();
        dir.push(".locks");
        lock_file_for_scope(Path::new(&dir), scope)
    }
}
