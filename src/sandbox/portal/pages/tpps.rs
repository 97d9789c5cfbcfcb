//! The operator's list of TPPs, to switch between them (a TPP asking for it is refused), with
//! the bank faults each chose for itself and a form clearing every TPP's at once.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::faults::NoticeQuery;
use super::notice;
use crate::sandbox::domain::Timestamp;
use crate::sandbox::fault_choice;
use crate::sandbox::portal::page::{Nav, PortalError, PortalQuery, html, tpp_path};
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
    /// The faults the TPP chose for itself, by name.
    pub faults: String,
}

#[derive(Template)]
#[template(path = "tpps.html")]
struct TppsPage {
    nav: Nav,
    notice: Option<&'static str>,
    /// Some TPP has faults of its own (the clear-all form is shown).
    any_faults: bool,
    rows: Vec<TppRow>,
    more: bool,
}

/// `GET /portal/tpps`.
pub async fn show(
    State(st): State<AppState>,
    PortalQuery(q): PortalQuery<NoticeQuery>,
    viewer: Viewer,
) -> Result<Response, PortalError> {
    if !viewer.is_operator() {
        return Err(PortalError::OperatorOnly);
    }
    let now = Timestamp::now();
    let mut clients = st.store.clients(LIMIT + 1).await?;
    let more = clients.len() > LIMIT;
    clients.truncate(LIMIT);
    let (chosen, _) = fault_choice::all(&st).await?;
    let faults_of = |id: &crate::sandbox::domain::ClientId| {
        chosen
            .iter()
            .find(|c| &c.client_id == id)
            .map(|c| {
                c.faults
                    .iter()
                    .map(|f| f.name())
                    .chain(c.behaviours.iter().map(|b| b.name()))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let rows = clients
        .into_iter()
        .map(|c| TppRow {
            faults: faults_of(&c.client_id),
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
        notice: notice(q.notice.as_deref()),
        any_faults: !chosen.is_empty(),
        rows,
        more,
    };
    Ok(html(StatusCode::OK, &page))
}
