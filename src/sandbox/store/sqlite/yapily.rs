//! Yapily-style subscriptions on SQLite: the unique index of migration 4 is what refuses a
//! second subscription of an application to one event type (YA-03).

use rusqlite::params;

use super::{SqliteStore, events, id, millis, unless_unique};
use crate::sandbox::domain::{ClientId, Timestamp, YapilySubscription};
use crate::sandbox::store::Result;
use crate::sandbox::store::schema::{YAPILY_COLUMNS, sql};

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<YapilySubscription> {
    Ok(YapilySubscription {
        id: id(r, 0)?,
        client_id: id(r, 1)?,
        event_type_id: r.get(2)?,
        url: r.get(3)?,
        created_at: millis(r, 4)?,
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
            params![
                s.id.as_str(),
                s.client_id.as_str(),
                s.event_type_id,
                s.url,
                s.created_at.as_millis(),
                allow_second
            ],
        );
        unless_unique(inserted)
    }

    pub fn yapily_subscriptions_of(
        &self,
        client_id: &ClientId,
        with_deleted: bool,
    ) -> Result<Vec<YapilySubscription>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql!(
            "SELECT ",
            YAPILY_COLUMNS,
            " FROM yapily_subscriptions
             WHERE client_id = ?1 AND (?2 OR deleted_at IS NULL) ORDER BY created_at, rowid"
        ))?;
        let rows = stmt.query_map(params![client_id.as_str(), with_deleted], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn delete_yapily_subscription(
        &self,
        client_id: &ClientId,
        event_type_id: &str,
        keep: bool,
        now: Timestamp,
    ) -> Result<bool> {
        let client_id = client_id.as_str();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        if keep {
            let n = tx.execute(
                "UPDATE yapily_subscriptions SET deleted_at = ?3
                 WHERE client_id = ?1 AND event_type_id = ?2 AND deleted_at IS NULL",
                params![client_id, event_type_id, now.as_millis()],
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

    pub fn foreign_yapily_url(&self, client_id: &ClientId) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .lock()
            .prepare_cached(
                "SELECT url FROM yapily_subscriptions WHERE client_id <> ?1 AND deleted_at IS NULL
                 ORDER BY created_at DESC, rowid DESC LIMIT 1",
            )?
            .query_row([client_id.as_str()], |r| r.get(0))
            .optional()?)
    }
}
