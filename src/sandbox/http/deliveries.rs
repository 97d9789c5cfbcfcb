//! Push deliveries as a TPP practising sees them (`/sandbox/deliveries`): every delivery of
//! the caller's events with its attempts, newest first, and a retry on demand. A TPP's token
//! acts only on that TPP; the operator's admin credential lists any TPP's.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::error::json_response;
use super::extract::{AnyScope, Authed, Caller, ResourceId};
use super::openapi::ops;
use super::routes::Routes;
use super::routes::Verb::{Get, Post};
use crate::sandbox::error::{ApiError, ApiResult};
use crate::sandbox::state::AppState;
use crate::sandbox::store::now_ms;

pub fn routes() -> Routes {
    Routes::new()
        .add(Get, "/sandbox/deliveries", &ops::LIST_DELIVERIES, list)
        .add(
            Post,
            "/sandbox/deliveries/{DeliveryId}/retry",
            &ops::RETRY_DELIVERY,
            retry,
        )
}

/// `?clientId=…&limit=…` (with a TPP's token `clientId` is optional and may only name itself;
/// the admin names any; `limit` 1..200, default 50). `more` says whether older deliveries
/// were left out.
async fn list(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let mut limit = 50usize;
    let mut requested = None;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "clientId" => requested = Some(v.into_owned()),
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=200).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid("limit", "limit must be an integer from 1 to 200")
                    })?;
            }
            _ => {}
        }
    }
    let client_id = caller.acting_on(requested.as_deref(), "clientId")?;
    let mut deliveries = s.store.deliveries_of(&client_id, limit + 1).await?;
    let more = deliveries.len() > limit;
    deliveries.truncate(limit);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "deliveries": deliveries, "more": more }),
    ))
}

/// Makes one of the caller's deliveries due now, whatever its state: 202 and the worker sends
/// it at once (one attempt more; if it fails, the policy decides as for any attempt).
async fn retry(
    State(s): State<AppState>,
    auth: Authed<AnyScope>,
    ResourceId(id): ResourceId,
) -> ApiResult<Response> {
    let at = now_ms();
    if !s.store.retry_delivery(&auth.client_id, &id, at).await? {
        return Err(ApiError::not_found_id("delivery", &id));
    }
    s.push_wake.notify_one();
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({ "id": id, "state": "pending", "nextAttemptAt": at }),
    ))
}
