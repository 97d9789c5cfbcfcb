//! Yapily-style subscriptions on PostgreSQL: the unique index of migration 4 is what refuses a
//! second subscription of an application to one event type (YA-03).

use tokio_postgres::Row;

use super::{PgStore, events, id, millis, unless_unique};
use crate::sandbox::domain::{ClientId, Timestamp, YapilySubscription};
use crate::sandbox::store::Result;
use crate::sandbox::store::schema::{YAPILY_COLUMNS, sql};

fn from_row(r: &Row) -> Result<YapilySubscription> {
    Ok(YapilySubscription {
        id: id(r, 0)?,
        client_id: id(r, 1)?,
        event_type_id: r.try_get(2)?,
        url: r.try_get(3)?,
        created_at: millis(r, 4)?,
        deleted: r.try_get(5)?,
    })
}

impl PgStore {
    pub async fn insert_yapily_subscription(
        &self,
        s: &YapilySubscription,
        allow_second: bool,
    ) -> Result<bool> {
        let inserted = self
            .conn()
            .await?
            .execute(
                "INSERT INTO yapily_subscriptions (id, client_id, event_type_id, url, created_at, extra)
                 VALUES ($1, $2, $3, $4, $5,
                   $6 AND EXISTS (SELECT 1 FROM yapily_subscriptions
                                  WHERE client_id = $2 AND event_type_id = $3 AND deleted_at IS NULL))",
                &[
                    &s.id.as_str(),
                    &s.client_id.as_str(),
                    &s.event_type_id,
                    &s.url,
                    &s.created_at.as_millis(),
                    &allow_second,
                ],
            )
            .await;
        unless_unique(inserted)
    }

    pub async fn yapily_subscriptions_of(
        &self,
        client_id: &ClientId,
        with_deleted: bool,
    ) -> Result<Vec<YapilySubscription>> {
        let c = self.conn().await?;
        let rows = c
            .query(
                sql!(
                    "SELECT ",
                    YAPILY_COLUMNS,
                    " FROM yapily_subscriptions
                     WHERE client_id = $1 AND ($2 OR deleted_at IS NULL) ORDER BY created_at, id"
                ),
                &[&client_id.as_str(), &with_deleted],
            )
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn delete_yapily_subscription(
        &self,
        client_id: &ClientId,
        event_type_id: &str,
        keep: bool,
        now: Timestamp,
    ) -> Result<bool> {
        let client_id = client_id.as_str();
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        if keep {
            let n = tx
                .execute(
                    "UPDATE yapily_subscriptions SET deleted_at = $3
                     WHERE client_id = $1 AND event_type_id = $2 AND deleted_at IS NULL",
                    &[&client_id, &event_type_id, &now.as_millis()],
                )
                .await?;
            tx.commit().await?;
            return Ok(n > 0);
        }
        // The application's rows are locked first: two unsubscribes of types sharing a url
        // then run one after the other, and the second sees the url is no longer used.
        tx.execute(
            "SELECT 1 FROM yapily_subscriptions WHERE client_id = $1 FOR UPDATE",
            &[&client_id],
        )
        .await?;
        let gone = tx
            .query(
                "DELETE FROM yapily_subscriptions
                 WHERE client_id = $1 AND event_type_id = $2 AND deleted_at IS NULL RETURNING url",
                &[&client_id, &event_type_id],
            )
            .await?;
        for r in &gone {
            let url: &str = r.try_get(0)?;
            let shared: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM yapily_subscriptions
                       WHERE client_id = $1 AND url = $2 AND deleted_at IS NULL)",
                    &[&client_id, &url],
                )
                .await?
                .try_get(0)?;
            events::carry_pending(&tx, client_id, Some(url), None, !shared).await?;
        }
        tx.commit().await?;
        Ok(!gone.is_empty())
    }

    pub async fn foreign_yapily_url(&self, client_id: &ClientId) -> Result<Option<String>> {
        let c = self.conn().await?;
        Ok(c.query_opt(
            "SELECT url FROM yapily_subscriptions WHERE client_id <> $1 AND deleted_at IS NULL
             ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&client_id.as_str()],
        )
        .await?
        .map(|r| r.get(0)))
    }
}
