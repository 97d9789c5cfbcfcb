//! Event Notification Subscription API operations (obie-rules §2, ES-01..ES-13): one
//! subscription per TPP, owner scoping, full-replace PUT. Requests arrive parsed
//! ([`super::requests::SubscriptionFields`]); the answers are domain records, rendered by
//! [`super::render`].

use super::error::{ObError, ObResult};
use super::requests::SubscriptionFields;
use crate::sandbox::domain::{Subscription, SubscriptionId, Timestamp, Tpp};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::http::error::{ErrorItem, codes};
use crate::sandbox::state::AppState;

/// POST /event-subscriptions (ES-02, ES-03, ES-04).
pub async fn create(
    st: &AppState,
    faults: &Faults,
    tpp: &Tpp,
    fields: SubscriptionFields,
) -> ObResult<Subscription> {
    let sub = Subscription {
        id: SubscriptionId::random(),
        client_id: tpp.client_id.clone(),
        version: fields.version,
        callback_url: fields.callback_url,
        event_types: fields.event_types,
        created_at: Timestamp::now(),
    };
    if !st
        .store
        .insert_subscription(&sub, faults.has(Fault::SubscriptionNo409))
        .await?
    {
        return Err(ObError::AlreadyExists(
            "this TPP already has an event subscription; update or delete it instead",
        ));
    }
    Ok(sub)
}

/// GET /event-subscriptions (ES-08): the caller's subscriptions, `[]` when none.
pub async fn list(st: &AppState, tpp: &Tpp) -> ObResult<Vec<Subscription>> {
    Ok(st.store.subscriptions_of(&tpp.client_id).await?)
}

/// The subscription `id` if the caller owns it: unknown → 400 NotFound (G-11), another TPP's →
/// 403 (G-10). Checked before the body of a PUT is looked at.
pub async fn owned(
    st: &AppState,
    faults: &Faults,
    tpp: &Tpp,
    id: &SubscriptionId,
) -> ObResult<Subscription> {
    match st.store.subscription(id).await? {
        None if faults.has(Fault::UnknownId404) => Err(ObError::NotFound(ErrorItem::new(
            codes::RESOURCE_NOT_FOUND,
            format!("no event subscription with id {id}"),
        ))),
        None => Err(ObError::unknown_id("event subscription", id.as_str())),
        Some(s) if s.client_id != tpp.client_id => Err(ObError::NotOwner("event subscription")),
        Some(s) => Ok(s),
    }
}

/// PUT /event-subscriptions/{id} (ES-10): full replace of an owned subscription, answering the
/// updated resource. Pending pushes follow the CallbackUrl, or stop when it was removed.
pub async fn replace(
    st: &AppState,
    faults: &Faults,
    existing: Subscription,
    fields: SubscriptionFields,
) -> ObResult<Subscription> {
    if faults.has(Fault::PutIgnoresBody) {
        return Ok(existing);
    }
    let updated = Subscription {
        version: fields.version,
        callback_url: fields.callback_url,
        event_types: fields.event_types,
        ..existing
    };
    st.store
        .replace_subscription(&updated, !faults.has(Fault::PushAfterDelete))
        .await?;
    Ok(updated)
}

/// DELETE /event-subscriptions/{id} (ES-11): pushes to its CallbackUrl stop.
pub async fn delete(
    st: &AppState,
    faults: &Faults,
    tpp: &Tpp,
    id: &SubscriptionId,
) -> ObResult<Subscription> {
    let existing = owned(st, faults, tpp, id).await?;
    st.store
        .delete_subscription(id, !faults.has(Fault::PushAfterDelete))
        .await?;
    Ok(existing)
}
