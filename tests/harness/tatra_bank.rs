//! An independent Tatra-banka-style bank, written from the seed and the README's `[tatra]`
//! profile section rather than from the sandbox: its own paths and field names, flat webhook
//! bodies naming their kind in `type`, immediate activation, fixed clients, its own retry
//! schedule. Clean, every applicable `@tatra` scenario passes; with one defect, the run fails
//! on a rule that defect breaks and on no other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use base64::Engine;
use obevents::harness::profile::{Profile, ProfileFile};
use obevents::harness::runner::{RunOutcome, Verdict};
use serde_json::{Value, json};

/// One defect of the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    QueryAccepted,
    PrefixedAuthorization,
    MergedAccountEvents,
    SendsWhileDisabled,
    NoRetry,
    NoTaskId,
}

const RETRIES_MS: [u64; 2] = [150, 300];

#[derive(Default, Clone)]
struct App {
    enabled: bool,
    url: String,
    header: String,
}

struct Bank {
    defect: Option<Defect>,
    apps: Mutex<HashMap<String, App>>,
    consents: Mutex<HashMap<String, Consent>>,
    http: reqwest::Client,
}

type Shared = Arc<Bank>;

/// A consent: its owner and its (accountId, bankCode) accounts.
type Consent = (String, Vec<(String, String)>);

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "code": code, "message": code }))).into_response()
}

/// The client id of valid Basic credentials (`<id>:<id>-secret`).
fn caller(h: &HeaderMap) -> Option<String> {
    let v = h
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    let (id, secret) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
    (secret == format!("{id}-secret")).then(|| id.to_string())
}

async fn settings(State(b): State<Shared>, h: HeaderMap, Json(v): Json<Value>) -> Response {
    let Some(app) = caller(&h) else {
        return error(StatusCode::UNAUTHORIZED, "AUTH");
    };
    let url = v["webhookUrl"].as_str().unwrap_or_default().to_string();
    let header = v["webhookSecurityHeader"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let parsed = url::Url::parse(&url);
    let query_ok = b.defect == Some(Defect::QueryAccepted);
    if parsed.is_err() || (parsed.is_ok_and(|u| u.query().is_some()) && !query_ok) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "URL");
    }
    let pattern =
        |c: char| c == ' ' || c == '=' || c == '+' || c == '/' || c.is_ascii_alphanumeric();
    if !header.chars().all(pattern) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "HEADER");
    }
    let enabled = v["webhookEnabled"].as_bool().unwrap_or(false);
    b.apps.lock().unwrap().insert(
        app,
        App {
            enabled,
            url,
            header,
        },
    );
    StatusCode::NO_CONTENT.into_response()
}

async fn consent(State(b): State<Shared>, h: HeaderMap) -> Response {
    let Some(app) = caller(&h) else {
        return error(StatusCode::UNAUTHORIZED, "AUTH");
    };
    let id = uuid::Uuid::new_v4().to_string();
    let accounts: Vec<(String, String)> = ["TATR", "SLSP", "SLSP", "VUBA"]
        .iter()
        .map(|b| (uuid::Uuid::new_v4().to_string(), b.to_string()))
        .collect();
    let list: Vec<Value> = accounts
        .iter()
        .map(|(a, bank)| json!({ "accountId": a, "bankCode": bank }))
        .collect();
    b.consents
        .lock()
        .unwrap()
        .insert(id.clone(), (app, accounts));
    (
        StatusCode::CREATED,
        Json(json!({ "data": { "id": id, "accountList": list } })),
    )
        .into_response()
}

/// The consent `id` if `app` owns it.
fn owned(b: &Bank, app: &str, id: &str) -> Option<Vec<(String, String)>> {
    let c = b.consents.lock().unwrap();
    c.get(id).filter(|(o, _)| o == app).map(|(_, a)| a.clone())
}

async fn refresh(State(b): State<Shared>, h: HeaderMap, Json(v): Json<Value>) -> Response {
    let Some(app) = caller(&h) else {
        return error(StatusCode::UNAUTHORIZED, "AUTH");
    };
    let id = v["consentId"].as_str().unwrap_or_default().to_string();
    let Some(accounts) = owned(&b, &app, &id) else {
        return error(StatusCode::NOT_FOUND, "CONSENT");
    };
    let task = uuid::Uuid::new_v4().to_string();
    let mut banks: Vec<String> = Vec::new();
    for (_, bank) in &accounts {
        if bank != "TATR" && !banks.contains(bank) {
            banks.push(bank.clone());
        }
    }
    let merged = b.defect == Some(Defect::MergedAccountEvents);
    let groups: Vec<Vec<String>> = if merged {
        vec![banks.clone()]
    } else {
        banks.iter().map(|x| vec![x.clone()]).collect()
    };
    for (i, group) in groups.into_iter().enumerate() {
        let list: Vec<Value> = accounts
            .iter()
            .filter(|(_, bank)| group.contains(bank))
            .map(|(a, _)| json!({ "accountId": a, "eventType": "ADDED" }))
            .collect();
        let mut body = json!({ "type": "accountEvent", "consentId": id, "taskId": task,
            "taskStatus": "FINISHED", "bankCode": group[0], "bankName": format!("Bank {}", group[0]),
            "accounts": list });
        if b.defect == Some(Defect::NoTaskId) {
            body.as_object_mut().unwrap().remove("taskId");
        }
        let (b, app) = (b.clone(), app.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100 * (i as u64 + 1))).await;
            deliver(b, app, body).await;
        });
    }
    (StatusCode::OK, Json(json!({ "task": { "id": task } }))).into_response()
}

async fn transaction(State(b): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(app) = caller(&h) else {
        return error(StatusCode::UNAUTHORIZED, "AUTH");
    };
    let Some(accounts) = owned(&b, &app, &id) else {
        return error(StatusCode::NOT_FOUND, "CONSENT");
    };
    let list: Vec<Value> = accounts
        .iter()
        .filter(|(_, bank)| bank == "TATR")
        .map(|(a, _)| json!({ "accountId": a }))
        .collect();
    let body = json!({ "type": "transactionEvent", "consentId": id, "eventType": "NEW", "accounts": list });
    tokio::spawn(deliver(b, app, body));
    StatusCode::NO_CONTENT.into_response()
}

/// POSTs `body` to `app`'s endpoint, retrying non-2xx answers on [`RETRIES_MS`].
async fn deliver(b: Shared, app: String, body: Value) {
    let pauses = RETRIES_MS.iter().map(|ms| Some(Duration::from_millis(*ms)));
    for pause in pauses.chain([None]) {
        let settings = b
            .apps
            .lock()
            .unwrap()
            .get(&app)
            .cloned()
            .unwrap_or_default();
        if !settings.enabled && b.defect != Some(Defect::SendsWhileDisabled) {
            return;
        }
        let mut req = b.http.post(&settings.url).json(&body);
        if !settings.header.is_empty() {
            let value = match b.defect {
                Some(Defect::PrefixedAuthorization) => format!("Bearer {}", settings.header),
                _ => settings.header.clone(),
            };
            req = req.header("Authorization", value);
        }
        let ok = req.send().await.is_ok_and(|r| r.status().is_success());
        match pause {
            Some(p) if !ok && b.defect != Some(Defect::NoRetry) => tokio::time::sleep(p).await,
            _ => return,
        }
    }
}

/// Starts the bank on 127.0.0.1; returns its base URL.
async fn start(defect: Option<Defect>) -> String {
    let bank = Arc::new(Bank {
        defect,
        apps: Mutex::default(),
        consents: Mutex::default(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
    });
    let app = Router::new()
        .route("/api/v2/webhook", put(settings))
        .route("/api/v2/consents", post(consent))
        .route("/api/v2/refresh", post(refresh))
        .route("/test/transactions/{id}", post(transaction))
        .with_state(bank);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The bank's profile, as its engineer would write it from the README; `already_active`
/// declares next-hour activation with the applications enabled long before the run.
fn profile(url: &str, already_active: bool) -> Profile {
    let activation = if already_active {
        "activation = \"next-hour\"\nalready_active = true"
    } else {
        "activation = \"immediate\""
    };
    let text = format!(
        r#"name = "independent tatra-style bank"
dialect = "tatra"

[target]
base_url = "{url}"

[[tpp]]
name = "A"
client_id = "tpp-a"
client_secret = "tpp-a-secret"

[[tpp]]
name = "B"
client_id = "tpp-b"
client_secret = "tpp-b-secret"

[trigger]
kind = "http"
method = "POST"
url = "/test/transactions/{{consent_id}}"
auth = "tpp-basic"
expect_status = [204]

[tatra]
home_bank = "TATR"
{activation}
kind_field = "type"
consent_id_pointer = "/data/id"
accounts_pointer = "/data/accountList"
task_id_pointer = "/task/id"
refresh_timeout_ms = 3000

[tatra.settings]
kind = "http"
method = "PUT"
url = "/api/v2/webhook"
auth = "tpp-basic"
headers = {{ "Content-Type" = "application/json" }}
body = '{{"webhookEnabled":{{enabled}},"webhookUrl":"{{webhook_url}}","webhookSecurityHeader":"{{security_header}}"}}'
expect_status = [204]

[tatra.consent]
kind = "http"
method = "POST"
url = "/api/v2/consents"
auth = "tpp-basic"
expect_status = [201]

[tatra.refresh]
kind = "http"
method = "POST"
url = "/api/v2/refresh"
auth = "tpp-basic"
headers = {{ "Content-Type" = "application/json" }}
body = '{{"consentId":"{{consent_id}}"}}'
expect_status = [200]

[bank]
realtime = true

[timing]
event_timeout_ms = 3000
clock_skew_secs = 5

[push]
retry_schedule_ms = [150, 300]
retries_4xx = true
accepts_http_callbacks = true
first_push_timeout_ms = 3000
quiet_period_ms = 800
"#
    );
    let file: ProfileFile = toml::from_str(&text).expect("profile TOML");
    Profile::from_file(file, std::path::Path::new("."), None).expect("valid profile")
}

/// Runs the `@tatra` scenarios against a fresh bank with `defect`.
pub async fn run(defect: Option<Defect>) -> RunOutcome {
    let url = start(defect).await;
    super::run_tags(profile(&url, false), Some("@tatra"), None).await
}

/// Runs them against a clean bank profiled as next-hour with already-active applications.
pub async fn run_already_active() -> RunOutcome {
    let url = start(None).await;
    super::run_tags(profile(&url, true), Some("@tatra"), None).await
}

/// The rules the failed scenarios of `o` failed on.
pub fn failed_rules(o: &RunOutcome) -> Vec<String> {
    let mut rules: Vec<String> = o
        .scenarios
        .iter()
        .filter(|s| s.verdict == Verdict::Failed)
        .flat_map(|s| s.failed_rules.iter().cloned())
        .collect();
    rules.sort();
    rules.dedup();
    rules
}
