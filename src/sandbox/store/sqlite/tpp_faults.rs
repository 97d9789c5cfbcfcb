//! The per-TPP chosen faults on SQLite (`tpp_faults`).

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, id, secs};
use crate::sandbox::domain::{ChosenFault, ClientId, Timestamp};
use crate::sandbox::store::Result;

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChosenFault> {
    Ok(ChosenFault {
        client_id: id(r, 0)?,
        fault: r.get(1)?,
        created_at: secs(r, 2)?,
    })
}

impl SqliteStore {
    pub fn tpp_faults_of(&self, client_id: &ClientId) -> Result<Vec<ChosenFault>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT client_id, fault, created_at FROM tpp_faults WHERE client_id = ?1
             ORDER BY fault",
        )?;
        let rows = stmt.query_map([client_id.as_str()], row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn replace_tpp_faults(
        &self,
        client_id: &ClientId,
        faults: &[&str],
        now: Timestamp,
    ) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let known = tx
            .query_row(
                "SELECT 1 FROM clients WHERE client_id = ?1",
                [client_id.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !known {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM tpp_faults WHERE client_id = ?1",
            [client_id.as_str()],
        )?;
        for f in faults {
            tx.execute(
                "INSERT INTO tpp_faults (client_id, fault, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![client_id.as_str(), f, now.as_secs()],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    pub fn all_tpp_faults(&self, limit: usize) -> Result<Vec<ChosenFault>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT client_id, fault, created_at FROM tpp_faults ORDER BY client_id, fault
             LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn clear_tpp_faults(&self, client_id: Option<&ClientId>) -> Result<usize> {
        let conn = self.lock();
        Ok(match client_id {
            Some(c) => conn.execute("DELETE FROM tpp_faults WHERE client_id = ?1", [c.as_str()])?,
            None => conn.execute("DELETE FROM tpp_faults", [])?,
        })
    }
}
