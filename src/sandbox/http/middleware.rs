//! Layers for rules that hold on every response: the edge layer around them all (request
//! metrics, access log, the unread-body drain of `drain`, the interaction id of G-06),
//! detached response signatures (G-14), and the one place the common-area faults bend error
//! responses. The `Accept` check (G-08) is `accept`.

use std::net::{IpAddr, SocketAddr};

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::extract::InteractionId;
use crate::jose;
use crate::sandbox::faults::Fault;
use crate::sandbox::http::error::EdgeError;
use crate::sandbox::metrics;
use crate::sandbox::state::AppState;

pub const INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");
pub const JWS_SIGNATURE: HeaderName = HeaderName::from_static("x-jws-signature");
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Largest response body the signing/fault layers buffer (our own JSON, never near this).
const BUFFER_LIMIT: usize = 16 * 1024 * 1024;

/// G-06: the caller's `x-fapi-interaction-id`, or a minted RFC 4122 UUID, made known to the
/// handlers (`InteractionId`) and the access log; [`play_back`] puts it on the answer.
fn interaction_id(mut req: Request) -> (Request, String) {
    let id = req
        .headers()
        .get(&INTERACTION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 2048)
        .map(String::from)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Some(slot) = req.extensions().get::<ClientSlot>() {
        slot.set_interaction(&id);
    }
    req.extensions_mut().insert(InteractionId(id.clone()));
    (req, id)
}

/// G-06: the interaction id on every answer (unless the `no-interaction-id` fault is on).
fn play_back(state: &AppState, mut resp: Response, id: &str) -> Response {
    if !state.has_global_fault(Fault::NoInteractionId)
        && let Ok(v) = HeaderValue::from_str(id)
    {
        resp.headers_mut().insert(INTERACTION_ID, v);
    }
    resp
}

/// Where the layers inside the access log leave what it reports beside the request: the
/// client id an extractor authenticated and the interaction id of the exchange.
#[derive(Clone, Default)]
pub struct ClientSlot(std::sync::Arc<LogSlot>);

#[derive(Default)]
pub struct LogSlot {
    client: std::sync::OnceLock<String>,
    interaction: std::sync::OnceLock<String>,
}

impl ClientSlot {
    pub fn set(&self, client_id: &str) {
        let _ = self.0.client.set(client_id.to_string());
    }

    fn set_interaction(&self, id: &str) {
        let _ = self.0.interaction.set(id.to_string());
    }
}

/// The state of [`edge`]: the sandbox (its metrics, its trusted proxies) and whether the
/// access log is on (decided once, when the router is built).
#[derive(Clone)]
pub struct Observer {
    pub state: AppState,
    pub access_log: bool,
}

/// The edge layer, one layer for what every request passes through (one boxed future per
/// request rather than one per concern: a held long poll keeps it for as long as it is
/// held). Outermost first: every request is counted in
/// `obevents_http_request_duration_seconds` by method, route template and status with its
/// latency, and — when `obevents::access` is on — logged; an unread request body is drained
/// after the answer (`drain`); the interaction id is taken or minted and played back (G-06).
pub async fn edge(State(obs): State<Observer>, mut req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = metrics::method_label(req.method());
    let route = metrics::Route::new(req.extensions().get::<MatchedPath>());
    let line = obs
        .access_log
        .then(|| AccessLine::start(&mut req, &obs.state.cfg.observe.trusted_proxies));
    let (req, watch) = super::drain::track(req, obs.state.cfg.body_limit);
    let (req, id) = interaction_id(req);
    let resp = next.run(req).await;
    let resp = play_back(&obs.state, resp, &id);
    let resp = super::drain::finish(&obs.state, resp, watch).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    obs.state.metrics.request(method, route, status, took);
    if let Some(line) = line {
        line.finish(&resp, took);
    }
    resp
}

/// One access log line (`obevents::access` at info), gathered before the request runs.
struct AccessLine {
    method: Method,
    path: String,
    slot: ClientSlot,
    client_addr: ClientAddr,
}

impl AccessLine {
    fn start(req: &mut Request, trusted: &[IpAddr]) -> AccessLine {
        let slot = ClientSlot::default();
        req.extensions_mut().insert(slot.clone());
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        AccessLine {
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            slot,
            client_addr: client_addr(peer, req.headers(), trusted),
        }
    }

    /// Method, path (no query string), status, latency, the client id the request
    /// authenticated as, the interaction id and the client's address; never tokens or secrets.
    fn finish(self, resp: &Response, took: std::time::Duration) {
        let interaction = self
            .slot
            .0
            .interaction
            .get()
            .map(String::as_str)
            .or_else(|| {
                resp.headers()
                    .get(&INTERACTION_ID)
                    .and_then(|v| v.to_str().ok())
            });
        let (method, path, status) = (self.method, self.path, resp.status().as_u16());
        let latency_ms = (took.as_secs_f64() * 100_000.0).round() / 100.0;
        let client = self.slot.0.client.get().map_or("-", String::as_str);
        let interaction_id = interaction.unwrap_or("-");
        match self.client_addr {
            ClientAddr::Peer(addr) => tracing::info!(
                target: "obevents::access",
                %method, path, status, latency_ms, client, interaction_id,
                client_addr = %addr,
            ),
            ClientAddr::Forwarded {
                client: addr,
                proxy,
            } => tracing::info!(
                target: "obevents::access",
                %method, path, status, latency_ms, client, interaction_id,
                client_addr = %addr, proxy = %proxy,
            ),
            ClientAddr::Unknown => tracing::info!(
                target: "obevents::access",
                %method, path, status, latency_ms, client, interaction_id,
                client_addr = "-",
            ),
        }
    }
}

/// Who sent a request, as the access log reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClientAddr {
    /// The peer of the connection (`IP:port`).
    Peer(SocketAddr),
    /// A trusted proxy's peer, and the client it forwarded for (`X-Forwarded-For`).
    Forwarded { client: IpAddr, proxy: SocketAddr },
    /// No socket address (a router called without the server, as some unit tests do).
    Unknown,
}

/// The client's address: the peer's, unless the peer is one of `trusted` (reverse proxies);
/// then the nearest `X-Forwarded-For` entry that is not itself a trusted proxy, read from the
/// right (entries further left were written by the client and may be forged). An entry that is
/// not an IP address ends the walk at the peer, so header text never reaches the log.
fn client_addr(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> ClientAddr {
    let Some(peer) = peer else {
        return ClientAddr::Unknown;
    };
    let is_trusted = |ip: IpAddr| trusted.contains(&ip.to_canonical());
    if trusted.is_empty() || !is_trusted(peer.ip()) {
        return ClientAddr::Peer(peer);
    }
    let entries: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for entry in entries.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => continue,
            Ok(ip) => {
                return ClientAddr::Forwarded {
                    client: ip.to_canonical(),
                    proxy: peer,
                };
            }
            Err(_) => break,
        }
    }
    ClientAddr::Peer(peer)
}

/// G-14: responses of POST, PUT and GET on subscriptions and callback URLs (errors with a body
/// too, as the R/W profile recommends) carry a detached `x-jws-signature` over the exact body.
pub async fn sign_response(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let sign = matches!(*req.method(), Method::POST | Method::PUT | Method::GET);
    let resp = next.run(req).await;
    if !sign {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match to_bytes(body, BUFFER_LIMIT).await {
        Ok(b) => b,
        Err(e) => return EdgeError::Internal(format!("buffering a response: {e}")).into_response(),
    };
    if !bytes.is_empty() {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let unencoded = state.cfg.personality.unencoded_signatures();
        let header = jose::ob_header(
            jose::Alg::PS256,
            state.key.kid(),
            &state.ob_header,
            now,
            unencoded,
        );
        match jose::sign_detached(&state.key, &header, &bytes) {
            Ok(sig) => {
                if let Ok(v) = HeaderValue::from_str(&sig) {
                    parts.headers.insert(JWS_SIGNATURE, v);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot sign a response"),
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether the sandbox's faults bend error bodies at all: without one of them [`bend_errors`]
/// is not layered, so a request does not carry its boxed future for nothing (a held long poll
/// keeps it for as long as it is held).
pub fn bends_errors(faults: &crate::sandbox::faults::Faults) -> bool {
    faults.has(Fault::Unauthorized401WithBody)
        || faults.has(Fault::ErrorWithoutErrors)
        || faults.has(Fault::WrongErrorCode)
}

/// The common-area faults (`401-with-body`, `error-without-errors`, `wrong-error-code`): they
/// rewrite error responses after the fact, so no handler knows about them.
pub async fn bend_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // The portal's HTML pages are no API: the faults bend API error bodies only.
    if req.uri().path().starts_with("/portal") {
        return next.run(req).await;
    }
    let resp = next.run(req).await;
    let status = resp.status();
    let faults = &state.cfg.faults;
    if !bends_errors(faults) || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    if status == StatusCode::UNAUTHORIZED {
        if !faults.has(Fault::Unauthorized401WithBody) {
            return resp;
        }
        let (parts, _) = resp.into_parts();
        let body = serde_json::json!({
            "Code": "401 Unauthorized", "Message": "unauthorised",
            "Errors": [{"ErrorCode": "UK.OBIE.Header.Invalid", "Message": "the access token is missing or invalid"}]
        });
        let mut resp = Response::from_parts(parts, Body::from(body.to_string()));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(super::JSON));
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match to_bytes(body, BUFFER_LIMIT).await {
        Ok(b) => b,
        Err(e) => return EdgeError::Internal(format!("buffering a response: {e}")).into_response(),
    };
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if faults.has(Fault::WrongErrorCode)
        && let Some(Value::Array(errors)) = obj.get_mut("Errors")
    {
        for e in errors.iter_mut() {
            if let Some(code) = e.get_mut("ErrorCode") {
                *code = Value::String("UK.OBIE.UnexpectedError".into());
            }
        }
    }
    if faults.has(Fault::ErrorWithoutErrors) {
        obj.remove("Errors");
    }
    let bytes = serde_json::to_vec(&obj).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(JWS_SIGNATURE);
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            FORWARDED_FOR,
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        h.append(FORWARDED_FOR, HeaderValue::from_static("10.0.0.2"));
        let proxies: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        // Not trusted: the peer, whatever the header says.
        assert_eq!(client_addr(Some(peer), &h, &[]), ClientAddr::Peer(peer));
        // Trusted: the nearest entry that is not a proxy, read from the right.
        assert_eq!(
            client_addr(Some(peer), &h, &proxies),
            ClientAddr::Forwarded {
                client: "203.0.113.7".parse().unwrap(),
                proxy: peer
            }
        );
        // Garbage ends the walk at the peer; so does a missing header.
        h.insert(
            FORWARDED_FOR,
            HeaderValue::from_static("6.6.6.6, not-an-address"),
        );
        assert_eq!(
            client_addr(Some(peer), &h, &proxies),
            ClientAddr::Peer(peer)
        );
        assert_eq!(
            client_addr(Some(peer), &HeaderMap::new(), &proxies),
            ClientAddr::Peer(peer)
        );
        assert_eq!(client_addr(None, &h, &proxies), ClientAddr::Unknown);
    }
}
