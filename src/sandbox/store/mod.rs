//! The sandbox's state in embedded SQLite: a concrete [`Store`] whose methods speak the domain.
//! All SQL of the product lives in this module.
//!
//! One connection behind a mutex: every statement is a short indexed lookup or write, so holding
//! a plain `std::sync::Mutex` across it costs less than handing it to a blocking pool. WAL mode
//! with `synchronous = NORMAL` means a committed write survives the process being killed (it is
//! in the WAL the OS holds), which is the durability a sandbox promises; only power loss can
//! take the last transactions. If a second backend is ever needed this becomes an enum.

use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::domain::{
    CallbackUrl, Client, Consent, ConsentStatus, EventRecord, EventState, NewEvent, PollBatch,
    PollOps, Subscription,
};

const SCHEMA: &str = include_str!("schema.sql");
const SCHEMA_VERSION: i64 = 1;

/// Store-layer errors; the HTTP layer maps them once (`sandbox::http::error`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("the database was written by a newer obevents (schema {0})")]
    TooNew(i64),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// The only connection. Locked for the span of one statement or one transaction.
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Opens (creating if needed) the database at `path`; `:memory:` gives a throwaway one.
    pub fn open(path: &str) -> Result<Store> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()?
        } else {
            Connection::open(path)?
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        if path != ":memory:" {
            // The sandbox is the database's only user: holding the lock for the connection's
            // life saves a pair of file-lock syscalls per statement (and keeps the WAL index in
            // memory), and a second sandbox on the same file fails at start instead of
            // silently sharing it. Must precede the switch to WAL.
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew(version));
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(SCHEMA)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (statements are
        // atomic), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- meta -------------------------------------------------------------------------------

    /// Returns the value under `key`, storing `make()` first if there is none. Used for the
    /// signing keys, so a restart finds the same `kid`.
    pub fn meta_get_or_insert(&self, key: &str, make: impl FnOnce() -> String) -> Result<String> {
        let conn = self.lock();
        let existing: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        if let Some(v) = existing {
            return Ok(v);
        }
        let value = make();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(value)
    }

    // ---- clients ----------------------------------------------------------------------------

    /// Inserts a client, or replaces one with the same id (seeded clients follow the config file).
    pub fn upsert_client(&self, c: &Client) -> Result<()> {
        self.lock().execute(
            "INSERT INTO clients (client_id, secret_hash, client_name, scope, jwks, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash,
               client_name = excluded.client_name, scope = excluded.scope, jwks = excluded.jwks",
            params![
                c.client_id,
                c.secret_hash,
                c.client_name,
                c.scopes.join(" "),
                c.jwks,
                c.created_at
            ],
        )?;
        Ok(())
    }

    pub fn client(&self, client_id: &str) -> Result<Option<Client>> {
        Ok(self
            .lock()
            .prepare_cached(
                "SELECT client_id, secret_hash, client_name, scope, jwks, created_at
                 FROM clients WHERE client_id = ?1",
            )?
            .query_row([client_id], |r| {
                let scope: String = r.get(3)?;
                Ok(Client {
                    client_id: r.get(0)?,
                    secret_hash: r.get(1)?,
                    client_name: r.get(2)?,
                    scopes: scope.split_whitespace().map(String::from).collect(),
                    jwks: r.get(4)?,
                    created_at: r.get(5)?,
                })
            })
            .optional()?)
    }

    // ---- event subscriptions ----------------------------------------------------------------

    fn subscription_from_row(
        r: &rusqlite::Row<'_>,
    ) -> rusqlite::Result<(Subscription, Option<String>)> {
        Ok((
            Subscription {
                id: r.get(0)?,
                client_id: r.get(1)?,
                version: r.get(2)?,
                callback_url: r.get(3)?,
                event_types: None,
                created_at: r.get(5)?,
            },
            r.get(4)?,
        ))
    }

    fn finish_subscription((mut s, types): (Subscription, Option<String>)) -> Result<Subscription> {
        s.event_types = types.as_deref().map(parse_list).transpose()?;
        Ok(s)
    }

    const SUB_COLUMNS: &'static str =
        "id, client_id, version, callback_url, event_types, created_at";

    /// The client's subscriptions, oldest first (normally zero or one).
    pub fn subscriptions_of(&self, client_id: &str) -> Result<Vec<Subscription>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM event_subscriptions WHERE client_id = ?1 ORDER BY created_at, rowid",
            Self::SUB_COLUMNS
        ))?;
        let rows = stmt.query_map([client_id], Self::subscription_from_row)?;
        rows.map(|r| Self::finish_subscription(r?)).collect()
    }

    pub fn subscription(&self, id: &str) -> Result<Option<Subscription>> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(&format!(
                "SELECT {} FROM event_subscriptions WHERE id = ?1",
                Self::SUB_COLUMNS
            ))?
            .query_row([id], Self::subscription_from_row)
            .optional()?;
        row.map(Self::finish_subscription).transpose()
    }

    /// Inserts `s` unless the client already has one and `allow_second` is false (ES-03);
    /// returns whether it was inserted. Check and insert happen under one lock.
    pub fn insert_subscription(&self, s: &Subscription, allow_second: bool) -> Result<bool> {
        let conn = self.lock();
        if !allow_second {
            let exists: bool = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM event_subscriptions WHERE client_id = ?1)",
                )?
                .query_row([&s.client_id], |r| r.get(0))?;
            if exists {
                return Ok(false);
            }
        }
        conn.execute(
            "INSERT INTO event_subscriptions (id, client_id, version, callback_url, event_types, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                s.id,
                s.client_id,
                s.version,
                s.callback_url,
                s.event_types.as_deref().map(json_list),
                s.created_at
            ],
        )?;
        Ok(true)
    }

    /// Full replace of a subscription's mutable fields (ES-10).
    pub fn replace_subscription(&self, s: &Subscription) -> Result<()> {
        self.lock().execute(
            "UPDATE event_subscriptions SET version = ?2, callback_url = ?3, event_types = ?4 WHERE id = ?1",
            params![s.id, s.version, s.callback_url, s.event_types.as_deref().map(json_list)],
        )?;
        Ok(())
    }

    pub fn delete_subscription(&self, id: &str) -> Result<bool> {
        Ok(self
            .lock()
            .execute("DELETE FROM event_subscriptions WHERE id = ?1", [id])?
            > 0)
    }

    // ---- callback urls ----------------------------------------------------------------------

    fn callback_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CallbackUrl> {
        Ok(CallbackUrl {
            id: r.get(0)?,
            client_id: r.get(1)?,
            url: r.get(2)?,
            version: r.get(3)?,
            created_at: r.get(4)?,
        })
    }

    pub fn callback_urls_of(&self, client_id: &str) -> Result<Vec<CallbackUrl>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, client_id, url, version, created_at FROM callback_urls
             WHERE client_id = ?1 ORDER BY created_at, rowid",
        )?;
        let rows = stmt.query_map([client_id], Self::callback_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn callback_url(&self, id: &str) -> Result<Option<CallbackUrl>> {
        Ok(self
            .lock()
            .prepare_cached(
                "SELECT id, client_id, url, version, created_at FROM callback_urls WHERE id = ?1",
            )?
            .query_row([id], Self::callback_from_row)
            .optional()?)
    }

    /// Inserts unless the client already has a registration and `allow_second` is false (CB-03).
    pub fn insert_callback_url(&self, c: &CallbackUrl, allow_second: bool) -> Result<bool> {
        let conn = self.lock();
        if !allow_second {
            let exists: bool = conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM callback_urls WHERE client_id = ?1)")?
                .query_row([&c.client_id], |r| r.get(0))?;
            if exists {
                return Ok(false);
            }
        }
        conn.execute(
            "INSERT INTO callback_urls (id, client_id, url, version, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.id, c.client_id, c.url, c.version, c.created_at],
        )?;
        Ok(true)
    }

    pub fn replace_callback_url(&self, c: &CallbackUrl) -> Result<()> {
        self.lock().execute(
            "UPDATE callback_urls SET url = ?2, version = ?3 WHERE id = ?1",
            params![c.id, c.url, c.version],
        )?;
        Ok(())
    }

    pub fn delete_callback_url(&self, id: &str) -> Result<bool> {
        Ok(self
            .lock()
            .execute("DELETE FROM callback_urls WHERE id = ?1", [id])?
            > 0)
    }

    // ---- consents ---------------------------------------------------------------------------

    pub fn insert_consent(&self, c: &Consent) -> Result<()> {
        self.lock().execute(
            "INSERT INTO consents (consent_id, client_id, status, permissions, expiration,
               transaction_from, transaction_to, created_at, status_updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                c.consent_id,
                c.client_id,
                c.status.as_str(),
                json_list(&c.permissions),
                c.expiration,
                c.transaction_from,
                c.transaction_to,
                c.created_at,
                c.status_updated_at
            ],
        )?;
        Ok(())
    }

    pub fn consent(&self, consent_id: &str) -> Result<Option<Consent>> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(
                "SELECT consent_id, client_id, status, permissions, expiration, transaction_from,
                   transaction_to, created_at, status_updated_at FROM consents WHERE consent_id = ?1",
            )?
            .query_row([consent_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                ))
            })
            .optional()?;
        row.map(
            |(consent_id, client_id, status, perms, expiration, from, to, created, updated)| {
                Ok(Consent {
                    consent_id,
                    client_id,
                    status: ConsentStatus::parse(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("consent status {status}")))?,
                    permissions: parse_list(&perms)?,
                    expiration,
                    transaction_from: from,
                    transaction_to: to,
                    created_at: created,
                    status_updated_at: updated,
                })
            },
        )
        .transpose()
    }

    pub fn set_consent_status(
        &self,
        consent_id: &str,
        status: ConsentStatus,
        at: &str,
    ) -> Result<()> {
        self.lock().execute(
            "UPDATE consents SET status = ?2, status_updated_at = ?3 WHERE consent_id = ?1",
            params![consent_id, status.as_str(), at],
        )?;
        Ok(())
    }

    // ---- events -----------------------------------------------------------------------------

    /// Stores a signed SET as awaiting. Autocommit: durable once this returns.
    pub fn insert_event(&self, e: &NewEvent) -> Result<()> {
        self.lock()
            .prepare_cached(
                "INSERT INTO events (jti, client_id, event_type, resource_id, resource_type, token, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![e.jti, e.client_id, e.event_type, e.resource_id, e.resource_type, e.token, e.created_at])?;
        Ok(())
    }

    /// Stores many signed SETs in one transaction (bulk import; the bench fills large stores
    /// with it). All or nothing.
    pub fn insert_events(&self, events: &[NewEvent]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO events (jti, client_id, event_type, resource_id, resource_type, token, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for e in events {
                stmt.execute(params![
                    e.jti,
                    e.client_id,
                    e.event_type,
                    e.resource_id,
                    e.resource_type,
                    e.token,
                    e.created_at
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Which of `jtis` were never stored for `client_id` (HSBC's unknown-ack check).
    pub fn unknown_jtis(&self, client_id: &str, jtis: &[String]) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events WHERE client_id = ?1 AND jti = ?2)",
        )?;
        let mut unknown = Vec::new();
        for jti in jtis {
            let known: bool = stmt.query_row(params![client_id, jti], |r| r.get(0))?;
            if !known {
                unknown.push(jti.clone());
            }
        }
        Ok(unknown)
    }

    /// One poll: apply acks, then errors, then choose the oldest awaiting SETs (R8936-24: acks
    /// first, so an acknowledged jti never comes back in the same answer). Writes happen in one
    /// transaction, so a crash leaves either all or none of a request's acks applied; a poll
    /// that writes nothing is a single read statement and needs none.
    pub fn poll(&self, ops: &PollOps<'_>) -> Result<PollBatch> {
        let mut conn = self.lock();
        if ops.ack.is_empty() && ops.set_errs.is_empty() {
            return Self::select_batch(&conn, ops);
        }
        let tx = conn.transaction()?;
        if !ops.ack.is_empty() {
            let mut scoped = tx.prepare_cached(
                "UPDATE events SET state = 1 WHERE client_id = ?1 AND jti = ?2 AND state <> 1",
            )?;
            let mut unscoped =
                tx.prepare_cached("UPDATE events SET state = 1 WHERE jti = ?1 AND state <> 1")?;
            for jti in ops.ack {
                if ops.scope_acks {
                    scoped.execute(params![ops.client_id, jti])?;
                } else {
                    unscoped.execute(params![jti])?;
                }
            }
        }
        if !ops.set_errs.is_empty() {
            let mut stmt = tx.prepare_cached(
                "UPDATE events SET err = ?3, err_description = ?4,
                   state = CASE WHEN ?5 AND state = 0 THEN 2 ELSE state END
                 WHERE client_id = ?1 AND jti = ?2",
            )?;
            for (jti, err, desc) in ops.set_errs {
                stmt.execute(params![ops.client_id, jti, err, desc, ops.drop_errored])?;
            }
        }
        let batch = Self::select_batch(&tx, ops)?;
        tx.commit()?;
        Ok(batch)
    }

    /// The oldest awaiting SETs, one row beyond the limit telling whether any were left out
    /// (AP-12); an index range scan of at most `limit + 1` rows.
    fn select_batch(conn: &Connection, ops: &PollOps<'_>) -> Result<PollBatch> {
        let mut batch = PollBatch::default();
        let client = ops.scope_select.then_some(ops.client_id);
        if ops.limit > 0 {
            // Neither ORDER BY nor LIMIT in the SQL: a bound LIMIT, or an ORDER BY with a new
            // client_id, makes SQLite's STAT4 planner re-prepare the statement on every run
            // (measured: ~15 % of a poll's CPU). The forced index (client_id, state, seq) yields
            // rows oldest first, and stepping stops after `fetch` rows, so the work stays
            // O(batch). The store tests pin the order.
            let fetch = ops.limit.saturating_add(1);
            let rows: Vec<(String, String)> = match client {
                Some(client) => conn
                    .prepare_cached("SELECT jti, token FROM events INDEXED BY events_pending WHERE client_id = ?1 AND state = 0")?
                    .query_map(params![client], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .take(fetch)
                    .collect::<rusqlite::Result<_>>()?,
                None => conn
                    .prepare_cached("SELECT jti, token FROM events WHERE state = 0 ORDER BY seq")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .take(fetch)
                    .collect::<rusqlite::Result<_>>()?,
            };
            batch.more_available = rows.len() > ops.limit;
            batch.sets = rows.into_iter().take(ops.limit).collect();
        } else {
            batch.more_available = match client {
                Some(client) => conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM events WHERE client_id = ?1 AND state = 0)",
                    )?
                    .query_row([client], |r| r.get(0))?,
                None => conn
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE state = 0)")?
                    .query_row([], |r| r.get(0))?,
            };
        }
        Ok(batch)
    }

    /// Deletes every stored SET of a client (sandbox reset); returns how many went.
    pub fn reset_events(&self, client_id: &str) -> Result<usize> {
        Ok(self
            .lock()
            .execute("DELETE FROM events WHERE client_id = ?1", [client_id])?)
    }

    /// A client's stored SETs, newest first, for the sandbox inspection endpoint.
    pub fn events_of(&self, client_id: &str, limit: usize) -> Result<Vec<EventRecord>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT jti, client_id, event_type, resource_id, resource_type, state, created_at, err, err_description
             FROM events WHERE client_id = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![client_id, limit as i64], |r| {
            Ok(EventRecord {
                jti: r.get(0)?,
                client_id: r.get(1)?,
                event_type: r.get(2)?,
                resource_id: r.get(3)?,
                resource_type: r.get(4)?,
                state: EventState::from_code(r.get(5)?),
                created_at: r.get(6)?,
                err: r.get(7)?,
                err_description: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(client: &str, jti: &str) -> NewEvent {
        NewEvent {
            jti: jti.into(),
            client_id: client.into(),
            event_type: "t".into(),
            resource_id: "r".into(),
            resource_type: "x".into(),
            token: format!("token-{jti}"),
            created_at: 0,
        }
    }

    fn poll(store: &Store, client: &str, ack: &[String], limit: usize) -> PollBatch {
        store
            .poll(&PollOps {
                client_id: client,
                scope_acks: true,
                ack,
                scope_select: true,
                limit,
                ..Default::default()
            })
            .unwrap()
    }

    #[test]
    fn poll_is_oldest_first_scoped_and_acks_first() {
        let store = Store::open(":memory:").unwrap();
        for i in 0..3 {
            store.insert_event(&event("a", &format!("a{i}"))).unwrap();
        }
        store.insert_event(&event("b", "b0")).unwrap();
        let b = poll(&store, "a", &[], 2);
        assert_eq!(
            b.sets.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
            ["a0", "a1"]
        );
        assert!(b.more_available);
        let b = poll(&store, "a", &["a0".into(), "a1".into(), "b0".into()], 10);
        assert_eq!(b.sets.len(), 1);
        assert!(!b.more_available);
        // b's event was not touched by a's ack.
        assert_eq!(poll(&store, "b", &[], 10).sets.len(), 1);
        assert_eq!(
            store
                .unknown_jtis("a", &["a0".into(), "zz".into()])
                .unwrap(),
            vec!["zz".to_string()]
        );
    }

    #[test]
    fn data_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("obevents-store-{}", uuid::Uuid::new_v4()));
        let path = dir.to_string_lossy().to_string();
        {
            let store = Store::open(&path).unwrap();
            store.insert_event(&event("a", "x")).unwrap();
            store.meta_get_or_insert("k", || "v1".into()).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.meta_get_or_insert("k", || "v2".into()).unwrap(), "v1");
        assert_eq!(poll(&store, "a", &[], 5).sets.len(), 1);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
}
