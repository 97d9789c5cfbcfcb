//! An independent OBIE v3.1 event-notification bank, written from the OBIE Event Notification
//! API profile and its data dictionaries (`shared/reference/obie-rules.md`) rather than from the
//! sandbox: its own token endpoint and fixed clients, PS256 SETs with the OB JOSE header, one
//! subscription per TPP, aggregated polling with a documented cap of 20 and no long polling
//! (an explicit `returnImmediately: false` is a 400, an absent one is answered at once), and a
//! test helper that raises events. Each [`Defect`] is one state-level defect planted alone; its
//! test asserts the exact rules the harness charges and how many scenarios it touches.

// A refusal is the axum `Response` the handler answers with, as in any axum service; boxing it
// to keep `Result` small would only add noise to a test double.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{JwsSigner, PS256};
use obevents::harness::profile::{Profile, ProfileFile};
use obevents::harness::runner::RunOutcome;
use serde_json::{Map, Value, json};

/// One state-level defect of the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// Each SET is keyed in `sets` by something other than its jti (AP-13).
    KeyNotJti,
    /// A poll that finds nothing awaiting is answered 404 (AP-06, R8936-16).
    EmptyQueue404,
    /// `GET /event-subscriptions` answers `EventSubscription` as an object, not an array (ES-08).
    ListAsObject,
    /// An acknowledgement is forgotten once: the SET is served again by the second poll after
    /// it (AP-09, R8936-11).
    ResurrectedAcks,
    /// An ack releases the jti whichever TPP sends it (AP-11, AP-17).
    OtherTppsAck,
}

const API: &str = "/open-banking/v3.1";
const CAP: usize = 20;
const TYPES: [(&str, &str); 3] = [
    (
        "UK.OBIE.Resource-Update",
        "urn:uk:org:openbanking:events:resource-update",
    ),
    (
        "UK.OBIE.Consent-Authorization-Revoked",
        "urn:uk:org:openbanking:events:consent-authorization-revoked",
    ),
    (
        "UK.OBIE.Account-Access-Consent-Linked-Account-Update",
        "urn:uk:org:openbanking:events:account-access-consent-linked-account-update",
    ),
];

#[derive(Clone)]
struct Subscription {
    id: String,
    owner: String,
    version: String,
    callback: Option<String>,
    types: Option<Vec<String>>,
}

struct Queued {
    jti: String,
    token: String,
    /// With `ResurrectedAcks`: acknowledged once, and hidden from this many more polls.
    forgotten_after: Option<u8>,
}

#[derive(Default)]
struct Data {
    tokens: HashMap<String, String>,
    subscriptions: Vec<Subscription>,
    queues: HashMap<String, Vec<Queued>>,
}

struct Bank {
    defect: Option<Defect>,
    base: Mutex<String>,
    data: Mutex<Data>,
    key: Box<dyn JwsSigner>,
    jwks: Value,
}

type Shared = Arc<Bank>;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An `OBErrorResponse1` (G-12) with one error of `code` about `path`.
fn ob_error(status: StatusCode, code: &str, path: Option<&str>, message: &str) -> Response {
    let mut item = json!({ "ErrorCode": code, "Message": message });
    if let Some(p) = path {
        item["Path"] = json!(p);
    }
    let body = json!({ "Code": status.as_u16().to_string(), "Message": message, "Errors": [item] });
    (status, Json(body)).into_response()
}

fn bad(code: &str, path: &str, message: &str) -> Response {
    let path = (!path.is_empty()).then_some(path);
    ob_error(StatusCode::BAD_REQUEST, code, path, message)
}

/// G-06: every answer carries the request's `x-fapi-interaction-id`, or a fresh one.
async fn interaction_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-fapi-interaction-id")
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap());
    let mut res = next.run(req).await;
    res.headers_mut().insert("x-fapi-interaction-id", id);
    res
}

/// G-03, G-07, G-08 before any resource: the caller's client id, or the refusal.
fn gate(b: &Bank, h: &HeaderMap, method: &Method) -> Result<String, Response> {
    let token = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let client = token.and_then(|t| b.data.lock().unwrap().tokens.get(t).cloned());
    let Some(client) = client else {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        return Err(r);
    };
    let accept = h
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    if !accept.contains("json") && !accept.contains("*/*") {
        return Err(StatusCode::NOT_ACCEPTABLE.into_response());
    }
    if matches!(*method, Method::POST | Method::PUT) {
        let ct = h
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.to_ascii_lowercase().starts_with("application/json") {
            return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
        }
    }
    Ok(client)
}

async fn token(State(b): State<Shared>, h: HeaderMap, body: String) -> Response {
    let creds = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let client = creds.and_then(|c| {
        let (id, secret) = c.split_once(':')?;
        (secret == format!("{id}-secret")).then(|| id.to_string())
    });
    let grant = body.contains("grant_type=client_credentials");
    let Some(client) = client.filter(|_| grant) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    };
    let t = uuid::Uuid::new_v4().simple().to_string();
    b.data.lock().unwrap().tokens.insert(t.clone(), client);
    Json(json!({ "access_token": t, "token_type": "Bearer", "expires_in": 3600 })).into_response()
}

async fn jwks(State(b): State<Shared>) -> Json<Value> {
    Json(b.jwks.clone())
}

// ---- event subscriptions: in obie_bank_subscriptions.rs -----------------------------------------

#[path = "obie_bank_subscriptions.rs"]
mod subscriptions;
use subscriptions::{create, delete, list, replace};

// ---- aggregated polling -------------------------------------------------------------------------

/// A checked `OBEventPolling1` (AP-04): acks, reported jtis and the batch size.
struct Poll {
    ack: Vec<String>,
    errs: Vec<String>,
    max: usize,
}

fn field_invalid(path: &str, message: &str) -> Response {
    bad("UK.OBIE.Field.Invalid", path, message)
}

fn poll_request(body: &[u8]) -> Result<Poll, Response> {
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
        return Err(field_invalid(
            "",
            "the body is not an OBEventPolling1 object",
        ));
    };
    let known = ["maxEvents", "returnImmediately", "ack", "setErrs"];
    if let Some(k) = v.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad("UK.OBIE.Field.Unexpected", k, "unexpected member"));
    }
    let max = match v.get("maxEvents") {
        None => CAP,
        Some(n) => match n.as_u64() {
            Some(n) => (n as usize).min(CAP),
            None => {
                return Err(field_invalid(
                    "maxEvents",
                    "maxEvents is a non-negative integer",
                ));
            }
        },
    };
    match v.get("returnImmediately") {
        None | Some(Value::Bool(true)) => {}
        // The bank has no long polling and documents that it refuses to be asked for it.
        Some(Value::Bool(false)) => {
            return Err(field_invalid(
                "returnImmediately",
                "long polling is not supported",
            ));
        }
        Some(_) => {
            return Err(field_invalid(
                "returnImmediately",
                "returnImmediately is a boolean",
            ));
        }
    }
    let ack = match v.get("ack") {
        None => Vec::new(),
        Some(Value::Array(a)) => {
            let ok = |j: &Value| {
                j.as_str()
                    .is_some_and(|s| (1..=128).contains(&s.chars().count()))
            };
            if !a.iter().all(ok) {
                return Err(field_invalid("ack", "ack holds jtis of 1..128 characters"));
            }
            a.iter()
                .filter_map(|j| j.as_str().map(String::from))
                .collect()
        }
        Some(_) => return Err(field_invalid("ack", "ack is an array")),
    };
    let errs = match v.get("setErrs") {
        None => Vec::new(),
        Some(Value::Object(m)) => {
            for e in m.values() {
                let text = |k: &str, max: usize| {
                    e.get(k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| (1..=max).contains(&s.chars().count()))
                };
                if !(text("err", 40) && text("description", 256)) {
                    return Err(field_invalid(
                        "setErrs",
                        "setErrs entries have err and description",
                    ));
                }
            }
            m.keys().cloned().collect()
        }
        Some(_) => return Err(field_invalid("setErrs", "setErrs is an object")),
    };
    Ok(Poll { ack, errs, max })
}

/// Applies `p`'s acknowledgements of `client` (AP-09, AP-11: unknown jtis are ignored) and
/// answers the batch (AP-05, AP-07, AP-12), or `None` for the defect's 404.
fn poll_answer(b: &Bank, client: &str, p: &Poll) -> Option<Value> {
    let mut data = b.data.lock().unwrap();
    if b.defect == Some(Defect::OtherTppsAck) {
        for q in data.queues.values_mut() {
            q.retain(|s| !p.ack.contains(&s.jti));
        }
    }
    let queue = data.queues.entry(client.to_string()).or_default();
    for s in queue.iter_mut() {
        if let Some(n) = s.forgotten_after.as_mut() {
            *n = n.saturating_sub(1);
        }
    }
    if b.defect == Some(Defect::ResurrectedAcks) {
        // The first acknowledgement of a SET holds for one more poll only; a second holds.
        queue.retain(|s| !(p.ack.contains(&s.jti) && s.forgotten_after.is_some()));
        for s in queue.iter_mut().filter(|s| p.ack.contains(&s.jti)) {
            s.forgotten_after = Some(2);
        }
    } else {
        queue.retain(|s| !p.ack.contains(&s.jti));
    }
    // A SET reported in setErrs stays awaiting (AP-10): nothing to do with `errs`.
    let _ = &p.errs;
    let awaiting: Vec<&Queued> = queue
        .iter()
        .filter(|s| s.forgotten_after.is_none_or(|n| n == 0))
        .collect();
    if awaiting.is_empty() && b.defect == Some(Defect::EmptyQueue404) {
        return None;
    }
    let mut sets = Map::new();
    for s in awaiting.iter().take(p.max) {
        let key = if b.defect == Some(Defect::KeyNotJti) {
            format!("set-{}", s.jti)
        } else {
            s.jti.clone()
        };
        sets.insert(key, json!(s.token));
    }
    Some(json!({ "moreAvailable": awaiting.len() > sets.len(), "sets": sets }))
}

async fn events(State(b): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    let client = match gate(&b, &h, &Method::POST) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = match poll_request(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match poll_answer(&b, &client, &p) {
        Some(v) => Json(v).into_response(),
        None => ob_error(
            StatusCode::NOT_FOUND,
            "UK.OBIE.Resource.NotFound",
            None,
            "no events",
        ),
    }
}

// ---- events -------------------------------------------------------------------------------------

/// The signed SET of one event (N-01..N-07, J-01..J-05).
fn set_for(b: &Bank, client: &str, urn: &str, rid: &str) -> Queued {
    let jti = uuid::Uuid::new_v4().to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let base = b.base.lock().unwrap().clone();
    let link = format!("{base}{API}/aisp/account-access-consents/{rid}");
    let subject = json!({
        "subject_type": "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
        "http://openbanking.org.uk/rid": rid,
        "http://openbanking.org.uk/rty": "account-access-consent",
        "http://openbanking.org.uk/rlk": [{ "version": "v3.1", "link": link }]
    });
    let claims = json!({
        "iss": base, "iat": now, "jti": jti, "aud": client, "sub": link,
        "txn": uuid::Uuid::new_v4().to_string(), "toe": now,
        "events": { urn: { "subject": subject } }
    });
    let header = json!({
        "alg": "PS256", "kid": "bank-key-1", "typ": "JOSE",
        "http://openbanking.org.uk/iat": now,
        "http://openbanking.org.uk/iss": "0015800001041REAAY",
        "http://openbanking.org.uk/tan": "openbanking.org.uk",
        "crit": ["http://openbanking.org.uk/iat", "http://openbanking.org.uk/iss",
                 "http://openbanking.org.uk/tan"]
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = b.key.sign(input.as_bytes()).expect("PS256 signs");
    Queued {
        token: format!("{input}.{}", b64(&sig)),
        jti,
        forgotten_after: None,
    }
}

/// Test helper: raises an event for a client. It is queued only when the client's
/// subscription asks for its type (AP-03, N-11; a 3.1.1 subscription gets resource-update
/// only, ES-06).
async fn raise(State(b): State<Shared>, Json(v): Json<Value>) -> Response {
    let client = v["client_id"].as_str().unwrap_or_default().to_string();
    let Some((code, urn)) = TYPES
        .iter()
        .find(|(_, u)| Some(*u) == v["event_type"].as_str())
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let rid = v["resource_id"].as_str().unwrap_or("r").to_string();
    let wanted = b
        .data
        .lock()
        .unwrap()
        .subscriptions
        .iter()
        .find(|s| s.owner == client)
        .is_some_and(|s| {
            let versioned = s.version != "3.1.1" || *code == "UK.OBIE.Resource-Update";
            versioned && s.types.as_ref().is_none_or(|t| t.iter().any(|x| x == code))
        });
    if wanted {
        let set = set_for(&b, &client, urn, &rid);
        b.data
            .lock()
            .unwrap()
            .queues
            .entry(client)
            .or_default()
            .push(set);
    }
    StatusCode::ACCEPTED.into_response()
}

async fn not_allowed() -> Response {
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

/// Starts the bank with `defect` on 127.0.0.1; returns its base URL.
pub async fn start(defect: Option<Defect>) -> String {
    let private = Jwk::generate_rsa_key(2048).expect("RSA key");
    let mut public = private.to_public_key().expect("public key");
    public.set_key_id("bank-key-1");
    public.set_key_use("sig");
    let bank = Arc::new(Bank {
        defect,
        base: Mutex::default(),
        data: Mutex::default(),
        key: Box::new(PS256.signer_from_jwk(&private).expect("signer")),
        jwks: json!({ "keys": [serde_json::to_value(public.as_ref()).expect("jwk")] }),
    });
    let api = Router::new()
        .route("/events", post(events).get(not_allowed))
        .route("/event-subscriptions", post(create).get(list))
        .route(
            "/event-subscriptions/{id}",
            axum::routing::put(replace).delete(delete).get(not_allowed),
        );
    let app = Router::new()
        .nest(API, api)
        .route("/token", post(token))
        .route("/jwks", get(jwks))
        .route("/test/events", post(raise))
        .layer(axum::middleware::from_fn(interaction_id))
        .with_state(bank.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    *bank.base.lock().unwrap() = url.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The bank's profile, as its engineer would write it from the README.
pub fn profile(url: &str) -> Profile {
    let file: ProfileFile = toml::from_str(&profile_text(url)).expect("profile TOML");
    Profile::from_file(file, std::path::Path::new("."), None).expect("valid profile")
}

/// The TOML of [`profile`].
pub fn profile_text(url: &str) -> String {
    format!(
        r#"name = "independent OBIE bank"

[target]
base_url = "{url}"
token_endpoint = "/token"
jwks_url = "/jwks"
issuer = "{url}"

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
url = "/test/events"
headers = {{ "Content-Type" = "application/json" }}
body = '{{"client_id": "{{client_id}}", "event_type": "{{event_type}}", "resource_id": "{{resource_id}}"}}'
expect_status = [202]

[bank]
long_polling = "reject"
max_events_cap = 20
event_types = ["resource-update", "consent-authorization-revoked", "account-access-consent-linked-account-update"]
response_signatures = false

[timing]
event_timeout_ms = 3000
clock_skew_secs = 5
"#
    )
}

/// Runs the whole embedded suite against a fresh bank with `defect`.
pub async fn run(defect: Option<Defect>) -> RunOutcome {
    let url = start(defect).await;
    super::run_with(profile(&url), None).await
}
