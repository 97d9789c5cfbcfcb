//! Account-access-consents: just enough of the AIS API to own resources that events refer to,
//! plus the sandbox stand-ins for the PSU journey (authorise) and for the PSU revoking access at
//! the bank (the HSBC-style trigger that raises `consent-authorization-revoked`). Status
//! changes are guarded in the store, so two concurrent revokes raise one event.

use super::error::{ObError, ObResult};
use super::events::{self, EventSpec, RaiseOutcome};
use super::requests::NewConsent;
use crate::model::EventType;
use crate::sandbox::domain::{
    Consent, ConsentId, ConsentStatus, ConsentStatusChange, Timestamp, Tpp,
};
use crate::sandbox::state::AppState;

/// Now, whole seconds: the consent's times are shown (and stored) in RFC 3339 seconds, so the
/// record answered now is the one a later GET reads back.
fn now_whole_secs() -> Timestamp {
    Timestamp::from_secs(Timestamp::now().as_secs())
}

/// POST /aisp/account-access-consents: a new consent awaiting authorisation.
pub async fn create(st: &AppState, tpp: &Tpp, new: NewConsent) -> ObResult<Consent> {
    let now = now_whole_secs();
    let consent = Consent {
        consent_id: ConsentId::from(format!("aac-{}", uuid::Uuid::new_v4())),
        client_id: tpp.client_id.clone(),
        status: ConsentStatus::AwaitingAuthorisation,
        permissions: new.permissions,
        expiration: new.expiration,
        transaction_from: new.transaction_from,
        transaction_to: new.transaction_to,
        created_at: now,
        status_updated_at: now,
    };
    st.store.insert_consent(&consent).await?;
    Ok(consent)
}

/// A consent the caller owns (400 NotFound / 403 otherwise).
pub async fn owned(st: &AppState, tpp: &Tpp, id: &ConsentId) -> ObResult<Consent> {
    match st.store.consent(id).await? {
        None => Err(ObError::unknown_id("account-access-consent", id.as_str())),
        Some(c) if c.client_id != tpp.client_id => Err(ObError::NotOwner("account-access-consent")),
        Some(c) => Ok(c),
    }
}

/// Sandbox: the PSU authorises the consent.
pub async fn authorise(st: &AppState, tpp: &Tpp, id: &ConsentId) -> ObResult<Consent> {
    let mut consent = owned(st, tpp, id).await?;
    if consent.status != ConsentStatus::AwaitingAuthorisation {
        return Err(ObError::consent_status(format!(
            "only an AwaitingAuthorisation consent can be authorised; this one is {}",
            consent.status.as_str()
        )));
    }
    let at = now_whole_secs();
    if !st
        .store
        .set_consent_status(
            id,
            ConsentStatus::AwaitingAuthorisation,
            ConsentStatus::Authorised,
            at,
        )
        .await?
    {
        return Err(ObError::consent_status(
            "the consent's status changed while this request was handled",
        ));
    }
    consent.status = ConsentStatus::Authorised;
    consent.status_updated_at = at;
    Ok(consent)
}

/// Sandbox: the PSU revokes the TPP's access at the bank (HSBC's helper). The consent moves to
/// `Revoked` and a `consent-authorization-revoked` event with a subject is raised (N-06), in
/// one transaction guarded on the consent still being `Authorised`.
pub async fn revoke(
    st: &AppState,
    tpp: &Tpp,
    id: &ConsentId,
    txn: Option<String>,
) -> ObResult<RaiseOutcome> {
    let consent = owned(st, tpp, id).await?;
    if consent.status != ConsentStatus::Authorised {
        return Err(ObError::consent_status(format!(
            "only an Authorised consent can be revoked; this one is {}",
            consent.status.as_str()
        )));
    }
    let change = ConsentStatusChange {
        consent_id: consent.consent_id.clone(),
        from: ConsentStatus::Authorised,
        status: ConsentStatus::Revoked,
        at: now_whole_secs(),
    };
    let spec = EventSpec {
        client_id: tpp.client_id.clone(),
        event_type: EventType::ConsentAuthorizationRevoked,
        resource_id: consent.consent_id.into_string(),
        resource_type: "account-access-consent".into(),
        reason: None,
        txn,
    };
    events::raise(st, Some(change), spec).await
}
