//! The Tatra wire format: the two event bodies (rendered once, when the event is raised) and
//! the request of each attempt, whose `Authorization` comes from the application's settings at
//! the moment of the attempt (TB-03). The body and header faults bend them here only.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;

use crate::sandbox::dialects::tatra::{TatraError, bank_name};
use crate::sandbox::domain::Wire;
use crate::sandbox::domain::{ConsentId, DueDelivery, TatraAccount, TatraTask, Timestamp};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::state::AppState;
use crate::sandbox::store::StoreError;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TransactionEvent<'a> {
    consent_id: &'a str,
    event_type: &'a str,
    accounts: Vec<AccountRef<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountRef<'a> {
    account_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountEvent<'a> {
    consent_id: &'a str,
    task_id: &'a str,
    task_status: &'a str,
    bank_code: &'a str,
    bank_name: &'a str,
    accounts: Vec<RefreshedAccount<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefreshedAccount<'a> {
    account_id: &'a str,
    event_type: &'a str,
}

/// The body names its kind by its one member (TB-11): `{"transactionEvent": {…}}`.
fn wrapped<T: Serialize>(kind: &str, inner: &T) -> Result<String, TatraError> {
    let mut body = serde_json::Map::new();
    let value = serde_json::to_value(inner)
        .map_err(|e| StoreError::Corrupt(format!("rendering a {kind}: {e}")))?;
    body.insert(kind.to_string(), value);
    Ok(serde_json::Value::Object(body).to_string())
}

/// TB-06: `{"transactionEvent": {consentId, eventType: "NEW", accounts: [{accountId}]}}`.
pub fn transaction_event(
    faults: &Faults,
    consent_id: &ConsentId,
    account_ids: &[String],
) -> Result<String, TatraError> {
    let event_type = if faults.has(Fault::TatraWrongTransactionType) {
        "UPDATED"
    } else {
        "NEW"
    };
    let e = TransactionEvent {
        consent_id: consent_id.as_str(),
        event_type,
        accounts: account_ids
            .iter()
            .map(|a| AccountRef { account_id: a })
            .collect(),
    };
    wrapped("transactionEvent", &e)
}

/// One accountEvent to render: bank code, when it is due, the accounts with their first-time flag.
type Group<'a> = (&'a str, Timestamp, Vec<&'a (&'a TatraAccount, bool)>);

/// TB-07..TB-09: one `{"accountEvent": {…}}` per bank of the task with its accounts, each
/// paired with when that bank finishes. `refreshed` says per account whether it is new (ADDED).
pub fn account_events(
    faults: &Faults,
    task: &TatraTask,
    refreshed: &[(&TatraAccount, bool)],
) -> Result<Vec<(Timestamp, String)>, TatraError> {
    let merged = faults.has(Fault::TatraMergedAccountEvent);
    // Merged: the first bank's name over every bank's accounts, when the last one finishes.
    let groups: Vec<Group<'_>> = if merged {
        let first = task.banks.first().map_or("", |b| b.bank_code.as_str());
        let last = task.banks.last().map_or(task.created_at, |b| b.finish_at);
        vec![(first, last, refreshed.iter().collect())]
    } else {
        task.banks
            .iter()
            .map(|b| {
                let mine = refreshed
                    .iter()
                    .filter(|(a, _)| a.bank_code == b.bank_code)
                    .collect();
                (b.bank_code.as_str(), b.finish_at, mine)
            })
            .collect()
    };
    let mut out = Vec::with_capacity(groups.len());
    for (code, at, accounts) in groups {
        let wrong_id = uuid::Uuid::new_v4().to_string();
        let task_id = if faults.has(Fault::TatraWrongTaskId) {
            wrong_id.as_str()
        } else {
            task.id.as_str()
        };
        let e = AccountEvent {
            consent_id: task.consent_id.as_str(),
            task_id,
            task_status: "FINISHED",
            bank_code: code,
            bank_name: bank_name(code).unwrap_or(code),
            accounts: accounts
                .iter()
                .map(|(a, first)| RefreshedAccount {
                    account_id: &a.account_id,
                    event_type: if *first { "ADDED" } else { "UPDATED" },
                })
                .collect(),
        };
        out.push((at, wrapped("accountEvent", &e)?));
    }
    Ok(out)
}

/// The request of one attempt: the stored body as JSON to the delivery's url, with the
/// application's security header as `Authorization` when it has one. An application whose
/// webhooks are off (or not yet active) at this moment gets nothing: the event is dropped.
pub async fn render(state: &AppState, faults: &Faults, d: &DueDelivery) -> Result<Wire, String> {
    let body = d
        .token
        .as_deref()
        .ok_or_else(|| "the event has no stored body".to_string())?
        .as_bytes()
        .to_vec();
    let settings = super::settings::settings_of(state, &d.client_id)
        .await
        .map_err(|e| format!("cannot read the webhook settings: {e}"))?;
    if let Some(why) = super::settings::drop_reason(faults, &settings, Timestamp::now()) {
        return Err(format!("dropped: {why}"));
    }
    let mut headers = vec![(CONTENT_TYPE, "application/json".to_string())];
    let header = settings.security_header;
    if !header.is_empty() && !faults.has(Fault::TatraNoAuthorization) {
        let value = if faults.has(Fault::TatraAuthorizationPrefixed) {
            format!("Bearer {header}")
        } else {
            header
        };
        headers.push((AUTHORIZATION, value));
    }
    Ok(Wire {
        url: d.url.clone(),
        headers,
        body,
    })
}
