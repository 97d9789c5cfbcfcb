//! The preflight: before any scenario, one round trip through everything the profile names —
//! the JWKS, a client registration (or a token for each fixed TPP, for each of its scopes), one
//! subscription created and deleted, one poll — so a profile the target cannot serve stops the
//! run with one line (exit 2) instead of failing every scenario one by one. Only what shows the
//! profile and the target do not fit is refused here; how the bank answers is left to the
//! scenarios (a bank's 404 on an empty poll is a finding of theirs, not a configuration error).

use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use serde_json::json;

use super::client::{self, Exchange, Request};
use super::context::RunContext;
use super::profile::{ClientAuth, Clients, Dialect, TppConfig};

/// How long the whole preflight may take.
pub const PREFLIGHT_LIMIT: Duration = Duration::from_secs(10);

/// Runs the preflight; the error is one line naming what failed and why.
pub async fn preflight(ctx: &RunContext) -> Result<(), String> {
    match tokio::time::timeout(PREFLIGHT_LIMIT, steps(ctx)).await {
        Ok(result) => result.map_err(|e| format!("preflight: {}", one_line(&e))),
        Err(_) => Err(format!(
            "preflight: the target did not complete the preflight within {} s ({})",
            PREFLIGHT_LIMIT.as_secs(),
            ctx.profile.base_url
        )),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn steps(ctx: &RunContext) -> Result<(), String> {
    if ctx.profile.jwks_url.is_some() {
        ctx.jwks(true)
            .await
            .map_err(|e| format!("target unreachable or misconfigured: {e}"))?;
    }
    let tpp = match &ctx.profile.clients {
        Clients::Fixed(tpps) => {
            // A dialect application authenticates with its own credentials, no token.
            let tokens = ctx.profile.dialect == Dialect::Obie;
            for t in tpps.iter().filter(|_| tokens) {
                for scope in [&t.events_scope, &t.polling_scope] {
                    ctx.token(t, scope)
                        .await
                        .map_err(|e| format!("profile [[tpp]] {}: {e}", t.name))?;
                }
            }
            tpps.first()
                .cloned()
                .ok_or("the profile names no [[tpp]]")?
        }
        Clients::Register(reg) => {
            let (tpp, _) = ctx
                .register("preflight", &reg.scope)
                .await
                .map_err(|e| format!("[registration] {}: {e}", reg.endpoint))?;
            tpp
        }
    };
    match ctx.profile.dialect {
        Dialect::Yapily => return yapily_list(ctx, &tpp).await,
        // Every Tatra-style call changes the application's state (settings, consents), so the
        // registration above is the whole preflight.
        Dialect::Tatra => return Ok(()),
        Dialect::Obie | Dialect::Wso2 => {}
    }
    if ctx.profile.bank.subscription_api {
        subscription_round_trip(ctx, &tpp).await?;
    }
    if ctx.profile.bank.polling {
        poll_once(ctx, &tpp).await?;
    }
    Ok(())
}

/// A request to the event API as `tpp` with a token of `scope`.
async fn api(
    ctx: &RunContext,
    tpp: &TppConfig,
    scope: &str,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<Exchange, String> {
    let (token, _) = ctx
        .token(tpp, scope)
        .await
        .map_err(|e| format!("TPP {}: {e}", tpp.name))?;
    let mut req = Request::new(method, ctx.api_url(path)).header("Accept", "application/json");
    if !token.is_empty() {
        req = req.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(b) = &body {
        req = req.json(b);
        if let Some(sig) = req.body.as_deref().and_then(|b| ctx.sign_request(b)) {
            req = req.header("x-jws-signature", sig);
        }
    }
    let ex = client::send(&ctx.http, req).await;
    match ex.status {
        None => Err(format!("{}: the target did not answer", ex.summary())),
        Some(401) => Err(format!(
            "the profile's token is not accepted (401): {}",
            ex.summary()
        )),
        Some(_) => Ok(ex),
    }
}

/// One polling subscription created (or one already there: a fixed client may have one left)
/// and deleted again.
async fn subscription_round_trip(ctx: &RunContext, tpp: &TppConfig) -> Result<(), String> {
    let body = json!({ "Data": { "Version": ctx.profile.bank.subscription_version } });
    let path = "/event-subscriptions";
    let created = api(ctx, tpp, &tpp.events_scope, Method::POST, path, Some(body)).await?;
    match created.status() {
        409 => Ok(()),
        200..=299 => {
            let id = created
                .json()
                .and_then(|v| {
                    v.pointer("/Data/EventSubscriptionId")
                        .and_then(|i| i.as_str().map(String::from))
                })
                .ok_or_else(|| {
                    format!(
                        "the created subscription has no Data.EventSubscriptionId: {}",
                        created.summary()
                    )
                })?;
            let path = format!("{path}/{id}");
            api(ctx, tpp, &tpp.events_scope, Method::DELETE, &path, None).await?;
            Ok(())
        }
        _ => Err(format!(
            "cannot create a polling subscription with Version {:?} (bank.subscription_version): {}",
            ctx.profile.bank.subscription_version,
            created.summary()
        )),
    }
}

/// One acknowledge-only poll (`maxEvents` 0, so nothing awaiting is disturbed).
async fn poll_once(ctx: &RunContext, tpp: &TppConfig) -> Result<(), String> {
    let body = json!({ "returnImmediately": true, "maxEvents": 0 });
    api(
        ctx,
        tpp,
        &tpp.polling_scope,
        Method::POST,
        "/events",
        Some(body),
    )
    .await
    .map(|_| ())
}

/// One list of the Yapily-style subscriptions with the application's credentials: only a
/// refusal of the credentials (401, 403) or no answer stops the run.
async fn yapily_list(ctx: &RunContext, tpp: &TppConfig) -> Result<(), String> {
    let secret = match &tpp.auth {
        ClientAuth::SecretBasic(s) | ClientAuth::SecretPost(s) => s,
        _ => {
            return Err(format!(
                "TPP {}: a Yapily-style application needs client_secret",
                tpp.name
            ));
        }
    };
    let path = ctx
        .profile
        .yapily
        .as_ref()
        .map_or("/notifications/event-subscriptions", |y| {
            y.subscriptions_path.as_str()
        });
    let creds =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", tpp.client_id));
    let req = Request::new(Method::GET, format!("{}{path}", ctx.profile.base_url))
        .header("Accept", "application/json")
        .header("Authorization", format!("Basic {creds}"));
    let ex = client::send(&ctx.http, req).await;
    match ex.status {
        None => Err(format!("{}: the target did not answer", ex.summary())),
        Some(401 | 403) => Err(format!(
            "TPP {}: the application's credentials are not accepted: {}",
            tpp.name,
            ex.summary()
        )),
        // Any other answer is the bank's to be judged on: a list it cannot give fails YA-05
        // and blocks each scenario of a fixed application at its `starts clean` step.
        Some(_) => Ok(()),
    }
}
