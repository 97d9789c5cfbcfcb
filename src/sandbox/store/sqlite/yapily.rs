//! Yapily-style subscriptions on SQLite: the unique index of migration 4 is what refuses a
//! second subscription of an application to one event type (YA-03).

use rusqlite::params;

use super::{SqliteStore, unless_unique};
use crate::sandbox::domain::YapilySubscription;
use crate::sandbox::store::Result;

const COLUMNS: &str = "id, client_id, event_type_id, url, created_at, deleted_at IS NOT NULL";

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
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM yapily_subscriptions
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
        let conn = self.lock();
        let n = if keep {
            conn.execute(
                "UPDATE yapily_subscriptions SET deleted_at = ?3
                 WHERE client_id = ?1 AND event_type_id = ?2 AND deleted_at IS NULL",
                params![client_id, event_type_id, now_ms],
            )?
        } else {
            conn.execute(
                "DELETE FROM yapily_subscriptions
                 WHERE client_id = ?1 AND event_type_id = ?2 AND deleted_at IS NULL",
                params![client_id, event_type_id],
            )?
        };
        Ok(n > 0)
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
