//! Tatra-banka-style webhooks (issue 11; seed `tatra-banka-webhooks.txt`): an application's
//! webhook settings ([`settings`]), Premium API consents with accounts at Tatra banka and other
//! banks, the asynchronous `PUT /refresh` whose banks finish one after another, and the
//! transaction trigger. Each event is raised into the one delivery pipeline
//! (the push worker) as a stored body ([`wire`] renders it); `http::tatra` is the API.
//!
//! A refresh's per-bank `accountEvent`s are written when the refresh starts, as deliveries whose
//! first attempt is due when the bank finishes. Whether webhooks are active is asked again at
//! every attempt, so an event whose bank finishes while webhooks are off is dropped, as one
//! raised then would be.

pub mod openapi;
pub mod routes;
pub mod settings;
pub mod wire;

use serde::Serialize;

use crate::sandbox::domain::{
    Bound, BoundReached, ClientId, ConsentId, DeliveryId, Dialect, EventId, NewDelivery, NewEvent,
    TaskId, TatraAccount, TatraConsent, TatraTask, TatraTaskBank, Timestamp,
};
use crate::sandbox::faults::Fault;
use crate::sandbox::state::AppState;
use crate::sandbox::store::StoreError;

pub use settings::SettingsChange;
use settings::{drop_reason, settings_of};

/// The home bank: transaction events are about its accounts only (TB-06).
pub const HOME_BANK: &str = "TATR";

/// The banks a consent's accounts may be at: code, name, numeric bank code of the IBAN.
pub const BANKS: [(&str, &str, &str); 4] = [
    ("TATR", "Tatra banka", "1100"),
    ("SLSP", "Slovenská sporiteľňa", "0900"),
    ("SUBA", "Všeobecná úverová banka", "0200"),
    ("CEKO", "Československá obchodná banka", "7500"),
];

/// A consent's accounts when the request names none: two at home, three elsewhere.
const DEFAULT_BANKS: [&str; 5] = ["TATR", "TATR", "SLSP", "SUBA", "SUBA"];

/// Most accounts one consent may hold.
pub const MAX_ACCOUNTS: usize = 20;

/// The name of a known bank code.
pub fn bank_name(code: &str) -> Option<&'static str> {
    BANKS.iter().find(|b| b.0 == code).map(|b| b.1)
}

/// Why a Tatra API request was refused; `http::tatra` renders each as its `errorCode`.
#[derive(Debug, thiserror::Error)]
pub enum TatraError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidWebhookUrl(String),
    #[error("{0}")]
    InvalidSecurityHeader(String),
    #[error("no such consent")]
    ConsentNotFound,
    #[error("no such refresh task")]
    TaskNotFound,
    #[error("the consent has no accounts at other banks to refresh")]
    NothingToRefresh,
    #[error("webhooks are not enabled")]
    WebhookNotEnabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TatraError {
    /// The API's `errorCode` for this refusal (the portal shows it beside the message).
    pub fn code(&self) -> &'static str {
        match self {
            TatraError::InvalidRequest(_) => "INVALID_REQUEST",
            TatraError::InvalidWebhookUrl(_) => "INVALID_WEBHOOK_URL",
            TatraError::InvalidSecurityHeader(_) => "INVALID_SECURITY_HEADER",
            TatraError::ConsentNotFound => "CONSENT_NOT_FOUND",
            TatraError::TaskNotFound => "TASK_NOT_FOUND",
            TatraError::NothingToRefresh => "NOTHING_TO_REFRESH",
            TatraError::WebhookNotEnabled => "WEBHOOK_NOT_ENABLED",
            TatraError::Store(StoreError::BoundReached(_)) => "LIMIT_REACHED",
            TatraError::Store(_) => "INTERNAL_ERROR",
        }
    }
}

/// What the transaction trigger did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionRaised {
    pub consent_id: ConsentId,
    pub account_ids: Vec<String>,
    /// The delivery to the owner's webhook, when one was written.
    pub delivery: Option<DeliveryId>,
    /// Why nothing was written, when nothing was.
    pub dropped: Option<String>,
}

/// A plausible Slovak IBAN at `bank` (numeric code), with correct ISO 7064 check digits.
fn iban(bank: &str) -> String {
    let digits = uuid::Uuid::new_v4().as_u128() % 10_000_000_000;
    let bban = format!("{bank}000000{digits:010}");
    // Check digits: the BBAN, then "SK00" as digits (S = 28, K = 20), mod 97.
    let rem = format!("{bban}282000")
        .bytes()
        .fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
    format!("SK{:02}{bban}", 98 - rem)
}

/// `POST /consents`: a consent authorised at once (the OAuth step is not modelled), with
/// one account per requested bank, or the default mix.
pub async fn create_consent(
    st: &AppState,
    client_id: &ClientId,
    banks: Option<Vec<String>>,
) -> Result<TatraConsent, TatraError> {
    let banks = banks.unwrap_or_else(|| DEFAULT_BANKS.iter().map(|b| b.to_string()).collect());
    if banks.is_empty() || banks.len() > MAX_ACCOUNTS {
        return Err(TatraError::InvalidRequest(format!(
            "accounts must hold 1 to {MAX_ACCOUNTS} entries"
        )));
    }
    let mut accounts = Vec::with_capacity(banks.len());
    for code in banks {
        let Some(b) = BANKS.iter().find(|b| b.0 == code) else {
            return Err(TatraError::InvalidRequest(format!(
                "unknown bankCode {code:?} (known: TATR, SLSP, SUBA, CEKO)"
            )));
        };
        accounts.push(TatraAccount {
            account_id: uuid::Uuid::new_v4().to_string(),
            bank_code: code,
            iban: iban(b.2),
        });
    }
    let c = TatraConsent {
        id: ConsentId::random(),
        client_id: client_id.clone(),
        accounts,
        created_at: Timestamp::now(),
    };
    st.store.insert_tatra_consent(&c).await?;
    Ok(c)
}

/// The application's own consent; another application's is as unknown as a missing one.
pub async fn consent(
    st: &AppState,
    client_id: &ClientId,
    consent_id: &ConsentId,
) -> Result<TatraConsent, TatraError> {
    st.store
        .tatra_consent(client_id, consent_id)
        .await?
        .ok_or(TatraError::ConsentNotFound)
}

/// Deletes the consent; its pending webhooks stop with it.
pub async fn delete_consent(
    st: &AppState,
    client_id: &ClientId,
    consent_id: &ConsentId,
) -> Result<(), TatraError> {
    if st.store.delete_tatra_consent(client_id, consent_id).await? {
        Ok(())
    } else {
        Err(TatraError::ConsentNotFound)
    }
}

/// The application's own refresh task.
pub async fn task(
    st: &AppState,
    client_id: &ClientId,
    task_id: &TaskId,
) -> Result<TatraTask, TatraError> {
    st.store
        .tatra_task(client_id, task_id)
        .await?
        .ok_or(TatraError::TaskNotFound)
}

/// `PUT /refresh` (TB-07, TB-08, TB-12): stores the task and one accountEvent per other
/// bank, each due when its bank finishes, and answers at once.
pub async fn refresh(
    st: &AppState,
    client_id: &ClientId,
    consent_id: &ConsentId,
) -> Result<TatraTask, TatraError> {
    let consent = consent(st, client_id, consent_id).await?;
    let mut order: Vec<&str> = Vec::new();
    for a in consent.accounts.iter().filter(|a| a.bank_code != HOME_BANK) {
        if !order.contains(&a.bank_code.as_str()) {
            order.push(&a.bank_code);
        }
    }
    if order.is_empty() {
        return Err(TatraError::NothingToRefresh);
    }
    let now = Timestamp::now();
    let step = st.cfg.tatra.refresh_delay;
    let task = TatraTask {
        id: TaskId::random(),
        client_id: client_id.clone(),
        consent_id: consent.id.clone(),
        banks: (1u32..)
            .zip(&order)
            .map(|(i, code)| TatraTaskBank {
                bank_code: code.to_string(),
                finish_at: now.saturating_add(step.saturating_mul(i)),
            })
            .collect(),
        created_at: now,
    };
    let settings = settings_of(st, client_id).await?;
    if settings.url.is_some() {
        room_for_events(st, client_id).await?;
    }
    st.store.insert_tatra_task(&task).await?;
    tracing::debug!(client = %client_id, task = %task.id, banks = task.banks.len(), "tatra refresh started");
    let others: Vec<&TatraAccount> = consent
        .accounts
        .iter()
        .filter(|a| a.bank_code != HOME_BANK)
        .collect();
    let ids: Vec<String> = others.iter().map(|a| a.account_id.clone()).collect();
    let first = st.store.mark_tatra_refreshed(&ids).await?;
    let refreshed: Vec<(&TatraAccount, bool)> = others.into_iter().zip(first).collect();
    let faults = st.faults_for(client_id).await?;
    let events = wire::account_events(&faults, &task, &refreshed)?;
    // Written whenever there is a url: the attempt decides whether they are still wanted.
    if let Some(url) = settings.url.clone() {
        let mut stored = Vec::with_capacity(events.len());
        for (at, body) in events {
            stored.push(event(st, client_id, &consent.id, "accountEvent", body, &url, at).await?);
        }
        let stored: std::sync::Arc<[NewEvent]> = stored.into();
        st.writes.commit_trigger(None, stored.clone()).await?;
        st.metrics.events_raised(Dialect::Tatra, &stored);
        st.push_wake.notify_one();
    }
    Ok(task)
}

/// `Err` when the TPP is already at its bound of stored events. A refresh writes its task and
/// the accounts' refresh marks before its events, so it is refused here, before any of them;
/// the commit of the events still checks, race-safe.
async fn room_for_events(st: &AppState, client_id: &ClientId) -> Result<(), TatraError> {
    match st.cfg.limits.max_events {
        Some(limit) if st.store.stored_events(client_id).await? >= limit => {
            Err(StoreError::BoundReached(BoundReached {
                client_id: client_id.clone(),
                bound: Bound::StoredEvents,
                limit,
            })
            .into())
        }
        _ => Ok(()),
    }
}

/// The sandbox trigger (TB-06): a transaction arrived on these Tatra banka accounts of the
/// consent (all of them by default); one aggregated transactionEvent.
pub async fn trigger_transaction(
    st: &AppState,
    client_id: &ClientId,
    consent_id: &ConsentId,
    account_ids: Option<Vec<String>>,
) -> Result<TransactionRaised, TatraError> {
    let consent = consent(st, client_id, consent_id).await?;
    let home: Vec<&str> = consent
        .accounts
        .iter()
        .filter(|a| a.bank_code == HOME_BANK)
        .map(|a| a.account_id.as_str())
        .collect();
    let ids = match account_ids {
        None if home.is_empty() => {
            return Err(TatraError::InvalidRequest(
                "the consent has no Tatra banka accounts".into(),
            ));
        }
        None => home.iter().map(|s| s.to_string()).collect(),
        Some(ids) => chosen_home_accounts(&home, ids)?,
    };
    let mut raised = TransactionRaised {
        consent_id: consent.id.clone(),
        account_ids: ids.clone(),
        delivery: None,
        dropped: None,
    };
    let settings = settings_of(st, client_id).await?;
    let faults = st.faults_for(client_id).await?;
    let now = Timestamp::now();
    let url = match (drop_reason(&faults, &settings, now), settings.url) {
        (None, Some(url)) => url,
        (why, _) => {
            // No reason but no url: disabled and never given one (a fault sends anyway).
            let why = why.unwrap_or_else(|| "webhooks disabled".into());
            tracing::debug!(client = %client_id, %why, "tatra transactionEvent dropped");
            raised.dropped = Some(why);
            return Ok(raised);
        }
    };
    let body = wire::transaction_event(&faults, &consent.id, &ids)?;
    let event = event(
        st,
        client_id,
        &consent.id,
        "transactionEvent",
        body,
        &url,
        now,
    )
    .await?;
    raised.delivery = event.deliveries.first().map(|d| d.id.clone());
    let stored: std::sync::Arc<[NewEvent]> = std::sync::Arc::new([event]);
    st.writes.commit_trigger(None, stored.clone()).await?;
    st.metrics.events_raised(Dialect::Tatra, &stored);
    st.push_wake.notify_one();
    Ok(raised)
}

/// One event with its stored body and deliveries due at `at`: to the owner's url and, with
/// the `tatra-to-other-tpp` fault, to another application's.
async fn event(
    st: &AppState,
    client_id: &ClientId,
    consent_id: &ConsentId,
    kind: &str,
    body: String,
    url: &str,
    at: Timestamp,
) -> Result<NewEvent, TatraError> {
    let misdirected = if st.has_global_fault(Fault::TatraToOtherTpp) {
        st.store.foreign_tatra_url(client_id).await?
    } else {
        None
    };
    let deliveries = NewDelivery::to_each(
        Dialect::Tatra,
        std::iter::once(url.to_string()).chain(misdirected),
        at,
    );
    // The body's bytes are fixed now, so every attempt sends them unchanged (TB-11).
    Ok(NewEvent::webhook(
        EventId::random(),
        client_id,
        kind,
        (consent_id.as_str(), "tatra-consent"),
        body,
        deliveries,
    ))
}

/// The requested accounts, each a Tatra banka account of the consent, without repeats.
fn chosen_home_accounts(home: &[&str], ids: Vec<String>) -> Result<Vec<String>, TatraError> {
    if ids.is_empty() || ids.len() > MAX_ACCOUNTS {
        return Err(TatraError::InvalidRequest(format!(
            "accountIds must hold 1 to {MAX_ACCOUNTS} entries"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !home.contains(&id.as_str()) {
            return Err(TatraError::InvalidRequest(format!(
                "{id:?} is not a Tatra banka account of the consent"
            )));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans_have_valid_check_digits() {
        for _ in 0..20 {
            let i = iban("1100");
            assert_eq!(i.len(), 24, "{i}");
            let moved = format!("{}{}", &i[4..], "2820") + &i[2..4];
            let rem = moved
                .bytes()
                .fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
            assert_eq!(rem, 1, "{i}");
        }
    }
}
