//! What a TPP practising (or the operator) can see and tidy of any dialect's events: its stored
//! events with their state (`GET /sandbox/events`), a reset (`POST /sandbox/reset`), and its
//! push deliveries with every attempt and a retry on demand (`/sandbox/deliveries`). A TPP's
//! token acts only on that TPP; the operator's admin credential on any.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::sandbox::domain::RetryOutcome;
use crate::sandbox::domain::{DeliveryId, Timestamp};
use crate::sandbox::http::error::json_response;
use crate::sandbox::http::error::{EdgeError, ErrorItem, codes, ob_response};
use crate::sandbox::http::extract::{Caller, ObJson, ResourceId};
use crate::sandbox::http::openapi::ops;
use crate::sandbox::http::routes::Routes;
use crate::sandbox::http::routes::Verb::{Get, Post};
use crate::sandbox::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(Get, "/sandbox/events", &ops::LIST_EVENTS, list_events)
        .add(Post, "/sandbox/reset", &ops::RESET, reset)
        .add(Get, "/sandbox/deliveries", &ops::LIST_DELIVERIES, list)
        .add(
            Post,
            "/sandbox/deliveries/{DeliveryId}/retry",
            &ops::RETRY_DELIVERY,
            retry,
        )
}

/// `?clientId=…&limit=…` (newest first; `limit` 1..1000, default 100). `more` says whether
/// older SETs were left out. `clientId` is optional with a TPP's token (its own).
async fn list_events(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, EdgeError> {
    let mut client_id = None;
    let mut limit = 100usize;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "clientId" => client_id = Some(v.into_owned()),
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        EdgeError::invalid("limit", "limit must be an integer from 1 to 1000")
                    })?
            }
            _ => {}
        }
    }
    let client_id = caller.acting_on(client_id.as_deref(), "clientId")?;
    let mut events = s.store.events_of(&client_id, limit + 1).await?;
    let more = events.len() > limit;
    events.truncate(limit);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "events": events, "more": more }),
    ))
}

/// `{"clientId"?}`: deletes that TPP's stored events (a TPP: its own; the admin: any).
async fn reset(
    State(s): State<AppState>,
    caller: Caller,
    body: ObJson,
) -> Result<Response, EdgeError> {
    // A reset deletes: a body that is not an object, or names anything but `clientId` (a
    // typo such as `client_id`), is refused rather than read as "the caller's own".
    let Some(members) = body.value.as_object() else {
        return Err(EdgeError::bad_request(ErrorItem::new(
            codes::FIELD_INVALID,
            "the body must be a JSON object",
        )));
    };
    if let Some(other) = members.keys().find(|k| k.as_str() != "clientId") {
        return Err(EdgeError::bad_request(ErrorItem::at(
            codes::FIELD_UNEXPECTED,
            other.clone(),
            format!("{other} is not a member of a reset (only clientId)"),
        )));
    }
    let requested = match members.get("clientId") {
        Some(Value::String(id)) if !id.is_empty() => Some(id.as_str()),
        Some(_) => {
            return Err(EdgeError::invalid(
                "clientId",
                "clientId must be a non-empty string",
            ));
        }
        None => None,
    };
    let client_id = caller.acting_on(requested, "clientId")?;
    let deleted = s.store.reset_events(&client_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "deleted": deleted }),
    ))
}

/// `?clientId=…&limit=…` (with a TPP's token `clientId` is optional and may only name itself;
/// the admin names any; `limit` 1..200, default 50). `more` says whether older deliveries
/// were left out.
async fn list(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, EdgeError> {
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
                        EdgeError::invalid("limit", "limit must be an integer from 1 to 200")
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

/// Makes one of the caller's deliveries (the operator's admin credential: anyone's) due now,
/// whatever its state: 202 and the worker sends it at once (one attempt more; if it fails,
/// the policy decides as for any attempt).
async fn retry(
    State(s): State<AppState>,
    caller: Caller,
    ResourceId(id): ResourceId<DeliveryId>,
) -> Result<Response, EdgeError> {
    let owner = match &caller {
        Caller::Tpp(t) => Some(t.client_id.clone()),
        Caller::Admin => None,
    };
    let at = Timestamp::now();
    let conflict = |message: &str| {
        ob_response(
            StatusCode::CONFLICT,
            vec![ErrorItem::new(codes::CONFLICT, message)],
        )
    };
    match s.store.retry_delivery(owner.as_ref(), &id, at).await? {
        RetryOutcome::Due => {}
        RetryOutcome::Unknown => return Err(EdgeError::unknown_id("delivery", id.as_str())),
        RetryOutcome::Delivered => {
            return Ok(conflict(
                "the delivery was acknowledged already; nothing is sent again",
            ));
        }
        RetryOutcome::InFlight => {
            return Ok(conflict(
                "an attempt of this delivery is in flight; retry once it is recorded",
            ));
        }
    }
    s.push_wake.notify_one();
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({ "id": id, "state": "pending", "nextAttemptAt": at.as_millis() }),
    ))
}
