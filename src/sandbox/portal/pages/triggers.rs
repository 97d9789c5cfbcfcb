//! The flows a TPP practises with, as forms, each answered with what it raised: create and
//! authorise a consent then revoke it (the HSBC-style trigger), inject any event type of the
//! personality, raise a Yapily-style event, and a Tatra-style consent, transaction or refresh.
//! Each form calls the same operation as its JSON helper (`dialects::obie::consents`,
//! `obie::events`, `yapily::raise`, `tatra::*`), so validation and outcomes are the API's.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::overview::NoFields;
use super::{Ctx, tpp_ctx};
use crate::model::Dialect;
use crate::sandbox::dialects::obie::consents;
use crate::sandbox::dialects::obie::error::ObError;
use crate::sandbox::dialects::obie::events::{self, EventSpec, RaiseOutcome};
use crate::sandbox::dialects::obie::requests::{self, NewConsent, Rules};
use crate::sandbox::dialects::tatra::{self, TatraError};
use crate::sandbox::dialects::yapily::{self, YapilyError, YapilyEventSpec, YapilyEventType};
use crate::sandbox::domain::{ConsentId, Tpp};
use crate::sandbox::http::InteractionId;
use crate::sandbox::portal::page::{Nav, PortalError, PortalPath, html, tpp_path};
use crate::sandbox::portal::session::{Posted, Viewer};
use crate::sandbox::state::AppState;

/// A button offered after an outcome (e.g. "Revoke this consent"): a form posting one id.
pub struct FollowUp {
    pub action: String,
    pub label: String,
    pub name: &'static str,
    pub value: String,
}

/// What a trigger did, as the page shows it.
pub struct Outcome {
    pub title: String,
    pub ok: bool,
    pub facts: Vec<(String, String)>,
    pub links: Vec<(String, String)>,
    pub follow_ups: Vec<FollowUp>,
}

impl Outcome {
    fn ok(title: impl Into<String>) -> Outcome {
        Outcome {
            title: title.into(),
            ok: true,
            facts: Vec::new(),
            links: Vec::new(),
            follow_ups: Vec::new(),
        }
    }

    fn refused(title: impl Into<String>, why: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            facts: vec![("refused".into(), why.into())],
            ..Outcome::ok(title)
        }
    }

    fn fact(mut self, k: &str, v: impl Into<String>) -> Outcome {
        self.facts.push((k.into(), v.into()));
        self
    }
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "triggers.html")]
struct TriggersPage {
    nav: Nav,
    outcome: Option<Outcome>,
    base: String,
    event_types: Vec<Choice>,
    yapily_types: Option<Vec<Choice>>,
    tatra: bool,
}

fn page(st: &AppState, ctx: Ctx, outcome: Option<Outcome>) -> Response {
    let status = match &outcome {
        Some(o) if !o.ok => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let p = TriggersPage {
        base: tpp_path(&ctx.id, "/triggers"),
        nav: ctx.nav,
        outcome,
        event_types: st
            .cfg
            .personality
            .event_types
            .iter()
            .map(|t| Choice {
                value: t.short().to_string(),
                label: t.code().to_string(),
            })
            .collect(),
        yapily_types: st.cfg.personality.serves(Dialect::Yapily).then(|| {
            YapilyEventType::ALL
                .iter()
                .map(|t| Choice {
                    value: t.id().to_string(),
                    label: format!("{} — {}", t.id(), t.description()),
                })
                .collect()
        }),
        tatra: st.cfg.personality.serves(Dialect::Tatra),
    };
    html(status, &p)
}

/// `GET /portal/tpps/{ClientId}/triggers`.
pub async fn show(
    State(st): State<AppState>,
    viewer: Viewer,
    PortalPath(id): PortalPath<String>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &viewer, &id, "triggers").await?;
    Ok(page(&st, ctx, None))
}

/// The TPP as the OBIE operations take it (the portal acts with all its scopes).
fn tpp_of(ctx: &Ctx) -> Tpp {
    Tpp {
        client_id: ctx.id.clone(),
        scopes: ctx.client.scopes.clone(),
        cnf: None,
    }
}

/// An OBIE refusal in words; a store failure is the portal's error.
fn ob_refusal(e: ObError) -> Result<String, PortalError> {
    match e {
        ObError::Store(e) => Err(e.into()),
        ObError::Signing(e) => Err(PortalError::Internal(format!("signing: {e}"))),
        ObError::Invalid(items) => Ok(items
            .iter()
            .map(|i| format!("{}: {}", i.code, i.message))
            .collect::<Vec<_>>()
            .join("; ")),
        other => Ok(other.to_string()),
    }
}

/// The facts and links of a raised OBIE event.
fn raised(ctx: &Ctx, title: &str, o: &RaiseOutcome) -> Outcome {
    let mut out = Outcome::ok(title);
    match &o.jti {
        Some(jti) if o.queued => out = out.fact("SET", format!("queued for polling, jti {jti}")),
        Some(jti) => out = out.fact("SET", format!("signed, jti {jti}")),
        None => {}
    }
    if let Some(reason) = o.reason {
        out = out.fact("not queued", reason);
    }
    if let Some(d) = &o.delivery_id {
        out = out.fact("push delivery", d.to_string());
        out.links.push((
            tpp_path(&ctx.id, &format!("/deliveries#d-{d}")),
            "watch its attempts".into(),
        ));
    }
    out.links.push((
        tpp_path(&ctx.id, "/events"),
        "see it on the Events page".into(),
    ));
    out
}

/// `POST …/triggers/consent`: an account-access-consent, created and authorised at once.
pub async fn consent(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<NoFields>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &posted.viewer, &id, "triggers").await?;
    let tpp = tpp_of(&ctx);
    let new = NewConsent {
        permissions: vec!["ReadAccountsBasic".into(), "ReadAccountsDetail".into()],
        expiration: None,
        transaction_from: None,
        transaction_to: None,
    };
    let result = async {
        let c = consents::create(&st, &tpp, new).await?;
        consents::authorise(&st, &tpp, &c.consent_id).await
    }
    .await;
    let outcome = match result {
        Ok(c) => {
            let mut o = Outcome::ok("Consent created and authorised")
                .fact("ConsentId", c.consent_id.to_string())
                .fact("Status", c.status.as_str());
            o.follow_ups.push(FollowUp {
                action: tpp_path(&ctx.id, "/triggers/revoke"),
                label: "Revoke this consent (raises consent-authorization-revoked)".into(),
                name: "consent_id",
                value: c.consent_id.to_string(),
            });
            o
        }
        Err(e) => Outcome::refused("Consent not created", ob_refusal(e)?),
    };
    Ok(page(&st, ctx, Some(outcome)))
}

#[derive(Deserialize)]
pub struct ConsentField {
    #[serde(default)]
    consent_id: String,
}

/// `POST …/triggers/revoke`: the HSBC-style trigger, as `DELETE
/// /sandbox/account-access-consents/{id}` does it.
pub async fn revoke(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    iid: InteractionId,
    posted: Posted<ConsentField>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &posted.viewer, &id, "triggers").await?;
    let consent = ConsentId::from(posted.form.consent_id.trim());
    let outcome = match consents::revoke(&st, &tpp_of(&ctx), &consent, Some(iid.0)).await {
        Ok(o) => raised(&ctx, "Consent revoked", &o).fact("ConsentId", consent.to_string()),
        Err(e) => Outcome::refused("Consent not revoked", ob_refusal(e)?),
    };
    Ok(page(&st, ctx, Some(outcome)))
}

#[derive(Deserialize)]
pub struct InjectFields {
    event_type: String,
    #[serde(default)]
    resource_id: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    reason: String,
}

/// `POST …/triggers/inject`: any event type of the personality, validated as
/// `POST /sandbox/events` validates it.
pub async fn inject(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    iid: InteractionId,
    posted: Posted<InjectFields>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &posted.viewer, &id, "triggers").await?;
    let f = posted.form;
    let mut body = json!({
        "eventType": f.event_type,
        "resourceId": f.resource_id,
        "resourceType": f.resource_type,
    });
    if !f.reason.is_empty() {
        body["reason"] = Value::String(f.reason);
    }
    let result = async {
        let i = requests::injection(&body, &Rules::of(&st, &st.cfg.faults))?;
        let spec = EventSpec {
            client_id: ctx.id.clone(),
            event_type: i.event_type,
            resource_id: i.resource_id,
            resource_type: i.resource_type,
            reason: i.reason,
            txn: i.txn.or(Some(iid.0)),
        };
        events::raise(&st, None, spec).await
    }
    .await;
    let outcome = match result {
        Ok(o) => raised(&ctx, "Event raised", &o),
        Err(e) => Outcome::refused("Event not raised", ob_refusal(e)?),
    };
    Ok(page(&st, ctx, Some(outcome)))
}

#[derive(Deserialize)]
pub struct YapilyFields {
    event_type: String,
    #[serde(default)]
    object_id: String,
}

/// `POST …/triggers/yapily`: a Yapily-style event, as `POST /sandbox/yapily/events`.
pub async fn yapily_event(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<YapilyFields>,
) -> Result<Response, PortalError> {
    let ctx = dialect_ctx(&st, &posted.viewer, &id, Dialect::Yapily).await?;
    let f = posted.form;
    let Some(t) = YapilyEventType::parse(&f.event_type) else {
        let o = Outcome::refused("Event not raised", "unknown eventTypeId");
        return Ok(page(&st, ctx, Some(o)));
    };
    let object_id = Some(f.object_id.trim().to_string()).filter(|o| !o.is_empty());
    if object_id.as_ref().is_some_and(|o| o.chars().count() > 128) {
        let o = Outcome::refused("Event not raised", "objectId must be 1 to 128 characters");
        return Ok(page(&st, ctx, Some(o)));
    }
    let spec = YapilyEventSpec {
        client_id: ctx.id.clone(),
        event_type: t,
        object_id,
        payload: None,
    };
    let outcome = match yapily::raise(&st, spec).await {
        Ok(r) => {
            let mut o = Outcome::ok("Yapily-style event raised")
                .fact("id", r.id.to_string())
                .fact("eventTypeId", r.event_type_id)
                .fact("objectId", r.object_id);
            if r.deliveries.is_empty() {
                o = o.fact(
                    "deliveries",
                    "none: the application does not subscribe to the type",
                );
            }
            for d in &r.deliveries {
                o.links.push((
                    tpp_path(&ctx.id, &format!("/deliveries#d-{d}")),
                    format!("delivery {d}"),
                ));
            }
            o
        }
        Err(YapilyError::Store(e)) => return Err(e.into()),
        Err(e) => Outcome::refused("Event not raised", e.to_string()),
    };
    Ok(page(&st, ctx, Some(outcome)))
}

/// A Tatra refusal in the API's words (`errorCode: message`); a store failure is ours.
fn tatra_refusal(title: &str, e: TatraError) -> Result<Outcome, PortalError> {
    match e {
        TatraError::Store(crate::sandbox::store::StoreError::BoundReached(b)) => Ok(
            Outcome::refused(title, format!("LIMIT_REACHED: {}", b.message())),
        ),
        TatraError::Store(e) => Err(e.into()),
        e => Ok(Outcome::refused(title, format!("{}: {e}", e.code()))),
    }
}

/// Buttons for the Tatra triggers on `consent`.
fn tatra_follow_ups(ctx: &Ctx, consent: &str) -> Vec<FollowUp> {
    [
        (
            "/triggers/tatra-transaction",
            "A transaction arrived (transactionEvent)",
        ),
        (
            "/triggers/tatra-refresh",
            "Refresh the other banks (accountEvents)",
        ),
    ]
    .into_iter()
    .map(|(path, label)| FollowUp {
        action: tpp_path(&ctx.id, path),
        label: label.into(),
        name: "consent_id",
        value: consent.to_string(),
    })
    .collect()
}

/// `POST …/triggers/tatra-consent`: a consent with the default banks' accounts.
pub async fn tatra_consent(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<NoFields>,
) -> Result<Response, PortalError> {
    let ctx = dialect_ctx(&st, &posted.viewer, &id, Dialect::Tatra).await?;
    let outcome = match tatra::create_consent(&st, &ctx.id, None).await {
        Ok(c) => {
            let mut o =
                Outcome::ok("Tatra-style consent created").fact("consentId", c.id.to_string());
            for a in &c.accounts {
                o = o.fact(
                    &format!("account at {}", a.bank_code),
                    format!("{} ({})", a.account_id, a.iban),
                );
            }
            o.follow_ups = tatra_follow_ups(&ctx, c.id.as_str());
            o
        }
        Err(e) => tatra_refusal("Consent not created", e)?,
    };
    Ok(page(&st, ctx, Some(outcome)))
}

/// `POST …/triggers/tatra-transaction`: as `POST /sandbox/tatra/transactions`.
pub async fn tatra_transaction(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<ConsentField>,
) -> Result<Response, PortalError> {
    let ctx = dialect_ctx(&st, &posted.viewer, &id, Dialect::Tatra).await?;
    let consent = ConsentId::from(posted.form.consent_id.trim());
    let outcome = match tatra::trigger_transaction(&st, &ctx.id, &consent, None).await {
        Ok(r) => {
            let mut o = Outcome::ok("transactionEvent raised")
                .fact("consentId", r.consent_id.to_string())
                .fact("accounts", r.account_ids.join(", "));
            if let Some(why) = r.dropped {
                o = o.fact("dropped", why);
            }
            if let Some(d) = r.delivery {
                o.links.push((
                    tpp_path(&ctx.id, &format!("/deliveries#d-{d}")),
                    format!("delivery {d}"),
                ));
            }
            o.follow_ups = tatra_follow_ups(&ctx, consent.as_str());
            o
        }
        Err(e) => tatra_refusal("No transactionEvent", e)?,
    };
    Ok(page(&st, ctx, Some(outcome)))
}

/// `POST …/triggers/tatra-refresh`: as `PUT /premium/sandbox/v1/consents/{id}/refresh`.
pub async fn tatra_refresh(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<ConsentField>,
) -> Result<Response, PortalError> {
    let ctx = dialect_ctx(&st, &posted.viewer, &id, Dialect::Tatra).await?;
    let consent = ConsentId::from(posted.form.consent_id.trim());
    let outcome = match tatra::refresh(&st, &ctx.id, &consent).await {
        Ok(task) => {
            let mut o = Outcome::ok("Refresh started").fact("taskId", task.id.to_string());
            for b in &task.banks {
                o = o.fact(
                    &format!("{} finishes", b.bank_code),
                    crate::sandbox::portal::view::iso(b.finish_at),
                );
            }
            o.links.push((
                tpp_path(&ctx.id, "/deliveries"),
                "watch the accountEvents".into(),
            ));
            o.follow_ups = tatra_follow_ups(&ctx, consent.as_str());
            o
        }
        Err(e) => tatra_refusal("Refresh not started", e)?,
    };
    Ok(page(&st, ctx, Some(outcome)))
}

/// The triggers page's context for a dialect's form: a personality that does not serve
/// `dialect` has no such form (404), found before any store read.
async fn dialect_ctx(
    st: &AppState,
    viewer: &Viewer,
    id: &str,
    dialect: Dialect,
) -> Result<Ctx, PortalError> {
    if !st.cfg.personality.serves(dialect) {
        return Err(PortalError::NotFound);
    }
    tpp_ctx(st, viewer, id, "triggers").await
}
