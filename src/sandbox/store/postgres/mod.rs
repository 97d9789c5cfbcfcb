//! The shared engine: PostgreSQL through tokio-postgres with a deadpool connection pool, for
//! several `obevents sandbox` replicas behind a load balancer. This file owns opening,
//! migrations, the cross-replica wake-up listener, meta, clients, subscriptions, callback URLs
//! and consents; `events.rs` owns events, polling and deliveries.
//!
//! Nothing here relies on process state: one subscription per TPP is a partial unique index,
//! keys are inserted conflict-free, a poll's acks and select are one statement, and
//! migrations run under an advisory lock so two replicas starting at once apply them once.
//! Every event commit sends `NOTIFY obevents_wake` per client (the id, with the SETs stored
//! for it when they fit: `wake.rs`); each replica LISTENs on a dedicated connection, keeps
//! the SETs and wakes its own long polls for that client.

mod events;
mod polling;
mod portal;
mod referee_runs;
mod retention;
mod tatra;
mod tpp_faults;
mod wake;
mod writes;
mod yapily;

pub use wake::Wakeup;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{NoTls, Row};

use super::migrations::{self, Migration};
use super::schema::{
    CALLBACK_URL_COLUMNS, CLIENT_COLUMNS, CONSENT_COLUMNS, ConsentRow, SUBSCRIPTION_COLUMNS, sql,
};
use super::{Result, StoreError, json_list, parse_list};
use crate::sandbox::domain::{
    CallbackUrl, CallbackUrlId, Client, ClientId, Consent, ConsentId, Subscription, SubscriptionId,
    Timestamp, TppBounds,
};

/// The LISTEN/NOTIFY channel of "an event was stored for this client".
pub const WAKE_CHANNEL: &str = "obevents_wake";
/// Key of the advisory lock that serialises migrations across replicas.
const MIGRATION_LOCK: i64 = 0x6f62_6576_656e_7473;
/// Connections per replica: enough for a CPU's worth of concurrent requests and held polls
/// re-reading after a wake-up; a held poll holds no connection while it waits.
const POOL_SIZE: usize = 16;

/// The PostgreSQL engine; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// For the listener's own connection (boxed: the engines of `Store` stay small).
    config: std::sync::Arc<tokio_postgres::Config>,
    /// Copies of stored SETs (immutable), so polls read keys only; safe to lose.
    tokens: std::sync::Arc<polling::TokenCache>,
    /// Combines read-only polls arriving together into one statement.
    reads: std::sync::Arc<polling::Reads>,
    /// The per-TPP bounds checked in the inserting transactions.
    bounds: TppBounds,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStore")
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Postgres(e),
            other => StoreError::Pool(other.to_string()),
        }
    }
}

/// Column `i` (text) as an id of its kind: ids are stored as their plain text.
pub(super) fn id<T: From<String>>(r: &Row, i: usize) -> Result<T> {
    Ok(T::from(r.try_get::<_, String>(i)?))
}

/// A row of [`CLIENT_COLUMNS`].
pub(super) fn client_row(r: &Row) -> Result<Client> {
    let scope: String = r.try_get(3)?;
    Ok(Client {
        client_id: id(r, 0)?,
        secret_hash: r.try_get(1)?,
        client_name: r.try_get(2)?,
        scopes: scope.split_whitespace().map(String::from).collect(),
        jwks: r.try_get(4)?,
        created_at: secs(r, 5)?,
        seeded: r.try_get(6)?,
        auth_method: r.try_get(7)?,
        tls_subject_dn: r.try_get(8)?,
    })
}

/// Column `i` holding unix seconds (clients, subscriptions, callback urls, events).
pub(super) fn secs(r: &Row, i: usize) -> Result<Timestamp> {
    Ok(Timestamp::from_secs(r.try_get(i)?))
}

/// Column `i` holding unix milliseconds (deliveries, attempts, Yapily and Tatra rows).
pub(super) fn millis(r: &Row, i: usize) -> Result<Timestamp> {
    Ok(Timestamp::from_millis(r.try_get(i)?))
}

/// True when `e` is a unique-index violation (the database refusing a second row).
fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// An insert's result: true if stored, false if a unique index refused it, else the error.
fn unless_unique<T>(inserted: std::result::Result<T, tokio_postgres::Error>) -> Result<bool> {
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn migrate(pool: &Pool, list: &[Migration]) -> Result<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(migrations::TABLE_SQL).await?;
    let recorded = renumber(&tx, list).await?;
    let todo = migrations::pending(list, &recorded).map_err(|found| StoreError::TooNew {
        found,
        known: migrations::latest(list),
    })?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let fresh = recorded.is_empty();
    let mut latest = None;
    for m in todo {
        latest = Some(m.version);
        tx.batch_execute(m.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &now],
        )
        .await?;
        migrations::applied("PostgreSQL", m, fresh);
    }
    tx.commit().await?;
    if let (true, Some(version)) = (fresh, latest) {
        migrations::created("PostgreSQL", version);
    }
    Ok(())
}

/// Brings a record written under an older numbering to this one's (see `migrations`), inside
/// the migration transaction; returns the versions recorded afterwards.
async fn renumber(tx: &deadpool_postgres::Transaction<'_>, list: &[Migration]) -> Result<Vec<i64>> {
    let mut recorded = Vec::new();
    for r in tx
        .query("SELECT version, name FROM schema_migrations", &[])
        .await?
    {
        recorded.push((r.try_get::<_, i64>(0)?, r.try_get::<_, String>(1)?));
    }
    let moves = migrations::renumbering(list, &recorded);
    // Through negative versions, so no move collides with a row not yet moved (primary key).
    for (from, to) in &moves {
        tx.execute(
            "UPDATE schema_migrations SET version = $2 WHERE version = $1",
            &[from, &-to],
        )
        .await?;
        tracing::info!(from, to, "renumbered a recorded PostgreSQL migration");
    }
    if !moves.is_empty() {
        tx.execute(
            "UPDATE schema_migrations SET version = -version WHERE version < 0",
            &[],
        )
        .await?;
    }
    let mut versions: Vec<i64> = recorded.into_iter().map(|(v, _)| v).collect();
    for v in &mut versions {
        if let Some((_, to)) = moves.iter().find(|(from, _)| from == v) {
            *v = *to;
        }
    }
    Ok(versions)
}

impl PgStore {
    /// Connects a pool to `url` (`postgres://user:pass@host:port/db`) and migrates.
    pub async fn open(url: &str) -> Result<PgStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Open(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Open(e.to_string()))?;
        migrate(&pool, migrations::POSTGRES).await?;
        Ok(PgStore {
            reads: std::sync::Arc::new(polling::Reads::new(pool.clone())),
            pool,
            config: std::sync::Arc::new(config),
            tokens: Default::default(),
            bounds: TppBounds::default(),
        })
    }

    pub fn with_bounds(self, bounds: TppBounds) -> PgStore {
        PgStore { bounds, ..self }
    }

    pub(crate) async fn conn(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    // ---- operations -------------------------------------------------------------------------

    pub async fn ping(&self) -> Result<()> {
        self.conn().await?.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    pub fn pool_use(&self) -> super::PoolUse {
        let s = self.pool.status();
        super::PoolUse {
            busy: s.size.saturating_sub(s.available),
            idle: s.available,
            max: s.max_size,
            waiting: s.waiting,
        }
    }

    // ---- meta -------------------------------------------------------------------------------

    pub async fn meta_get_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String> {
        let c = self.conn().await?;
        if let Some(row) = c
            .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
            .await?
        {
            return Ok(row.try_get(0)?);
        }
        // Two replicas starting at once both get here; the first insert wins, and both read it.
        c.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &make()],
        )
        .await?;
        Ok(
            c.query_one("SELECT value FROM meta WHERE key = $1", &[&key])
                .await?
                .try_get(0)?,
        )
    }

    // ---- clients ----------------------------------------------------------------------------

    pub async fn upsert_client(&self, c: &Client) -> Result<()> {
        self.conn()
            .await?
            .execute(
                "INSERT INTO clients (client_id, secret_hash, client_name, scope, jwks, created_at, seeded,
               auth_method, tls_subject_dn)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash,
                   client_name = excluded.client_name, scope = excluded.scope, jwks = excluded.jwks,
                   seeded = excluded.seeded, auth_method = excluded.auth_method,
               tls_subject_dn = excluded.tls_subject_dn",
                &[
                    &c.client_id.as_str(),
                    &c.secret_hash,
                    &c.client_name,
                    &c.scopes.join(" "),
                    &c.jwks,
                    &c.created_at.as_secs(),
                    &c.seeded,
                    &c.auth_method,
                    &c.tls_subject_dn,
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn client(&self, client_id: &ClientId) -> Result<Option<Client>> {
        let c = self.conn().await?;
        let stmt = c
            .prepare_cached(sql!(
                "SELECT ",
                CLIENT_COLUMNS,
                " FROM clients WHERE client_id = $1"
            ))
            .await?;
        c.query_opt(&stmt, &[&client_id.as_str()])
            .await?
            .map(|r| client_row(&r))
            .transpose()
    }

    pub async fn prune_seeded_clients(&self, keep: &[ClientId]) -> Result<usize> {
        let keep: Vec<&str> = keep.iter().map(ClientId::as_str).collect();
        Ok(self
            .conn()
            .await?
            .execute(
                "DELETE FROM clients WHERE seeded AND NOT (client_id = ANY($1))",
                &[&keep],
            )
            .await? as usize)
    }

    // ---- event subscriptions ----------------------------------------------------------------

    fn subscription_from_row(r: &Row) -> Result<Subscription> {
        let types: Option<String> = r.try_get(4)?;
        Ok(Subscription {
            id: id(r, 0)?,
            client_id: id(r, 1)?,
            version: r.try_get(2)?,
            callback_url: r.try_get(3)?,
            event_types: types.as_deref().map(parse_list).transpose()?,
            created_at: secs(r, 5)?,
        })
    }

    pub async fn subscriptions_of(&self, client_id: &ClientId) -> Result<Vec<Subscription>> {
        let c = self.conn().await?;
        let stmt = c
            .prepare_cached(sql!(
                "SELECT ",
                SUBSCRIPTION_COLUMNS,
                " FROM event_subscriptions WHERE client_id = $1 ORDER BY created_at, ord"
            ))
            .await?;
        c.query(&stmt, &[&client_id.as_str()])
            .await?
            .iter()
            .map(Self::subscription_from_row)
            .collect()
    }

    pub async fn foreign_callback_url(&self, client_id: &ClientId) -> Result<Option<String>> {
        let c = self.conn().await?;
        let stmt = c
            .prepare_cached(
                "SELECT callback_url FROM event_subscriptions
                 WHERE client_id <> $1 AND callback_url IS NOT NULL
                 ORDER BY created_at DESC, ord DESC LIMIT 1",
            )
            .await?;
        let row = c.query_opt(&stmt, &[&client_id.as_str()]).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    pub async fn subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>> {
        let c = self.conn().await?;
        c.query_opt(
            sql!(
                "SELECT ",
                SUBSCRIPTION_COLUMNS,
                " FROM event_subscriptions WHERE id = $1"
            ),
            &[&id.as_str()],
        )
        .await?
        .as_ref()
        .map(Self::subscription_from_row)
        .transpose()
    }

    pub async fn insert_subscription(&self, s: &Subscription, allow_second: bool) -> Result<bool> {
        self.insert_bounded(
                s.client_id.as_str(),
                "INSERT INTO event_subscriptions (id, client_id, version, callback_url, event_types, created_at, extra)
                 VALUES ($1, $2, $3, $4, $5, $6,
                   $7 AND EXISTS (SELECT 1 FROM event_subscriptions WHERE client_id = $2))",
                &[
                    &s.id.as_str(),
                    &s.client_id.as_str(),
                    &s.version,
                    &s.callback_url,
                    &s.event_types.as_deref().map(json_list),
                    &s.created_at.as_secs(),
                    &allow_second,
                ],
)
            .await
    }

    /// The old CallbackUrl is read under the row's lock, so two replaces at once move the
    /// pending pushes one after the other, each from the url it actually overwrites.
    pub async fn replace_subscription(&self, s: &Subscription, cancel_removed: bool) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let old = events::url_of(
            &tx,
            "SELECT callback_url FROM event_subscriptions WHERE id = $1 FOR UPDATE",
            s.id.as_str(),
        )
        .await?;
        tx.execute(
            "UPDATE event_subscriptions SET version = $2, callback_url = $3, event_types = $4 WHERE id = $1",
            &[&s.id.as_str(), &s.version, &s.callback_url, &s.event_types.as_deref().map(json_list)],
        )
        .await?;
        let new = s.callback_url.as_deref();
        let client = s.client_id.as_str();
        events::carry_pending(&tx, client, old.as_deref(), new, cancel_removed).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_subscription(
        &self,
        id: &SubscriptionId,
        cancel_pending: bool,
    ) -> Result<bool> {
        self.delete_carrying(
            "DELETE FROM event_subscriptions WHERE id = $1 RETURNING client_id, callback_url",
            id.as_str(),
            cancel_pending,
        )
        .await
    }

    /// Runs `delete` (a `DELETE … RETURNING client_id, <url>` of the row `id`) and, if
    /// `cancel_pending`, cancels that client's pending deliveries to the url, in one
    /// transaction; false when there was no such row.
    async fn delete_carrying(&self, delete: &str, id: &str, cancel_pending: bool) -> Result<bool> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let gone = tx.query_opt(delete, &[&id]).await?;
        if let Some(r) = &gone {
            let url: Option<&str> = r.try_get(1)?;
            events::carry_pending(&tx, r.try_get(0)?, url, None, cancel_pending).await?;
        }
        tx.commit().await?;
        Ok(gone.is_some())
    }

    // ---- callback urls ----------------------------------------------------------------------

    fn callback_from_row(r: &Row) -> Result<CallbackUrl> {
        Ok(CallbackUrl {
            id: id(r, 0)?,
            client_id: id(r, 1)?,
            url: r.try_get(2)?,
            version: r.try_get(3)?,
            created_at: secs(r, 4)?,
        })
    }

    pub async fn callback_urls_of(&self, client_id: &ClientId) -> Result<Vec<CallbackUrl>> {
        self.conn()
            .await?
            .query(
                sql!(
                    "SELECT ",
                    CALLBACK_URL_COLUMNS,
                    " FROM callback_urls WHERE client_id = $1 ORDER BY created_at, ord"
                ),
                &[&client_id.as_str()],
            )
            .await?
            .iter()
            .map(Self::callback_from_row)
            .collect()
    }

    pub async fn callback_url(&self, id: &CallbackUrlId) -> Result<Option<CallbackUrl>> {
        self.conn()
            .await?
            .query_opt(
                sql!(
                    "SELECT ",
                    CALLBACK_URL_COLUMNS,
                    " FROM callback_urls WHERE id = $1"
                ),
                &[&id.as_str()],
            )
            .await?
            .as_ref()
            .map(Self::callback_from_row)
            .transpose()
    }

    pub async fn insert_callback_url(&self, c: &CallbackUrl, allow_second: bool) -> Result<bool> {
        self.insert_bounded(
            c.client_id.as_str(),
            "INSERT INTO callback_urls (id, client_id, url, version, created_at, extra)
                 VALUES ($1, $2, $3, $4, $5,
                   $6 AND EXISTS (SELECT 1 FROM callback_urls WHERE client_id = $2))",
            &[
                &c.id.as_str(),
                &c.client_id.as_str(),
                &c.url,
                &c.version,
                &c.created_at.as_secs(),
                &allow_second,
            ],
        )
        .await
    }

    /// The old url is read under the row's lock (see `replace_subscription`).
    pub async fn replace_callback_url(&self, cb: &CallbackUrl) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let old = events::url_of(
            &tx,
            "SELECT url FROM callback_urls WHERE id = $1 FOR UPDATE",
            cb.id.as_str(),
        )
        .await?;
        tx.execute(
            "UPDATE callback_urls SET url = $2, version = $3 WHERE id = $1",
            &[&cb.id.as_str(), &cb.url, &cb.version],
        )
        .await?;
        let client = cb.client_id.as_str();
        events::carry_pending(&tx, client, old.as_deref(), Some(&cb.url), true).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_callback_url(
        &self,
        id: &CallbackUrlId,
        cancel_pending: bool,
    ) -> Result<bool> {
        self.delete_carrying(
            "DELETE FROM callback_urls WHERE id = $1 RETURNING client_id, url",
            id.as_str(),
            cancel_pending,
        )
        .await
    }

    // ---- consents ---------------------------------------------------------------------------

    pub async fn insert_consent(&self, c: &Consent) -> Result<()> {
        self.conn()
            .await?
            .execute(
                sql!(
                    "INSERT INTO consents (",
                    CONSENT_COLUMNS,
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ),
                &[
                    &c.consent_id.as_str(),
                    &c.client_id.as_str(),
                    &c.status.as_str(),
                    &json_list(&c.permissions),
                    &c.expiration,
                    &c.transaction_from,
                    &c.transaction_to,
                    &c.created_at.rfc3339(),
                    &c.status_updated_at.rfc3339(),
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn consent(&self, consent_id: &ConsentId) -> Result<Option<Consent>> {
        let Some(r) = self
            .conn()
            .await?
            .query_opt(
                sql!(
                    "SELECT ",
                    CONSENT_COLUMNS,
                    " FROM consents WHERE consent_id = $1"
                ),
                &[&consent_id.as_str()],
            )
            .await?
        else {
            return Ok(None);
        };
        ConsentRow {
            consent_id: r.try_get(0)?,
            client_id: r.try_get(1)?,
            status: r.try_get(2)?,
            permissions: r.try_get(3)?,
            expiration: r.try_get(4)?,
            transaction_from: r.try_get(5)?,
            transaction_to: r.try_get(6)?,
            created_at: r.try_get(7)?,
            status_updated_at: r.try_get(8)?,
        }
        .into_consent()
        .map(Some)
    }
}
