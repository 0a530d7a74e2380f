//! PostgreSQL: one database shared by several server instances.

use core::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use l402_token::TokenId;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::keys::RootKey;
use crate::store::pg_tls::{take_root_cert, Tls};
use crate::store::{
    array32, due_key, reservation_id, DueKey, KeyRecord, KeyStore, Pruned, RateStore, Reservation,
    RevocationStore, Revoked, Store, StoredKey, UsageStore,
};
use crate::Error;

/// Schema creation runs under this advisory lock, so instances starting together do not race
/// on `CREATE TABLE IF NOT EXISTS`.
const SCHEMA: &str = "
BEGIN;
SELECT pg_advisory_xact_lock(4020402);
CREATE TABLE IF NOT EXISTS l402_keys (
    key_hash BYTEA PRIMARY KEY,
    token_id BYTEA NOT NULL,
    root_key BYTEA NOT NULL,
    pending_until BIGINT,
    payment_hash BYTEA,
    issuer TEXT
);
-- A first-release table gains the column. Checked first: ALTER TABLE locks the table against
-- every other instance's reads, even when it has nothing to do.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'l402_keys' AND column_name = 'payment_hash') THEN
        ALTER TABLE l402_keys ADD COLUMN payment_hash BYTEA;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'l402_keys' AND column_name = 'issuer') THEN
        ALTER TABLE l402_keys ADD COLUMN issuer TEXT;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS l402_keys_token ON l402_keys (token_id);
CREATE INDEX IF NOT EXISTS l402_keys_pending ON l402_keys (pending_until)
    WHERE pending_until IS NOT NULL;
CREATE TABLE IF NOT EXISTS l402_revocations (
    seq BIGSERIAL PRIMARY KEY,
    token_id BYTEA NOT NULL UNIQUE,
    revoked_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS l402_usage (
    token_id BYTEA PRIMARY KEY,
    used BIGINT NOT NULL DEFAULT 0,
    reserved BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS l402_reservations (
    id BIGINT PRIMARY KEY,
    token_id BYTEA NOT NULL,
    lease_until BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS l402_rate (
    bucket TEXT NOT NULL,
    window_end BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_end)
);
COMMIT;
";

/// Sequence numbers of concurrent inserts can commit out of order; re-reading this many
/// sequence numbers behind the highest seen catches the late ones.
const SEQ_MARGIN: i64 = 1024;

/// Connections the pool keeps at most.
const POOL_SIZE: usize = 16;

/// How long a call waits for a connection (a new one, or a busy one to come free) before it
/// fails with code `store` (503): a database that is down fails requests quickly instead of
/// holding them.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// A store in a PostgreSQL database that several instances share.
///
/// Every exact operation is one SQL statement (row locks re-check the allowance condition,
/// so N uses mean N across instances), prepared once per connection, so each is one round
/// trip. Connections come from a pool that replaces a broken one at its next use: after the
/// database restarts, the next calls reconnect by themselves (decision 0610).
pub struct PostgresStore {
    pool: Pool,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

fn db(e: tokio_postgres::Error) -> Error {
    // tokio-postgres displays only the kind ("db error"); the reason is in the sources.
    let mut text = format!("postgres: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    Error::Store(text)
}

fn pool_error(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db(e),
        other => Error::Store(format!("postgres: {other}")),
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// Connects with a libpq-style configuration (`host=… port=… user=… dbname=…`, or a
    /// `postgres://` URL) and creates the tables if needed. Needs a tokio runtime.
    ///
    /// `sslmode=require` connects over TLS and verifies the server's certificate and name
    /// against the PEM file `sslrootcert=…`, or the webpki roots without it (stricter than
    /// libpq's `require`, which checks nothing). Without `sslmode=require` the connection is
    /// plain, as for libpq's `disable`: keep it to loopback or a private network (decision
    /// 0606).
    pub async fn connect(config: &str) -> Result<PostgresStore, Error> {
        let (rest, root_cert) = take_root_cert(config)?;
        let config: tokio_postgres::Config =
            rest.parse().map_err(|e| Error::Config(format!("postgres configuration: {e}")))?;
        let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = if config.get_ssl_mode() == SslMode::Require {
            Manager::from_config(config, Tls::new(root_cert.as_deref())?, recycling)
        } else {
            if root_cert.is_some() {
                return Err(Error::Config("sslrootcert needs sslmode=require".into()));
            }
            Manager::from_config(config, NoTls, recycling)
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| Error::Config(format!("postgres pool: {e}")))?;
        let store = PostgresStore { pool };
        store.client().await?.batch_execute(SCHEMA).await.map_err(db)?;
        Ok(store)
    }

    async fn client(&self) -> Result<Object, Error> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Runs `sql`, prepared once per connection, and returns its rows.
    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        let c = self.client().await?;
        let statement = c.prepare_cached(sql).await.map_err(db)?;
        c.query(&statement, params).await.map_err(db)
    }

    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let c = self.client().await?;
        let statement = c.prepare_cached(sql).await.map_err(db)?;
        c.query_opt(&statement, params).await.map_err(db)
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        let c = self.client().await?;
        let statement = c.prepare_cached(sql).await.map_err(db)?;
        c.execute(&statement, params).await.map_err(db)
    }
}

#[async_trait::async_trait]
impl KeyStore for PostgresStore {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        self.execute(
            "INSERT INTO l402_keys
                 (key_hash, token_id, root_key, pending_until, payment_hash, issuer)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key_hash) DO UPDATE SET token_id = EXCLUDED.token_id,
                 root_key = EXCLUDED.root_key, pending_until = EXCLUDED.pending_until,
                 payment_hash = EXCLUDED.payment_hash, issuer = EXCLUDED.issuer",
            &[
                &&record.key_hash[..],
                &&record.token_id.0[..],
                &&record.root_key.0[..],
                &record.pending_until,
                &&record.payment_hash.0[..],
                &record.issuer,
            ],
        )
        .await
        .map(drop)
    }

    async fn root_key(&self, key_hash: &[u8; 32]) -> Result<Option<StoredKey>, Error> {
        let row = self
            .query_opt(
                "SELECT root_key, pending_until FROM l402_keys WHERE key_hash = $1",
                &[&&key_hash[..]],
            )
            .await?;
        row.map(|r| {
            let key: Vec<u8> = r.try_get(0).map_err(db)?;
            let pending: Option<i64> = r.try_get(1).map_err(db)?;
            Ok(StoredKey {
                root_key: RootKey(array32(key, "root key")?),
                pending: pending.is_some(),
            })
        })
        .transpose()
    }

    async fn confirm_key(&self, key_hash: &[u8; 32]) -> Result<(), Error> {
        self.execute(
            "UPDATE l402_keys SET pending_until = NULL WHERE key_hash = $1",
            &[&&key_hash[..]],
        )
        .await
        .map(drop)
    }

    async fn claim_due_keys(
        &self,
        now: i64,
        recheck_at: i64,
        limit: usize,
        issuer: Option<&str>,
    ) -> Result<Vec<DueKey>, Error> {
        // SKIP LOCKED: instances pruning at the same moment claim disjoint keys.
        let rows = self
            .query(
                "UPDATE l402_keys SET pending_until = $2 WHERE key_hash IN (
                     SELECT key_hash FROM l402_keys
                     WHERE pending_until IS NOT NULL AND pending_until <= $1
                       AND (issuer IS NULL OR issuer = $4)
                     ORDER BY pending_until LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING key_hash, payment_hash",
                &[&now, &recheck_at, &i64::try_from(limit).unwrap_or(i64::MAX), &issuer],
            )
            .await?;
        rows.iter().map(|r| due_key(r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?)).collect()
    }

    async fn forget_pending(&self, key_hash: &[u8; 32]) -> Result<bool, Error> {
        self.execute(
            "DELETE FROM l402_keys WHERE key_hash = $1 AND pending_until IS NOT NULL",
            &[&&key_hash[..]],
        )
        .await
        .map(|n| n > 0)
    }
}

#[async_trait::async_trait]
impl RevocationStore for PostgresStore {
    async fn revoke(&self, token_id: &TokenId, now: i64) -> Result<(), Error> {
        self.execute(
            "WITH gone AS (DELETE FROM l402_keys WHERE token_id = $1)
             INSERT INTO l402_revocations (token_id, revoked_at) VALUES ($1, $2)
             ON CONFLICT (token_id) DO NOTHING",
            &[&&token_id.0[..], &now],
        )
        .await
        .map(drop)
    }

    /// The cursor is the highest `seq` seen. Sequence numbers of concurrent revocations can
    /// commit out of order, so each read goes 1024 numbers back (decision 0605):
    /// one indexed range read of at most that many rows.
    async fn revoked_since(&self, cursor: i64) -> Result<Revoked, Error> {
        let from = if cursor > 0 { cursor.saturating_sub(SEQ_MARGIN) } else { 0 };
        let rows = self
            .query("SELECT seq, token_id FROM l402_revocations WHERE seq > $1", &[&from])
            .await?;
        let mut next = cursor;
        let mut token_ids = Vec::with_capacity(rows.len());
        for row in &rows {
            next = next.max(row.try_get::<_, i64>(0).map_err(db)?);
            if let Ok(id) = <[u8; 32]>::try_from(row.try_get::<_, Vec<u8>>(1).map_err(db)?) {
                token_ids.push(TokenId(id));
            }
        }
        Ok(Revoked { token_ids, cursor: next })
    }
}

#[async_trait::async_trait]
impl UsageStore for PostgresStore {
    async fn reserve_use(
        &self,
        token_id: &TokenId,
        allowance: u64,
        lease_until: i64,
    ) -> Result<Option<Reservation>, Error> {
        let id = reservation_id()?;
        // One statement, one round trip. The upsert's row lock makes a concurrent reserver
        // wait and then re-check the condition against the committed counts: exact across
        // instances. A token's first reservation inserts its row (when the allowance has
        // room at all).
        let row = self
            .query_opt(
                "WITH took AS (
                     INSERT INTO l402_usage AS u (token_id, used, reserved)
                     SELECT $1, 0, 1 WHERE $2::BIGINT > 0
                     ON CONFLICT (token_id) DO UPDATE SET reserved = u.reserved + 1
                     WHERE u.used + u.reserved < $2
                     RETURNING u.used + u.reserved - 1 AS used),
                 r AS (
                     INSERT INTO l402_reservations (id, token_id, lease_until)
                     SELECT $3, $1, $4 FROM took)
                 SELECT used FROM took",
                &[&&token_id.0[..], &sql_int(allowance), &id, &lease_until],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let used = count(row.try_get(0).map_err(db)?);
        Ok(Some(Reservation { id, token_id: *token_id, allowance, used }))
    }

    async fn commit_use(&self, reservation: &Reservation) -> Result<u64, Error> {
        let row = self
            .query_opt(
                "WITH r AS (DELETE FROM l402_reservations WHERE id = $1 RETURNING token_id)
                 UPDATE l402_usage u SET used = u.used + 1, reserved = u.reserved - 1
                 FROM r WHERE u.token_id = r.token_id RETURNING u.used",
                &[&reservation.id],
            )
            .await?;
        match row {
            Some(r) => Ok(count(r.try_get(0).map_err(db)?)),
            None => self.uses(&reservation.token_id).await,
        }
    }

    async fn renew_use(&self, reservation: &Reservation, lease_until: i64) -> Result<bool, Error> {
        self.execute(
            "UPDATE l402_reservations SET lease_until = $2 WHERE id = $1",
            &[&reservation.id, &lease_until],
        )
        .await
        .map(|n| n > 0)
    }

    async fn release_use(&self, reservation: &Reservation) -> Result<(), Error> {
        self.execute(
            "WITH r AS (DELETE FROM l402_reservations WHERE id = $1 RETURNING token_id)
             UPDATE l402_usage u SET reserved = u.reserved - 1
             FROM r WHERE u.token_id = r.token_id",
            &[&reservation.id],
        )
        .await
        .map(drop)
    }

    async fn uses(&self, token_id: &TokenId) -> Result<u64, Error> {
        let row = self
            .query_opt("SELECT used FROM l402_usage WHERE token_id = $1", &[&&token_id.0[..]])
            .await?;
        match row {
            Some(r) => Ok(count(r.try_get(0).map_err(db)?)),
            None => Ok(0),
        }
    }
}

#[async_trait::async_trait]
impl RateStore for PostgresStore {
    async fn take_hit(&self, bucket: &str, window_end: i64, limit: u64) -> Result<bool, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // A full window matches neither the update's condition nor the insert's: the row is
        // not rewritten and not locked (an `ON CONFLICT DO UPDATE … WHERE` would lock it,
        // which writes the row and a WAL record), so a refusal writes nothing.
        let rows = self
            .query(
                "WITH up AS (
                     UPDATE l402_rate SET hits = hits + 1
                     WHERE bucket = $1 AND window_end = $2 AND hits < $3 RETURNING 1),
                 ins AS (
                     INSERT INTO l402_rate (bucket, window_end, hits)
                     SELECT $1, $2, 1 WHERE $3 > 0 AND NOT EXISTS (
                         SELECT 1 FROM l402_rate WHERE bucket = $1 AND window_end = $2)
                     ON CONFLICT DO NOTHING RETURNING 1)
                 SELECT (SELECT count(*) FROM up) + (SELECT count(*) FROM ins)",
                &[&bucket, &window_end, &limit],
            )
            .await?;
        let hits = match rows.first() {
            Some(r) => r.try_get::<_, i64>(0).map_err(db)?,
            None => 0,
        };
        if hits > 0 {
            return Ok(true);
        }
        // Another instance may have inserted the row after this statement's snapshot: count
        // in it, if it has room.
        let n = self
            .execute(
                "UPDATE l402_rate SET hits = hits + 1
                 WHERE bucket = $1 AND window_end = $2 AND hits < $3",
                &[&bucket, &window_end, &limit],
            )
            .await?;
        Ok(n > 0)
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn prune(&self, now: i64) -> Result<Pruned, Error> {
        // A lapsed reservation counts as a use (decision 0609).
        let released = self
            .query(
                "WITH r AS (DELETE FROM l402_reservations WHERE lease_until <= $1 RETURNING token_id),
                      c AS (SELECT token_id, count(*) AS n FROM r GROUP BY token_id)
                 UPDATE l402_usage u SET reserved = u.reserved - c.n, used = u.used + c.n
                 FROM c WHERE u.token_id = c.token_id RETURNING c.n",
                &[&now],
            )
            .await?;
        let mut reservations = 0u64;
        for r in &released {
            reservations = reservations.saturating_add(count(r.try_get(0).map_err(db)?));
        }
        let windows = self.execute("DELETE FROM l402_rate WHERE window_end <= $1", &[&now]).await?;
        Ok(Pruned { reservations, windows, ..Pruned::default() })
    }

    async fn ping(&self) -> Result<(), Error> {
        self.query("SELECT 1", &[]).await.map(drop)
    }
}
