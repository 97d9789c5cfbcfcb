//! What the portal reads on PostgreSQL beyond the API's own queries: the list of TPPs
//! (operator view) and a TPP's activity mark, the cheap summary its live updates compare
//! (written by any replica, so a page on one replica follows a push made by another).

use super::{PgStore, client_row};
use crate::sandbox::domain::{Client, ClientId};
use crate::sandbox::store::Result;
use crate::sandbox::store::schema::{ACTIVITY_POSTGRES, CLIENT_COLUMNS, sql};

impl PgStore {
    pub async fn clients(&self, limit: usize) -> Result<Vec<Client>> {
        let rows = self
            .conn()
            .await?
            .query(
                sql!(
                    "SELECT ",
                    CLIENT_COLUMNS,
                    " FROM clients ORDER BY created_at DESC, client_id LIMIT $1"
                ),
                &[&(limit as i64)],
            )
            .await?;
        rows.iter().map(client_row).collect()
    }

    pub async fn activity(&self, client_id: &ClientId) -> Result<String> {
        let row = self
            .conn()
            .await?
            .query_one(ACTIVITY_POSTGRES, &[&client_id.as_str()])
            .await?;
        Ok(row.try_get::<_, Option<String>>(0)?.unwrap_or_default())
    }
}
