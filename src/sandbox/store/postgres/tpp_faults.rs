//! The per-TPP chosen faults on PostgreSQL (`tpp_faults`), shared by every replica.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{PgStore, id, secs};
use crate::sandbox::domain::{ChosenFault, ClientId, Timestamp};
use crate::sandbox::store::Result;

fn row(r: &Row) -> Result<ChosenFault> {
    Ok(ChosenFault {
        client_id: id(r, 0)?,
        fault: r.try_get(1)?,
        created_at: secs(r, 2)?,
    })
}

impl PgStore {
    pub async fn tpp_faults_of(&self, client_id: &ClientId) -> Result<Vec<ChosenFault>> {
        let c = self.conn().await?;
        let stmt = c
            .prepare_cached(
                "SELECT client_id, fault, created_at FROM tpp_faults WHERE client_id = $1
                 ORDER BY fault",
            )
            .await?;
        c.query(&stmt, &[&client_id.as_str()])
            .await?
            .iter()
            .map(row)
            .collect()
    }

    /// The client's row is locked first, so two replacements of one TPP's faults apply one
    /// after the other and a client removed meanwhile stores none.
    pub async fn replace_tpp_faults(
        &self,
        client_id: &ClientId,
        faults: &[&str],
        now: Timestamp,
    ) -> Result<bool> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let known = tx
            .query_opt(
                "SELECT 1 FROM clients WHERE client_id = $1 FOR UPDATE",
                &[&client_id.as_str()],
            )
            .await?
            .is_some();
        if !known {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM tpp_faults WHERE client_id = $1",
            &[&client_id.as_str()],
        )
        .await?;
        let names: Vec<&str> = faults.to_vec();
        tx.execute(
            "INSERT INTO tpp_faults (client_id, fault, created_at)
             SELECT $1, f, $3 FROM UNNEST($2::TEXT[]) AS f ON CONFLICT DO NOTHING",
            &[&client_id.as_str(), &names, &now.as_secs()],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn all_tpp_faults(&self, limit: usize) -> Result<Vec<ChosenFault>> {
        self.conn()
            .await?
            .query(
                "SELECT client_id, fault, created_at FROM tpp_faults ORDER BY client_id, fault
                 LIMIT $1",
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await?
            .iter()
            .map(row)
            .collect()
    }

    pub async fn clear_tpp_faults(&self, client_id: Option<&ClientId>) -> Result<usize> {
        let c = self.conn().await?;
        let n = match client_id {
            Some(id) => {
                c.execute(
                    "DELETE FROM tpp_faults WHERE client_id = $1",
                    &[&id.as_str()],
                )
                .await?
            }
            None => c.execute("DELETE FROM tpp_faults", &[]).await?,
        };
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
