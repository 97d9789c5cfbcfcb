//! Callback URL API operations (obie-rules §3, CB-01..CB-07): the legacy registration of a push
//! endpoint. One per TPP. When the TPP also has an event subscription, the subscription governs
//! delivery (ES-13) and the registration is kept but inert.

use super::error::{ObError, ObResult};
use super::requests::CallbackUrlFields;
use crate::sandbox::domain::{CallbackUrl, CallbackUrlId, Timestamp, Tpp};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::http::error::{ErrorItem, codes};
use crate::sandbox::state::AppState;

/// POST /callback-urls (CB-02, CB-03).
pub async fn create(
    st: &AppState,
    faults: &Faults,
    tpp: &Tpp,
    fields: CallbackUrlFields,
) -> ObResult<CallbackUrl> {
    let cb = CallbackUrl {
        id: CallbackUrlId::random(),
        client_id: tpp.client_id.clone(),
        url: fields.url,
        version: fields.version,
        created_at: Timestamp::now(),
    };
    if !st
        .store
        .insert_callback_url(&cb, faults.has(Fault::SubscriptionNo409))
        .await?
    {
        return Err(ObError::AlreadyExists(
            "this TPP already has a callback URL; update or delete it instead",
        ));
    }
    Ok(cb)
}

pub async fn list(st: &AppState, tpp: &Tpp) -> ObResult<Vec<CallbackUrl>> {
    Ok(st.store.callback_urls_of(&tpp.client_id).await?)
}

/// The registration `id` if the caller owns it (400 NotFound / 403 otherwise).
pub async fn owned(
    st: &AppState,
    faults: &Faults,
    tpp: &Tpp,
    id: &CallbackUrlId,
) -> ObResult<CallbackUrl> {
    match st.store.callback_url(id).await? {
        None if faults.has(Fault::UnknownId404) => Err(ObError::NotFound(ErrorItem::new(
            codes::RESOURCE_NOT_FOUND,
            format!("no callback URL with id {id}"),
        ))),
        None => Err(ObError::unknown_id("callback URL", id.as_str())),
        Some(c) if c.client_id != tpp.client_id => Err(ObError::NotOwner("callback URL")),
        Some(c) => Ok(c),
    }
}

/// PUT /callback-urls/{id}: full replace of an owned registration; pending pushes follow the
/// new URL.
pub async fn replace(
    st: &AppState,
    faults: &Faults,
    existing: CallbackUrl,
    fields: CallbackUrlFields,
) -> ObResult<CallbackUrl> {
    if faults.has(Fault::PutIgnoresBody) {
        return Ok(existing);
    }
    let updated = CallbackUrl {
        url: fields.url,
        version: fields.version,
        ..existing
    };
    st.store.replace_callback_url(&updated).await?;
    Ok(updated)
}

/// DELETE /callback-urls/{id}: pushes to it stop.
pub async fn delete(
    st: &AppState,
    faults: &Faults,
    tpp: &Tpp,
    id: &CallbackUrlId,
) -> ObResult<CallbackUrl> {
    let existing = owned(st, faults, tpp, id).await?;
    st.store
        .delete_callback_url(id, !faults.has(Fault::PushAfterDelete))
        .await?;
    Ok(existing)
}
