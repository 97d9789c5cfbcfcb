//! Sandbox-only helpers, mounted under `/sandbox` and never under `/open-banking`: the PSU
//! stand-ins for consents (authorise; revoke → `consent-authorization-revoked`, the HSBC-style
//! trigger), generic event injection, reset, and read-only inspection.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::openapi as doc;
use crate::model::EventType;
use crate::sandbox::dialects::obie::events::EventSpec;
use crate::sandbox::dialects::obie::validate::Check;
use crate::sandbox::error::{ApiError, ApiResult, ErrorItem, codes};
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
            .and_then(crate::sandbox::dialects::yapily::YapilyEventType::parse)
    {
        return crate::sandbox::dialects::yapily::routes::inject(&s, &caller, t, &body).await;
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
