//! The WSO2 Open Banking accelerator's Event Creation API (seed `wso2-accelerator-event-
//! notification.md`), served by the `wso2` personality. Shape as WSO2 documents it:
//! `POST …/event-notifications/create-events`, Basic auth with the admin credentials,
//! `application/x-www-form-urlencoded` with one field `request` holding base64 (standard
//! alphabet) of a JSON object whose keys are event types and values are detail objects; the
//! TPP's client id and the consent id arrive in `x-wso2-client-id` / `x-wso2-resource-id`
//! (3.x spells them with underscores, both are accepted). 201 `{"notificationsID": …}`.
//!
//! The request is parsed at the edge into a [`CreateEvents`] command ([`parse`]); every refusal
//! is a [`Wso2Error`], rendered in one place as WSO2's `{"error", "error_description"}`. The
//! events themselves are OBIE SETs, raised through the OBIE dialect's event pipeline.

pub mod openapi;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::obie::error::ObError;
use super::obie::events::{self, EventSpec};
use crate::model::EventType;
use crate::sandbox::auth::basic::{self, Admin};
use crate::sandbox::domain::{ClientId, ConsentId};
use crate::sandbox::http::error::{clip, json_response};
use crate::sandbox::http::routes::Routes;
use crate::sandbox::http::routes::Verb::Post;
use crate::sandbox::state::AppState;
use crate::sandbox::store::StoreError;

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
        .refuse_with(
            &[
                "/api/fs/event-notifications/",
                "/api/openbanking/event-notifications/",
            ],
            refusal,
        )
}

/// A wrong method or an unknown path under the API's prefixes: WSO2's error shape, with the
/// router's status.
fn refusal(
    _: &HeaderMap,
    _: &crate::sandbox::http::InteractionId,
    status: StatusCode,
    message: String,
) -> Response {
    json_response(
        status,
        &json!({ "error": "invalid_request", "error_description": clip(message) }),
    )
}

/// Why a create-events request was refused, each with WSO2's `error` code.
#[derive(Debug, thiserror::Error)]
pub enum Wso2Error {
    /// No or wrong admin credentials (401 with a Basic challenge).
    #[error("Authorization information was invalid or missing from your request")]
    Unauthorized,
    #[error("Missing header {0}")]
    MissingHeader(&'static str),
    #[error("No request payload found")]
    MissingPayload,
    #[error("{0}")]
    InvalidPayload(String),
    /// The body could not be read: too large (413), bad chunking or cut short (400).
    #[error("the request body could not be read: {1}")]
    Body(StatusCode, String),
    /// A client, resource or subscription the request names does not exist.
    #[error("{0}")]
    InvalidRequest(String),
    /// Too many wrong admin passwords lately: 429 with `Retry-After` (seconds).
    #[error("too many failed authentications; retry after {0} s")]
    Locked(u64),
    /// The TPP is at a per-TPP bound of `[limits]` (409); nothing was stored.
    #[error("{0}")]
    LimitReached(String),
    /// A failure of the sandbox itself: logged, shown only as `server_error`.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for Wso2Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BoundReached(b) => Wso2Error::LimitReached(b.message()),
            other => Wso2Error::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for Wso2Error {
    fn into_response(self) -> Response {
        let (status, error) = match &self {
            Wso2Error::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_client"),
            Wso2Error::Locked(_) => (StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable"),
            Wso2Error::MissingHeader(_) => (StatusCode::BAD_REQUEST, "missing_request_header"),
            Wso2Error::MissingPayload => (StatusCode::BAD_REQUEST, "missing_request_payload"),
            Wso2Error::InvalidPayload(_) => (StatusCode::BAD_REQUEST, "invalid_request_payload"),
            Wso2Error::Body(status, _) => (*status, "invalid_request_payload"),
            Wso2Error::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Wso2Error::LimitReached(_) => (StatusCode::CONFLICT, "limit_reached"),
            Wso2Error::Internal(cause) => {
                tracing::error!(%cause, "wso2 create-events failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
            }
        };
        let description = match &self {
            Wso2Error::Internal(_) => "unexpected error".to_string(),
            other => other.to_string(),
        };
        let mut resp = json_response(
            status,
            &json!({ "error": error, "error_description": clip(description) }),
        );
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="obevents""#),
            );
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is not read, so the connection cannot be reused.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Wso2Error::Locked(secs) = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A create-events request, parsed: the TPP, the consent and one entry per event type.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateEvents {
    pub client_id: ClientId,
    /// The account-access-consent the events are about.
    pub resource_id: ConsentId,
    /// Each type with the `reason` of its detail object, if any.
    pub events: Vec<(EventType, Option<String>)>,
}

fn header_any<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| headers.get(*n))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The request's headers and form body as a [`CreateEvents`], or WSO2's refusal.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<CreateEvents, Wso2Error> {
    let client_id = header_any(headers, &["x-wso2-client-id", "x-wso2-client_id"])
        .ok_or(Wso2Error::MissingHeader("x-wso2-client-id"))?;
    let resource_id = header_any(headers, &["x-wso2-resource-id", "x-wso2-resource_id"])
        .ok_or(Wso2Error::MissingHeader("x-wso2-resource-id"))?;
    let request = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned())
        .filter(|r| !r.trim().is_empty())
        .ok_or(Wso2Error::MissingPayload)?;
    // WSO2 strips brackets and whitespace before decoding; do the same so its clients work here.
    let cleaned: String = request
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ' ' | '\n' | '\r'))
        .collect();
    let payload_error = || Wso2Error::InvalidPayload("Error in the request payload".into());
    let object = match STANDARD
        .decode(cleaned.as_bytes())
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        Some(Value::Object(m)) if !m.is_empty() => m,
        _ => return Err(payload_error()),
    };
    let mut events = Vec::new();
    for (key, details) in &object {
        // WSO2 accepts its URNs also with ':' written as '_'.
        let t = EventType::parse(key)
            .or_else(|| EventType::parse(&key.replace('_', ":")))
            .ok_or_else(|| Wso2Error::InvalidPayload(format!("unsupported event type {key}")))?;
        // Both spellings of one type would raise it twice under one answer's single id.
        if events.iter().any(|(seen, _)| *seen == t) {
            return Err(Wso2Error::InvalidPayload(format!(
                "event type {key} is given twice (in both spellings)"
            )));
        }
        let Value::Object(details) = details else {
            return Err(payload_error());
        };
        // A reason of another type is refused rather than dropped: the SET would otherwise
        // go out without the reason the caller meant to send. `null` reads as absent.
        let reason = match details.get("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) => Some(r.clone()),
            Some(_) => {
                return Err(Wso2Error::InvalidPayload(format!(
                    "reason of {key} must be a string"
                )));
            }
        };
        events.push((t, reason));
    }
    Ok(CreateEvents {
        client_id: ClientId::from(client_id),
        resource_id: ConsentId::from(resource_id),
        events,
    })
}

/// Raises the request's events for the TPP, all in one transaction, and answers the first
/// event's id; an error when the client or consent is unknown or nothing was stored.
pub async fn create(st: &AppState, cmd: CreateEvents) -> Result<String, Wso2Error> {
    if st.store.client(&cmd.client_id).await?.is_none() {
        return Err(Wso2Error::InvalidRequest(format!(
            "A client was not found for the client id : '{}'",
            cmd.client_id
        )));
    }
    match st.store.consent(&cmd.resource_id).await? {
        Some(c) if c.client_id == cmd.client_id => {}
        _ => {
            return Err(Wso2Error::InvalidRequest(format!(
                "A resource was not found for the resource id : '{}'",
                cmd.resource_id
            )));
        }
    }
    let specs: Vec<EventSpec> = cmd
        .events
        .into_iter()
        .map(|(event_type, reason)| EventSpec {
            client_id: cmd.client_id.clone(),
            event_type,
            resource_id: cmd.resource_id.to_string(),
            resource_type: "account-access-consent".into(),
            reason,
            txn: None,
        })
        .collect();
    for spec in &specs {
        events::check_spec(st, spec).map_err(|e| Wso2Error::InvalidPayload(e.first_message()))?;
    }
    let outcomes = events::raise_all(st, None, specs)
        .await
        .map_err(|e| match e {
            ObError::Store(e) => Wso2Error::from(e),
            other => Wso2Error::Internal(other.to_string()),
        })?;
    outcomes.into_iter().find_map(|o| o.jti).ok_or_else(|| {
        Wso2Error::InvalidRequest(
            "the TPP has no event subscription for these event types; nothing was stored".into(),
        )
    })
}

async fn create_events(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let admin = basic::admin(&s, authorization);
    let result = async {
        match admin {
            Admin::Accepted => {}
            Admin::Locked(secs) => return Err(Wso2Error::Locked(secs)),
            Admin::Refused | Admin::NotBasic => return Err(Wso2Error::Unauthorized),
        }
        // Credentials are judged before the body: an unauthenticated caller learns nothing
        // about the body's limits.
        let body = body.map_err(|r| Wso2Error::Body(r.status(), r.body_text()))?;
        create(&s, parse(&headers, &body)?).await
    };
    match result.await {
        Ok(id) => json_response(StatusCode::CREATED, &json!({ "notificationsID": id })),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-wso2-client_id", HeaderValue::from_static("tpp-1"));
        h.insert("x-wso2-resource-id", HeaderValue::from_static("aac-1"));
        h
    }

    fn form(json: &str) -> Vec<u8> {
        format!("request={}", STANDARD.encode(json)).into_bytes()
    }

    #[test]
    fn parses_both_spellings_of_headers_and_event_types() {
        let body = form(
            r#"{"urn_uk_org_openbanking_events_consent-authorization-revoked":{"reason":"r"}}"#,
        );
        let cmd = parse(&headers(), &body).unwrap();
        assert_eq!(cmd.client_id, "tpp-1");
        assert_eq!(
            cmd.events,
            [(EventType::ConsentAuthorizationRevoked, Some("r".into()))]
        );
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let mut h = headers();
        h.remove("x-wso2-resource-id");
        assert!(matches!(
            parse(&h, &form("{}")),
            Err(Wso2Error::MissingHeader("x-wso2-resource-id"))
        ));
        assert!(matches!(
            parse(&headers(), b"other=1"),
            Err(Wso2Error::MissingPayload)
        ));
        assert!(matches!(
            parse(&headers(), &form("{}")),
            Err(Wso2Error::InvalidPayload(_))
        ));
        assert!(matches!(
            parse(&headers(), &form(r#"{"urn:nope":{}}"#)),
            Err(Wso2Error::InvalidPayload(m)) if m.contains("urn:nope")
        ));
        assert!(matches!(
            parse(
                &headers(),
                &form(r#"{"urn:uk:org:openbanking:events:resource-update":1}"#)
            ),
            Err(Wso2Error::InvalidPayload(_))
        ));
    }

    #[test]
    fn one_type_in_both_spellings_is_refused() {
        let body = form(
            r#"{"urn:uk:org:openbanking:events:resource-update":{},"urn_uk_org_openbanking_events_resource-update":{}}"#,
        );
        assert!(matches!(
            parse(&headers(), &body),
            Err(Wso2Error::InvalidPayload(m)) if m.contains("given twice")
        ));
    }

    #[test]
    fn a_reason_that_is_not_a_string_is_refused_and_null_reads_as_absent() {
        let t = "urn:uk:org:openbanking:events:consent-authorization-revoked";
        for reason in ["5", r#"["x"]"#, r#"{"a":1}"#, "true"] {
            let body = form(&format!(r#"{{"{t}":{{"reason":{reason}}}}}"#));
            assert!(
                matches!(parse(&headers(), &body), Err(Wso2Error::InvalidPayload(m)) if m.contains("must be a string")),
                "reason {reason} was not refused"
            );
        }
        let cmd = parse(
            &headers(),
            &form(&format!(r#"{{"{t}":{{"reason":null}}}}"#)),
        )
        .unwrap();
        assert_eq!(cmd.events, [(EventType::ConsentAuthorizationRevoked, None)]);
    }
}
