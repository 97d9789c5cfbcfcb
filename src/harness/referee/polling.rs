//! The referee's front for a TPP's polling client (a TPP profile with `[polling]`): an HTTP
//! server on its own port that the client is given as the bank (`{base_url}`, `{token_url}`,
//! `{jwks_url}`, `{events_url}`). `POST /open-banking/v3.1/events` is answered by the polling
//! session ([`Script`]); everything else (`/token`, `/jwks`, …) is passed to the referee bank.
//! Every request the client makes is recorded in a bounded [`Logged`] list — time, method,
//! path, which token it carried, `x-fapi-interaction-id`, `Content-Type`, the parsed JSON body,
//! the status and what was served — which the polling scenarios judge. Only a referee has
//! this front; a sandbox never records its callers' requests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::poll_script::{Answer, Ask, RETRY_AFTER, Script, Step};

/// The path of the polling endpoint (OBIE `POST /events`).
pub const EVENTS_PATH: &str = "/open-banking/v3.1/events";
/// The most requests the log keeps (the first ones; later ones are counted, not kept).
pub const LOG_LIMIT: usize = 10_000;
/// The largest request body read.
const BODY_LIMIT: usize = 1 << 20;
/// The scopes `POST /events` accepts (G-04: one of them; `eventpolling` for 3.1.2–3.1.3).
pub const POLL_SCOPES: [&str; 4] = ["accounts", "payments", "fundsconfirmations", "eventpolling"];

/// Which token a request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRef {
    None,
    /// A bearer token the referee never issued.
    Unknown,
    /// The n-th token issued by `/token` (from 0).
    Issued(usize),
}

/// One request of the TPP's client and the referee's answer.
#[derive(Debug, Clone)]
pub struct Logged {
    /// When it arrived, since the front started.
    pub at: Duration,
    /// When its answer was complete, since the front started.
    pub answered: Duration,
    pub method: String,
    pub path: String,
    pub token: TokenRef,
    pub interaction_id: Option<String>,
    pub content_type: Option<String>,
    /// The body parsed as JSON (None when empty or not JSON).
    pub body: Option<Value>,
    pub status: u16,
    /// The jtis served (a poll answered 200).
    pub served: Vec<String>,
    pub more_available: Option<bool>,
    pub retry_after: Option<u64>,
    /// The session step that answered (polls only).
    pub step: Option<Step>,
}

impl Logged {
    pub fn is_poll(&self) -> bool {
        self.method == "POST" && self.path == EVENTS_PATH
    }

    /// A `field` of the JSON body's top level.
    pub fn member(&self, field: &str) -> Option<&Value> {
        self.body.as_ref().and_then(|b| b.get(field))
    }

    /// The `ack` member's strings.
    pub fn acks(&self) -> Vec<String> {
        strings(self.member("ack"))
    }

    /// One line for findings.
    pub fn summary(&self) -> String {
        let body = self
            .body
            .as_ref()
            .map(|b| b.to_string().chars().take(300).collect::<String>())
            .unwrap_or_default();
        format!(
            "{} {} at {} ms ({:?}) → {} {}",
            self.method,
            self.path,
            self.at.as_millis(),
            self.token,
            self.status,
            body
        )
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A token `/token` issued, and whether the session revoked it.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    /// The scope granted (None: the response named none, so the client's default).
    pub scope: Option<String>,
    pub dead: bool,
}

/// What the front knows: the log, the tokens and the session.
#[derive(Debug)]
pub struct Record {
    pub log: Vec<Logged>,
    /// Requests beyond [`LOG_LIMIT`], not kept.
    pub dropped: usize,
    pub tokens: Vec<Issued>,
    pub script: Script,
}

struct Front {
    upstream: String,
    http: reqwest::Client,
    started: Instant,
    record: Mutex<Record>,
    complete: watch::Sender<bool>,
}

/// The running front; [`PollingReferee::stop`] ends it.
pub struct PollingReferee {
    pub url: String,
    front: Arc<Front>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PollingReferee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollingReferee")
            .field("url", &self.url)
            .finish()
    }
}

/// A bound port for the front, before the session exists (its URL goes into the placeholders).
pub fn bind(addr: Option<&str>) -> Result<(std::net::TcpListener, String), String> {
    let l = std::net::TcpListener::bind(addr.unwrap_or("127.0.0.1:0"))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot listen for the polling referee (polling.addr): {e}"))?;
    let addr = l
        .local_addr()
        .map_err(|e| format!("the polling referee's address: {e}"))?;
    Ok((l, format!("http://{addr}")))
}

/// Without a `[start] command`, the polling client is started by hand: what to give it.
pub fn prompt(vars: &crate::harness::profile::tpp::Vars) {
    let wanted = [
        "base_url",
        "events_url",
        "token_url",
        "jwks_url",
        "issuer",
        "client_id",
        "client_secret",
    ];
    let lines: Vec<String> = vars
        .0
        .iter()
        .filter(|(k, _)| wanted.contains(k))
        .map(|(k, v)| format!("  {k} = {v}"))
        .collect();
    eprintln!(
        "start the TPP's polling client now (the session waits for it up to \
         [polling] session_timeout_ms):\n{}",
        lines.join("\n")
    );
}

impl PollingReferee {
    /// Serves `script` on `listener` (`url`), passing other requests to `upstream`.
    pub fn start(
        listener: std::net::TcpListener,
        url: String,
        upstream: String,
        script: Script,
    ) -> Result<PollingReferee, String> {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("the polling referee's listener: {e}"))?;
        let front = Arc::new(Front {
            upstream,
            http: reqwest::Client::new(),
            started: Instant::now(),
            record: Mutex::new(Record {
                log: Vec::new(),
                dropped: 0,
                tokens: Vec::new(),
                script,
            }),
            complete: watch::channel(false).0,
        });
        let stop = CancellationToken::new();
        let shared = front.clone();
        let router = axum::Router::new().fallback(move |req: Request<Body>| {
            let front = shared.clone();
            async move { front.handle(req).await }
        });
        let until = stop.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(until)
                .await;
        });
        Ok(PollingReferee {
            url,
            front,
            stop,
            task,
        })
    }

    /// Waits until the session is complete or `within` has passed; whether it completed.
    pub async fn wait_complete(&self, within: Duration) -> bool {
        let mut rx = self.front.complete.subscribe();
        tokio::time::timeout(within, rx.wait_for(|done| *done))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Reads the record (log, tokens, session) under its lock.
    pub fn with_record<T>(&self, f: impl FnOnce(&Record) -> T) -> Result<T, String> {
        let r = self
            .front
            .record
            .lock()
            .map_err(|_| "the polling referee's record is poisoned".to_string())?;
        Ok(f(&r))
    }

    /// Stops serving (the server task ends once in-flight requests are answered).
    pub fn shutdown(&self) {
        self.stop.cancel();
        self.task.abort();
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(String::from)
}

fn reply(status: StatusCode, headers: &[(&str, String)], body: String) -> Response<Body> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    r.body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

impl Front {
    async fn handle(&self, req: Request<Body>) -> Response<Body> {
        let at = self.started.elapsed();
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .unwrap_or_default();
        let path = parts.uri.path().to_string();
        let mut entry = Logged {
            at,
            answered: at,
            method: parts.method.to_string(),
            path: path.clone(),
            token: TokenRef::None,
            interaction_id: header(&parts.headers, "x-fapi-interaction-id"),
            content_type: header(&parts.headers, "content-type"),
            body: serde_json::from_slice(&bytes).ok(),
            status: 0,
            served: Vec::new(),
            more_available: None,
            retry_after: None,
            step: None,
        };
        let response = if parts.method == Method::POST && path == EVENTS_PATH {
            self.poll(&parts.headers, &bytes, &mut entry).await
        } else {
            self.forward(&parts, bytes, &mut entry).await
        };
        entry.status = response.status().as_u16();
        entry.answered = self.started.elapsed();
        self.keep(entry);
        response
    }

    fn keep(&self, entry: Logged) {
        let Ok(mut r) = self.record.lock() else {
            return;
        };
        if r.log.len() < LOG_LIMIT {
            r.log.push(entry);
        } else {
            r.dropped += 1;
        }
        if r.script.complete() {
            self.complete.send_replace(true);
        }
    }

    /// The token a request carries, as the record knows it.
    fn token_of(&self, headers: &HeaderMap) -> TokenRef {
        let Some(auth) = header(headers, "authorization") else {
            return TokenRef::None;
        };
        let Some(token) = auth
            .strip_prefix("Bearer ")
            .or(auth.strip_prefix("bearer "))
        else {
            return TokenRef::Unknown;
        };
        let Ok(r) = self.record.lock() else {
            return TokenRef::Unknown;
        };
        r.tokens
            .iter()
            .position(|t| t.token == token.trim())
            .map_or(TokenRef::Unknown, TokenRef::Issued)
    }

    async fn poll(&self, headers: &HeaderMap, bytes: &Bytes, entry: &mut Logged) -> Response<Body> {
        let iid = entry
            .interaction_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let json_headers = vec![
            ("content-type", "application/json".to_string()),
            ("x-fapi-interaction-id", iid.clone()),
        ];
        entry.token = self.token_of(headers);
        if let Some(refused) = self.refuse_token(&entry.token, &iid) {
            return refused;
        }
        let Some(ask) = ask(bytes) else {
            let body = json!({"Code": "400", "Message": "the body is not a JSON object",
                "Errors": [{"ErrorCode": "UK.OBIE.Field.Invalid",
                            "Message": "POST /events needs an OBEventPolling1 JSON object"}]});
            return reply(StatusCode::BAD_REQUEST, &json_headers, body.to_string());
        };
        let answer = match self.record.lock() {
            Ok(mut r) => {
                entry.step = Some(r.script.step());
                let a = r.script.answer(&ask);
                if let (Answer::Revoke, TokenRef::Issued(n)) = (&a, &entry.token)
                    && let Some(t) = r.tokens.get_mut(*n)
                {
                    t.dead = true;
                }
                a
            }
            Err(_) => return reply(StatusCode::INTERNAL_SERVER_ERROR, &[], String::new()),
        };
        match answer {
            Answer::Serve { sets, more, hold } => {
                if let Some(h) = hold {
                    tokio::time::sleep(h).await;
                }
                entry.served = sets.iter().map(|(j, _)| j.clone()).collect();
                entry.more_available = Some(more);
                let sets: Map<String, Value> = sets
                    .into_iter()
                    .map(|(j, s)| (j, Value::String(s)))
                    .collect();
                let body = json!({"sets": sets, "moreAvailable": more});
                reply(StatusCode::OK, &json_headers, body.to_string())
            }
            Answer::TooMany => {
                entry.retry_after = Some(RETRY_AFTER);
                let mut h = json_headers;
                h.push(("retry-after", RETRY_AFTER.to_string()));
                reply(StatusCode::TOO_MANY_REQUESTS, &h, String::new())
            }
            Answer::Revoke => unauthorized(&iid, true),
        }
    }

    /// 401 for a missing, unknown or revoked token; 403 for one without a polling scope.
    fn refuse_token(&self, token: &TokenRef, iid: &str) -> Option<Response<Body>> {
        let n = match token {
            TokenRef::None => return Some(unauthorized(iid, false)),
            TokenRef::Unknown => return Some(unauthorized(iid, true)),
            TokenRef::Issued(n) => *n,
        };
        let r = self.record.lock().ok()?;
        let t = r.tokens.get(n)?;
        if t.dead {
            return Some(unauthorized(iid, true));
        }
        let scoped = t
            .scope
            .as_deref()
            .is_none_or(|s| s.split(' ').any(|s| POLL_SCOPES.contains(&s)));
        (!scoped).then(|| {
            let body = json!({"Code": "403", "Message": "the token has no scope POST /events accepts",
                "Errors": [{"ErrorCode": "UK.OBIE.UnexpectedError",
                            "Message": "one of accounts, payments, fundsconfirmations is needed"}]});
            reply(
                StatusCode::FORBIDDEN,
                &[("content-type", "application/json".into()), ("x-fapi-interaction-id", iid.into())],
                body.to_string(),
            )
        })
    }

    /// Passes a request to the referee bank; notes the tokens `/token` issues.
    async fn forward(
        &self,
        parts: &axum::http::request::Parts,
        bytes: Bytes,
        entry: &mut Logged,
    ) -> Response<Body> {
        entry.token = self.token_of(&parts.headers);
        let target = format!(
            "{}{}",
            self.upstream,
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let mut req = self.http.request(parts.method.clone(), &target);
        for (k, v) in &parts.headers {
            if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                req = req.header(k, v);
            }
        }
        let requested_scope = form_value(&bytes, "scope");
        let answer = match req.body(bytes).send().await {
            Ok(a) => a,
            Err(e) => return reply(StatusCode::BAD_GATEWAY, &[], format!("referee bank: {e}")),
        };
        let status = answer.status();
        let headers: Vec<(String, String)> = answer
            .headers()
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                )
            })
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = answer.bytes().await.unwrap_or_default();
        if parts.uri.path() == "/token" && status.is_success() {
            self.note_token(&body, requested_scope);
        }
        let mut r = Response::builder().status(status);
        for (k, v) in &headers {
            r = r.header(k.as_str(), v.as_str());
        }
        r.body(Body::from(body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }

    fn note_token(&self, body: &[u8], requested: Option<String>) {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let Some(token) = v["access_token"].as_str() else {
            return;
        };
        let scope = v["scope"].as_str().map(String::from).or(requested);
        if let Ok(mut r) = self.record.lock() {
            r.tokens.push(Issued {
                token: token.to_string(),
                scope,
                dead: false,
            });
        }
    }
}

fn unauthorized(iid: &str, invalid: bool) -> Response<Body> {
    let challenge = if invalid {
        "Bearer error=\"invalid_token\"".to_string()
    } else {
        "Bearer".to_string()
    };
    reply(
        StatusCode::UNAUTHORIZED,
        &[
            ("www-authenticate", challenge),
            ("x-fapi-interaction-id", iid.into()),
        ],
        String::new(),
    )
}

/// The poll's parameters; None when the body is not a JSON object. Unknown members are
/// ignored here (the scenarios judge them), so the session goes on.
fn ask(bytes: &[u8]) -> Option<Ask> {
    let v: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(bytes).ok()?
    };
    let o = v.as_object()?;
    Some(Ask {
        max_events: o.get("maxEvents").and_then(Value::as_i64),
        return_immediately: o.get("returnImmediately").and_then(Value::as_bool),
        ack: strings(o.get("ack")),
    })
}

/// A value of an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
