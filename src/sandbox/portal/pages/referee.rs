//! The Referee page of one TPP (issue 23 "the TPP-side verdicts of the last referee run for
//! this client"): the summary of the last `obevents test --tpp` run the TPP published
//! (`sandbox::referee_runs`) — counts, every scenario with its verdict, rules and reason, the
//! findings — or, before the first, how to publish one. The operator sees any TPP's, and
//! either can forget it.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::faults::NoticeQuery;
use super::overview::NoFields;
use super::{Ctx, notice, tpp_ctx};
use crate::sandbox::portal::page::{
    Nav, PortalError, PortalPath, PortalQuery, html, see_other, tpp_path,
};
use crate::sandbox::portal::session::{Posted, Viewer};
use crate::sandbox::portal::view::{When, when};
use crate::sandbox::referee_runs::{self, Published, Verdict};
use crate::sandbox::state::AppState;

pub struct ScenarioRow {
    pub verdict: &'static str,
    /// The CSS state class of the verdict.
    pub class: &'static str,
    pub name: String,
    pub place: String,
    pub rules: String,
    pub failed_rules: String,
    pub reason: Option<String>,
}

pub struct FindingRow {
    pub kind: String,
    pub endpoint: String,
    pub rules: String,
    pub message: String,
    pub occurrences: u64,
    pub scenarios: usize,
}

pub struct RunView {
    pub received: When,
    pub harness: Option<String>,
    pub profile: String,
    pub target: String,
    pub duration: String,
    pub passed: u64,
    pub failed: u64,
    pub blocked: u64,
    pub not_applicable: u64,
    pub not_run: u64,
    /// Every applicable scenario passed.
    pub clean: bool,
    pub scenarios: Vec<ScenarioRow>,
    pub findings: Vec<FindingRow>,
}

#[derive(Template)]
#[template(path = "referee.html")]
struct RefereePage {
    nav: Nav,
    notice: Option<&'static str>,
    run: Option<RunView>,
    forget_action: String,
}

fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "acknowledged",
        Verdict::Failed => "failed",
        Verdict::Blocked => "awaiting",
        Verdict::NotApplicable | Verdict::NotRun => "not",
    }
}

/// Failures first, then blocked, then the rest in the run's order: what a reader came for.
fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Failed => 0,
        Verdict::Blocked => 1,
        Verdict::Passed => 2,
        Verdict::NotApplicable => 3,
        Verdict::NotRun => 4,
    }
}

fn view(p: Published, ctx: &Ctx) -> RunView {
    let run = p.run;
    let mut scenarios = run.scenarios;
    scenarios.sort_by_key(|s| rank(s.verdict));
    RunView {
        received: when(p.received_at, ctx.now),
        harness: run.harness,
        profile: run.profile,
        target: run.target,
        duration: format!("{:.1} s", run.duration_ms as f64 / 1000.0),
        clean: run.failed == 0 && run.blocked == 0,
        passed: run.passed,
        failed: run.failed,
        blocked: run.blocked,
        not_applicable: run.not_applicable,
        not_run: run.not_run,
        scenarios: scenarios
            .into_iter()
            .map(|s| ScenarioRow {
                verdict: s.verdict.label(),
                class: class(s.verdict),
                place: format!("{}:{}", s.feature, s.line),
                name: s.name,
                rules: s.rules.join(", "),
                failed_rules: s.failed_rules.join(", "),
                reason: s.reason,
            })
            .collect(),
        findings: run
            .findings
            .into_iter()
            .map(|f| FindingRow {
                kind: f.key.kind,
                endpoint: f.key.endpoint,
                rules: f.rules.join(", "),
                message: f.message,
                occurrences: f.occurrences,
                scenarios: f.scenarios.len(),
            })
            .collect(),
    }
}

/// `GET /portal/tpps/{ClientId}/referee`.
pub async fn show(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    PortalQuery(q): PortalQuery<NoticeQuery>,
    viewer: Viewer,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &viewer, &id, "referee").await?;
    let run = referee_runs::last(&st, &ctx.id)
        .await?
        .map(|p| view(p, &ctx));
    let page = RefereePage {
        notice: notice(q.notice.as_deref()),
        run,
        forget_action: tpp_path(&ctx.id, "/referee/forget"),
        nav: ctx.nav,
    };
    Ok(html(StatusCode::OK, &page))
}

/// `POST /portal/tpps/{ClientId}/referee/forget`.
pub async fn forget(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<NoFields>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &posted.viewer, &id, "referee").await?;
    referee_runs::forget(&st, &ctx.id).await?;
    Ok(see_other(&tpp_path(
        &ctx.id,
        "/referee?notice=referee-forgotten",
    )))
}
