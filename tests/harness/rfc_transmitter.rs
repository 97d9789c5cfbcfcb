//! An independent RFC 8936 transmitter, written from RFC 8936 (poll delivery), RFC 8417 (SETs)
//! and RFC 6750 (bearer tokens) rather than from the sandbox: its own paths (`/poll`,
//! `/jwks`, a `/trigger` helper), static bearer tokens naming each receiver, ES256 SETs typed
//! `secevent+jwt` carrying a CAEP event type (no OBIE type at all), one queue per receiver that
//! keeps every SET until that receiver acknowledges it, and long polls held until a SET arrives
//! or its hold passes. Each [`Deviation`] is one of the habits of transmitters seen in the wild;
//! its test asserts the exact RFC rules the harness charges, and that it charges nothing for
//! the habits the RFCs allow.

// A refusal is the axum `Response` the handler answers with, as in any axum service; boxing it
// to keep `Result` small would only add noise to a test double.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jws::{ES256, JwsSigner};
use obevents::harness::profile::{Profile, ProfileFile};
use obevents::harness::runner::RunOutcome;
use serde_json::{Value, json};

/// One habit of a transmitter the harness must judge by the RFCs alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deviation {
    /// Reads acknowledgements from `acks` (a misspelling seen in the wild), so `ack` does
    /// nothing: acknowledged SETs are served again (R8936-11).
    AcksSpelling,
    /// Ignores `setErrs` (leaves reported SETs awaiting): RFC 8936 leaves that open.
    IgnoresSetErrs,
    /// Types its SETs `JWT` instead of `secevent+jwt` (R8417-14).
    TypJwt,
    /// Answers a poll with an invalid token 404 instead of 401 (R8936-28).
    InvalidToken404,
    /// Answers every poll at once, long polls included (R8936-08).
    NoLongPolling,
}

/// The CAEP event type its SETs carry: not an OBIE type.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const ISSUER: &str = "https://transmitter.example";
/// How long a long poll is held with nothing to send.
const HOLD: Duration = Duration::from_millis(700);

struct Queued {
    jti: String,
    token: String,
}

struct Transmitter {
    deviation: Option<Deviation>,
    /// Receiver (`aud`) → its SETs not yet acknowledged, oldest first.
    queues: Mutex<HashMap<String, Vec<Queued>>>,
    arrived: tokio::sync::Notify,
    key: Box<dyn JwsSigner>,
    jwks: Value,
}

type Shared = Arc<Transmitter>;

/// The receiver a bearer token belongs to (`token-x` → `receiver-x`).
fn receiver(h: &HeaderMap) -> Option<String> {
    let token = h
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let name = token.strip_prefix("token-")?;
    (name.len() == 1).then(|| format!("receiver-{name}"))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Transmitter {
    /// A signed SET for `aud` about a session of `subject` (RFC 8417 §2.2).
    fn set(&self, aud: &str, subject: &str) -> Queued {
        let jti = uuid::Uuid::new_v4().simple().to_string();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let typ = if self.deviation == Some(Deviation::TypJwt) {
            "JWT"
        } else {
            "secevent+jwt"
        };
        let header = json!({ "alg": "ES256", "kid": "t1", "typ": typ });
        let claims = json!({
            "iss": ISSUER, "iat": now, "jti": jti, "aud": aud,
            "events": { SESSION_REVOKED: {
                "subject": { "format": "opaque", "id": subject },
                "event_timestamp": now
            } }
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.key.sign(input.as_bytes()).expect("ES256 signs");
        Queued {
            token: format!("{input}.{}", b64(&sig)),
            jti,
        }
    }
}

fn refuse(status: StatusCode, err: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "err": err, "description": description })),
    )
        .into_response()
}

fn unauthorized() -> Response {
    let mut r = refuse(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "bearer token required",
    );
    r.headers_mut().insert(
        "www-authenticate",
        "Bearer realm=\"poll\", error=\"invalid_token\""
            .parse()
            .expect("header"),
    );
    r
}

/// The poll request's members, or why it is not one (RFC 8936 §2.2).
struct PollRequest {
    max_events: Option<usize>,
    return_immediately: bool,
    ack: Vec<String>,
    set_errs: Vec<String>,
}

fn parse_poll(body: &[u8], deviation: Option<Deviation>) -> Result<PollRequest, Response> {
    let bad = |d: &str| Err(refuse(StatusCode::BAD_REQUEST, "invalid_request", d));
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
        return bad("the request is not a JSON object");
    };
    let max_events = match v.get("maxEvents") {
        None => None,
        Some(n) => match n.as_u64() {
            Some(n) => Some(n as usize),
            None => return bad("maxEvents is not a non-negative integer"),
        },
    };
    let return_immediately = match v.get("returnImmediately") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return bad("returnImmediately is not a boolean"),
    };
    let ack_member = if deviation == Some(Deviation::AcksSpelling) {
        "acks"
    } else {
        "ack"
    };
    let strings = |x: Option<&Value>| -> Vec<String> {
        x.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|j| j.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let set_errs = v
        .get("setErrs")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    Ok(PollRequest {
        max_events,
        return_immediately,
        ack: strings(v.get(ack_member)),
        set_errs,
    })
}

/// RFC 8936 §2: acknowledged (and, unless it ignores them, errored) SETs leave the
/// receiver's queue; the batch is chosen after, oldest first.
fn answer(t: &Transmitter, aud: &str, req: &PollRequest) -> Option<Value> {
    let mut queues = t.queues.lock().unwrap();
    let queue = queues.entry(aud.to_string()).or_default();
    let released: Vec<&String> = if t.deviation == Some(Deviation::IgnoresSetErrs) {
        req.ack.iter().collect()
    } else {
        req.ack.iter().chain(&req.set_errs).collect()
    };
    queue.retain(|q| !released.contains(&&q.jti));
    let n = req.max_events.unwrap_or(usize::MAX);
    if queue.is_empty() && n > 0 && !req.return_immediately {
        return None;
    }
    let mut sets = serde_json::Map::new();
    for q in queue.iter().take(n) {
        sets.insert(q.jti.clone(), json!(q.token));
    }
    Some(json!({ "sets": sets, "moreAvailable": queue.len() > sets.len() }))
}

async fn poll(State(t): State<Shared>, h: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(aud) = receiver(&h) else {
        if t.deviation == Some(Deviation::InvalidToken404) && h.contains_key("authorization") {
            return refuse(StatusCode::NOT_FOUND, "not_found", "no such stream");
        }
        return unauthorized();
    };
    let mut req = match parse_poll(&body, t.deviation) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if t.deviation == Some(Deviation::NoLongPolling) {
        req.return_immediately = true;
    }
    let deadline = tokio::time::Instant::now() + HOLD;
    loop {
        // Registered before looking, so a SET queued in between still wakes this poll.
        let woken = t.arrived.notified();
        if let Some(v) = answer(&t, &aud, &req) {
            return (StatusCode::OK, Json(v)).into_response();
        }
        // Acks apply once; what a held poll waits for is the next SET.
        req.ack.clear();
        req.set_errs.clear();
        if tokio::time::timeout_at(deadline, woken).await.is_err() {
            req.return_immediately = true;
        }
    }
}

async fn trigger(State(t): State<Shared>, Json(v): Json<Value>) -> Response {
    let aud = v["aud"].as_str().unwrap_or_default().to_string();
    if v["event"].as_str() != Some(SESSION_REVOKED) || aud.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "unknown event");
    }
    let set = t.set(&aud, v["subject"].as_str().unwrap_or("s"));
    let jti = set.jti.clone();
    t.queues.lock().unwrap().entry(aud).or_default().push(set);
    t.arrived.notify_waiters();
    (StatusCode::CREATED, Json(json!({ "jti": jti }))).into_response()
}

async fn jwks(State(t): State<Shared>) -> Json<Value> {
    Json(t.jwks.clone())
}

/// Starts the transmitter on 127.0.0.1; returns its base URL.
pub async fn start(deviation: Option<Deviation>) -> String {
    let private = Jwk::generate_ec_key(EcCurve::P256).expect("EC key");
    let mut public = private.to_public_key().expect("public key");
    public.set_key_id("t1");
    public.set_algorithm("ES256");
    let t = Arc::new(Transmitter {
        deviation,
        queues: Mutex::default(),
        arrived: tokio::sync::Notify::new(),
        key: Box::new(ES256.signer_from_jwk(&private).expect("signer")),
        jwks: json!({ "keys": [serde_json::to_value(public.as_ref()).expect("jwk")] }),
    });
    let app = Router::new()
        .route("/poll", post(poll))
        .route("/trigger", post(trigger))
        .route("/jwks", get(jwks))
        .with_state(t);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The transmitter's profile as its engineer would write it from the README: RFC 8936
/// conformance, static tokens, the poll endpoint at the host root, its own event type passed to
/// the trigger by URI, and — with `no_long_polling` — the honest OBIE-style declaration that
/// it answers long polls at once (which does not exempt it from R8936-08).
pub fn profile(url: &str, no_long_polling: bool) -> Profile {
    let long_polling = if no_long_polling {
        "long_polling = \"immediate\"\n"
    } else {
        ""
    };
    let text = format!(
        r#"name = "independent RFC 8936 transmitter"
conformance = "rfc8936"

[target]
base_url = "{url}"
api_base = "/"
events_path = "/poll"
jwks_url = "/jwks"
issuer = "{ISSUER}"
alg = "ES256"

[[tpp]]
name = "A"
client_id = "receiver-a"
auth_method = "bearer"
access_token = "token-a"

[[tpp]]
name = "B"
client_id = "receiver-b"
auth_method = "bearer"
access_token = "token-b"

[trigger]
kind = "http"
url = "/trigger"
headers = {{ "Content-Type" = "application/json" }}
body = '{{"aud": "{{client_id}}", "event": "{{event_type}}", "subject": "{{resource_id}}"}}'
expect_status = [201]

[bank]
subscription_api = false
event_types = ["{SESSION_REVOKED}"]
redelivers_unacked = true
long_poll_timeout_ms = 700
{long_polling}
[timing]
event_timeout_ms = 3000
clock_skew_secs = 5
"#
    );
    let file: ProfileFile = toml::from_str(&text).expect("profile TOML");
    Profile::from_file(file, std::path::Path::new("."), None).expect("valid profile")
}

/// Runs the whole embedded suite against a fresh transmitter with `deviation`.
pub async fn run(deviation: Option<Deviation>) -> RunOutcome {
    let url = start(deviation).await;
    let honest = deviation == Some(Deviation::NoLongPolling);
    super::run_with(profile(&url, honest), None).await
}
