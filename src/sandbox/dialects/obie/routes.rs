//! Handlers of the OBIE resources under `/open-banking/v3.1`: event subscriptions (§2), callback
//! URLs (§3), aggregated polling (§4) and account-access-consents. Each is extractors, one
//! domain call and a response DTO.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::openapi as doc;
use crate::sandbox::error::ApiResult;
use crate::sandbox::faults::Fault;
use crate::sandbox::http::error::json_response;
use crate::sandbox::http::extract::{
    AccountsScope, Authed, EventApiScopes, ObJson, PollingScopes, ResourceId, SignedJson,
};
use crate::sandbox::http::middleware;
use crate::sandbox::http::routes::Routes;
use crate::sandbox::http::routes::Verb::{Delete, Get, Post, Put};
use crate::sandbox::state::AppState;

/// The OBIE resources under `/open-banking/v3.1` (signed where G-14 asks, all behind the G-08
/// `Accept` check) and the OBIE-shaped sandbox triggers.
pub fn routes(state: &AppState) -> Routes {
    let sign = from_fn_with_state(state.clone(), middleware::sign_response);
    let signed = signed_routes().map_router(|r| r.layer(sign));
    let open_banking = signed
        .include(unsigned_routes())
        .map_router(|r| r.layer(from_fn(middleware::check_accept)));
    Routes::new()
        .mount("/open-banking/v3.1", open_banking)
        .include(super::helpers::routes())
}

/// Routes whose responses carry `x-jws-signature` (G-14).
fn signed_routes() -> Routes {
    Routes::new()
        .add(
            Post,
            "/event-subscriptions",
            &doc::CREATE_SUBSCRIPTION,
            create_subscription,
        )
        .add(
            Get,
            "/event-subscriptions",
            &doc::LIST_SUBSCRIPTIONS,
            list_subscriptions,
        )
        .add(
            Put,
            "/event-subscriptions/{EventSubscriptionId}",
            &doc::REPLACE_SUBSCRIPTION,
            replace_subscription,
        )
        .add(
            Delete,
            "/event-subscriptions/{EventSubscriptionId}",
            &doc::DELETE_SUBSCRIPTION,
            delete_subscription,
        )
        .add(
            Post,
            "/callback-urls",
            &doc::CREATE_CALLBACK_URL,
            create_callback_url,
        )
        .add(
            Get,
            "/callback-urls",
            &doc::LIST_CALLBACK_URLS,
            list_callback_urls,
        )
        .add(
            Put,
            "/callback-urls/{CallbackUrlId}",
            &doc::REPLACE_CALLBACK_URL,
            replace_callback_url,
        )
        .add(
            Delete,
            "/callback-urls/{CallbackUrlId}",
            &doc::DELETE_CALLBACK_URL,
            delete_callback_url,
        )
}

/// Routes without message signing (`POST /events`: "Message Signing: N/A", AP-02).
fn unsigned_routes() -> Routes {
    Routes::new()
        .add(Post, "/events", &doc::POLL_EVENTS, poll_events)
        .add(
            Post,
            "/aisp/account-access-consents",
            &doc::CREATE_CONSENT,
            create_consent,
        )
        .add(
            Get,
            "/aisp/account-access-consents/{ConsentId}",
            &doc::GET_CONSENT,
            get_consent,
        )
}

fn with_links(state: &AppState, data: Value, self_path: &str) -> Value {
    json!({ "Data": data, "Links": { "Self": state.api_url(self_path) }, "Meta": {} })
}

/// DELETE's answer: 204 without a body (ES-11), unless the `delete-200-with-body` fault is on.
fn deleted(state: &AppState, data: Value) -> Response {
    if state.has_fault(Fault::Delete200WithBody) {
        json_response(StatusCode::OK, &json!({ "Data": data }))
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

fn created(location: String, body: &Value) -> Response {
    let mut resp = json_response(StatusCode::CREATED, body);
    if let Ok(v) = location.parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

// ---- event subscriptions ---------------------------------------------------------------------

async fn create_subscription(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    SignedJson(body): SignedJson,
) -> ApiResult<Response> {
    let sub = s.create_subscription(&auth, &body.value).await?;
    let path = format!("/event-subscriptions/{}", sub.id);
    Ok(created(
        s.api_url(&path),
        &with_links(&s, s.subscription_data(&sub), &path),
    ))
}

async fn list_subscriptions(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
) -> ApiResult<Response> {
    let items: Vec<Value> = s
        .list_subscriptions(&auth)
        .await?
        .iter()
        .map(|x| s.subscription_data(x))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &with_links(
            &s,
            json!({ "EventSubscription": items }),
            "/event-subscriptions",
        ),
    ))
}

async fn replace_subscription(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    ResourceId(id): ResourceId,
    SignedJson(body): SignedJson,
) -> ApiResult<Response> {
    let sub = s.replace_subscription(&auth, &id, &body.value).await?;
    let path = format!("/event-subscriptions/{}", sub.id);
    Ok(json_response(
        StatusCode::OK,
        &with_links(&s, s.subscription_data(&sub), &path),
    ))
}

async fn delete_subscription(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    ResourceId(id): ResourceId,
) -> ApiResult<Response> {
    let sub = s.delete_subscription(&auth, &id).await?;
    Ok(deleted(&s, s.subscription_data(&sub)))
}

// ---- callback urls -----------------------------------------------------------------------------

async fn create_callback_url(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    SignedJson(body): SignedJson,
) -> ApiResult<Response> {
    let cb = s.create_callback_url(&auth, &body.value).await?;
    let path = format!("/callback-urls/{}", cb.id);
    Ok(created(
        s.api_url(&path),
        &with_links(&s, s.callback_url_data(&cb), &path),
    ))
}

async fn list_callback_urls(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
) -> ApiResult<Response> {
    let items: Vec<Value> = s
        .list_callback_urls(&auth)
        .await?
        .iter()
        .map(|x| s.callback_url_data(x))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &with_links(&s, json!({ "CallbackUrl": items }), "/callback-urls"),
    ))
}

async fn replace_callback_url(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    ResourceId(id): ResourceId,
    SignedJson(body): SignedJson,
) -> ApiResult<Response> {
    let cb = s.replace_callback_url(&auth, &id, &body.value).await?;
    let path = format!("/callback-urls/{}", cb.id);
    Ok(json_response(
        StatusCode::OK,
        &with_links(&s, s.callback_url_data(&cb), &path),
    ))
}

async fn delete_callback_url(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    ResourceId(id): ResourceId,
) -> ApiResult<Response> {
    let cb = s.delete_callback_url(&auth, &id).await?;
    Ok(deleted(&s, s.callback_url_data(&cb)))
}

// ---- aggregated polling ------------------------------------------------------------------------

async fn poll_events(
    State(s): State<AppState>,
    auth: Authed<PollingScopes>,
    body: ObJson,
) -> ApiResult<Response> {
    let result = s.poll(&auth, &body.value).await?;
    Ok(json_response(s.cfg.personality.poll_status, &result))
}

// ---- account-access-consents -------------------------------------------------------------------

async fn create_consent(
    State(s): State<AppState>,
    auth: Authed<AccountsScope>,
    body: ObJson,
) -> ApiResult<Response> {
    let consent = s.create_consent(&auth, &body.value).await?;
    let body = s.consent_json(&consent);
    Ok(created(
        s.api_url(&format!(
            "/aisp/account-access-consents/{}",
            consent.consent_id
        )),
        &body,
    ))
}

async fn get_consent(
    State(s): State<AppState>,
    auth: Authed<AccountsScope>,
    ResourceId(id): ResourceId,
) -> ApiResult<Response> {
    let consent = s.owned_consent(&auth, &id).await?;
    Ok(json_response(StatusCode::OK, &s.consent_json(&consent)))
}
