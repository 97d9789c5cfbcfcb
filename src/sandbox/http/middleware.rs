//! Layers for rules that hold on every response: the interaction id (G-06), the `Accept` check
//! (G-08), detached response signatures (G-14), and the one place the common-area faults bend
//! error responses.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::extract::InteractionId;
use crate::jose;
use crate::sandbox::faults::Fault;
use crate::sandbox::http::error::EdgeError;
use crate::sandbox::state::AppState;

pub const INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");
pub const JWS_SIGNATURE: HeaderName = HeaderName::from_static("x-jws-signature");

/// Largest response body the signing/fault layers buffer (our own JSON, never near this).
const BUFFER_LIMIT: usize = 16 * 1024 * 1024;

/// G-06: play back the caller's `x-fapi-interaction-id`, or mint an RFC 4122 UUID.
pub async fn interaction_id(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = req
        .headers()
        .get(&INTERACTION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 2048)
        .map(String::from)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(InteractionId(id.clone()));
    let mut resp = next.run(req).await;
    if !state.has_fault(Fault::NoInteractionId)
        && let Ok(v) = HeaderValue::from_str(&id)
    {
        resp.headers_mut().insert(INTERACTION_ID, v);
    }
    resp
}

/// Where an extractor leaves the authenticated client id for the access log.
#[derive(Clone, Default)]
pub struct ClientSlot(std::sync::Arc<std::sync::OnceLock<String>>);

impl ClientSlot {
    pub fn set(&self, client_id: &str) {
        let _ = self.0.set(client_id.to_string());
    }
}

/// The access log (`obevents::access` at info): method, path (no query string), status,
/// latency and the client id when the request authenticated one; never tokens or secrets.
pub async fn access_log(mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let slot = ClientSlot::default();
    req.extensions_mut().insert(slot.clone());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        target: "obevents::access",
        %method,
        path,
        status = resp.status().as_u16(),
        latency_ms = format!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        client = slot.0.get().map_or("-", String::as_str),
    );
    resp
}

/// G-08: a request whose `Accept` admits no JSON gets 406. Absent `Accept` means JSON.
pub async fn check_accept(req: Request, next: Next) -> Response {
    // An empty Accept is treated like an absent one (any media type).
    if let Some(accept) = req.headers().get(header::ACCEPT)
        && !accept.as_bytes().iter().all(u8::is_ascii_whitespace)
        && !accepts_json(accept.to_str().unwrap_or(""))
    {
        return EdgeError::NotAcceptable.into_response();
    }
    next.run(req).await
}

fn accepts_json(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q_zero = parts.any(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
        });
        !q_zero && matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    })
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

/// The common-area faults (`401-with-body`, `error-without-errors`, `wrong-error-code`): they
/// rewrite error responses after the fact, so no handler knows about them.
pub async fn bend_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let faults = &state.cfg.faults;
    let active = faults.has(Fault::Unauthorized401WithBody)
        || faults.has(Fault::ErrorWithoutErrors)
        || faults.has(Fault::WrongErrorCode);
    if !active || !(status.is_client_error() || status.is_server_error()) {
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
    use super::accepts_json;

    #[test]
    fn accept_header() {
        assert!(accepts_json("application/json"));
        assert!(accepts_json("text/html, application/json;q=0.5"));
        assert!(accepts_json("*/*"));
        assert!(accepts_json("application/json; charset=utf-8"));
        assert!(!accepts_json("text/xml"));
        assert!(!accepts_json("application/json;q=0"));
        assert!(!accepts_json("application/jose+jwe"));
    }
}
