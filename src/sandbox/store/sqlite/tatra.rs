//! Tatra-style webhooks on SQLite: settings (one row per application, the primary key), consents
//! and refresh tasks (their accounts and banks as JSON written once), and the accounts refreshed
//! so far, whose primary key decides `ADDED` against `UPDATED`.

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, events, id};
use crate::sandbox::domain::{
    ClientId, ConsentId, Dialect, TaskId, TatraConsent, TatraSettings, TatraTask, Timestamp,
};
use crate::sandbox::store::schema::{TATRA_SETTINGS_COLUMNS, delivery_state, sql};
use crate::sandbox::store::{Result, json_of, tatra_destination, to_json};

fn settings_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TatraSettings> {
    Ok(TatraSettings {
        client_id: id(r, 0)?,
        enabled: r.get(1)?,
        url: r.get(2)?,
        security_header: r.get(3)?,
        active_from: r.get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
    })
}

impl SqliteStore {
    pub fn tatra_settings(&self, client_id: &ClientId) -> Result<Option<TatraSettings>> {
        Ok(self
            .lock()
            .prepare_cached(sql!(
                "SELECT ",
                TATRA_SETTINGS_COLUMNS,
                " FROM tatra_webhook_settings WHERE client_id = ?1"
            ))?
            .query_row([client_id.as_str()], settings_from_row)
            .optional()?)
    }

    pub fn put_tatra_settings(&self, s: &TatraSettings, now: Timestamp) -> Result<()> {
        upsert_settings(&self.lock(), s, now)
    }

    /// The old url is read inside the transaction, so pending deliveries follow the url this
    /// change actually replaces.
    pub fn replace_tatra_settings(
        &self,
        s: &TatraSettings,
        cancel_when_disabled: bool,
        now: Timestamp,
    ) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let old = events::url_of(
            &tx,
            "SELECT url FROM tatra_webhook_settings WHERE client_id = ?1",
            s.client_id.as_str(),
        )?;
        upsert_settings(&tx, s, now)?;
        let new = tatra_destination(s, cancel_when_disabled);
        events::carry_pending(&tx, s.client_id.as_str(), old.as_deref(), new, true)?;
        tx.commit()?;
        Ok(())
    }

    pub fn foreign_tatra_url(&self, client_id: &ClientId) -> Result<Option<String>> {
        Ok(self
            .lock()
            .prepare_cached(
                "SELECT url FROM tatra_webhook_settings
                 WHERE client_id <> ?1 AND enabled AND url IS NOT NULL
                 ORDER BY updated_at DESC, client_id LIMIT 1",
            )?
            .query_row([client_id.as_str()], |r| r.get(0))
            .optional()?)
    }

    pub fn insert_tatra_consent(&self, c: &TatraConsent) -> Result<()> {
        self.lock().execute(
            "INSERT INTO tatra_consents (id, client_id, accounts, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                c.id.as_str(),
                c.client_id.as_str(),
                to_json(&c.accounts),
                c.created_at.as_millis()
            ],
        )?;
        Ok(())
    }

    pub fn tatra_consent(
        &self,
        client_id: &ClientId,
        id: &ConsentId,
    ) -> Result<Option<TatraConsent>> {
        let row: Option<(String, i64)> = self
            .lock()
            .prepare_cached(
                "SELECT accounts, created_at FROM tatra_consents WHERE id = ?1 AND client_id = ?2",
            )?
            .query_row(params![id.as_str(), client_id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(accounts, created_at)| {
            Ok(TatraConsent {
                id: id.clone(),
                client_id: client_id.clone(),
                accounts: json_of(&accounts)?,
                created_at: Timestamp::from_millis(created_at),
            })
        })
        .transpose()
    }

    pub fn delete_tatra_consent(
        &self,
        client_id: &ClientId,
        id: &ConsentId,
        now: Timestamp,
    ) -> Result<bool> {
        let (client_id, id) = (client_id.as_str(), id.as_str());
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "DELETE FROM tatra_consents WHERE id = ?1 AND client_id = ?2",
            params![id, client_id],
        )?;
        if n > 0 {
            tx.execute(
                sql!(
                    "UPDATE deliveries SET state = ",
                    delivery_state::CANCELLED,
                    ", next_attempt_at = NULL, updated_at = ?3 WHERE state = ",
                    delivery_state::PENDING,
                    " AND format = ?4 AND event_seq IN
                       (SELECT seq FROM events WHERE client_id = ?1 AND resource_id = ?2)"
                ),
                params![client_id, id, now.as_millis(), Dialect::Tatra.name()],
            )?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    pub fn mark_tatra_refreshed(
        &self,
        account_ids: &[String],
        now: Timestamp,
    ) -> Result<Vec<bool>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut first = Vec::with_capacity(account_ids.len());
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO tatra_refreshed_accounts (account_id, first_at) VALUES (?1, ?2)
                 ON CONFLICT (account_id) DO NOTHING",
            )?;
            for a in account_ids {
                first.push(stmt.execute(params![a, now.as_millis()])? > 0);
            }
        }
        tx.commit()?;
        Ok(first)
    }

    pub fn insert_tatra_task(&self, t: &TatraTask) -> Result<()> {
        self.lock().execute(
            "INSERT INTO tatra_refresh_tasks (id, client_id, consent_id, banks, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                t.id.as_str(),
                t.client_id.as_str(),
                t.consent_id.as_str(),
                to_json(&t.banks),
                t.created_at.as_millis()
            ],
        )?;
        Ok(())
    }

    pub fn tatra_task(&self, client_id: &ClientId, id: &TaskId) -> Result<Option<TatraTask>> {
        let row: Option<(String, String, i64)> = self
            .lock()
            .prepare_cached(
                "SELECT consent_id, banks, created_at FROM tatra_refresh_tasks
                 WHERE id = ?1 AND client_id = ?2",
            )?
            .query_row(params![id.as_str(), client_id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        row.map(|(consent_id, banks, created_at)| {
            Ok(TatraTask {
                id: id.clone(),
                client_id: client_id.clone(),
                consent_id: consent_id.into(),
                banks: json_of(&banks)?,
                created_at: Timestamp::from_millis(created_at),
            })
        })
        .transpose()
    }
}

/// Inserts or replaces the application's settings row.
fn upsert_settings(conn: &Connection, s: &TatraSettings, now: Timestamp) -> Result<()> {
    conn.execute(
        "INSERT INTO tatra_webhook_settings
           (client_id, enabled, url, security_header, active_from, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (client_id) DO UPDATE SET enabled = excluded.enabled,
           url = excluded.url, security_header = excluded.security_header,
           active_from = excluded.active_from, updated_at = excluded.updated_at",
        params![
            s.client_id.as_str(),
            s.enabled,
            s.url,
            s.security_header,
            s.active_from.map(Timestamp::as_millis),
            now.as_millis()
        ],
    )?;
    Ok(())
}
