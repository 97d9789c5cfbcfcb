//! What every API of the sandbox shares on the HTTP side: the route table ([`routes`]) and the
//! router assembled from it with the layers that apply rules common to all endpoints (G-06
//! interaction id, G-08 Accept, response signing G-14, the common-area faults), the extractors
//! ([`extract`]), the edge errors and their rendering ([`error`]), the authorisation server's
//! endpoints ([`oauth`]), the probes and metrics ([`probes`]) and `GET /openapi.json`
//! ([`openapi`]), built from the same table. The
//! dialects' own routes, requests and errors live in `sandbox::dialects`; this module does not
//! know them.

pub mod accept;
mod drain;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod oauth;
pub mod openapi;
pub mod probes;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};

pub use error::{JSON, json_response};
pub use extract::InteractionId;

use super::state::AppState;
use error::{EdgeError, ErrorItem, codes};
use openapi::ops;
use routes::{Refusals, Routes, Verb};

/// The refusal shape for `uri`: a dialect's own under its prefixes, else `None` (OBIE's).
fn refusal_for<'a>(refusals: &'a [Refusals], uri: &Uri) -> Option<&'a Refusals> {
    refusals
        .iter()
        .find(|r| r.prefixes.iter().any(|p| uri.path().starts_with(p)))
}

/// 404 for a path no route serves, in the shape of the API the path belongs to.
fn not_found(
    refusals: &[Refusals],
    iid: &InteractionId,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
) -> Response {
    let message = format!("{method} {} is not a resource of this API", uri.path());
    match refusal_for(refusals, uri) {
        Some(r) => (r.render)(headers, iid, StatusCode::NOT_FOUND, message),
        None => EdgeError::NotFound(ErrorItem::new(codes::NOT_FOUND, message)).into_response(),
    }
}

/// 405 for a method a served path does not take, in the shape of the path's API.
fn method_not_allowed(
    refusals: &[Refusals],
    iid: &InteractionId,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
) -> Response {
    match refusal_for(refusals, uri) {
        Some(r) => {
            let message = format!("{method} is not allowed on {}", uri.path());
            (r.render)(headers, iid, StatusCode::METHOD_NOT_ALLOWED, message)
        }
        None => EdgeError::MethodNotAllowed.into_response(),
    }
}

/// The cross-cutting routes every sandbox serves beside its dialects': the authorisation
/// server, the probes and (unless served elsewhere) the metrics.
fn common_routes(state: &AppState) -> Routes {
    oauth::routes().include(probes::routes(state))
}

/// The whole application: `table` (the dialects' routes and the helpers, `sandbox::dialects`)
/// with the cross-cutting routes, the OpenAPI document of all of them, fallbacks in each API's
/// error shape and the layers every answer passes through.
pub fn router(state: AppState, table: Routes) -> Router {
    // The document describes the table it is served from, so it is built once the table is
    // complete and handed to its own route through the slot.
    let slot = openapi::Slot::default();
    let serve = {
        let slot = slot.clone();
        move |st, headers, uri| openapi::serve(slot.clone(), st, headers, uri)
    };
    let parts = table
        .include(common_routes(&state))
        .add(Verb::Get, "/openapi.json", &ops::OPENAPI, serve)
        .into_parts();
    let _ = slot.set(openapi::document(&parts.ops, &parts.schemas, &state));
    let refusals: Arc<[Refusals]> = parts.refusals.into();
    let on_404 = {
        let refusals = refusals.clone();
        move |iid: InteractionId, method: Method, headers: HeaderMap, uri: Uri| {
            let refusals = refusals.clone();
            async move { not_found(&refusals, &iid, &method, &headers, &uri) }
        }
    };
    let on_405 = move |iid: InteractionId, method: Method, headers: HeaderMap, uri: Uri| {
        let refusals = refusals.clone();
        async move { method_not_allowed(&refusals, &iid, &method, &headers, &uri) }
    };
    let app = parts
        .router
        .fallback(on_404)
        .method_not_allowed_fallback(on_405)
        .layer(DefaultBodyLimit::max(state.cfg.body_limit));
    let app = if middleware::bends_errors(&state.cfg.faults) {
        app.layer(from_fn_with_state(state.clone(), middleware::bend_errors))
    } else {
        app
    };
    let app = app.with_state(state.clone());
    // Outside the rules' layers, so it sees every answer (also one given before the body was
    // read) and its whole latency. The access log only when its target is enabled
    // (`obevents sandbox` by default; not in `test` or `bench`), so a disabled log costs
    // nothing on the hot path.
    let observer = middleware::Observer {
        access_log: tracing::enabled!(target: "obevents::access", tracing::Level::INFO),
        state,
    };
    let app = app.layer(from_fn_with_state(observer, middleware::edge));
    // With `--log debug`, one span per request shows its status and latency; otherwise the
    // layer is left out so the hot path does not pay for disabled spans.
    if tracing::enabled!(tracing::Level::DEBUG) {
        app.layer(tower_http::trace::TraceLayer::new_for_http())
    } else {
        app
    }
}
