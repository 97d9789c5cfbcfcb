//! Sandbox-only helpers, mounted under `/sandbox` and never under `/open-banking`: the PSU
//! stand-ins for consents (authorise; revoke → `consent-authorization-revoked`, the HSBC-style
//! trigger), generic event injection, reset, and read-only inspection.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::json_response;
use super::extract::{AnyScope, Authed, Caller, InteractionId, ObJson, ResourceId};
use super::openapi::ops;
use super::routes::Routes;
use super::routes::Verb::{Delete, Get, Post};
use crate::model::EventType;
use crate::sandbox::error::{ApiError, ApiResult, ErrorItem, codes};
use crate::sandbox::events::EventSpec;
use crate::sandbox::state::AppState;
use crate::sandbox::validate::Check;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Post,
            "/sandbox/account-access-consents/{ConsentId}/authorise",
            &ops::AUTHORISE_CONSENT,
            authorise,
        )
        .add(
            Delete,
            "/sandbox/account-access-consents/{ConsentId}",
            &ops::REVOKE_CONSENT,
            revoke,
        )
        .add(Post, "/sandbox/events", &ops::INJECT_EVENT, inject)
        .add(Get, "/sandbox/events", &ops::LIST_EVENTS, list)
        .add(Post, "/sandbox/reset", &ops::RESET, reset)
        .add(Get, "/sandbox/event-types", &ops::EVENT_TYPES, event_types)
}

async fn authorise(
    State(s): State<AppState>,
    auth: Authed<AnyScope>,
    ResourceId(id): ResourceId,
) -> ApiResult<Response> {
    let consent = s.authorise_consent(&auth, &id).await?;
    Ok(json_response(StatusCode::OK, &s.consent_json(&consent)))
}

async fn revoke(
    State(s): State<AppState>,
    iid: InteractionId,
    auth: Authed<AnyScope>,
    ResourceId(id): ResourceId,
) -> ApiResult<Response> {
    s.revoke_consent(&auth, &id, Some(iid.0)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"clientId"?,"eventType","resourceId","resourceType","reason"?,"txn"?}` (N-03..N-08).
/// A TPP injects for itself (`clientId` optional); the admin for any TPP.
async fn inject(
    State(s): State<AppState>,
    iid: InteractionId,
    caller: Caller,
    body: ObJson,
) -> ApiResult<Response> {
    // A Yapily event type on the Yapily bank goes to that dialect's events.
    if s.cfg.personality.serves(crate::model::Dialect::Yapily)
        && let Some(t) = body
            .value
            .get("eventType")
            .and_then(Value::as_str)
            .and_then(crate::sandbox::yapily::YapilyEventType::parse)
    {
        return super::yapily::inject(&s, &caller, t, &body).await;
    }
    let mut c = Check::new();
    let mut spec = None;
    if let Some(m) = c.object(&body.value, "") {
        c.closed(
            m,
            &[
                "clientId",
                "eventType",
                "resourceId",
                "resourceType",
                "reason",
                "txn",
            ],
            "",
        );
        let requested = c.opt_string(m, "clientId", "", 1, 128);
        let client_id = Some(caller.acting_on(requested.as_deref(), "clientId")?);
        let event_type = c
            .required(m, "eventType", "")
            .and_then(|v| c.string(v, "eventType", 1, 256));
        let resource_id = c
            .required(m, "resourceId", "")
            .and_then(|v| c.string(v, "resourceId", 1, 128));
        let resource_type = c
            .required(m, "resourceType", "")
            .and_then(|v| c.string(v, "resourceType", 1, 128));
        let reason = c.opt_string(m, "reason", "", 1, 128);
        let txn = c.opt_string(m, "txn", "", 1, 128);
        let parsed_type = event_type.as_deref().and_then(|t| {
            let parsed = EventType::parse(t);
            if parsed.is_none() {
                c.push(
                    ErrorItem::at(
                        codes::UNSUPPORTED_EVENT_TYPE,
                        "eventType",
                        format!("unknown event type {t:?}"),
                    )
                    .with_url(format!("{}/sandbox/event-types", s.base_url)),
                );
            }
            parsed
        });
        if let Some(id) = &client_id
            && caller.is_admin()
            && s.store.client(id).await?.is_none()
        {
            c.invalid("clientId", format!("no client with id {id}"));
        }
        if let (Some(client_id), Some(event_type), Some(resource_id), Some(resource_type)) =
            (client_id, parsed_type, resource_id, resource_type)
        {
            spec = Some(EventSpec {
                client_id,
                event_type,
                resource_id,
                resource_type,
                reason,
                txn: txn.or(Some(iid.0)),
            });
        }
    }
    c.finish()?;
    let spec =
        spec.ok_or_else(|| ApiError::Internal("validation passed without an event".into()))?;
    let outcome = s.raise_event(spec).await?;
    let status = if outcome.queued {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, &outcome))
}

/// `?clientId=…&limit=…` (newest first; `limit` 1..1000, default 100). `more` says whether
/// older SETs were left out. `clientId` is optional with a TPP's token (its own).
async fn list(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
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
                        ApiError::invalid("limit", "limit must be an integer from 1 to 1000")
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
async fn reset(State(s): State<AppState>, caller: Caller, body: ObJson) -> ApiResult<Response> {
    let requested = match body.value.get("clientId") {
        Some(Value::String(id)) if !id.is_empty() => Some(id.as_str()),
        Some(_) => {
            return Err(ApiError::invalid(
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

async fn event_types(State(s): State<AppState>) -> Response {
    let types: Vec<Value> = s
        .cfg
        .personality
        .event_types
        .iter()
        .map(|t| json!({ "EventType": t.code(), "urn": t.urn() }))
        .collect();
    json_response(StatusCode::OK, &json!({ "EventTypes": types }))
}
