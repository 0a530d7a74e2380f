//! PostgreSQL: one database shared by several server instances.

use core::time::Duration;
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use l402_token::TokenId;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};

use crate::keys::RootKey;
use crate::store::pg_tls::{take_root_cert, Tls};
use crate::store::{
    array32, due_key, reservation_id, DueKey, KeyRecord, Pruned, Reservation, RootKeyStore,
    StoredKey,
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
    payment_hash BYTEA
);
-- A first-release table gains the column. Checked first: ALTER TABLE locks the table against
-- every other instance's reads, even when it has nothing to do.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'l402_keys' AND column_name = 'payment_hash') THEN
        ALTER TABLE l402_keys ADD COLUMN payment_hash BYTEA;
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

/// The default revocation poll interval: well inside the one second within which a
/// revocation must reach every instance.
pub const POSTGRES_REVOCATION_POLL: Duration = Duration::from_millis(250);

/// A store in a PostgreSQL database that several instances share.
///
/// Every exact operation is one SQL statement (row locks re-check the allowance condition,
/// so N uses mean N across instances). Revocations are mirrored in memory, so
/// [`RootKeyStore::is_revoked`] does no round trip; a background task polls the revocation
/// table every [`POSTGRES_REVOCATION_POLL`] (decision 0605). Dropping the store stops the task.
pub struct PostgresStore {
    client: Arc<Client>,
    revoked: Arc<RwLock<HashSet<TokenId>>>,
    last_seq: Arc<AtomicI64>,
    tasks: Vec<JoinHandle<()>>,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
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

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::warn!(error = %e, "postgres connection ended");
    }
}

impl PostgresStore {
    /// Connects with a libpq-style configuration (`host=… port=… user=… dbname=…`, or a
    /// `postgres://` URL), creates the tables if needed, and starts the revocation poller at
    /// [`POSTGRES_REVOCATION_POLL`]. Needs a tokio runtime.
    ///
    /// `sslmode=require` connects over TLS and verifies the server's certificate and name
    /// against the PEM file `sslrootcert=…`, or the webpki roots without it (stricter than
    /// libpq's `require`, which checks nothing). Without `sslmode=require` the connection is
    /// plain, as for libpq's `disable`: keep it to loopback or a private network (decision
    /// 0606).
    pub async fn connect(config: &str) -> Result<PostgresStore, Error> {
        PostgresStore::connect_with(config, POSTGRES_REVOCATION_POLL).await
    }

    /// [`PostgresStore::connect`] with another poll interval.
    pub async fn connect_with(config: &str, poll: Duration) -> Result<PostgresStore, Error> {
        let (rest, root_cert) = take_root_cert(config)?;
        let config: tokio_postgres::Config =
            rest.parse().map_err(|e| Error::Config(format!("postgres configuration: {e}")))?;
        // Each arm spawns its own connection task: their stream types differ.
        let (client, conn_task) = if config.get_ssl_mode() == SslMode::Require {
            let (client, connection) =
                config.connect(Tls::new(root_cert.as_deref())?).await.map_err(db)?;
            (client, tokio::spawn(drive(connection)))
        } else {
            if root_cert.is_some() {
                return Err(Error::Config("sslrootcert needs sslmode=require".into()));
            }
            let (client, connection) = config.connect(NoTls).await.map_err(db)?;
            (client, tokio::spawn(drive(connection)))
        };
        client.batch_execute(SCHEMA).await.map_err(db)?;
        let mut store = PostgresStore {
            client: Arc::new(client),
            revoked: Arc::default(),
            last_seq: Arc::new(AtomicI64::new(0)),
            tasks: vec![conn_task],
        };
        store.sync_revocations().await?;
        let (client, revoked, last_seq) =
            (Arc::clone(&store.client), Arc::clone(&store.revoked), Arc::clone(&store.last_seq));
        store.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = sync(&client, &revoked, &last_seq).await {
                    tracing::warn!(code = e.code(), "polling revocations failed");
                }
            }
        }));
        Ok(store)
    }

    /// Reads revocations made since the last poll into the local mirror; returns how many
    /// rows were read. The poller calls this; tests call it to sync deterministically.
    pub async fn sync_revocations(&self) -> Result<usize, Error> {
        sync(&self.client, &self.revoked, &self.last_seq).await
    }
}

async fn sync(
    client: &Client,
    revoked: &RwLock<HashSet<TokenId>>,
    last_seq: &AtomicI64,
) -> Result<usize, Error> {
    let from = last_seq.load(Ordering::Acquire).saturating_sub(SEQ_MARGIN);
    let rows = client
        .query("SELECT seq, token_id FROM l402_revocations WHERE seq > $1", &[&from])
        .await
        .map_err(db)?;
    let mut max = from;
    let mut set = revoked.write().unwrap_or_else(|e| e.into_inner());
    for row in &rows {
        let seq: i64 = row.try_get(0).map_err(db)?;
        let id: Vec<u8> = row.try_get(1).map_err(db)?;
        if let Ok(id) = <[u8; 32]>::try_from(id) {
            set.insert(TokenId(id));
        }
        max = max.max(seq);
    }
    last_seq.fetch_max(max, Ordering::AcqRel);
    Ok(rows.len())
}

#[async_trait::async_trait]
impl RootKeyStore for PostgresStore {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        self.client
            .execute(
                "INSERT INTO l402_keys (key_hash, token_id, root_key, pending_until, payment_hash)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (key_hash) DO UPDATE SET token_id = EXCLUDED.token_id,
                     root_key = EXCLUDED.root_key, pending_until = EXCLUDED.pending_until,
                     payment_hash = EXCLUDED.payment_hash",
                &[
                    &&record.key_hash[..],
                    &&record.token_id.0[..],
                    &&record.root_key.0[..],
                    &record.pending_until,
                    &&record.payment_hash.0[..],
                ],
            )
            .await
            .map(drop)
            .map_err(db)
    }

    async fn root_key(&self, key_hash: &[u8; 32]) -> Result<Option<StoredKey>, Error> {
        let row = self
            .client
            .query_opt(
                "SELECT root_key, pending_until FROM l402_keys WHERE key_hash = $1",
                &[&&key_hash[..]],
            )
            .await
            .map_err(db)?;
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

    async fn claim_due_keys(
        &self,
        now: i64,
        recheck_at: i64,
        limit: usize,
    ) -> Result<Vec<DueKey>, Error> {
        // SKIP LOCKED: instances pruning at the same moment claim disjoint keys.
        let rows = self
            .client
            .query(
                "UPDATE l402_keys SET pending_until = $2 WHERE key_hash IN (
                     SELECT key_hash FROM l402_keys
                     WHERE pending_until IS NOT NULL AND pending_until <= $1
                     ORDER BY pending_until LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING key_hash, payment_hash",
                &[&now, &recheck_at, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(db)?;
        rows.iter().map(|r| due_key(r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?)).collect()
    }

    async fn forget_pending(&self, key_hash: &[u8; 32]) -> Result<bool, Error> {
        self.client
            .execute(
                "DELETE FROM l402_keys WHERE key_hash = $1 AND pending_until IS NOT NULL",
                &[&&key_hash[..]],
            )
            .await
            .map(|n| n > 0)
            .map_err(db)
    }

    async fn confirm_key(&self, key_hash: &[u8; 32]) -> Result<(), Error> {
        self.client
            .execute(
                "UPDATE l402_keys SET pending_until = NULL WHERE key_hash = $1",
                &[&&key_hash[..]],
            )
            .await
            .map(drop)
            .map_err(db)
    }

    async fn revoke(&self, token_id: &TokenId, now: i64) -> Result<(), Error> {
        self.client
            .execute(
                "WITH gone AS (DELETE FROM l402_keys WHERE token_id = $1)
                 INSERT INTO l402_revocations (token_id, revoked_at) VALUES ($1, $2)
                 ON CONFLICT (token_id) DO NOTHING",
                &[&&token_id.0[..], &now],
            )
            .await
            .map_err(db)?;
        self.revoked.write().unwrap_or_else(|e| e.into_inner()).insert(*token_id);
        Ok(())
    }

    async fn is_revoked(&self, token_id: &TokenId) -> Result<bool, Error> {
        Ok(self.revoked.read().unwrap_or_else(|e| e.into_inner()).contains(token_id))
    }

    async fn reserve_use(
        &self,
        token_id: &TokenId,
        allowance: u64,
        lease_until: i64,
    ) -> Result<Option<Reservation>, Error> {
        let id = reservation_id()?;
        let tid = &token_id.0[..];
        self.client
            .execute(
                "INSERT INTO l402_usage (token_id) VALUES ($1) ON CONFLICT (token_id) DO NOTHING",
                &[&tid],
            )
            .await
            .map_err(db)?;
        // The UPDATE's row lock makes a concurrent reserver wait and then re-check the
        // condition against the committed counts: exact across instances.
        let n = self
            .client
            .execute(
                "WITH u AS (
                     UPDATE l402_usage SET reserved = reserved + 1
                     WHERE token_id = $1 AND used + reserved < $2
                     RETURNING token_id)
                 INSERT INTO l402_reservations (id, token_id, lease_until)
                 SELECT $3, token_id, $4 FROM u",
                &[&tid, &sql_int(allowance), &id, &lease_until],
            )
            .await
            .map_err(db)?;
        Ok((n == 1).then_some(Reservation { id, token_id: *token_id, allowance }))
    }

    async fn commit_use(&self, reservation: &Reservation) -> Result<u64, Error> {
        let row = self
            .client
            .query_opt(
                "WITH r AS (DELETE FROM l402_reservations WHERE id = $1 RETURNING token_id)
                 UPDATE l402_usage u SET used = u.used + 1, reserved = u.reserved - 1
                 FROM r WHERE u.token_id = r.token_id RETURNING u.used",
                &[&reservation.id],
            )
            .await
            .map_err(db)?;
        match row {
            Some(r) => Ok(count(r.try_get(0).map_err(db)?)),
            None => self.uses(&reservation.token_id).await,
        }
    }

    async fn renew_use(&self, reservation: &Reservation, lease_until: i64) -> Result<bool, Error> {
        self.client
            .execute(
                "UPDATE l402_reservations SET lease_until = $2 WHERE id = $1",
                &[&reservation.id, &lease_until],
            )
            .await
            .map(|n| n > 0)
            .map_err(db)
    }

    async fn release_use(&self, reservation: &Reservation) -> Result<(), Error> {
        self.client
            .execute(
                "WITH r AS (DELETE FROM l402_reservations WHERE id = $1 RETURNING token_id)
                 UPDATE l402_usage u SET reserved = u.reserved - 1
                 FROM r WHERE u.token_id = r.token_id",
                &[&reservation.id],
            )
            .await
            .map(drop)
            .map_err(db)
    }

    async fn uses(&self, token_id: &TokenId) -> Result<u64, Error> {
        let row = self
            .client
            .query_opt("SELECT used FROM l402_usage WHERE token_id = $1", &[&&token_id.0[..]])
            .await
            .map_err(db)?;
        match row {
            Some(r) => Ok(count(r.try_get(0).map_err(db)?)),
            None => Ok(0),
        }
    }

    async fn take_hit(&self, bucket: &str, window_end: i64, limit: u64) -> Result<bool, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // A full window matches neither the update's condition nor the insert's: the row is
        // not rewritten and not locked (an `ON CONFLICT DO UPDATE … WHERE` would lock it,
        // which writes the row and a WAL record), so a refusal writes nothing.
        let row = self
            .client
            .query_one(
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
            .await
            .map_err(db)?;
        if row.try_get::<_, i64>(0).map_err(db)? > 0 {
            return Ok(true);
        }
        // Another instance may have inserted the row after this statement's snapshot: count
        // in it, if it has room.
        let n = self
            .client
            .execute(
                "UPDATE l402_rate SET hits = hits + 1
                 WHERE bucket = $1 AND window_end = $2 AND hits < $3",
                &[&bucket, &window_end, &limit],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn prune(&self, now: i64) -> Result<Pruned, Error> {
        // A lapsed reservation counts as a use (decision 0609).
        let released = self
            .client
            .query(
                "WITH r AS (DELETE FROM l402_reservations WHERE lease_until <= $1 RETURNING token_id),
                      c AS (SELECT token_id, count(*) AS n FROM r GROUP BY token_id)
                 UPDATE l402_usage u SET reserved = u.reserved - c.n, used = u.used + c.n
                 FROM c WHERE u.token_id = c.token_id RETURNING c.n",
                &[&now],
            )
            .await
            .map_err(db)?;
        let mut reservations = 0u64;
        for r in &released {
            reservations = reservations.saturating_add(count(r.try_get(0).map_err(db)?));
        }
        let windows = self
            .client
            .execute("DELETE FROM l402_rate WHERE window_end <= $1", &[&now])
            .await
            .map_err(db)?;
        Ok(Pruned { reservations, windows, ..Pruned::default() })
    }
}
