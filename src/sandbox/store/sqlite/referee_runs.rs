//! The published referee runs on SQLite (`referee_runs`).

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, id, secs};
use crate::sandbox::domain::{ClientId, StoredRefereeRun, Timestamp};
use crate::sandbox::store::Result;

impl SqliteStore {
    pub fn put_referee_run(
        &self,
        client_id: &ClientId,
        summary: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let conn = self.lock();
        // INSERT … SELECT FROM clients: an unknown client stores nothing, in one statement.
        let n = conn.execute(
            "INSERT INTO referee_runs (client_id, received_at, summary)
             SELECT client_id, ?2, ?3 FROM clients WHERE client_id = ?1
             ON CONFLICT (client_id) DO UPDATE
                SET received_at = excluded.received_at, summary = excluded.summary",
            params![client_id.as_str(), now.as_secs(), summary],
        )?;
        Ok(n > 0)
    }

    pub fn referee_run(&self, client_id: &ClientId) -> Result<Option<StoredRefereeRun>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT client_id, received_at, summary FROM referee_runs WHERE client_id = ?1",
        )?;
        Ok(stmt
            .query_row([client_id.as_str()], |r| {
                Ok(StoredRefereeRun {
                    client_id: id(r, 0)?,
                    received_at: secs(r, 1)?,
                    summary: r.get(2)?,
                })
            })
            .optional()?)
    }

    pub fn delete_referee_run(&self, client_id: &ClientId) -> Result<bool> {
        let conn = self.lock();
        let n = conn.execute(
            "DELETE FROM referee_runs WHERE client_id = ?1",
            [client_id.as_str()],
        )?;
        Ok(n > 0)
    }
}
