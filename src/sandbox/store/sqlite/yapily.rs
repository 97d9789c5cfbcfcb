//! Yapily-style subscriptions on SQLite: the unique index of migration 4 is what refuses a
//! second subscription of an application to one event type (YA-03).

use rusqlite::params;

use super::{SqliteStore, events, unless_unique};
use crate::sandbox::domain::YapilySubscription;
use crate::sandbox::store::Result;
use crate::sandbox::store::schema::{YAPILY_COLUMNS, sql};

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<YapilySubscription> {
    Ok(YapilySubscription {
        id: r.get(0)?,
        client_id: r.get(1)?,
        event_type_id: r.get(2)?,
        url: r.get(3)?,
        created_at: r.get(4)?,
        deleted: r.get(5)?,
    })
}

impl SqliteStore {
    pub fn insert_yapily_subscription(
        &self,
        s: &YapilySubscription,
        allow_second: bool,
    ) -> Result<bool> {
        let inserted = self.lock().execute(
            "INSERT INTO yapily_subscriptions (id, client_id, event_type_id, url, created_at, extra)
             VALUES (?1, ?2, ?3, ?4, ?5,
               ?6 AND EXISTS (SELECT 1 FROM yapily_subscriptions
                              WHERE client_id = ?2 AND event_type_id = ?3 AND deleted_at IS NULL))",
            params![s.id, s.client_id, s.event_type_id, s.url, s.created_at, allow_second],
        );
        unless_unique(inserted)
    }

    pub fn yapily_subscriptions_of(
        &self,
        client_id: &str,
        with_deleted: bool,
    ) -> Result<Vec<YapilySubscription>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql!(
            "SELECT ",
            YAPILY_COLUMNS,
            " FROM yapily_subscriptions
             WHERE client_id = ?1 AND (?2 OR deleted_at IS NULL) ORDER BY created_at, rowid"
        ))?;
        let rows = stmt.query_map(params![client_id, with_deleted], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn delete_yapily_subscription(
        &self,
        client_id: &str,
        event_type_id: &str,
        keep: bool,
        now_ms: i64,
    ) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        if keep {
            let n = tx.execute(
                "UPDATE yapily_subscriptions SET deleted_at = ?3
                 WHERE client_id = ?1 AND event_type_id = ?2 AND deleted_at IS NULL",
                params![client_id, event_type_id, now_ms],
            )?;
            tx.commit()?;
            return Ok(n > 0);
        }
        let urls: Vec<String> = tx
            .prepare(
                "DELETE FROM yapily_subscriptions
                 WHERE client_id = ?1 AND event_type_id = ?2 AND deleted_at IS NULL RETURNING url",
            )?
            .query_map(params![client_id, event_type_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for url in &urls {
            let shared: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM yapily_subscriptions
                   WHERE client_id = ?1 AND url = ?2 AND deleted_at IS NULL)",
                params![client_id, url],
                |r| r.get(0),
            )?;
            events::carry_pending(&tx, client_id, Some(url), None, !shared)?;
        }
        tx.commit()?;
        Ok(!urls.is_empty())
    }

    pub fn foreign_yapily_url(&self, client_id: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .lock()
            .prepare_cached(
                "SELECT url FROM yapily_subscriptions WHERE client_id <> ?1 AND deleted_at IS NULL
                 ORDER BY created_at DESC, rowid DESC LIMIT 1",
            )?
            .query_row([client_id], |r| r.get(0))
            .optional()?)
    }
}
