//! An independent Yapily-style bank, written from the seed (webhook-dialects.md §1,
//! rfc-rules.md §6) and the README's `dialect = "yapily"` section rather than from the sandbox:
//! its own subscription path and trigger, two fixed applications (the README's minimal
//! profile), webhooks signed with its own key, retries on a schedule of its own, and retries
//! already scheduled cancelled when the subscription is deleted (`pending_retries =
//! "cancel"`). Clean, every applicable `@yapily` scenario passes; with one defect, the run
//! fails on a rule that defect breaks and on no other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use obevents::harness::profile::Profile;
use obevents::harness::runner::RunOutcome;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::bank_kit::{Key, basic_caller, client, load_profile, now, serve};

/// One defect of the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// Events raised after DELETE still go to the deleted subscription's URL (YA-06).
    DeliveredAfterDelete,
    /// Retries already scheduled go on after DELETE although the bank declares `cancel`
    /// (YA-09).
    RetriesAfterDelete,
    /// A non-2xx answer is never retried (YA-09).
    NoRetry,
    /// A second subscription to one type is accepted (YA-03).
    DuplicateAccepted,
    /// Events of every type go to the application's first subscription (YA-11).
    UnsubscribedTypes,
    /// Every event also goes to the other application's URL (YA-12).
    ToOtherApp,
    /// The event object has no `id` (YA-07).
    NoEventId,
    /// `digest` is taken over other bytes than those sent (JWD-06).
    WrongDigest,
    /// `exp` has passed when the webhook is sent (JWD-05).
    Expired,
    /// `GET` of the subscription resource is not served (405): the application's
    /// subscriptions cannot be listed (YA-05), so no scenario can start clean.
    NoList,
}

const PATH: &str = "/api/notifications/subscriptions";
const TYPES: [&str; 2] = ["payment.status.completed", "payment.status.failed"];
const DELAYS_MS: [u64; 2] = [150, 300];

#[derive(Debug, Clone)]
struct Subscription {
    type_id: String,
    url: String,
    created: String,
}

struct Bank {
    defect: Option<Defect>,
    key: Key,
    /// Each application's subscriptions, in the order made.
    subs: Mutex<HashMap<String, Vec<Subscription>>>,
    /// Deleted subscriptions' URLs by (application, type), for the `DeliveredAfterDelete` defect.
    deleted: Mutex<HashMap<(String, String), String>>,
    /// Bumped on each DELETE of (application, type): older retries of it stop.
    generation: Mutex<HashMap<(String, String), u64>>,
    http: reqwest::Client,
}

type Shared = Arc<Bank>;

impl Bank {
    fn has(&self, d: Defect) -> bool {
        self.defect == Some(d)
    }

    fn generation(&self, app: &str, t: &str) -> u64 {
        let key = (app.to_string(), t.to_string());
        self.generation
            .lock()
            .unwrap()
            .get(&key)
            .copied()
            .unwrap_or(0)
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": { "code": status.as_u16(), "message": message } });
    (status, Json(body)).into_response()
}

fn envelope(data: Value) -> Json<Value> {
    Json(json!({ "meta": { "tracingId": uuid::Uuid::new_v4().to_string() }, "data": data }))
}

fn render(app: &str, s: &Subscription) -> Value {
    json!({ "eventTypeId": s.type_id, "applicationId": app, "created": s.created,
        "notification": { "type": "WEBHOOK", "url": s.url } })
}

/// A webhook URL the bank accepts: https, or http to a loopback host (for testing).
fn url_ok(u: &str) -> bool {
    match url::Url::parse(u) {
        Ok(p) if p.scheme() == "https" => true,
        Ok(p) if p.scheme() == "http" => {
            matches!(p.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
        }
        _ => false,
    }
}

async fn subscribe(State(b): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    let Some(app) = basic_caller(&h) else {
        return error(StatusCode::UNAUTHORIZED, "bad credentials");
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let type_id = v["eventTypeId"].as_str().unwrap_or_default();
    let url = v
        .pointer("/notification/url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !TYPES.contains(&type_id) {
        return error(StatusCode::BAD_REQUEST, "unknown event type");
    }
    if !url_ok(url) || v.pointer("/notification/type") != Some(&json!("WEBHOOK")) {
        return error(
            StatusCode::BAD_REQUEST,
            "the notification must be a WEBHOOK to an https url",
        );
    }
    let mut subs = b.subs.lock().unwrap();
    let mine = subs.entry(app.clone()).or_default();
    if mine.iter().any(|s| s.type_id == type_id) && !b.has(Defect::DuplicateAccepted) {
        return error(StatusCode::CONFLICT, "already subscribed");
    }
    let s = Subscription {
        type_id: type_id.into(),
        url: url.into(),
        created: "01-01-2030 00:00:00".into(),
    };
    mine.push(s.clone());
    (StatusCode::CREATED, envelope(render(&app, &s))).into_response()
}

async fn list(State(b): State<Shared>, h: HeaderMap) -> Response {
    let Some(app) = basic_caller(&h) else {
        return error(StatusCode::UNAUTHORIZED, "bad credentials");
    };
    if b.has(Defect::NoList) {
        return error(StatusCode::METHOD_NOT_ALLOWED, "listing is not offered");
    }
    let subs = b.subs.lock().unwrap();
    let items: Vec<Value> = subs
        .get(&app)
        .map(|l| l.iter().map(|s| render(&app, s)).collect())
        .unwrap_or_default();
    envelope(json!(items)).into_response()
}

async fn read(State(b): State<Shared>, h: HeaderMap, Path(t): Path<String>) -> Response {
    let Some(app) = basic_caller(&h) else {
        return error(StatusCode::UNAUTHORIZED, "bad credentials");
    };
    let subs = b.subs.lock().unwrap();
    match subs
        .get(&app)
        .and_then(|l| l.iter().find(|s| s.type_id == t))
    {
        Some(s) => envelope(render(&app, s)).into_response(),
        None => error(StatusCode::NOT_FOUND, "not subscribed"),
    }
}

async fn unsubscribe(State(b): State<Shared>, h: HeaderMap, Path(t): Path<String>) -> Response {
    let Some(app) = basic_caller(&h) else {
        return error(StatusCode::UNAUTHORIZED, "bad credentials");
    };
    let mut subs = b.subs.lock().unwrap();
    let mine = subs.entry(app.clone()).or_default();
    let Some(i) = mine.iter().position(|s| s.type_id == t) else {
        return error(StatusCode::NOT_FOUND, "not subscribed");
    };
    let gone = mine.remove(i);
    mine.retain(|s| s.type_id != t);
    let key = (app.clone(), t);
    b.deleted
        .lock()
        .unwrap()
        .insert(key.clone(), gone.url.clone());
    *b.generation.lock().unwrap().entry(key).or_default() += 1;
    envelope(render(&app, &gone)).into_response()
}

async fn jwks(State(b): State<Shared>) -> Json<Value> {
    Json(b.key.jwks())
}

/// Where an event of `type_id` for `app` goes (YA-11, YA-12).
fn destinations(b: &Bank, app: &str, type_id: &str) -> Vec<String> {
    let subs = b.subs.lock().unwrap();
    let mine = subs.get(app).cloned().unwrap_or_default();
    let wanted = mine
        .iter()
        .find(|s| s.type_id == type_id)
        .or_else(|| mine.first().filter(|_| b.has(Defect::UnsubscribedTypes)))
        .map(|s| s.url.clone());
    let mut out: Vec<String> = wanted.into_iter().collect();
    if out.is_empty() && b.has(Defect::DeliveredAfterDelete) {
        let key = (app.to_string(), type_id.to_string());
        out.extend(b.deleted.lock().unwrap().get(&key).cloned());
    }
    if b.has(Defect::ToOtherApp) && !out.is_empty() {
        let other = subs
            .iter()
            .find(|(a, l)| a.as_str() != app && !l.is_empty())
            .map(|(_, l)| l[0].url.clone());
        out.extend(other);
    }
    out
}

/// The test trigger: `{"eventTypeId", "objectId"}` with the application's credentials.
async fn raise(State(b): State<Shared>, h: HeaderMap, Json(v): Json<Value>) -> Response {
    let Some(app) = basic_caller(&h) else {
        return error(StatusCode::UNAUTHORIZED, "bad credentials");
    };
    let type_id = v["eventTypeId"].as_str().unwrap_or(TYPES[0]).to_string();
    let object = v["objectId"].as_str().unwrap_or("p-1").to_string();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for url in destinations(&b, &app, &type_id) {
        let mut event = json!({ "id": uuid::Uuid::new_v4().to_string(),
            "eventType": type_id.replace('.', "_").to_ascii_uppercase(), "applicationId": app,
            "organisationId": "org-1", "institutionId": "independent-bank",
            "eventPayload": { "id": object, "status": "COMPLETED" }, "objectId": object,
            "created": created, "url": url, "notificationStatus": "DELIVERED" });
        if b.has(Defect::NoEventId) {
            event.as_object_mut().unwrap().remove("id");
        }
        let generation = b.generation(&app, &type_id);
        let body = event.to_string().into_bytes();
        let key = (app.clone(), type_id.clone(), generation);
        tokio::spawn(deliver(b.clone(), key, url, body));
    }
    (StatusCode::CREATED, Json(json!({ "accepted": true }))).into_response()
}

/// The `yapily-signature` of `body`: a PS256 JWT over its SHA-256 digest.
fn signature(b: &Bank, body: &[u8]) -> String {
    let signed: Vec<u8> = if b.has(Defect::WrongDigest) {
        [body, b" "].concat()
    } else {
        body.to_vec()
    };
    let digest: String = Sha256::digest(&signed)
        .iter()
        .map(|x| format!("{x:02X}"))
        .collect();
    let iat = if b.has(Defect::Expired) {
        now() - 900
    } else {
        now()
    };
    let claims = json!({ "digest": digest, "enc": "SHA256", "iat": iat, "exp": iat + 300,
        "jti": uuid::Uuid::new_v4().to_string() });
    let header = json!({ "alg": "PS256", "typ": "JWT", "kid": b.key.kid });
    b.key.sign(&header, claims.to_string().as_bytes())
}

/// Posts `body` to `url` until a 2xx, the retries of [`DELAYS_MS`] run out, or (declared
/// `cancel`) the subscription is deleted.
async fn deliver(b: Shared, key: (String, String, u64), url: String, body: Vec<u8>) {
    let (app, type_id, generation) = key;
    let pauses = DELAYS_MS.iter().map(|ms| Some(Duration::from_millis(*ms)));
    for pause in pauses.chain([None]) {
        let cancelled = b.generation(&app, &type_id) != generation;
        if cancelled && !b.has(Defect::RetriesAfterDelete) {
            return;
        }
        let ok = b
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("yapily-signature", signature(&b, &body))
            .body(body.clone())
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        match pause {
            Some(p) if !ok && !b.has(Defect::NoRetry) => tokio::time::sleep(p).await,
            _ => return,
        }
    }
}

/// Starts the bank on 127.0.0.1; returns its base URL.
pub async fn start(defect: Option<Defect>) -> String {
    let bank = Arc::new(Bank {
        defect,
        key: Key::generate("yapily-bank-1"),
        subs: Mutex::default(),
        deleted: Mutex::default(),
        generation: Mutex::default(),
        http: client(Duration::from_secs(2)),
    });
    let app = Router::new()
        .route(PATH, post(subscribe).get(list))
        .route(&format!("{PATH}/{{t}}"), get(read).delete(unsubscribe))
        .route("/keys.json", get(jwks))
        .route("/test/notify", post(raise))
        .with_state(bank);
    serve(app).await
}

/// The bank's profile, as its engineer would write it from the README's minimal Yapily profile.
pub fn profile(url: &str) -> Profile {
    let text = format!(
        r#"name = "independent yapily-style bank"
dialect = "yapily"

[target]
base_url = "{url}"
jwks_url = "/keys.json"

[[tpp]]
client_id = "app-a"
client_secret = "app-a-secret"
[[tpp]]
client_id = "app-b"
client_secret = "app-b-secret"

[yapily]
subscriptions_path = "{PATH}"
event_types = ["payment.status.completed", "payment.status.failed"]

[trigger]
kind = "http"
url = "/test/notify"
auth = "tpp-basic"
body = '{{"eventTypeId":"{{event_type}}","objectId":"{{resource_id}}"}}'
expect_status = [201]

[bank]
realtime = true

[timing]
event_timeout_ms = 3000
clock_skew_secs = 5

[push]
retry_schedule_ms = [150, 300]
retries_4xx = true
pending_retries = "cancel"
first_push_timeout_ms = 3000
quiet_period_ms = 800
tolerance_percent = 20
timing_slack_ms = 400
"#
    );
    load_profile(&text)
}

/// Runs the `@yapily` scenarios against a fresh bank with `defect`.
pub async fn run(defect: Option<Defect>) -> RunOutcome {
    let url = start(defect).await;
    super::run_tags(profile(&url), Some("@yapily"), None).await
}
