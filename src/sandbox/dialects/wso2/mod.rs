//! The WSO2 Open Banking accelerator's Event Creation API (seed `wso2-accelerator-event-
//! notification.md`), mounted when the personality enables it. Shape as WSO2 documents it:
//! `POST …/event-notifications/create-events`, Basic auth with the admin credentials,
//! `application/x-www-form-urlencoded` with one field `request` holding base64 (standard
//! alphabet) of a JSON object whose keys are event types and values are detail objects; the
//! TPP's client id and the consent id arrive in `x-wso2-client-id` / `x-wso2-resource-id`
//! (3.x spells them with underscores, both are accepted). 201 `{"notificationsID": …}`; errors
//! are `{"error", "error_description"}` as WSO2 answers them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::model::EventType;
use crate::sandbox::dialects::obie::events::EventSpec;
use crate::sandbox::error::ApiError;
use crate::sandbox::http::error::json_response;
use crate::sandbox::http::routes::Routes;
use crate::sandbox::http::routes::Verb::Post;
use crate::sandbox::state::AppState;

pub mod openapi;

/// The Event Creation API's two paths (WSO2 3.x and 2.x spellings).
pub fn routes() -> Routes {
    Routes::new()
        .with_schemas(openapi::schemas)
        .add(
            Post,
            "/api/fs/event-notifications/create-events",
            &openapi::WSO2_CREATE_FS,
            create_events,
        )
        .add(
            Post,
            "/api/openbanking/event-notifications/create-events",
            &openapi::WSO2_CREATE_OB,
            create_events,
        )
}

fn wso2_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    json_response(
        status,
        &json!({ "error": error, "error_description": description.into() }),
    )
}

fn header_any<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| headers.get(*n))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn admin_ok(state: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| state.admin.accepts(v))
}

async fn create_events(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !s.cfg.personality.serves(crate::model::Dialect::Wso2) {
        return ApiError::NotFound(crate::sandbox::error::ErrorItem::new(
            crate::sandbox::error::codes::NOT_FOUND,
            "the Event Creation API is available with --bank wso2",
        ))
        .into_response();
    }
    if !admin_ok(&s, &headers) {
        let mut resp = json_response(
            StatusCode::UNAUTHORIZED,
            &json!({ "code": 401, "message": "Unauthorized", "description": "Authorization information was invalid or missing from your request." }),
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="obevents""#),
        );
        return resp;
    }
    let Some(client_id) = header_any(&headers, &["x-wso2-client-id", "x-wso2-client_id"]) else {
        return wso2_error(
            StatusCode::BAD_REQUEST,
            "missing_request_header",
            "Missing header x-wso2-client-id",
        );
    };
    let Some(resource_id) = header_any(&headers, &["x-wso2-resource-id", "x-wso2-resource_id"])
    else {
        return wso2_error(
            StatusCode::BAD_REQUEST,
            "missing_request_header",
            "Missing header x-wso2-resource-id",
        );
    };
    let request = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned());
    let Some(request) = request.filter(|r| !r.trim().is_empty()) else {
        return wso2_error(
            StatusCode::BAD_REQUEST,
            "missing_request_payload",
            "No request payload found",
        );
    };
    // WSO2 strips brackets and whitespace before decoding; do the same so its clients work here.
    let cleaned: String = request
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ' ' | '\n' | '\r'))
        .collect();
    let events: serde_json::Map<String, Value> = match STANDARD
        .decode(cleaned.as_bytes())
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        Some(Value::Object(m)) if !m.is_empty() => m,
        _ => {
            return wso2_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_payload",
                "Error in the request payload",
            );
        }
    };
    match s.store.client(client_id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return wso2_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("A client was not found for the client id : '{client_id}'"),
            );
        }
        Err(e) => return ApiError::from(e).into_response(),
    }
    match s.store.consent(resource_id).await {
        Ok(Some(c)) if c.client_id == client_id => {}
        Ok(_) => {
            return wso2_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("A resource was not found for the resource id : '{resource_id}'"),
            );
        }
        Err(e) => return ApiError::from(e).into_response(),
    }
    // One SET per event type in the request; WSO2 accepts its URNs also with ':' written as '_'.
    let mut specs = Vec::new();
    for (key, details) in &events {
        let Some(t) = EventType::parse(key).or_else(|| EventType::parse(&key.replace('_', ":")))
        else {
            return wso2_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_payload",
                format!("unsupported event type {key}"),
            );
        };
        if !details.is_object() {
            return wso2_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_payload",
                "Error in the request payload",
            );
        }
        let reason = details
            .get("reason")
            .and_then(Value::as_str)
            .map(String::from);
        specs.push(EventSpec {
            client_id: client_id.to_string(),
            event_type: t,
            resource_id: resource_id.to_string(),
            resource_type: "account-access-consent".into(),
            reason,
            txn: None,
        });
    }
    for spec in &specs {
        if let Err(e) = s.check_event_spec(spec) {
            let msg = e
                .items()
                .first()
                .map(|i| i.message.clone())
                .unwrap_or_default();
            return wso2_error(StatusCode::BAD_REQUEST, "invalid_request_payload", msg);
        }
    }
    // Every event of one request commits together, or none does.
    let ids: Vec<String> = match s.raise_events(None, specs).await {
        Ok(outcomes) => outcomes.into_iter().filter_map(|o| o.jti).collect(),
        Err(e) => return e.into_response(),
    };
    match ids.first() {
        Some(first) => json_response(StatusCode::CREATED, &json!({ "notificationsID": first })),
        None => wso2_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the TPP has no event subscription for these event types; nothing was stored",
        ),
    }
}
