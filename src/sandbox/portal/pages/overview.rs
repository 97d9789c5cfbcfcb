//! The overview of one TPP: the personality, its subscriptions and callback URLs (OBIE),
//! Yapily-style subscriptions and Tatra-style webhook settings (editable here, validated by the
//! Tatra dialect itself), its scopes, the sandbox's discovery and key links, and copyable curl
//! and recipe snippets filled in with its own ids.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Ctx, notice, tpp_ctx};
use crate::model::Dialect;
use crate::sandbox::dialects::tatra::{self, SettingsChange, TatraError};
use crate::sandbox::portal::page::{
    Nav, PortalError, PortalPath, PortalQuery, html, see_other, tpp_path,
};
use crate::sandbox::portal::session::{Posted, Viewer};
use crate::sandbox::portal::view::{When, when};
use crate::sandbox::state::AppState;

pub struct SubRow {
    pub id: String,
    pub kind: &'static str,
    pub version: String,
    pub callback_url: String,
    pub event_types: String,
    pub created: When,
}

pub struct YapilyRow {
    pub event_type_id: String,
    pub url: String,
    pub created: When,
}

/// The Tatra settings form: the stored values, or those just submitted with the dialect's
/// validation message.
pub struct TatraForm {
    pub enabled: bool,
    pub url: String,
    pub security_header: String,
    pub active: bool,
    pub active_from: Option<When>,
    pub error: Option<String>,
}

pub struct Snippet {
    pub id: &'static str,
    pub title: &'static str,
    pub text: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct Overview {
    nav: Nav,
    client_id: String,
    client_name: String,
    scopes: String,
    auth_method: String,
    created: When,
    base: String,
    notice: Option<&'static str>,
    subscriptions: Vec<SubRow>,
    yapily: Option<Vec<YapilyRow>>,
    tatra: Option<TatraForm>,
    tatra_action: String,
    activate_action: String,
    snippets: Vec<Snippet>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// `GET /portal/tpps/{ClientId}`.
pub async fn show(
    State(st): State<AppState>,
    viewer: Viewer,
    PortalPath(id): PortalPath<String>,
    PortalQuery(q): PortalQuery<NoticeQuery>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &viewer, &id, "overview").await?;
    let tatra = if st.cfg.personality.serves(Dialect::Tatra) {
        Some(stored_tatra(&st, &ctx).await?)
    } else {
        None
    };
    let page = build(&st, ctx, notice(q.notice.as_deref()), tatra).await?;
    Ok(html(StatusCode::OK, &page))
}

async fn stored_tatra(st: &AppState, ctx: &Ctx) -> Result<TatraForm, PortalError> {
    let s = tatra::settings::settings_of(st, &ctx.id)
        .await
        .map_err(tatra_internal)?;
    Ok(TatraForm {
        enabled: s.enabled,
        url: s.url.clone().unwrap_or_default(),
        security_header: s.security_header.clone(),
        active: s.active_at(ctx.now),
        active_from: s.active_from.map(|t| when(t, ctx.now)),
        error: None,
    })
}

fn tatra_internal(e: TatraError) -> PortalError {
    match e {
        TatraError::Store(e) => e.into(),
        other => PortalError::BadRequest(other.to_string()),
    }
}

async fn build(
    st: &AppState,
    ctx: Ctx,
    notice: Option<&'static str>,
    tatra: Option<TatraForm>,
) -> Result<Overview, PortalError> {
    let mut subscriptions: Vec<SubRow> = st
        .store
        .subscriptions_of(&ctx.id)
        .await?
        .into_iter()
        .map(|s| SubRow {
            id: s.id.to_string(),
            kind: "event subscription",
            version: s.version,
            callback_url: s.callback_url.unwrap_or_else(|| "(none: polling)".into()),
            event_types: s
                .event_types
                .map(|t| t.join(", "))
                .unwrap_or_else(|| "every supported type".into()),
            created: when(s.created_at, ctx.now),
        })
        .collect();
    subscriptions.extend(
        st.store
            .callback_urls_of(&ctx.id)
            .await?
            .into_iter()
            .map(|c| SubRow {
                id: c.id.to_string(),
                kind: "callback URL",
                version: c.version,
                callback_url: c.url,
                event_types: "resource-update (CB-05)".into(),
                created: when(c.created_at, ctx.now),
            }),
    );
    let yapily = if st.cfg.personality.serves(Dialect::Yapily) {
        let subs = st.store.yapily_subscriptions_of(&ctx.id, false).await?;
        Some(
            subs.into_iter()
                .map(|s| YapilyRow {
                    event_type_id: s.event_type_id,
                    url: s.url,
                    created: when(s.created_at, ctx.now),
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(Overview {
        client_id: ctx.id.to_string(),
        client_name: ctx.client.client_name.clone(),
        scopes: ctx.client.scopes.join(" "),
        auth_method: ctx.client.auth_method.clone(),
        created: when(ctx.client.created_at, ctx.now),
        base: st.base_url.clone(),
        notice,
        subscriptions,
        yapily,
        tatra,
        tatra_action: tpp_path(&ctx.id, "/tatra-settings"),
        activate_action: tpp_path(&ctx.id, "/tatra-settings/activate"),
        snippets: snippets(st, ctx.id.as_str()),
        nav: ctx.nav,
    })
}

/// Copyable commands with this TPP's ids (the secret stays `$SECRET`: it is never stored).
fn snippets(st: &AppState, id: &str) -> Vec<Snippet> {
    let b = &st.base_url;
    let mut out = vec![
        Snippet {
            id: "snippet-token",
            title: "An access token (client credentials)",
            text: format!(
                "B={b}\nID='{id}'\nTOKEN=$(curl -s -X POST $B/token -u \"$ID:$SECRET\" -d grant_type=client_credentials | jq -r .access_token)"
            ),
        },
        Snippet {
            id: "snippet-subscribe",
            title: "Subscribe (polling; add \"CallbackUrl\" for push)",
            text: format!(
                "curl -s -X POST {b}/open-banking/v3.1/event-subscriptions -H \"Authorization: Bearer $TOKEN\" \\\n  -H 'Content-Type: application/json' -d '{{\"Data\":{{\"Version\":\"3.1\"}}}}'"
            ),
        },
        Snippet {
            id: "snippet-poll",
            title: "Poll for SETs",
            text: format!(
                "curl -s -X POST {b}/open-banking/v3.1/events -H \"Authorization: Bearer $TOKEN\" \\\n  -H 'Content-Type: application/json' -d '{{\"returnImmediately\":true}}'"
            ),
        },
        Snippet {
            id: "snippet-deliveries",
            title: "Push deliveries as JSON",
            text: format!("curl -s {b}/sandbox/deliveries -H \"Authorization: Bearer $TOKEN\""),
        },
        Snippet {
            id: "snippet-receiver",
            title: "Recipe: a push receiver that verifies each SET (examples/tpp)",
            text: format!(
                "PYTHONPATH=target/py-recipes python3 examples/tpp/python/receiver.py --lib pyjwt \\\n  --jwks-uri {b}/jwks --issuer {} --client-id '{id}' --port 9090",
                st.issuer
            ),
        },
    ];
    if st.cfg.personality.serves(Dialect::Yapily) {
        out.push(Snippet {
            id: "snippet-yapily",
            title: "Recipe: a Yapily-style webhook receiver",
            text: format!(
                "PYTHONPATH=target/py-recipes python3 examples/tpp/python/yapily_receiver.py \\\n  --jwks-uri {b}/.well-known/jwks.json --application-id '{id}'"
            ),
        });
    }
    if st.cfg.personality.serves(Dialect::Tatra) {
        out.push(Snippet {
            id: "snippet-tatra",
            title: "Tatra-style webhook settings over the API",
            text: format!("curl -s -u \"$ID:$SECRET\" {b}/premium/sandbox/v1/webhook-settings"),
        });
    }
    out
}

#[derive(Deserialize)]
pub struct TatraFields {
    enabled: Option<String>,
    #[serde(default)]
    url: String,
    #[serde(default)]
    security_header: String,
}

/// `POST /portal/tpps/{ClientId}/tatra-settings`: the form's values through the dialect's
/// own `put_settings` (its validation messages shown beside the form on a refusal).
pub async fn save_tatra(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<TatraFields>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &posted.viewer, &id, "overview").await?;
    if !st.cfg.personality.serves(Dialect::Tatra) {
        return Err(PortalError::NotFound);
    }
    let f = posted.form;
    let change = SettingsChange {
        enabled: f.enabled.is_some(),
        url: Some(f.url.clone()),
        security_header: Some(f.security_header.clone()),
    };
    match tatra::settings::put_settings(&st, &ctx.id, change).await {
        Ok(_) => Ok(see_other(&tpp_path(&ctx.id, "?notice=tatra-saved"))),
        Err(TatraError::Store(e)) => Err(e.into()),
        Err(e) => {
            let form = TatraForm {
                enabled: f.enabled.is_some(),
                url: f.url,
                security_header: f.security_header,
                active: false,
                active_from: None,
                error: Some(format!("{}: {e}", e.code())),
            };
            let page = build(&st, ctx, None, Some(form)).await?;
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

#[derive(Deserialize)]
pub struct NoFields {}

/// `POST /portal/tpps/{ClientId}/tatra-settings/activate`: the sandbox helper, active now.
pub async fn activate_tatra(
    State(st): State<AppState>,
    PortalPath(id): PortalPath<String>,
    posted: Posted<NoFields>,
) -> Result<Response, PortalError> {
    let ctx = tpp_ctx(&st, &posted.viewer, &id, "overview").await?;
    if !st.cfg.personality.serves(Dialect::Tatra) {
        return Err(PortalError::NotFound);
    }
    match tatra::settings::activate(&st, &ctx.id).await {
        Ok(_) => Ok(see_other(&tpp_path(&ctx.id, "?notice=tatra-activated"))),
        Err(TatraError::Store(e)) => Err(e.into()),
        Err(e) => {
            let mut form = stored_tatra(&st, &ctx).await?;
            form.error = Some(format!("{}: {e}", e.code()));
            let page = build(&st, ctx, None, Some(form)).await?;
            Ok(html(StatusCode::CONFLICT, &page))
        }
    }
}
