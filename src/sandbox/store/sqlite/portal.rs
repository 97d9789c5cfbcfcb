//! What the portal reads on SQLite beyond the API's own queries: the list of TPPs (operator
//! view) and a TPP's activity mark, the cheap summary its live updates compare.

use super::{SqliteStore, client_row};
use crate::sandbox::domain::{Client, ClientId};
use crate::sandbox::store::Result;
use crate::sandbox::store::schema::{ACTIVITY_SQLITE, CLIENT_COLUMNS, sql};

impl SqliteStore {
    pub fn clients(&self, limit: usize) -> Result<Vec<Client>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql!(
            "SELECT ",
            CLIENT_COLUMNS,
            " FROM clients ORDER BY created_at DESC, client_id LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit as i64], client_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn activity(&self, client_id: &ClientId) -> Result<String> {
        Ok(self
            .lock()
            .prepare_cached(ACTIVITY_SQLITE)?
            .query_row([client_id.as_str()], |r| r.get(0))?)
    }
}
