//! The reference TPP's Yapily-style and Tatra-style webhook receivers, served beside its push
//! receiver: `POST /webhooks/yapily` verifies the `yapily-signature` ([`super::yapily`]) and
//! answers 200 (401 with `{"error"}` when it does not hold), acting on each event `id` once;
//! `POST /webhooks/tatra` checks the security header and the body ([`super::tatra`]) and answers
//! 200 (401 or 400 with `{"error"}`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::faults::TppFaults;
use super::verify::Keys;
use super::yapily::SeenJtis;

/// Where Yapily-style notifications arrive.
pub const YAPILY_PATH: &str = "/webhooks/yapily";
/// Where Tatra-style webhooks arrive.
pub const TATRA_PATH: &str = "/webhooks/tatra";

/// What the webhook receivers need to know beside the push receiver's settings.
#[derive(Debug, Clone, Default)]
pub struct HooksConfig {
    /// This TPP's application id at the sender (the events' `applicationId`).
    pub application_id: String,
    /// The Webhook Security Header configured at the Tatra-style bank.
    pub tatra_authorization: Option<String>,
}

struct Hooks {
    cfg: HooksConfig,
    faults: TppFaults,
    keys: Keys,
    jtis: SeenJtis,
    /// Yapily event ids acted on (a redelivered event is answered 200 and not handled again).
    events: Mutex<HashSet<String>>,
}

/// The two webhook routes; `jwks_url` is the sender's key set (the bank's).
pub fn router(cfg: HooksConfig, faults: TppFaults, jwks_url: String) -> Router {
    let state = Arc::new(Hooks {
        cfg,
        faults,
        keys: Keys::new(jwks_url),
        jtis: SeenJtis::default(),
        events: Mutex::new(HashSet::new()),
    });
    Router::new()
        .route(YAPILY_PATH, post(yapily))
        .route(TATRA_PATH, post(tatra))
        .with_state(state)
}

fn error(status: StatusCode, description: &str) -> Response {
    let body = serde_json::json!({ "error": description }).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

async fn yapily(State(s): State<Arc<Hooks>>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers
        .get("yapily-signature")
        .and_then(|v| v.to_str().ok());
    let checked = super::yapily::check(
        &s.keys,
        &s.jtis,
        &s.cfg.application_id,
        &s.faults,
        signature,
        &body,
    )
    .await;
    match checked {
        Ok(id) => {
            let first = s
                .events
                .lock()
                .map(|mut e| e.insert(id.clone()))
                .unwrap_or(true);
            // Act on the event here (first time only); answer quickly, the sender waits.
            tracing::info!(
                "yapily {} {id}",
                if first { "accepted" } else { "duplicate" }
            );
            StatusCode::OK.into_response()
        }
        Err(why) => {
            tracing::info!("yapily refused: {why}");
            error(StatusCode::UNAUTHORIZED, &why)
        }
    }
}

async fn tatra(State(s): State<Arc<Hooks>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers.get("authorization").map(|v| v.as_bytes());
    match super::tatra::check(
        s.cfg.tatra_authorization.as_deref(),
        &s.faults,
        authorization,
        &body,
    ) {
        Ok((kind, consent)) => {
            tracing::info!("tatra accepted {kind} for consent {consent}");
            StatusCode::OK.into_response()
        }
        Err(r) => {
            tracing::info!("tatra refused: {}", r.description);
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
            error(status, &r.description)
        }
    }
}
