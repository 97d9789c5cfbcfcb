//! The Faults page of one TPP (issue 23 "Faults for this TPP", issue 22 item 8): the bank
//! faults and practice behaviours the TPP chose for its own client, as checkboxes it can
//! change and clear, beside the
//! sandbox's own faults (on for every TPP); the operator sees and changes any TPP's and can
//! clear every TPP's at once. The forms call `fault_choice`'s operations, the same as
//! `/sandbox/faults`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::overview::NoFields;
use super::{Ctx, notice, tpp_ctx};
use crate::sandbox::behaviours::Behaviour;
use crate::sandbox::fault_choice::{self, ChooseError};
use crate::sandbox::faults::Fault;
use crate::sandbox::portal::page::{
    Nav, PortalError, PortalPath, PortalQuery, html, see_other, tpp_path,
};
use crate::sandbox::portal::session::{Posted, Viewer};
use crate::sandbox::portal::view::{When, when};
use crate::sandbox::state::AppState;
use crate::sandbox::tpp_faults::FaultCache;

/// A checkbox's field name: this prefix and the fault's name.
const FIELD: &str = "fault-";
/// A behaviour's checkbox: this prefix and the behaviour's name.
const BEHAVIOUR: &str = "behaviour-";

pub struct FaultRow {
    pub name: &'static str,
    pub field: String,
    pub rules: String,
    pub description: &'static str,
    pub checked: bool,
    /// On for every TPP already (`--fault`): the box changes nothing while it is.
    pub global: bool,
}

pub struct BehaviourRow {
    pub name: &'static str,
    pub field: String,
    pub description: &'static str,
    pub checked: bool,
}

pub struct AreaRows {
    pub area: &'static str,
    pub rows: Vec<FaultRow>,
}

#[derive(Template)]
#[template(path = "faults.html")]
struct FaultsPage {
    nav: Nav,
    notice: Option<&'static str>,
    action: String,
    clear_action: String,
    areas: Vec<AreaRows>,
    behaviours: Vec<BehaviourRow>,
    chosen: usize,
    chosen_at: Option<When>,
    sandbox_faults: Vec<&'static str>,
    operator: bool,
    ttl_secs: u64,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// The per-TPP faults grouped by area, ticked where `chosen`.
fn areas(st: &AppState, chosen: &[Fault]) -> Vec<AreaRows> {
    let mut out: Vec<AreaRows> = Vec::new();
    for f in Fault::per_tpp_list() {
        let row = FaultRow {
            name: f.name(),
            field: format!("{FIELD}{}", f.name()),
            rules: f.rules().join(", "),
            description: f.description(),
            checked: chosen.contains(&f),
            global: st.cfg.faults.has(f),
        };
        match out.last_mut() {
            Some(a) if a.area == f.area().name() => a.rows.push(row),
            _ => out.push(AreaRows {
                area: f.area().name(),
                rows: vec![row],
            }),
        }
    }
    out
}

async fn page(
    st: &AppState,
    ctx: Ctx,
    notice: Option<&'static str>,
) -> Result<FaultsPage, PortalError> {
    let chosen = fault_choice::chosen(st, &ctx.id).await?;
    Ok(FaultsPage {
        operator: ctx.nav.operator,
        notice,
        action: tpp_path(&ctx.id, "/faults"),
        clear_action: tpp_path(&ctx.id, "/faults/clear"),
        areas: areas(st, &chosen.faults),
        behaviours: Behaviour::ALL
            .iter()
            .map(|b| BehaviourRow {
                name: b.name(),
                field: format!("{BEHAVIOUR}{}", b.name()),
                description: b.description(),
                checked: chosen.behaviours.contains(b),
            })
            .collect(),
        chosen: chosen.faults.len() + chosen.behaviours.len(),
        chosen_at: chosen.chosen_at.map(|t| when(t, ctx.now)),
        sandbox_faults: st.cfg.faults.iter().map(Fault::name).collect(),
        ttl_secs: FaultCache::TTL.as_secs(),
        nav: ctx.nav,
    })
}

/// `GET /portal/tpps/{ClientId}/faults`.
pub async fn show(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    PortalQuery(q): PortalQuery<NoticeQuery>,
    viewer: Viewer,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &viewer, &id, "faults").await?;
    let page = page(&st, ctx, notice(q.notice.as_deref())).await?;
    Ok(html(StatusCode::OK, &page))
}

/// `POST /portal/tpps/{ClientId}/faults`: the ticked boxes become the TPP's whole choice.
pub async fn save(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<BTreeMap<String, String>>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &posted.viewer, &id, "faults").await?;
    let ticked = |prefix: &str| -> Vec<String> {
        posted
            .form
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    };
    let (names, behaviours) = (ticked(FIELD), ticked(BEHAVIOUR));
    match fault_choice::choose(&st, &ctx.id, &names, &behaviours).await {
        Ok(_) => Ok(see_other(&tpp_path(&ctx.id, "/faults?notice=faults-saved"))),
        Err(ChooseError::Store(e)) => Err(e.into()),
        Err(ChooseError::UnknownClient(_)) => Err(PortalError::NotFound),
        // Only a hand-made form names a fault the page does not offer.
        Err(ChooseError::Refused(problems)) => Err(PortalError::BadRequest(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )),
        Err(ChooseError::RefusedBehaviours(problems)) => {
            Err(PortalError::BadRequest(problems.join("; ")))
        }
    }
}

/// `POST /portal/tpps/{ClientId}/faults/clear`.
pub async fn clear(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<NoFields>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &posted.viewer, &id, "faults").await?;
    fault_choice::clear(&st, Some(&ctx.id)).await?;
    Ok(see_other(&tpp_path(
        &ctx.id,
        "/faults?notice=faults-cleared",
    )))
}

/// `POST /portal/faults/clear-all` (operator): every TPP's own faults go.
pub async fn clear_all(
    State(st): State<AppState>,
    posted: Posted<NoFields>,
) -> Result<Response, PortalError> {
    if !posted.viewer.is_operator() {
        return Err(PortalError::OperatorOnly);
    }
    fault_choice::clear(&st, None).await?;
    Ok(see_other("/portal/tpps?notice=faults-cleared-all"))
}
