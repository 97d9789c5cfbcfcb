//! The sandbox's HTTP surface: one `router()` per resource, composed here with the layers that
//! apply rules common to all endpoints (G-06 interaction id, G-08 Accept, 404/405 as OBIE errors,
//! response signing G-14) and the common-area faults. Handlers are thin: extractors, one domain
//! call, a DTO. Every route goes through the route table (`routes`), from which
//! `GET /openapi.json` (`openapi`) describes them.

mod deliveries;
mod drain;
mod error;
mod extract;
mod middleware;
mod oauth;
pub mod openapi;
mod resources;
pub mod routes;
mod sandbox_api;
mod tatra;
mod wso2;
mod yapily;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};

pub use error::{JSON, json_response};
pub use extract::InteractionId;

use super::error::{ApiError, ErrorItem, codes};
use super::state::AppState;
use openapi::ops;
use routes::{Routes, Verb};

/// Whether `uri` is under the Yapily-style API of a sandbox that serves it: its refusals then
/// take the dialect's error shape.
fn in_yapily_api(state: &AppState, uri: &axum::http::Uri) -> bool {
    state.cfg.personality.serves(crate::model::Dialect::Yapily)
        && uri.path().starts_with("/notifications/")
}

/// Whether `uri` is under the Tatra-style API of a sandbox that serves it.
fn in_tatra_api(state: &AppState, uri: &axum::http::Uri) -> bool {
    let path = uri.path();
    state.cfg.personality.serves(crate::model::Dialect::Tatra)
        && (path.starts_with("/premium/") || path.starts_with("/sandbox/tatra/"))
}

async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    iid: InteractionId,
    method: Method,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let message = format!("{method} {} is not a resource of this API", uri.path());
    if in_tatra_api(&state, &uri) {
        return tatra::refusal(&headers, axum::http::StatusCode::NOT_FOUND, message);
    }
    if in_yapily_api(&state, &uri) {
        return yapily::refusal(&iid, axum::http::StatusCode::NOT_FOUND, message);
    }
    ApiError::NotFound(ErrorItem::new(codes::NOT_FOUND, message)).into_response()
}

async fn method_not_allowed(
    axum::extract::State(state): axum::extract::State<AppState>,
    iid: InteractionId,
    method: Method,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if in_tatra_api(&state, &uri) {
        let message = format!("{method} is not allowed on {}", uri.path());
        return tatra::refusal(
            &headers,
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            message,
        );
    }
    if in_yapily_api(&state, &uri) {
        let message = format!("{method} is not allowed on {}", uri.path());
        return yapily::refusal(&iid, axum::http::StatusCode::METHOD_NOT_ALLOWED, message);
    }
    ApiError::MethodNotAllowed.into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// Every route with its layers, as a table (`routes`).
fn table(state: &AppState) -> Routes {
    let sign = from_fn_with_state(state.clone(), middleware::sign_response);
    let signed = resources::signed_routes().map_router(|r| r.layer(sign));
    let open_banking = signed
        .include(resources::unsigned_routes())
        .map_router(|r| r.layer(from_fn(middleware::check_accept)));
    Routes::new()
        .mount("/open-banking/v3.1", open_banking)
        .include(oauth::routes())
        .include(sandbox_api::routes())
        .include(deliveries::routes())
        .include(wso2::routes())
        .include(
            if state.cfg.personality.serves(crate::model::Dialect::Yapily) {
                yapily::routes()
            } else {
                Routes::new()
            },
        )
        .include(
            if state.cfg.personality.serves(crate::model::Dialect::Tatra) {
                tatra::routes()
            } else {
                Routes::new()
            },
        )
        .add(Verb::Get, "/healthz", &ops::HEALTHZ, healthz)
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    // The document describes the table it is served from, so it is built once the table is
    // complete and handed to its own route through the slot.
    let slot = openapi::Slot::default();
    let serve = {
        let slot = slot.clone();
        move |st, headers, uri| openapi::serve(slot.clone(), st, headers, uri)
    };
    let (routes, ops) = table(&state)
        .add(Verb::Get, "/openapi.json", &ops::OPENAPI, serve)
        .into_parts();
    let _ = slot.set(openapi::document(&ops, &state));
    let app = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.cfg.body_limit))
        .layer(from_fn_with_state(state.clone(), middleware::bend_errors))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::interaction_id,
        ))
        // Outermost, so it sees every answer given before the body was read.
        .layer(from_fn_with_state(state.clone(), drain::drain_unread_body))
        .with_state(state);
    // The access log only when its target is enabled (`obevents sandbox` by default; not in
    // `test` or `bench`), so a disabled log costs nothing on the hot path.
    let app = if tracing::enabled!(target: "obevents::access", tracing::Level::INFO) {
        app.layer(from_fn(middleware::access_log))
    } else {
        app
    };
    // With `--log debug`, one span per request shows its status and latency; otherwise the
    // layer is left out so the hot path does not pay for disabled spans.
    if tracing::enabled!(tracing::Level::DEBUG) {
        app.layer(tower_http::trace::TraceLayer::new_for_http())
    } else {
        app
    }
}
