//! A TPP's push deliveries (every dialect's: OBIE SETs, Yapily and Tatra webhooks), newest
//! first, each with every attempt — when, the answer or the error, the latency, the interaction
//! id, the response excerpt and the notes — its next attempt, and a retry button that does what
//! `POST /sandbox/deliveries/{id}/retry` does (the same store operation).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::overview::{NoFields, NoticeQuery};
use super::{notice, tpp_ctx};
use crate::sandbox::domain::{Attempt, DeliveryId, DeliveryRecord, RetryOutcome, Timestamp};
use crate::sandbox::portal::page::{
    Nav, PortalError, PortalPath, PortalQuery, html, see_other, tpp_path,
};
use crate::sandbox::portal::session::{Posted, Viewer};
use crate::sandbox::portal::view::{When, when};
use crate::sandbox::state::AppState;

/// How many of the newest deliveries the page shows.
const LIMIT: usize = 100;

pub struct AttemptRow {
    pub number: i64,
    pub started: When,
    pub answer: String,
    pub ok: bool,
    pub latency: String,
    pub interaction_id: String,
    pub excerpt: Option<String>,
    pub note: Option<String>,
}

pub struct DeliveryRow {
    pub anchor: String,
    pub id: String,
    pub event_type: String,
    pub event_link: String,
    pub format: String,
    pub url: String,
    pub state: String,
    pub created: When,
    pub next: Option<When>,
    pub attempts: Vec<AttemptRow>,
    /// The retry form's action, when a retry can do anything.
    pub retry: Option<String>,
}

#[derive(Template)]
#[template(path = "deliveries.html")]
struct DeliveriesPage {
    nav: Nav,
    notice: Option<&'static str>,
    rows: Vec<DeliveryRow>,
    more: bool,
}

/// `GET /portal/tpps/{ClientId}/deliveries`.
pub async fn show(
    State(st): State<AppState>,
    viewer: Viewer,
    PortalPath(id): PortalPath<String>,
    PortalQuery(q): PortalQuery<NoticeQuery>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &viewer, &id, "deliveries").await?;
    let mut deliveries = st.store.deliveries_of(&ctx.id, LIMIT + 1).await?;
    let more = deliveries.len() > LIMIT;
    deliveries.truncate(LIMIT);
    let events = tpp_path(&ctx.id, "/events");
    let retry_base = tpp_path(&ctx.id, "/deliveries");
    let rows = deliveries
        .into_iter()
        .map(|d| row(d, ctx.now, &events, &retry_base))
        .collect();
    let page = DeliveriesPage {
        nav: ctx.nav,
        notice: notice(q.notice.as_deref()),
        rows,
        more,
    };
    Ok(html(StatusCode::OK, &page))
}

fn label<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn row(d: DeliveryRecord, now: Timestamp, events: &str, retry_base: &str) -> DeliveryRow {
    let in_flight = d.attempts.iter().any(|a| a.in_flight);
    let state = label(d.state);
    let retry =
        (state != "delivered" && !in_flight).then(|| format!("{retry_base}/{}/retry", d.id));
    DeliveryRow {
        anchor: format!("d-{}", d.id),
        event_link: format!("{events}#e-{}", d.event_id),
        id: d.id.to_string(),
        event_type: d.event_type,
        format: d.format.name().to_string(),
        url: d.url,
        state,
        created: when(d.created_at, now),
        next: d.next_attempt_at.map(|t| when(t, now)),
        attempts: d.attempts.iter().rev().map(|a| attempt(a, now)).collect(),
        retry,
    }
}

fn attempt(a: &Attempt, now: Timestamp) -> AttemptRow {
    let (answer, ok) = match (a.in_flight, a.status_code, &a.error) {
        (true, _, _) => ("in flight".to_string(), false),
        (_, Some(code), _) => (format!("HTTP {code}"), (200..300).contains(&code)),
        (_, None, Some(e)) => (e.clone(), false),
        (_, None, None) => ("no answer".to_string(), false),
    };
    AttemptRow {
        number: a.attempt,
        started: when(a.started_at, now),
        answer,
        ok,
        latency: if a.in_flight {
            "…".into()
        } else {
            format!("{} ms", a.latency_ms)
        },
        interaction_id: a.interaction_id.clone().unwrap_or_default(),
        excerpt: a.response_excerpt.clone().filter(|e| !e.is_empty()),
        note: a.note.clone(),
    }
}

/// `POST /portal/tpps/{ClientId}/deliveries/{DeliveryId}/retry`: the store's retry, as
/// `POST /sandbox/deliveries/{id}/retry` does it, then back to the list with its outcome.
pub async fn retry(
    State(st): State<AppState>,
    PortalPath((id, delivery)): PortalPath<(String, String)>,
    posted: Posted<NoFields>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &posted.viewer, &id, "deliveries").await?;
    let delivery = DeliveryId::from(delivery);
    let code = match st
        .store
        .retry_delivery(Some(&ctx.id), &delivery, Timestamp::now())
        .await?
    {
        RetryOutcome::Due => {
            st.push_wake.notify_one();
            "retried"
        }
        RetryOutcome::Delivered => "retry-delivered",
        RetryOutcome::InFlight => "retry-in-flight",
        RetryOutcome::Unknown => "retry-unknown",
    };
    Ok(see_other(&tpp_path(
        &ctx.id,
        &format!("/deliveries?notice={code}#d-{delivery}"),
    )))
}
