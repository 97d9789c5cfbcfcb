//! Every stored event of a TPP, newest first, filterable by type and state: its state as the
//! polling queue sees it (awaiting, acknowledged, dropped, not queued, with the last `err`),
//! the decoded SET header and claims, the compact JWS to copy, and links to its deliveries.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::tpp_ctx;
use crate::sandbox::domain::{EventRecord, EventState};
use crate::sandbox::portal::page::{Nav, PortalError, PortalPath, PortalQuery, html, tpp_path};
use crate::sandbox::portal::session::Viewer;
use crate::sandbox::portal::view::{When, decode_jws, when};
use crate::sandbox::state::AppState;

/// How many of the newest events the page reads (and says so when there were more).
const LIMIT: usize = 200;
/// How many of the newest deliveries are matched to them.
const DELIVERIES: usize = 200;

pub struct EventRow {
    pub anchor: String,
    pub jti: String,
    pub event_type: String,
    pub resource: String,
    pub state: &'static str,
    /// The state's first word, for the badge's style.
    pub state_class: &'static str,
    pub err: Option<String>,
    pub created: When,
    pub header: Option<String>,
    pub claims: Option<String>,
    pub token: Option<String>,
    pub token_id: String,
    /// Links to the event's push deliveries: (href, state).
    pub deliveries: Vec<(String, String)>,
}

pub struct Choice {
    pub value: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    nav: Nav,
    rows: Vec<EventRow>,
    more: bool,
    types: Vec<Choice>,
    states: Vec<Choice>,
    filtered: bool,
    action: String,
}

#[derive(Deserialize)]
pub struct Filter {
    #[serde(default, rename = "type")]
    event_type: String,
    #[serde(default)]
    state: String,
}

pub fn state_name(s: EventState) -> &'static str {
    match s {
        EventState::Awaiting => "awaiting",
        EventState::Acknowledged => "acknowledged",
        EventState::Dropped => "dropped",
        EventState::NotQueued => "not queued (push only)",
    }
}

const STATES: [EventState; 4] = [
    EventState::Awaiting,
    EventState::Acknowledged,
    EventState::Dropped,
    EventState::NotQueued,
];

/// `GET /portal/tpps/{ClientId}/events?type=…&state=…`.
pub async fn show(
    State(st): State<AppState>,
    viewer: Viewer,
    PortalPath(id): PortalPath<String>,
    PortalQuery(f): PortalQuery<Filter>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &viewer, &id, "events").await?;
    let mut events = st.store.events_of(&ctx.id, LIMIT + 1).await?;
    let more = events.len() > LIMIT;
    events.truncate(LIMIT);
    let deliveries = st.store.deliveries_of(&ctx.id, DELIVERIES).await?;
    let types: BTreeSet<String> = events.iter().map(|e| e.event_type.clone()).collect();
    let deliveries_page = tpp_path(&ctx.id, "/deliveries");
    let rows = events
        .into_iter()
        .filter(|e| f.event_type.is_empty() || e.event_type == f.event_type)
        .filter(|e| f.state.is_empty() || state_name(e.state).starts_with(f.state.as_str()))
        .map(|e| {
            let links = deliveries
                .iter()
                .filter(|d| d.event_id == e.event_id)
                .map(|d| {
                    let state = serde_json::to_value(d.state)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default();
                    (format!("{deliveries_page}#d-{}", d.id), state)
                })
                .collect();
            row(e, ctx.now, links)
        })
        .collect();
    let page = EventsPage {
        rows,
        more,
        types: types
            .into_iter()
            .map(|t| Choice {
                selected: t == f.event_type,
                value: t,
            })
            .collect(),
        states: STATES
            .iter()
            .map(|s| {
                let value = state_name(*s)
                    .split(' ')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                Choice {
                    selected: value == f.state,
                    value,
                }
            })
            .collect(),
        filtered: !f.event_type.is_empty() || !f.state.is_empty(),
        action: tpp_path(&ctx.id, "/events"),
        nav: ctx.nav,
    };
    Ok(html(StatusCode::OK, &page))
}

fn row(
    e: EventRecord,
    now: crate::sandbox::domain::Timestamp,
    deliveries: Vec<(String, String)>,
) -> EventRow {
    let decoded = e.token.as_deref().and_then(decode_jws);
    let err = e.err.map(|code| match e.err_description {
        Some(d) => format!("{code}: {d}"),
        None => code,
    });
    EventRow {
        anchor: format!("e-{}", e.event_id),
        token_id: format!("jws-{}", e.event_id),
        jti: e.jti,
        event_type: e.event_type,
        resource: format!("{} {}", e.resource_type, e.resource_id),
        state: state_name(e.state),
        state_class: state_name(e.state).split(' ').next().unwrap_or_default(),
        err,
        created: when(e.created_at, now),
        header: decoded.as_ref().map(|d| d.0.clone()),
        claims: decoded.map(|d| d.1),
        token: e.token,
        deliveries,
    }
}
