//! The sandbox's HTTP surface: one `router()` per resource, composed here with the layers that
//! apply rules common to all endpoints (G-06 interaction id, G-08 Accept, 404/405 as OBIE errors,
//! response signing G-14) and the common-area faults. Handlers are thin: extractors, one domain
//! call, a DTO.

mod deliveries;
mod error;
mod extract;
mod middleware;
mod oauth;
mod resources;
mod sandbox_api;
mod wso2;
mod yapily;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use error::{JSON, json_response};
pub use extract::InteractionId;

use super::app::AppState;
use super::error::{ApiError, ErrorItem, codes};

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    ApiError::NotFound(ErrorItem::new(
        codes::NOT_FOUND,
        format!("{method} {} is not a resource of this API", uri.path()),
    ))
    .into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let signed = resources::signed_router()
        .layer(from_fn_with_state(state.clone(), middleware::sign_response));
    let open_banking = Router::new()
        .merge(signed)
        .merge(resources::unsigned_router())
        .layer(from_fn(middleware::check_accept));
    // The Yapily-style API only with a personality that has it (`--bank yapily`).
    let dialects = if state.cfg.personality.yapily_api {
        wso2::router().merge(yapily::router())
    } else {
        wso2::router()
    };
    let app = Router::new()
        .nest("/open-banking/v3.1", open_banking)
        .merge(oauth::router())
        .merge(sandbox_api::router())
        .merge(deliveries::router())
        .merge(dialects)
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.cfg.body_limit))
        .layer(from_fn_with_state(state.clone(), middleware::bend_errors))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::interaction_id,
        ))
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
