//! The operator's endpoints: `/healthz` (liveness: the process answers), `/readyz` (readiness:
//! the store answers a query) and `/metrics` (the Prometheus registry of `sandbox::metrics`),
//! either on the main port behind the admin credential or, with `[metrics] address`, on a
//! listener of its own without authentication ([`metrics_router`]).

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::middleware::ClientSlot;
use super::openapi::ops;
use super::routes::{Routes, Verb};
use crate::sandbox::auth::basic::{self, Admin};
use crate::sandbox::domain::Timestamp;
use crate::sandbox::state::AppState;

/// How long a probe or a scrape waits for the database before answering without it. Below
/// the usual probe timeouts (Kubernetes' default is 1 s… operators raise it; 2 s is the
/// largest wait a probe should need), far below the pool's own 10 s wait.
const STORE_WAIT: Duration = Duration::from_secs(2);

const TEXT: &str = "text/plain; charset=utf-8";

pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 `ready` when a query on the store succeeds within [`STORE_WAIT`]; 503 with the reason
/// otherwise. Unauthenticated, like `/healthz`: a load balancer must be able to ask.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let reason = match tokio::time::timeout(STORE_WAIT, st.store.ping()).await {
        Ok(Ok(())) => return ([(header::CONTENT_TYPE, TEXT)], "ready").into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "the database did not answer within {} s",
            STORE_WAIT.as_secs()
        ),
    };
    tracing::warn!(reason, "readiness probe failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, TEXT)],
        format!("not ready: {reason}"),
    )
        .into_response()
}

/// `/metrics` on the main port: the admin credential (HTTP Basic), under the same failure
/// budget as everywhere else it is accepted (`auth::basic::admin`): anything else is 401 with a
/// Basic challenge and no body; a locked-out credential is 429 with `Retry-After`, even with
/// the right password, so the scrape endpoint cannot serve as a guessing oracle.
pub async fn metrics_with_admin(
    State(st): State<AppState>,
    slot: Option<Extension<ClientSlot>>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match basic::admin(&st, authorization) {
        Admin::Accepted => {}
        Admin::Refused | Admin::NotBasic => {
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="obevents""#),
                )],
            )
                .into_response();
        }
        Admin::Locked(secs) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(TEXT)),
                    (header::RETRY_AFTER, HeaderValue::from(secs)),
                ],
                format!("too many failed admin authentications; retry after {secs} s"),
            )
                .into_response();
        }
    }
    if let Some(Extension(slot)) = slot {
        slot.set("(admin)");
    }
    scrape(&st, &headers).await
}

/// `/metrics` on the separate address: no authentication (the address is the protection).
pub async fn metrics_open(State(st): State<AppState>, headers: HeaderMap) -> Response {
    scrape(&st, &headers).await
}

/// Reads the store-backed gauges, then encodes the registry in the format the scraper asked
/// for. A store that does not answer leaves those gauges at their last value: the rest of the
/// metrics are still worth serving (and `/readyz` says what is wrong).
async fn scrape(st: &AppState, headers: &HeaderMap) -> Response {
    match tokio::time::timeout(STORE_WAIT, st.store.due_count(Timestamp::now())).await {
        Ok(Ok(n)) => st.metrics.set_due(usize::try_from(n).unwrap_or(usize::MAX)),
        Ok(Err(e)) => tracing::debug!(error = %e, "metrics: cannot count due deliveries"),
        Err(_) => tracing::debug!("metrics: counting due deliveries timed out"),
    }
    if let Some(pool) = st.store.pool_use() {
        st.metrics.set_pool(pool);
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let (body, content_type) = st.metrics.encode(openmetrics);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The probes every sandbox serves on its main port, and `/metrics` there unless
/// `[metrics] address` serves it elsewhere.
pub fn routes(st: &AppState) -> Routes {
    let routes = Routes::new()
        .add(Verb::Get, "/healthz", &ops::HEALTHZ, healthz)
        .add(Verb::Get, "/readyz", &ops::READYZ, readyz);
    if st.cfg.observe.metrics_address.is_some() {
        routes
    } else {
        routes.add(Verb::Get, "/metrics", &ops::METRICS, metrics_with_admin)
    }
}

/// The router of the separate metrics address: `GET /metrics` only, unauthenticated.
pub fn metrics_router(st: AppState) -> axum::Router {
    Routes::new()
        .add(Verb::Get, "/metrics", &ops::METRICS_OPEN, metrics_open)
        .into_parts()
        .router
        .with_state(st)
}
