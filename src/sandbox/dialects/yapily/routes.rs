//! The Yapily-style notification API (issue 10), mounted with `--bank yapily`: event-type
//! subscriptions at `/notifications/event-subscriptions`, the list of types, the signing keys at
//! `/.well-known/jwks.json`, and the sandbox trigger `POST /sandbox/yapily/events`.
//!
//! Applications authenticate with HTTP Basic `client_id:client_secret` (YA-01). Bodies use the
//! API's envelope `{"meta": {"tracingId"}, "data", "links"}`; errors are
//! `{"error": {"tracingId", "code", "status", "message"}}` (`code` the HTTP status, `status` its
//! upper-snake name), with `tracingId` equal to the response's `x-fapi-interaction-id`.

use crate::sandbox::dialects::yapily::openapi as doc;
use crate::sandbox::http::routes::Routes;
use crate::sandbox::http::routes::Verb::{Delete, Get, Post};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::jose;
use crate::sandbox::auth::basic;
use crate::sandbox::dialects::obie::error::{ObError, ObResult};
use crate::sandbox::dialects::yapily::{YapilyError, YapilyEventSpec, YapilyEventType};
use crate::sandbox::domain::{ClientId, YapilySubscription};
use crate::sandbox::http::error::{clip, json_response};
use crate::sandbox::http::extract::{Caller, InteractionId, ObJson};
use crate::sandbox::state::AppState;
use crate::sandbox::store::StoreError;

/// The Yapily-style API's routes (mounted only for a personality that has it).
pub fn routes() -> Routes {
    const ONE: &str = "/notifications/event-subscriptions/{eventTypeId}";
    Routes::new()
        .refuse_with(&["/notifications/"], refusal)
        .with_schemas(doc::schemas)
        .add(
            Get,
            "/notifications/event-types",
            &doc::EVENT_TYPES,
            event_types,
        )
        .add(
            Post,
            "/notifications/event-subscriptions",
            &doc::SUBSCRIBE,
            subscribe,
        )
        .add(Get, "/notifications/event-subscriptions", &doc::LIST, list)
        .add(Get, ONE, &doc::READ, read)
        .add(Delete, ONE, &doc::UNSUBSCRIBE, unsubscribe)
        .add(Post, "/sandbox/yapily/events", &doc::TRIGGER, trigger)
        .add(Get, "/.well-known/jwks.json", &doc::JWKS, jwks)
}

/// A refusal in the dialect's error shape.
struct Refusal {
    status: StatusCode,
    message: String,
    /// Seconds of `Retry-After`, for an application locked out after failed authentications.
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<YapilyError> for Refusal {
    fn from(e: YapilyError) -> Self {
        match e {
            YapilyError::BadRequest(m) => Refusal::bad(m),
            YapilyError::NotFound(m) => Refusal::new(StatusCode::NOT_FOUND, m),
            YapilyError::Conflict(m) => Refusal::new(StatusCode::CONFLICT, m),
            YapilyError::Store(StoreError::BoundReached(b)) => {
                Refusal::new(StatusCode::CONFLICT, b.message())
            }
            YapilyError::Store(cause) => {
                // The cause is logged, never shown.
                tracing::error!(%cause, "yapily request failed");
                Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

/// The answer of a handler: the envelope on success, the error shape on refusal.
/// A refusal in the dialect's error shape, for answers given outside its handlers (unknown
/// paths and methods under `/notifications/`).
fn refusal(_: &HeaderMap, iid: &InteractionId, status: StatusCode, message: String) -> Response {
    reply(iid, Err(Refusal::new(status, message)))
}

fn reply(iid: &InteractionId, result: Result<(StatusCode, Value), Refusal>) -> Response {
    match result {
        Ok((status, body)) => json_response(status, &body),
        Err(r) => {
            let name = r
                .status
                .canonical_reason()
                .unwrap_or("ERROR")
                .to_ascii_uppercase()
                .replace(' ', "_");
            let mut resp = json_response(
                r.status,
                &json!({ "error": {
                    "tracingId": iid.0, "code": r.status.as_u16(), "status": name, "message": clip(r.message)
                }}),
            );
            if r.status == StatusCode::UNAUTHORIZED {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="obevents""#),
                );
            }
            if let Some(secs) = r.retry_after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            resp
        }
    }
}

fn envelope(iid: &InteractionId, data: Value) -> Value {
    json!({ "meta": { "tracingId": iid.0 }, "data": data, "links": {} })
}

/// YA-01: the application named by HTTP Basic credentials, if they are right.
async fn application(s: &AppState, headers: &HeaderMap) -> Result<ClientId, Refusal> {
    let unauthorized = || {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            "send the application key and secret as HTTP Basic credentials",
        )
    };
    match basic::application(s, headers).await {
        Ok(basic::Application::Known(app)) => Ok(app),
        Ok(basic::Application::Refused) => Err(unauthorized()),
        Ok(basic::Application::Locked(secs)) => Err(Refusal {
            retry_after: Some(secs),
            ..Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed authentications for this application; retry after {secs} s"
                ),
            )
        }),
        Err(e) => Err(YapilyError::Store(e).into()),
    }
}

/// A JSON body of at most the configured size; anything else is the dialect's 400 or 413.
fn parse<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Refusal> {
    let bytes = body.map_err(|r| Refusal::new(r.status(), r.body_text()))?;
    // JSON is UTF-8 throughout (RFC 8259 §8.1), also inside members this API ignores.
    if let Err(e) = std::str::from_utf8(&bytes) {
        return Err(Refusal::bad(format!("malformed request body: {e}")));
    }
    serde_json::from_slice(&bytes).map_err(|e| Refusal::bad(format!("malformed request body: {e}")))
}

fn event_type(id: &str) -> Result<YapilyEventType, Refusal> {
    // Only the dotted id names a type in this API; the upper-snake spelling is the body's.
    YapilyEventType::ALL
        .into_iter()
        .find(|t| t.id() == id)
        .ok_or_else(|| {
            Refusal::bad(format!(
                "unknown eventTypeId {id:?}; GET /notifications/event-types lists them"
            ))
        })
}

/// The subscription as the API shows it (`created` in the docs' `dd-MM-yyyy HH:mm:ss`).
fn subscription_data(s: &YapilySubscription) -> Value {
    let created = time::OffsetDateTime::from_unix_timestamp(s.created_at.as_secs())
        .map(|t| {
            format!(
                "{:02}-{:02}-{:04} {:02}:{:02}:{:02}",
                t.day(),
                u8::from(t.month()),
                t.year(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default();
    json!({
        "eventTypeId": s.event_type_id,
        "applicationId": s.client_id,
        "created": created,
        "notification": { "type": "WEBHOOK", "url": s.url },
    })
}

async fn event_types(
    State(s): State<AppState>,
    iid: InteractionId,
    headers: HeaderMap,
) -> Response {
    let result = async {
        application(&s, &headers).await?;
        let data: Vec<Value> = YapilyEventType::ALL
            .iter()
            .map(|t| json!({ "eventTypeId": t.id(), "eventType": t.event_type(), "description": t.description() }))
            .collect();
        let mut body = envelope(&iid, json!(data));
        body["meta"]["count"] = json!(data.len());
        Ok((StatusCode::OK, body))
    };
    reply(&iid, result.await)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionRequest {
    event_type_id: String,
    notification: NotificationRequest,
}

#[derive(Deserialize)]
struct NotificationRequest {
    #[serde(rename = "type")]
    kind: String,
    url: String,
}

async fn subscribe(
    State(s): State<AppState>,
    iid: InteractionId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let app = application(&s, &headers).await?;
        let req: SubscriptionRequest = parse(body)?;
        let t = event_type(&req.event_type_id)?;
        if req.notification.kind != "WEBHOOK" {
            return Err(Refusal::bad("notification.type must be WEBHOOK"));
        }
        let sub = super::subscribe(&s, &app, t, &req.notification.url).await?;
        Ok((StatusCode::CREATED, envelope(&iid, subscription_data(&sub))))
    };
    reply(&iid, result.await)
}

async fn list(State(s): State<AppState>, iid: InteractionId, headers: HeaderMap) -> Response {
    let result = async {
        let app = application(&s, &headers).await?;
        let subs = s
            .store
            .yapily_subscriptions_of(&app, false)
            .await
            .map_err(YapilyError::from)?;
        let data: Vec<Value> = subs.iter().map(subscription_data).collect();
        let mut body = envelope(&iid, json!(data));
        body["meta"]["count"] = json!(data.len());
        Ok((StatusCode::OK, body))
    };
    reply(&iid, result.await)
}

/// The application's subscription to `t`, or 404.
async fn subscription_of(
    s: &AppState,
    app: &ClientId,
    t: YapilyEventType,
) -> Result<YapilySubscription, Refusal> {
    let subs = s
        .store
        .yapily_subscriptions_of(app, false)
        .await
        .map_err(YapilyError::from)?;
    subs.into_iter()
        .find(|x| x.event_type_id == t.id())
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                format!("no subscription to {}", t.id()),
            )
        })
}

async fn read(
    State(s): State<AppState>,
    iid: InteractionId,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let result = async {
        let app = application(&s, &headers).await?;
        let Path(id) =
            path.map_err(|_| Refusal::bad("the eventTypeId in the path is not valid UTF-8"))?;
        let sub = subscription_of(&s, &app, event_type(&id)?).await?;
        Ok((StatusCode::OK, envelope(&iid, subscription_data(&sub))))
    };
    reply(&iid, result.await)
}

async fn unsubscribe(
    State(s): State<AppState>,
    iid: InteractionId,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let result = async {
        let app = application(&s, &headers).await?;
        let Path(id) =
            path.map_err(|_| Refusal::bad("the eventTypeId in the path is not valid UTF-8"))?;
        let t = event_type(&id)?;
        let gone = subscription_of(&s, &app, t).await?;
        super::unsubscribe(&s, &app, t).await?;
        Ok((StatusCode::OK, envelope(&iid, subscription_data(&gone))))
    };
    reply(&iid, result.await)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerRequest {
    event_type_id: String,
    object_id: Option<String>,
    event_payload: Option<serde_json::Map<String, Value>>,
}

/// `POST /sandbox/yapily/events {"eventTypeId", "objectId"?, "eventPayload"?}`: raises an event
/// for the calling application (201 when a delivery was written, 200 when nobody subscribes).
async fn trigger(
    State(s): State<AppState>,
    iid: InteractionId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let app = application(&s, &headers).await?;
        let req: TriggerRequest = parse(body)?;
        let t = event_type(&req.event_type_id)?;
        if req
            .object_id
            .as_ref()
            .is_some_and(|o| o.is_empty() || o.chars().count() > 128)
        {
            return Err(Refusal::bad("objectId must be 1 to 128 characters"));
        }
        let raised = super::raise(
            &s,
            YapilyEventSpec {
                client_id: app,
                event_type: t,
                object_id: req.object_id,
                payload: req.event_payload.map(Value::Object),
            },
        )
        .await?;
        let status = if raised.deliveries.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Ok((status, envelope(&iid, json!(raised))))
    };
    reply(&iid, result.await)
}

async fn jwks(State(s): State<AppState>) -> Response {
    json_response(StatusCode::OK, &jose::jwks_json(&[s.key.public_jwk()]))
}

/// The generic `/sandbox/events` injection for a Yapily event type (OBIE error shape, as the
/// rest of `/sandbox`): `{"clientId"?, "eventType", "resourceId"?, "eventPayload"?}`, the
/// resource id becoming the event's `objectId`.
pub async fn inject(
    s: &AppState,
    caller: &Caller,
    t: YapilyEventType,
    body: &ObJson,
) -> ObResult<Response> {
    let v = &body.value;
    let requested = v.get("clientId").and_then(Value::as_str);
    let client_id = caller.acting_on(requested, "clientId")?;
    let object_id = match v.get("resourceId").or_else(|| v.get("objectId")) {
        None => None,
        Some(Value::String(o)) if !o.is_empty() && o.chars().count() <= 128 => Some(o.clone()),
        Some(_) => {
            return Err(ObError::invalid(
                "resourceId",
                "resourceId must be 1 to 128 characters",
            ));
        }
    };
    let payload = match v.get("eventPayload") {
        None => None,
        Some(p @ Value::Object(_)) => Some(p.clone()),
        Some(_) => {
            return Err(ObError::invalid(
                "eventPayload",
                "eventPayload must be an object",
            ));
        }
    };
    let raised = super::raise(
        s,
        YapilyEventSpec {
            client_id,
            event_type: t,
            object_id,
            payload,
        },
    )
    .await
    .map_err(|e| match e {
        YapilyError::Store(e) => ObError::from(e),
        other => ObError::invalid("eventType", other.to_string()),
    })?;
    let status = if raised.deliveries.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(raised)).into_response())
}
