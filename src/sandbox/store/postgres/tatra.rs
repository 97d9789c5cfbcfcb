//! Tatra-style webhooks on PostgreSQL: settings (one row per application, the primary key),
//! consents and refresh tasks (their accounts and banks as JSON written once), and the accounts
//! refreshed so far, whose primary key decides `ADDED` against `UPDATED` across replicas.

use deadpool_postgres::GenericClient;

use super::{PgStore, events, id, millis};
use crate::sandbox::domain::{
    ClientId, ConsentId, Dialect, TaskId, TatraConsent, TatraSettings, TatraTask, Timestamp,
};
use crate::sandbox::store::schema::{TATRA_SETTINGS_COLUMNS, delivery_state, sql};
use crate::sandbox::store::{Result, json_of, tatra_destination, to_json};

impl PgStore {
    pub async fn tatra_settings(&self, client_id: &ClientId) -> Result<Option<TatraSettings>> {
        let row = self
            .conn()
            .await?
            .query_opt(
                sql!(
                    "SELECT ",
                    TATRA_SETTINGS_COLUMNS,
                    " FROM tatra_webhook_settings WHERE client_id = $1"
                ),
                &[&client_id.as_str()],
            )
            .await?;
        row.map(|r| {
            let active_from: Option<i64> = r.try_get(4)?;
            Ok(TatraSettings {
                client_id: id(&r, 0)?,
                enabled: r.try_get(1)?,
                url: r.try_get(2)?,
                security_header: r.try_get(3)?,
                active_from: active_from.map(Timestamp::from_millis),
            })
        })
        .transpose()
    }

    pub async fn put_tatra_settings(&self, s: &TatraSettings, now: Timestamp) -> Result<()> {
        upsert_settings(&self.conn().await?, s, now).await
    }

    /// The old url is read under the row's lock, so two changes at once move the pending
    /// deliveries one after the other, each from the url it actually replaces.
    pub async fn replace_tatra_settings(
        &self,
        s: &TatraSettings,
        cancel_when_disabled: bool,
        now: Timestamp,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let old = events::url_of(
            &tx,
            "SELECT url FROM tatra_webhook_settings WHERE client_id = $1 FOR UPDATE",
            s.client_id.as_str(),
        )
        .await?;
        upsert_settings(&tx, s, now).await?;
        let new = tatra_destination(s, cancel_when_disabled);
        events::carry_pending(&tx, s.client_id.as_str(), old.as_deref(), new, true).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn foreign_tatra_url(&self, client_id: &ClientId) -> Result<Option<String>> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "SELECT url FROM tatra_webhook_settings
                 WHERE client_id <> $1 AND enabled AND url IS NOT NULL
                 ORDER BY updated_at DESC, client_id LIMIT 1",
                &[&client_id.as_str()],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    pub async fn insert_tatra_consent(&self, c: &TatraConsent) -> Result<()> {
        self.conn()
            .await?
            .execute(
                "INSERT INTO tatra_consents (id, client_id, accounts, created_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &c.id.as_str(),
                    &c.client_id.as_str(),
                    &to_json(&c.accounts),
                    &c.created_at.as_millis(),
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn tatra_consent(
        &self,
        client_id: &ClientId,
        id: &ConsentId,
    ) -> Result<Option<TatraConsent>> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "SELECT accounts, created_at FROM tatra_consents WHERE id = $1 AND client_id = $2",
                &[&id.as_str(), &client_id.as_str()],
            )
            .await?;
        row.map(|r| {
            let accounts: String = r.try_get(0)?;
            Ok(TatraConsent {
                id: id.clone(),
                client_id: client_id.clone(),
                accounts: json_of(&accounts)?,
                created_at: millis(&r, 1)?,
            })
        })
        .transpose()
    }

    pub async fn delete_tatra_consent(
        &self,
        client_id: &ClientId,
        id: &ConsentId,
        now: Timestamp,
    ) -> Result<bool> {
        let (client_id, id) = (client_id.as_str(), id.as_str());
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "DELETE FROM tatra_consents WHERE id = $1 AND client_id = $2",
                &[&id, &client_id],
            )
            .await?;
        if n > 0 {
            tx.execute(
                sql!(
                    "UPDATE deliveries SET state = ",
                    delivery_state::CANCELLED,
                    ", next_attempt_at = NULL, updated_at = $3 WHERE state = ",
                    delivery_state::PENDING,
                    " AND format = $4 AND event_seq IN
                       (SELECT seq FROM events WHERE client_id = $1 AND resource_id = $2)"
                ),
                &[&client_id, &id, &now.as_millis(), &Dialect::Tatra.name()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    pub async fn mark_tatra_refreshed(
        &self,
        account_ids: &[String],
        now: Timestamp,
    ) -> Result<Vec<bool>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let mut first = Vec::with_capacity(account_ids.len());
        for a in account_ids {
            let n = tx
                .execute(
                    "INSERT INTO tatra_refreshed_accounts (account_id, first_at) VALUES ($1, $2)
                     ON CONFLICT (account_id) DO NOTHING",
                    &[a, &now.as_millis()],
                )
                .await?;
            first.push(n > 0);
        }
        tx.commit().await?;
        Ok(first)
    }

    pub async fn insert_tatra_task(&self, t: &TatraTask) -> Result<()> {
        self.conn()
            .await?
            .execute(
                "INSERT INTO tatra_refresh_tasks (id, client_id, consent_id, banks, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &t.id.as_str(),
                    &t.client_id.as_str(),
                    &t.consent_id.as_str(),
                    &to_json(&t.banks),
                    &t.created_at.as_millis(),
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn tatra_task(&self, client_id: &ClientId, id: &TaskId) -> Result<Option<TatraTask>> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "SELECT consent_id, banks, created_at FROM tatra_refresh_tasks
                 WHERE id = $1 AND client_id = $2",
                &[&id.as_str(), &client_id.as_str()],
            )
            .await?;
        row.map(|r| {
            let banks: String = r.try_get(1)?;
            Ok(TatraTask {
                id: id.clone(),
                client_id: client_id.clone(),
                consent_id: super::id(&r, 0)?,
                banks: json_of(&banks)?,
                created_at: millis(&r, 2)?,
            })
        })
        .transpose()
    }
}

/// Inserts or replaces the application's settings row.
async fn upsert_settings(c: &impl GenericClient, s: &TatraSettings, now: Timestamp) -> Result<()> {
    c.execute(
        "INSERT INTO tatra_webhook_settings
           (client_id, enabled, url, security_header, active_from, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (client_id) DO UPDATE SET enabled = excluded.enabled,
           url = excluded.url, security_header = excluded.security_header,
           active_from = excluded.active_from, updated_at = excluded.updated_at",
        &[
            &s.client_id.as_str(),
            &s.enabled,
            &s.url,
            &s.security_header,
            &s.active_from.map(Timestamp::as_millis),
            &now.as_millis(),
        ],
    )
    .await?;
    Ok(())
}
