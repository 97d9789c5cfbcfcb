//! The operator's list of TPPs, to switch between them (a TPP asking for it is refused).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::sandbox::domain::Timestamp;
use crate::sandbox::portal::page::{Nav, PortalError, html, tpp_path};
use crate::sandbox::portal::session::Viewer;
use crate::sandbox::portal::view::{When, when};
use crate::sandbox::state::AppState;

/// How many TPPs the list shows, newest first.
const LIMIT: usize = 500;

pub struct TppRow {
    pub id: String,
    pub link: String,
    pub name: String,
    pub scopes: String,
    pub origin: &'static str,
    pub created: When,
}

#[derive(Template)]
#[template(path = "tpps.html")]
struct TppsPage {
    nav: Nav,
    rows: Vec<TppRow>,
    more: bool,
}

/// `GET /portal/tpps`.
pub async fn show(State(st): State<AppState>, viewer: Viewer) -> Result<Response, PortalError> {
    if !viewer.is_operator() {
        return Err(PortalError::OperatorOnly);
    }
    let now = Timestamp::now();
    let mut clients = st.store.clients(LIMIT + 1).await?;
    let more = clients.len() > LIMIT;
    clients.truncate(LIMIT);
    let rows = clients
        .into_iter()
        .map(|c| TppRow {
            link: tpp_path(&c.client_id, ""),
            id: c.client_id.to_string(),
            name: c.client_name,
            scopes: c.scopes.join(" "),
            origin: if c.seeded { "[[clients]]" } else { "/register" },
            created: when(c.created_at, now),
        })
        .collect();
    let page = TppsPage {
        nav: Nav::new(&viewer, st.cfg.personality.bank.name(), "tpps"),
        rows,
        more,
    };
    Ok(html(StatusCode::OK, &page))
}
