//! The published referee runs on PostgreSQL (`referee_runs`), shared by every replica.

use super::{PgStore, id, secs};
use crate::sandbox::domain::{ClientId, StoredRefereeRun, Timestamp};
use crate::sandbox::store::Result;

impl PgStore {
    pub async fn put_referee_run(
        &self,
        client_id: &ClientId,
        summary: &str,
        now: Timestamp,
    ) -> Result<bool> {
        // INSERT … SELECT FROM clients: an unknown client stores nothing, in one statement.
        let n = self
            .conn()
            .await?
            .execute(
                "INSERT INTO referee_runs (client_id, received_at, summary)
                 SELECT client_id, $2, $3 FROM clients WHERE client_id = $1
                 ON CONFLICT (client_id) DO UPDATE
                    SET received_at = excluded.received_at, summary = excluded.summary",
                &[&client_id.as_str(), &now.as_secs(), &summary],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn referee_run(&self, client_id: &ClientId) -> Result<Option<StoredRefereeRun>> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "SELECT client_id, received_at, summary FROM referee_runs WHERE client_id = $1",
                &[&client_id.as_str()],
            )
            .await?;
        row.map(|r| {
            Ok(StoredRefereeRun {
                client_id: id(&r, 0)?,
                received_at: secs(&r, 1)?,
                summary: r.try_get(2)?,
            })
        })
        .transpose()
    }

    pub async fn delete_referee_run(&self, client_id: &ClientId) -> Result<bool> {
        let n = self
            .conn()
            .await?
            .execute(
                "DELETE FROM referee_runs WHERE client_id = $1",
                &[&client_id.as_str()],
            )
            .await?;
        Ok(n > 0)
    }
}
