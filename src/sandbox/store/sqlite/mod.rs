//! The embedded engine: SQLite through rusqlite, one connection. This file owns opening,
//! migrations, meta, clients, subscriptions, callback URLs and consents; `events.rs` owns
//! events, polling and deliveries.
//!
//! One connection behind a `std::sync::Mutex`, called directly from async code: every statement
//! is a short indexed lookup or write (microseconds), so locking it inline costs less than a
//! hop to a blocking pool, and the lock is never held across an `.await`. The mutex only
//! serialises use of the connection; the rules (one subscription per TPP, acks before select,
//! trigger and event together) are unique indexes and transactions in the database, as on
//! PostgreSQL. WAL with `synchronous = NORMAL`: a committed write survives the process being
//! killed; only power loss can take the last transactions.

mod batch;
mod events;
mod portal;
mod quiet;
mod referee_runs;
mod retention;
mod tatra;
mod tpp_faults;
mod writes;
mod yapily;

use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, params};

use super::migrations::{self, Migration};
use super::schema::{
    CALLBACK_URL_COLUMNS, CLIENT_COLUMNS, CONSENT_COLUMNS, ConsentRow, SUBSCRIPTION_COLUMNS, sql,
};
use super::{Result, StoreError, json_list, parse_list};
use crate::sandbox::domain::{
    CallbackUrl, CallbackUrlId, Client, ClientId, Consent, ConsentId, Subscription, SubscriptionId,
    Timestamp, TppBounds,
};

/// Prepared statements kept for reuse: more than the engine has (see `open`).
const STATEMENT_CACHE: usize = 128;

/// The SQLite engine; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    /// The only connection. Locked for the span of one statement or one transaction.
    conn: Arc<Mutex<Connection>>,
    /// The per-TPP bounds checked in the inserting transactions.
    bounds: TppBounds,
    /// TPPs with nothing awaiting, so their polls skip the statement (`quiet`).
    quiet: Arc<quiet::QuietClients>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

/// Column `i` (text) as an id of its kind: ids are stored as their plain text.
pub(super) fn id<T: From<String>>(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<T> {
    r.get::<_, String>(i).map(T::from)
}

/// A row of [`CLIENT_COLUMNS`].
pub(super) fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Client> {
    let scope: String = r.get(3)?;
    Ok(Client {
        client_id: id(r, 0)?,
        secret_hash: r.get(1)?,
        client_name: r.get(2)?,
        scopes: scope.split_whitespace().map(String::from).collect(),
        jwks: r.get(4)?,
        created_at: secs(r, 5)?,
        seeded: r.get(6)?,
        auth_method: r.get(7)?,
        tls_subject_dn: r.get(8)?,
    })
}

/// Column `i` holding unix seconds (clients, subscriptions, callback urls, events).
pub(super) fn secs(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Timestamp> {
    r.get(i).map(Timestamp::from_secs)
}

/// Column `i` holding unix milliseconds (deliveries, attempts, Yapily and Tatra rows).
pub(super) fn millis(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Timestamp> {
    r.get(i).map(Timestamp::from_millis)
}

/// True when `e` is a unique-index violation (the database refusing a second row).
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// True when SQLite could not take the file's lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// An insert's result: true if stored, false if a unique index refused it, else the error.
fn unless_unique<T>(inserted: std::result::Result<T, rusqlite::Error>) -> Result<bool> {
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Applies the missing migrations, each in its own transaction with its record. `kept`: the
/// database outlives the process (a file), so a schema created in it is worth an info line,
/// where a throwaway one in memory is not.
fn migrate(conn: &mut Connection, list: &[Migration], kept: bool) -> Result<()> {
    conn.execute_batch(migrations::TABLE_SQL)?;
    let recorded: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // A 0.1 database records its schema only in user_version (see `migrations`).
    let user_version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let from_user_version = recorded.is_empty() && user_version > 0;
    let applied = if from_user_version {
        (1..=user_version).collect()
    } else {
        recorded
    };
    let todo = migrations::pending(list, &applied).map_err(|found| StoreError::TooNew {
        found,
        known: migrations::latest(list),
    })?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if from_user_version {
        for m in list.iter().take_while(|m| m.version <= user_version) {
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![m.version, m.name, now],
            )?;
        }
    }
    let fresh = applied.is_empty();
    let mut latest = None;
    for m in todo {
        latest = Some(m.version);
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now],
        )?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
        migrations::applied("SQLite", m, fresh);
    }
    if let (true, true, Some(version)) = (fresh, kept, latest) {
        migrations::created("SQLite", version);
    }
    Ok(())
}

/// A TPP's OBIE subscriptions, oldest first (a trigger reads them for each TPP it reaches).
const SUBSCRIPTIONS_OF: &str = sql!(
    "SELECT ",
    SUBSCRIPTION_COLUMNS,
    " FROM event_subscriptions WHERE client_id = ?1 ORDER BY created_at, rowid"
);

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`; `:memory:` gives a
    /// throwaway one.
    pub fn open(path: &str) -> Result<SqliteStore> {
        Self::open_unlocked(path).map_err(|e| match e {
            StoreError::Sqlite(ref s) if is_busy(s) => StoreError::Open(format!(
                "{path} is in use by another obevents sandbox (SQLite allows one process per file; use PostgreSQL for several replicas)"
            )),
            other => other,
        })
    }

    fn open_unlocked(path: &str) -> Result<SqliteStore> {
        let mut conn = if path == ":memory:" {
            Connection::open_in_memory()?
        } else {
            Connection::open(path)?
        };
        // No waiting while taking the lock: a file in use by another sandbox is refused at
        // once, with a line that says so.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        if path != ":memory:" {
            // The sandbox is the database's only user: holding the lock for the connection's
            // life saves a pair of file-lock syscalls per statement (and keeps the WAL index in
            // memory), and a second sandbox on the same file fails at start instead of
            // silently sharing it (several replicas need PostgreSQL). Must precede WAL.
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Statement journals in memory: each write of a group commit runs in a savepoint,
        // whose journal of the pages it changes outgrew SQLite's in-memory spill size and
        // went through a temporary file (a `pwrite` per page: a tenth of the push phase's
        // samples). Bounded by the pages one transaction touches; the database file and its
        // WAL are as durable as before.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // One plan per statement, whatever its parameters (SQLite's query planner stability
        // guarantee). Without it SQLite re-prepares a cached statement each time a new value
        // is bound to a parameter the planner looked at: a bound `LIMIT`, or an equality
        // such as `client_id = ?1` on a table with a partial index (`WHERE state = 0`,
        // `WHERE extra = 0`). The push claim, the acknowledgement of pushed SETs and a
        // trigger's subscription read were parsed and planned again on every run (a sixth of
        // a claim's time). No statement here needs a bound value to pick its plan: the
        // partial indexes' states are written into the SQL.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        // Off while migrating: migration 2 rebuilds `events`, which deliveries reference.
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        migrate(&mut conn, migrations::SQLITE, path != ":memory:")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Room for every statement the sandbox prepares (about 60): rusqlite keeps 16 by
        // default, fewer than the push and polling paths use in turn, so they were parsed
        // and planned again and again (7 % of the push phase's samples).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            bounds: TppBounds::default(),
            quiet: Arc::default(),
        })
    }

    pub fn with_bounds(self, bounds: TppBounds) -> SqliteStore {
        SqliteStore { bounds, ..self }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (statements and
        // transactions are atomic), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- operations -------------------------------------------------------------------------

    pub fn ping(&self) -> Result<()> {
        self.lock()
            .prepare_cached("SELECT 1")?
            .query_row([], |r| r.get::<_, i64>(0))?;
        Ok(())
    }

    // ---- meta -------------------------------------------------------------------------------

    pub fn meta_get_or_insert(&self, key: &str, make: impl FnOnce() -> String) -> Result<String> {
        let conn = self.lock();
        let existing: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        if let Some(v) = existing {
            return Ok(v);
        }
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![key, make()],
        )?;
        Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?)
    }

    // ---- clients ----------------------------------------------------------------------------

    pub fn upsert_client(&self, c: &Client) -> Result<()> {
        self.lock().execute(
            "INSERT INTO clients (client_id, secret_hash, client_name, scope, jwks, created_at, seeded,
               auth_method, tls_subject_dn)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash,
               client_name = excluded.client_name, scope = excluded.scope, jwks = excluded.jwks,
               seeded = excluded.seeded, auth_method = excluded.auth_method,
               tls_subject_dn = excluded.tls_subject_dn",
            params![
                c.client_id.as_str(),
                c.secret_hash,
                c.client_name,
                c.scopes.join(" "),
                c.jwks,
                c.created_at.as_secs(),
                c.seeded,
                c.auth_method,
                c.tls_subject_dn
            ],
        )?;
        Ok(())
    }

    pub fn client(&self, client_id: &ClientId) -> Result<Option<Client>> {
        Ok(self
            .lock()
            .prepare_cached(sql!(
                "SELECT ",
                CLIENT_COLUMNS,
                " FROM clients WHERE client_id = ?1"
            ))?
            .query_row([client_id.as_str()], client_row)
            .optional()?)
    }

    pub fn prune_seeded_clients(&self, keep: &[ClientId]) -> Result<usize> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let seeded: Vec<String> = tx
            .prepare("SELECT client_id FROM clients WHERE seeded <> 0")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut removed = 0;
        for id in seeded
            .iter()
            .filter(|id| !keep.iter().any(|k| k == id.as_str()))
        {
            removed += tx.execute("DELETE FROM clients WHERE client_id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(removed)
    }

    // ---- event subscriptions ----------------------------------------------------------------

    fn subscription_from_row(
        r: &rusqlite::Row<'_>,
    ) -> rusqlite::Result<(Subscription, Option<String>)> {
        Ok((
            Subscription {
                id: id(r, 0)?,
                client_id: id(r, 1)?,
                version: r.get(2)?,
                callback_url: r.get(3)?,
                event_types: None,
                created_at: secs(r, 5)?,
            },
            r.get(4)?,
        ))
    }

    fn finish_subscription((mut s, types): (Subscription, Option<String>)) -> Result<Subscription> {
        s.event_types = types.as_deref().map(parse_list).transpose()?;
        Ok(s)
    }

    pub fn subscriptions_of(&self, client_id: &ClientId) -> Result<Vec<Subscription>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(SUBSCRIPTIONS_OF)?;
        let rows = stmt.query_map([client_id.as_str()], Self::subscription_from_row)?;
        rows.map(|r| Self::finish_subscription(r?)).collect()
    }

    pub fn foreign_callback_url(&self, client_id: &ClientId) -> Result<Option<String>> {
        let conn = self.lock();
        let url = conn
            .prepare_cached(
                "SELECT callback_url FROM event_subscriptions
                 WHERE client_id <> ?1 AND callback_url IS NOT NULL
                 ORDER BY created_at DESC, rowid DESC LIMIT 1",
            )?
            .query_row([client_id.as_str()], |r| r.get(0))
            .optional()?;
        Ok(url)
    }

    pub fn subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(sql!(
                "SELECT ",
                SUBSCRIPTION_COLUMNS,
                " FROM event_subscriptions WHERE id = ?1"
            ))?
            .query_row([id.as_str()], Self::subscription_from_row)
            .optional()?;
        row.map(Self::finish_subscription).transpose()
    }

    pub fn insert_subscription(&self, s: &Subscription, allow_second: bool) -> Result<bool> {
        self.insert_bounded(
            s.client_id.as_str(),
            "INSERT INTO event_subscriptions (id, client_id, version, callback_url, event_types, created_at, extra)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6,
               ?7 AND EXISTS (SELECT 1 FROM event_subscriptions WHERE client_id = ?2))",
            params![
                s.id.as_str(),
                s.client_id.as_str(),
                s.version,
                s.callback_url,
                s.event_types.as_deref().map(json_list),
                s.created_at.as_secs(),
                allow_second
            ],
        )
    }

    /// The old CallbackUrl is read inside the transaction, so the pending pushes follow the
    /// url this replace actually overwrites.
    pub fn replace_subscription(&self, s: &Subscription, cancel_removed: bool) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let old = events::url_of(
            &tx,
            "SELECT callback_url FROM event_subscriptions WHERE id = ?1",
            s.id.as_str(),
        )?;
        tx.execute(
            "UPDATE event_subscriptions SET version = ?2, callback_url = ?3, event_types = ?4 WHERE id = ?1",
            params![
                s.id.as_str(),
                s.version,
                s.callback_url,
                s.event_types.as_deref().map(json_list)
            ],
        )?;
        let new = s.callback_url.as_deref();
        events::carry_pending(
            &tx,
            s.client_id.as_str(),
            old.as_deref(),
            new,
            cancel_removed,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn delete_subscription(&self, id: &SubscriptionId, cancel_pending: bool) -> Result<bool> {
        self.delete_carrying(
            "DELETE FROM event_subscriptions WHERE id = ?1 RETURNING client_id, callback_url",
            id.as_str(),
            cancel_pending,
        )
    }

    /// Runs `delete` (a `DELETE … RETURNING client_id, <url>` of the row `id`) and, if
    /// `cancel_pending`, cancels that client's pending deliveries to the url, in one
    /// transaction; false when there was no such row.
    fn delete_carrying(&self, delete: &str, id: &str, cancel_pending: bool) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let gone: Option<(String, Option<String>)> = tx
            .query_row(delete, [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((client_id, url)) = &gone {
            events::carry_pending(&tx, client_id, url.as_deref(), None, cancel_pending)?;
        }
        tx.commit()?;
        Ok(gone.is_some())
    }

    // ---- callback urls ----------------------------------------------------------------------

    fn callback_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CallbackUrl> {
        Ok(CallbackUrl {
            id: id(r, 0)?,
            client_id: id(r, 1)?,
            url: r.get(2)?,
            version: r.get(3)?,
            created_at: secs(r, 4)?,
        })
    }

    pub fn callback_urls_of(&self, client_id: &ClientId) -> Result<Vec<CallbackUrl>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql!(
            "SELECT ",
            CALLBACK_URL_COLUMNS,
            " FROM callback_urls WHERE client_id = ?1 ORDER BY created_at, rowid"
        ))?;
        let rows = stmt.query_map([client_id.as_str()], Self::callback_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn callback_url(&self, id: &CallbackUrlId) -> Result<Option<CallbackUrl>> {
        Ok(self
            .lock()
            .prepare_cached(sql!(
                "SELECT ",
                CALLBACK_URL_COLUMNS,
                " FROM callback_urls WHERE id = ?1"
            ))?
            .query_row([id.as_str()], Self::callback_from_row)
            .optional()?)
    }

    pub fn insert_callback_url(&self, c: &CallbackUrl, allow_second: bool) -> Result<bool> {
        self.insert_bounded(
            c.client_id.as_str(),
            "INSERT INTO callback_urls (id, client_id, url, version, created_at, extra)
             VALUES (?1, ?2, ?3, ?4, ?5,
               ?6 AND EXISTS (SELECT 1 FROM callback_urls WHERE client_id = ?2))",
            params![
                c.id.as_str(),
                c.client_id.as_str(),
                c.url,
                c.version,
                c.created_at.as_secs(),
                allow_second
            ],
        )
    }

    pub fn replace_callback_url(&self, c: &CallbackUrl) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let old = events::url_of(
            &tx,
            "SELECT url FROM callback_urls WHERE id = ?1",
            c.id.as_str(),
        )?;
        tx.execute(
            "UPDATE callback_urls SET url = ?2, version = ?3 WHERE id = ?1",
            params![c.id.as_str(), c.url, c.version],
        )?;
        events::carry_pending(
            &tx,
            c.client_id.as_str(),
            old.as_deref(),
            Some(&c.url),
            true,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn delete_callback_url(&self, id: &CallbackUrlId, cancel_pending: bool) -> Result<bool> {
        self.delete_carrying(
            "DELETE FROM callback_urls WHERE id = ?1 RETURNING client_id, url",
            id.as_str(),
            cancel_pending,
        )
    }

    // ---- consents ---------------------------------------------------------------------------

    pub fn insert_consent(&self, c: &Consent) -> Result<()> {
        self.lock().execute(
            sql!(
                "INSERT INTO consents (",
                CONSENT_COLUMNS,
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                c.consent_id.as_str(),
                c.client_id.as_str(),
                c.status.as_str(),
                json_list(&c.permissions),
                c.expiration,
                c.transaction_from,
                c.transaction_to,
                c.created_at.rfc3339(),
                c.status_updated_at.rfc3339()
            ],
        )?;
        Ok(())
    }

    pub fn consent(&self, consent_id: &ConsentId) -> Result<Option<Consent>> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(sql!(
                "SELECT ",
                CONSENT_COLUMNS,
                " FROM consents WHERE consent_id = ?1"
            ))?
            .query_row([consent_id.as_str()], |r| {
                Ok(ConsentRow {
                    consent_id: r.get(0)?,
                    client_id: r.get(1)?,
                    status: r.get(2)?,
                    permissions: r.get(3)?,
                    expiration: r.get(4)?,
                    transaction_from: r.get(5)?,
                    transaction_to: r.get(6)?,
                    created_at: r.get(7)?,
                    status_updated_at: r.get(8)?,
                })
            })
            .optional()?;
        row.map(ConsentRow::into_consent).transpose()
    }
}
