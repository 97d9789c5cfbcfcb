//! The OBIE-shaped sandbox triggers, mounted under `/sandbox` and never under `/open-banking`:
//! the PSU stand-ins for consents (authorise; revoke → `consent-authorization-revoked`, the
//! HSBC-style trigger), event injection and the list of supported event types.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ObError, ObResult};
use super::events::{self, EventSpec};
use super::openapi as doc;
use super::requests::{self, Rules};
use super::{consents, render};
use crate::model::Dialect;
use crate::sandbox::dialects::yapily;
use crate::sandbox::domain::ConsentId;
use crate::sandbox::http::error::json_response;
use crate::sandbox::http::extract::{AnyScope, Authed, Caller, InteractionId, ObJson, ResourceId};
use crate::sandbox::http::routes::Routes;
use crate::sandbox::http::routes::Verb::{Delete, Get, Post};
use crate::sandbox::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Post,
            "/sandbox/account-access-consents/{ConsentId}/authorise",
            &doc::AUTHORISE_CONSENT,
            authorise,
        )
        .add(
            Delete,
            "/sandbox/account-access-consents/{ConsentId}",
            &doc::REVOKE_CONSENT,
            revoke,
        )
        .add(Post, "/sandbox/events", &doc::INJECT_EVENT, inject)
        .add(Get, "/sandbox/event-types", &doc::EVENT_TYPES, event_types)
}

async fn authorise(
    State(s): State<AppState>,
    auth: Authed<AnyScope>,
    ResourceId(id): ResourceId<ConsentId>,
) -> ObResult<Response> {
    let consent = consents::authorise(&s, &auth, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &render::consent(&s, &consent),
    ))
}

async fn revoke(
    State(s): State<AppState>,
    iid: InteractionId,
    auth: Authed<AnyScope>,
    ResourceId(id): ResourceId<ConsentId>,
) -> ObResult<Response> {
    consents::revoke(&s, &auth, &id, Some(iid.0)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"clientId"?,"eventType","resourceId","resourceType","reason"?,"txn"?}` (N-03..N-08).
/// A TPP injects for itself (`clientId` optional); the admin for any TPP.
async fn inject(
    State(s): State<AppState>,
    iid: InteractionId,
    caller: Caller,
    body: ObJson,
) -> ObResult<Response> {
    // A Yapily event type on the Yapily bank goes to that dialect's events.
    if s.cfg.personality.serves(Dialect::Yapily)
        && let Some(t) = body
            .value
            .get("eventType")
            .and_then(Value::as_str)
            .and_then(yapily::YapilyEventType::parse)
    {
        return yapily::routes::inject(&s, &caller, t, &body).await;
    }
    // Who the event is for is settled first: naming another TPP is a 403 whatever the body.
    // A clientId of another type is a bad value for every caller, not a missing one.
    let requested = match body.value.get("clientId") {
        None => None,
        Some(Value::String(id)) => Some(id.as_str()),
        Some(_) => return Err(ObError::invalid("clientId", "clientId must be a string")),
    };
    let client_id = caller.acting_on(requested, "clientId")?;
    let injection = requests::injection(&body.value, &Rules::of(&s, &s.cfg.faults))?;
    if caller.is_admin() && s.store.client(&client_id).await?.is_none() {
        return Err(ObError::invalid(
            "clientId",
            format!("no client with id {client_id}"),
        ));
    }
    let spec = EventSpec {
        client_id,
        event_type: injection.event_type,
        resource_id: injection.resource_id,
        resource_type: injection.resource_type,
        reason: injection.reason,
        txn: injection.txn.or(Some(iid.0)),
    };
    let outcome = events::raise(&s, None, spec).await?;
    let status = if outcome.queued {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, &render::injected(&outcome)))
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
