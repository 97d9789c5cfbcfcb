//! An independent OBIE bank with real-time push, written from the rule texts (obie-rules.md
//! §2, §5–§7; RFC 8935) and the README's profile table rather than from the sandbox: its own
//! API base (`/ob/v3.1`), static bearer tokens for two fixed TPPs, no polling, SETs signed
//! with its own key, a trigger of its own, and a retry schedule whose last delay repeats
//! (200 ms, then 400 ms until the 4th attempt; a timed-out attempt counts as one, and the next
//! delay runs from its end). Retries already scheduled go on to the URL the event was raised
//! for (`pending_retries = "keep"`), or, in the `Follow` variant, stop with the subscription
//! and move with its URL, or, in the `Cancel` variant, stop whenever the subscription changes. Clean, every applicable `@realtime` scenario passes; with one
//! defect, the run fails on a rule that defect breaks and on no other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use obevents::harness::profile::Profile;
use obevents::harness::runner::RunOutcome;
use serde_json::{Value, json};

use super::bank_kit::{Key, client, load_profile, now, serve};

/// One defect of the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// Events raised after DELETE, or after a PUT removed the URL or the type, still go to the
    /// last URL (R-02).
    PushAfterUnsubscribe,
    /// `Content-Type: application/json` (R-04).
    JsonContentType,
    /// No `x-fapi-interaction-id` on pushes (R-04).
    NoInteractionId,
    /// A 5xx is never retried (R-08).
    NoRetry,
    /// A 400 is retried like a 5xx (R-08).
    Retries4xx,
    /// No maximum number of attempts (R-08).
    RetriesForever,
    /// Retries at once, without back-off (R-08).
    NoBackoff,
    /// Retries already scheduled stop on DELETE although the bank declares `keep` (R-08).
    StopsDespiteKeep,
    /// Retries already scheduled move to a changed URL although the bank declares `cancel`
    /// (R-08).
    MovesDespiteCancel,
    /// Every push also goes to the other TPP's URL (R-02).
    ToOtherTpp,
    /// `/event-notifications` appended again to the CallbackUrl (R-03).
    UrlRewritten,
    /// The body is the claims as base64-encoded JSON, not a compact JWS (R-04, J-01).
    Base64Body,
}

/// What the bank does with retries already scheduled when the subscription changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    Keep,
    Follow,
    Cancel,
}

const API: &str = "/ob/v3.1";
const ISSUER: &str = "https://push-bank.example";
const ORG: &str = "0015800000PushBank";
const DELAYS_MS: [u64; 2] = [200, 400];
const MAX_ATTEMPTS: u32 = 4;
const TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
struct Subscription {
    id: String,
    url: Option<String>,
    types: Option<Vec<String>>,
    version: String,
}

struct Bank {
    defect: Option<Defect>,
    pending: Pending,
    key: Key,
    subs: Mutex<HashMap<String, Subscription>>,
    /// Where each TPP's last push went (what the `PushAfterUnsubscribe` defect remembers).
    last_url: Mutex<HashMap<String, String>>,
    /// Bumped whenever a TPP's subscription is deleted or changed: pushes of an older
    /// generation know the subscription moved on.
    generation: Mutex<HashMap<String, u64>>,
    http: reqwest::Client,
}

type Shared = Arc<Bank>;

impl Bank {
    fn has(&self, d: Defect) -> bool {
        self.defect == Some(d)
    }

    fn bump(&self, tpp: &str) {
        *self
            .generation
            .lock()
            .unwrap()
            .entry(tpp.into())
            .or_default() += 1;
    }

    fn generation(&self, tpp: &str) -> u64 {
        self.generation
            .lock()
            .unwrap()
            .get(tpp)
            .copied()
            .unwrap_or(0)
    }
}

/// The TPP a static bearer token stands for.
fn caller(h: &HeaderMap) -> Option<String> {
    let token = h
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    match token {
        "token-a" => Some("tpp-a".into()),
        "token-b" => Some("tpp-b".into()),
        _ => None,
    }
}

/// An answer with the request's `x-fapi-interaction-id` played back (or a new one).
fn answer(h: &HeaderMap, status: StatusCode, body: Option<Value>) -> Response {
    let mut r = match body {
        Some(b) => (status, Json(b)).into_response(),
        None => status.into_response(),
    };
    let id = h
        .get("x-fapi-interaction-id")
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap());
    r.headers_mut().insert("x-fapi-interaction-id", id);
    r
}

fn bad_request(h: &HeaderMap, message: &str) -> Response {
    let body = json!({ "Code": "400", "Message": message,
        "Errors": [{ "ErrorCode": "UK.OBIE.Field.Invalid", "Message": message }] });
    answer(h, StatusCode::BAD_REQUEST, Some(body))
}

fn resource(base: &str, s: &Subscription) -> Value {
    let mut data = json!({ "EventSubscriptionId": s.id, "Version": s.version });
    if let Some(u) = &s.url {
        data["CallbackUrl"] = json!(u);
    }
    if let Some(t) = &s.types {
        data["EventTypes"] = json!(t);
    }
    json!({ "Data": data,
        "Links": { "Self": format!("{base}{API}/event-subscriptions/{}", s.id) }, "Meta": {} })
}

/// The subscription a request body describes (id aside), or why not.
fn parse(v: &Value) -> Result<Subscription, &'static str> {
    let data = v.get("Data").ok_or("Data is missing")?;
    let version = data
        .get("Version")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or("Data.Version is missing")?;
    let url = match data.get("CallbackUrl") {
        None => None,
        Some(Value::String(u)) if url::Url::parse(u).is_ok() => Some(u.clone()),
        Some(_) => return Err("Data.CallbackUrl is not a URL"),
    };
    let types = match data.get("EventTypes") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|t| t.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or("Data.EventTypes holds a non-string")?,
        ),
        Some(_) => return Err("Data.EventTypes is not an array"),
    };
    Ok(Subscription {
        id: String::new(),
        url,
        types,
        version: version.into(),
    })
}

fn base(h: &HeaderMap) -> String {
    let host = h.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
    format!("http://{host}")
}

async fn create(State(b): State<Shared>, h: HeaderMap, Json(v): Json<Value>) -> Response {
    let Some(tpp) = caller(&h) else {
        return answer(&h, StatusCode::UNAUTHORIZED, None);
    };
    let mut s = match parse(&v) {
        Ok(s) => s,
        Err(e) => return bad_request(&h, e),
    };
    let mut subs = b.subs.lock().unwrap();
    if subs.contains_key(&tpp) {
        let body = json!({ "Code": "409", "Message": "already subscribed",
            "Errors": [{ "ErrorCode": "UK.OBIE.Resource.ConsentMismatch", "Message": "one subscription per TPP" }] });
        return answer(&h, StatusCode::CONFLICT, Some(body));
    }
    s.id = uuid::Uuid::new_v4().simple().to_string();
    subs.insert(tpp, s.clone());
    answer(&h, StatusCode::CREATED, Some(resource(&base(&h), &s)))
}

async fn list(State(b): State<Shared>, h: HeaderMap) -> Response {
    let Some(tpp) = caller(&h) else {
        return answer(&h, StatusCode::UNAUTHORIZED, None);
    };
    let base = base(&h);
    let items: Vec<Value> = b
        .subs
        .lock()
        .unwrap()
        .get(&tpp)
        .map(|s| resource(&base, s)["Data"].clone())
        .into_iter()
        .collect();
    let body = json!({ "Data": { "EventSubscription": items },
        "Links": { "Self": format!("{base}{API}/event-subscriptions") }, "Meta": {} });
    answer(&h, StatusCode::OK, Some(body))
}

/// The TPP whose subscription `id` is, or the answer to give instead.
fn own(b: &Bank, h: &HeaderMap, id: &str) -> Result<String, Box<Response>> {
    let tpp = caller(h).ok_or_else(|| Box::new(answer(h, StatusCode::UNAUTHORIZED, None)))?;
    let subs = b.subs.lock().unwrap();
    match subs.get(&tpp).filter(|s| s.id == id) {
        Some(_) => Ok(tpp),
        None => Err(Box::new(bad_request(h, "no such subscription"))),
    }
}

async fn replace(
    State(b): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(v): Json<Value>,
) -> Response {
    let tpp = match own(&b, &h, &id) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut s = match parse(&v) {
        Ok(s) => s,
        Err(e) => return bad_request(&h, e),
    };
    s.id = id;
    b.subs.lock().unwrap().insert(tpp.clone(), s.clone());
    b.bump(&tpp);
    answer(&h, StatusCode::OK, Some(resource(&base(&h), &s)))
}

async fn delete(State(b): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let tpp = match own(&b, &h, &id) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    b.subs.lock().unwrap().remove(&tpp);
    b.bump(&tpp);
    answer(&h, StatusCode::NO_CONTENT, None)
}

async fn jwks(State(b): State<Shared>) -> Json<Value> {
    Json(b.key.jwks())
}

/// The SET of one event for `tpp` (OBEventNotification2 claims, the OB JOSE header).
fn set(b: &Bank, tpp: &str, code: &str, rid: &str) -> (String, String) {
    let urn = match code {
        "UK.OBIE.Consent-Authorization-Revoked" => {
            "urn:uk:org:openbanking:events:consent-authorization-revoked"
        }
        _ => "urn:uk:org:openbanking:events:resource-update",
    };
    let rty = if urn.ends_with("revoked") {
        "account-access-consent"
    } else {
        "domestic-payment"
    };
    let link = format!("{ISSUER}{API}/{rty}s/{rid}");
    let jti = uuid::Uuid::new_v4().to_string();
    let t = now();
    let claims = json!({ "iss": ISSUER, "iat": t, "jti": jti, "aud": tpp, "sub": link,
        "txn": uuid::Uuid::new_v4().to_string(), "toe": t,
        "events": { urn: { "subject": { "subject_type": "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
            "http://openbanking.org.uk/rid": rid, "http://openbanking.org.uk/rty": rty,
            "http://openbanking.org.uk/rlk": [{ "version": "v3.1", "link": link }] } } } });
    let header = json!({ "alg": "PS256", "kid": b.key.kid, "typ": "JOSE",
        "http://openbanking.org.uk/iat": t, "http://openbanking.org.uk/iss": ORG,
        "http://openbanking.org.uk/tan": "openbanking.org.uk",
        "crit": ["http://openbanking.org.uk/iat", "http://openbanking.org.uk/iss", "http://openbanking.org.uk/tan"] });
    (jti, b.key.sign(&header, claims.to_string().as_bytes()))
}

/// Where an event of `code` for `tpp` is pushed (R-02): the CallbackUrl of a subscription
/// that asks for the type.
fn destinations(b: &Bank, tpp: &str, code: &str) -> Vec<String> {
    let subs = b.subs.lock().unwrap();
    let wanted = subs
        .get(tpp)
        .filter(|s| s.types.as_ref().is_none_or(|t| t.iter().any(|x| x == code)))
        .and_then(|s| s.url.clone());
    let mut out: Vec<String> = wanted.into_iter().collect();
    if out.is_empty() && b.has(Defect::PushAfterUnsubscribe) {
        out.extend(b.last_url.lock().unwrap().get(tpp).cloned());
    }
    if b.has(Defect::ToOtherTpp) && !out.is_empty() {
        let other = subs
            .iter()
            .find(|(t, s)| t.as_str() != tpp && s.url.is_some())
            .and_then(|(_, s)| s.url.clone());
        out.extend(other);
    }
    out
}

/// The test trigger: `{"tpp", "type" (OBEventType1Code), "rid"}` raises one event.
async fn raise(State(b): State<Shared>, Json(v): Json<Value>) -> Response {
    let tpp = v["tpp"].as_str().unwrap_or_default().to_string();
    let code = v["type"].as_str().unwrap_or_default().to_string();
    let rid = v["rid"].as_str().unwrap_or("r1").to_string();
    let (jti, token) = set(&b, &tpp, &code, &rid);
    let urls = destinations(&b, &tpp, &code);
    if let Some(first) = urls.first() {
        b.last_url
            .lock()
            .unwrap()
            .insert(tpp.clone(), first.clone());
    }
    for url in urls {
        let generation = b.generation(&tpp);
        tokio::spawn(deliver(
            b.clone(),
            tpp.clone(),
            url,
            token.clone(),
            generation,
        ));
    }
    (StatusCode::CREATED, Json(json!({ "jti": jti }))).into_response()
}

/// One attempt: whether it should be retried.
async fn attempt(b: &Bank, url: &str, token: &str) -> bool {
    let target = if b.has(Defect::UrlRewritten) {
        format!("{url}/event-notifications")
    } else {
        url.to_string()
    };
    let media = if b.has(Defect::JsonContentType) {
        "application/json"
    } else {
        "application/jwt"
    };
    let body = if b.has(Defect::Base64Body) {
        // The claims of the compact JWS, re-encoded as standard base64 of their JSON.
        let claims = token.split('.').nth(1).unwrap_or("");
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    } else {
        token.to_string()
    };
    let mut req = b
        .http
        .post(target)
        .header("Content-Type", media)
        .header("x-fapi-financial-id", ORG)
        .body(body);
    if !b.has(Defect::NoInteractionId) {
        req = req.header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string());
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => false,
        Ok(r) if r.status().is_server_error() || [408, 429].contains(&r.status().as_u16()) => true,
        Ok(_) => b.has(Defect::Retries4xx),
        // No answer within the timeout, or none at all: retried.
        Err(_) => true,
    }
}

/// Pushes `token` to `url`, retrying per [`DELAYS_MS`] (the last delay repeating) up to
/// [`MAX_ATTEMPTS`]; each delay runs from the end of the failed attempt.
async fn deliver(b: Shared, tpp: String, url: String, token: String, generation: u64) {
    let mut n = 0u32;
    loop {
        // A changed subscription ends the retries (cancel), takes them along (follow) or
        // leaves them to the URL of the event's time (keep).
        let mut to = url.clone();
        if b.generation(&tpp) != generation {
            let behaves = match b.pending {
                Pending::Keep if b.has(Defect::StopsDespiteKeep) => Pending::Cancel,
                Pending::Cancel if b.has(Defect::MovesDespiteCancel) => Pending::Follow,
                declared => declared,
            };
            let now_url = b.subs.lock().unwrap().get(&tpp).and_then(|s| s.url.clone());
            match (behaves, now_url) {
                (Pending::Keep, _) => {}
                (Pending::Follow, Some(u)) => to = u,
                _ => return,
            }
        }
        n += 1;
        let retry = attempt(&b, &to, &token).await;
        let limit = if b.has(Defect::RetriesForever) {
            30
        } else {
            MAX_ATTEMPTS
        };
        if !retry || b.has(Defect::NoRetry) || n >= limit {
            return;
        }
        let idx = (n as usize - 1).min(DELAYS_MS.len() - 1);
        let delay = if b.has(Defect::NoBackoff) {
            0
        } else {
            DELAYS_MS[idx]
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
}

/// Starts the bank on 127.0.0.1; returns its base URL.
pub async fn start(defect: Option<Defect>, pending: Pending) -> String {
    let bank = Arc::new(Bank {
        defect,
        pending,
        key: Key::generate("push-bank-1"),
        subs: Mutex::default(),
        last_url: Mutex::default(),
        generation: Mutex::default(),
        http: client(TIMEOUT),
    });
    let app = Router::new()
        .route(
            &format!("{API}/event-subscriptions"),
            post(create).get(list),
        )
        .route(
            &format!("{API}/event-subscriptions/{{id}}"),
            put(replace).delete(delete),
        )
        .route("/keys", get(jwks))
        .route("/test/events", post(raise))
        .with_state(bank);
    serve(app).await
}

/// The bank's profile, as its engineer would write it from the README.
pub fn profile(url: &str, pending: Pending) -> Profile {
    let pending = match pending {
        Pending::Keep => "keep",
        Pending::Follow => "follow",
        Pending::Cancel => "cancel",
    };
    let text = format!(
        r#"name = "independent push bank"

[target]
base_url = "{url}"
api_base = "{API}"
jwks_url = "/keys"
issuer = "{ISSUER}"
ob_iss = "{ORG}"
trust_anchor = "openbanking.org.uk"

[[tpp]]
client_id = "tpp-a"
auth_method = "bearer"
access_token = "token-a"

[[tpp]]
client_id = "tpp-b"
auth_method = "bearer"
access_token = "token-b"

[trigger]
kind = "http"
method = "POST"
url = "/test/events"
auth = "none"
body = '{{"tpp":"{{client_id}}","type":"{{event_type_code}}","rid":"{{resource_id}}"}}'
expect_status = [201]

[bank]
polling = false
realtime = true
response_signatures = false
event_types = ["UK.OBIE.Resource-Update", "UK.OBIE.Consent-Authorization-Revoked"]

[timing]
event_timeout_ms = 3000
clock_skew_secs = 5

[push]
retry_schedule_ms = [200, 400]
max_attempts = 4
request_timeout_ms = 500
pending_retries = "{pending}"
first_push_timeout_ms = 3000
quiet_period_ms = 900
tolerance_percent = 20
timing_slack_ms = 400
"#
    );
    load_profile(&text)
}

/// Runs the `@realtime` scenarios against a fresh bank with `defect` and `pending`.
pub async fn run(defect: Option<Defect>, pending: Pending) -> RunOutcome {
    let url = start(defect, pending).await;
    super::run_tags(profile(&url, pending), Some("@realtime"), None).await
}
