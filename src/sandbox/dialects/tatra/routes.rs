//! The Tatra-banka-style API (issue 11), mounted with `--bank tatra`: the application's webhook
//! settings and enough of the Premium API to own consents and refresh them under
//! `/premium/sandbox/v1/`, and the sandbox helpers under `/sandbox/tatra/` (activate webhooks
//! now, "a transaction arrived").
//!
//! Applications authenticate with HTTP Basic `client_id:client_secret`. Every refusal is
//! `{"errorCode", "errorDescription"}`, the code naming the reason ([`code`] is the one place
//! that maps domain errors to codes and statuses). `X-Request-ID` is echoed on every answer.

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::sandbox::auth::basic;
use crate::sandbox::dialects::tatra::openapi as doc;
use crate::sandbox::dialects::tatra::{SettingsChange, TatraError, bank_name};
use crate::sandbox::domain::{
    ClientId, ConsentId, TaskId, TatraConsent, TatraSettings, TatraTask, Timestamp,
};
use crate::sandbox::http::error::{clip, json_response};
use crate::sandbox::http::extract::InteractionId;
use crate::sandbox::http::routes::Routes;
use crate::sandbox::http::routes::Verb::{Delete, Get, Post, Put};
use crate::sandbox::state::AppState;
use crate::sandbox::store::StoreError;

/// Largest request body of this API: settings and consents are small.
pub const BODY_LIMIT: usize = 64 * 1024;

const REQUEST_ID: &str = "x-request-id";

/// The Tatra-style API's routes (mounted only for a personality that has it).
pub fn routes() -> Routes {
    const V1: &str = "/premium/sandbox/v1";
    Routes::new()
        .refuse_with(&["/premium/", "/sandbox/tatra/"], refusal)
        .with_schemas(doc::schemas)
        .add(
            Get,
            &format!("{V1}/webhook-settings"),
            &doc::GET_SETTINGS,
            get_settings,
        )
        .add(
            Put,
            &format!("{V1}/webhook-settings"),
            &doc::PUT_SETTINGS,
            put_settings,
        )
        .add(
            Post,
            &format!("{V1}/consents"),
            &doc::CREATE_CONSENT,
            create_consent,
        )
        .add(
            Get,
            &format!("{V1}/consents/{{consentId}}"),
            &doc::GET_CONSENT,
            get_consent,
        )
        .add(
            Delete,
            &format!("{V1}/consents/{{consentId}}"),
            &doc::DELETE_CONSENT,
            delete_consent,
        )
        .add(
            Put,
            &format!("{V1}/consents/{{consentId}}/refresh"),
            &doc::REFRESH,
            refresh,
        )
        .add(
            Get,
            &format!("{V1}/refresh/{{taskId}}"),
            &doc::GET_TASK,
            get_task,
        )
        .add(
            Post,
            "/sandbox/tatra/webhook-settings/activate",
            &doc::ACTIVATE,
            activate,
        )
        .add(
            Post,
            "/sandbox/tatra/transactions",
            &doc::TRANSACTION,
            transaction,
        )
        // Read no more than this API ever needs, whatever the sandbox-wide limit.
        .map_router(|r| r.layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// A refusal: status, `errorCode`, `errorDescription`, and for a locked-out application the
/// seconds of its `Retry-After`.
pub(super) struct Refusal(StatusCode, &'static str, String, Option<u64>);

impl Refusal {
    fn invalid(message: impl Into<String>) -> Self {
        Refusal(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            message.into(),
            None,
        )
    }
}

/// The one mapping of domain errors to the dialect's statuses and codes.
fn code(e: TatraError) -> Refusal {
    let m = e.to_string();
    match e {
        TatraError::InvalidRequest(_) => Refusal::invalid(m),
        TatraError::InvalidWebhookUrl(_) => {
            Refusal(StatusCode::BAD_REQUEST, "INVALID_WEBHOOK_URL", m, None)
        }
        TatraError::InvalidSecurityHeader(_) => {
            Refusal(StatusCode::BAD_REQUEST, "INVALID_SECURITY_HEADER", m, None)
        }
        TatraError::ConsentNotFound => Refusal(StatusCode::NOT_FOUND, "CONSENT_NOT_FOUND", m, None),
        TatraError::TaskNotFound => Refusal(StatusCode::NOT_FOUND, "TASK_NOT_FOUND", m, None),
        TatraError::NothingToRefresh => {
            Refusal(StatusCode::BAD_REQUEST, "NOTHING_TO_REFRESH", m, None)
        }
        TatraError::WebhookNotEnabled => {
            Refusal(StatusCode::CONFLICT, "WEBHOOK_NOT_ENABLED", m, None)
        }
        TatraError::Store(StoreError::BoundReached(b)) => {
            Refusal(StatusCode::CONFLICT, "LIMIT_REACHED", b.message(), None)
        }
        TatraError::Store(cause) => {
            // The cause is logged, never shown.
            tracing::error!(%cause, "tatra request failed");
            Refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "internal error".into(),
                None,
            )
        }
    }
}

impl From<TatraError> for Refusal {
    fn from(e: TatraError) -> Self {
        code(e)
    }
}

/// The answer: the body on success, the error shape on refusal, `X-Request-ID` echoed.
pub(super) fn reply(headers: &HeaderMap, result: Result<(StatusCode, Value), Refusal>) -> Response {
    let mut resp = match result {
        Ok((StatusCode::NO_CONTENT, _)) => {
            let mut r = Response::default();
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Ok((status, body)) => json_response(status, &body),
        Err(Refusal(status, code, message, retry_after)) => {
            let mut r = json_response(
                status,
                &json!({ "errorCode": code, "errorDescription": clip(message) }),
            );
            if status == StatusCode::UNAUTHORIZED {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="obevents""#),
                );
            }
            if let Some(secs) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            r
        }
    };
    if let Some(id) = headers.get(REQUEST_ID) {
        resp.headers_mut().insert(REQUEST_ID, id.clone());
    }
    resp
}

/// The application named by HTTP Basic credentials, if they are right.
async fn application(s: &AppState, headers: &HeaderMap) -> Result<ClientId, Refusal> {
    match basic::application(s, headers).await {
        Ok(basic::Application::Known(app)) => Ok(app),
        Ok(basic::Application::Refused) => Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "send the application's client id and secret as HTTP Basic credentials".into(),
            None,
        )),
        Ok(basic::Application::Locked(secs)) => Err(Refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            format!("too many failed authentications for this client id; retry after {secs} s"),
            Some(secs),
        )),
        Err(e) => Err(code(TatraError::Store(e))),
    }
}

/// Authenticates the application, runs `work` for it and answers.
async fn answer<F, Fut>(s: AppState, headers: HeaderMap, work: F) -> Response
where
    F: FnOnce(AppState, ClientId) -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, Value), Refusal>>,
{
    let result = match application(&s, &headers).await {
        Ok(app) => work(s, app).await,
        Err(r) => Err(r),
    };
    reply(&headers, result)
}

/// The id in the path; one that is not valid UTF-8 names nothing: `INVALID_REQUEST`, in the
/// dialect's shape rather than axum's plain-text rejection.
fn path_id<T>(path: Result<Path<T>, PathRejection>) -> Result<T, Refusal> {
    path.map(|Path(id)| id)
        .map_err(|_| Refusal::invalid("the id in the path is not valid UTF-8"))
}

/// A JSON body of at most [`BODY_LIMIT`]; anything else (too large, malformed, wrong fields)
/// is `INVALID_REQUEST`. `None` for an empty body.
fn parse<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<Option<T>, Refusal> {
    let bytes = body.map_err(|r| Refusal::invalid(r.body_text()))?;
    if bytes.len() > BODY_LIMIT {
        return Err(Refusal::invalid(format!(
            "the request body is larger than {BODY_LIMIT} bytes"
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // JSON is UTF-8 throughout (RFC 8259 §8.1), also inside members this API ignores.
    if let Err(e) = std::str::from_utf8(&bytes) {
        return Err(Refusal::invalid(format!("malformed request body: {e}")));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Refusal::invalid(format!("malformed request body: {e}")))
}

fn required<T>(body: Option<T>) -> Result<T, Refusal> {
    body.ok_or_else(|| Refusal::invalid("a JSON body is required"))
}

/// The settings as the API shows them.
fn settings_view(s: &TatraSettings) -> Value {
    json!({
        "enabled": s.enabled,
        "url": s.url,
        "securityHeader": s.security_header,
        "activeFrom": s.active_from.map(Timestamp::rfc3339_millis),
        "active": s.active_at(Timestamp::now()),
    })
}

fn consent_view(c: &TatraConsent) -> Value {
    let accounts: Vec<Value> = c
        .accounts
        .iter()
        .map(|a| {
            json!({
                "accountId": a.account_id, "bankCode": a.bank_code,
                "bankName": bank_name(&a.bank_code), "iban": a.iban,
            })
        })
        .collect();
    json!({ "consentId": c.id, "consentStatus": "VALID", "accounts": accounts })
}

fn task_view(t: &TatraTask) -> Value {
    let now = Timestamp::now();
    let status = |done: bool| if done { "FINISHED" } else { "IN_PROGRESS" };
    let banks: Vec<Value> = t
        .banks
        .iter()
        .map(|b| {
            json!({
                "bankCode": b.bank_code, "bankName": bank_name(&b.bank_code),
                "taskStatus": status(now >= b.finish_at),
            })
        })
        .collect();
    json!({
        "taskId": t.id, "consentId": t.consent_id,
        "taskStatus": status(t.banks.iter().all(|b| now >= b.finish_at)),
        "banks": banks,
    })
}

async fn get_settings(State(s): State<AppState>, headers: HeaderMap) -> Response {
    answer(s, headers, |s, app| async move {
        let settings = super::settings::settings_of(&s, &app).await?;
        Ok((StatusCode::OK, settings_view(&settings)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsBody {
    enabled: bool,
    url: Option<String>,
    security_header: Option<String>,
}

async fn put_settings(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(s, headers, |s, app| async move {
        let req: SettingsBody = required(parse(body)?)?;
        let change = SettingsChange {
            enabled: req.enabled,
            url: req.url,
            security_header: req.security_header,
        };
        let settings = super::settings::put_settings(&s, &app, change).await?;
        Ok((StatusCode::OK, settings_view(&settings)))
    })
    .await
}

async fn activate(State(s): State<AppState>, headers: HeaderMap) -> Response {
    answer(s, headers, |s, app| async move {
        let settings = super::settings::activate(&s, &app).await?;
        Ok((StatusCode::OK, settings_view(&settings)))
    })
    .await
}

#[derive(Deserialize)]
struct ConsentBody {
    accounts: Option<Vec<ConsentAccount>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsentAccount {
    bank_code: String,
}

async fn create_consent(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let has_request_id = headers.get(REQUEST_ID).is_some_and(|v| !v.is_empty());
    answer(s, headers, |s, app| async move {
        if !has_request_id {
            return Err(Refusal::invalid("the X-Request-ID header is required"));
        }
        let req: Option<ConsentBody> = parse(body)?;
        let banks = req
            .and_then(|b| b.accounts)
            .map(|a| a.into_iter().map(|a| a.bank_code).collect());
        let consent = super::create_consent(&s, &app, banks).await?;
        Ok((StatusCode::CREATED, consent_view(&consent)))
    })
    .await
}

async fn get_consent(
    State(s): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<ConsentId>, PathRejection>,
) -> Response {
    answer(s, headers, |s, app| async move {
        let id = path_id(path)?;
        let consent = super::consent(&s, &app, &id).await?;
        Ok((StatusCode::OK, consent_view(&consent)))
    })
    .await
}

async fn delete_consent(
    State(s): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<ConsentId>, PathRejection>,
) -> Response {
    answer(s, headers, |s, app| async move {
        let id = path_id(path)?;
        super::delete_consent(&s, &app, &id).await?;
        Ok((StatusCode::NO_CONTENT, Value::Null))
    })
    .await
}

async fn refresh(
    State(s): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<ConsentId>, PathRejection>,
) -> Response {
    answer(s, headers, |s, app| async move {
        let id = path_id(path)?;
        let task = super::refresh(&s, &app, &id).await?;
        Ok((StatusCode::ACCEPTED, json!({ "taskId": task.id })))
    })
    .await
}

async fn get_task(
    State(s): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<TaskId>, PathRejection>,
) -> Response {
    answer(s, headers, |s, app| async move {
        let id = path_id(path)?;
        let task = super::task(&s, &app, &id).await?;
        Ok((StatusCode::OK, task_view(&task)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransactionBody {
    consent_id: ConsentId,
    account_ids: Option<Vec<String>>,
}

async fn transaction(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(s, headers, |s, app| async move {
        let req: TransactionBody = required(parse(body)?)?;
        let raised = super::trigger_transaction(&s, &app, &req.consent_id, req.account_ids).await?;
        let accounts: Vec<Value> = raised
            .account_ids
            .iter()
            .map(|a| json!({ "accountId": a }))
            .collect();
        Ok((
            StatusCode::ACCEPTED,
            json!({
                "consentId": raised.consent_id, "accounts": accounts,
                "delivery": raised.delivery, "dropped": raised.dropped,
            }),
        ))
    })
    .await
}

/// A refusal in the dialect's shape for answers given outside its handlers (unknown paths and
/// methods under `/premium/` and `/sandbox/tatra/`).
fn refusal(
    headers: &HeaderMap,
    _: &InteractionId,
    status: StatusCode,
    message: String,
) -> Response {
    let code = if status == StatusCode::METHOD_NOT_ALLOWED {
        "METHOD_NOT_ALLOWED"
    } else {
        "NOT_FOUND"
    };
    reply(headers, Err(Refusal(status, code, message, None)))
}
