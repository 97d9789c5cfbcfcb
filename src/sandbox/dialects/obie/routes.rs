//! Handlers of the OBIE resources under `/open-banking/v3.1`: event subscriptions (§2), callback
//! URLs (§3), aggregated polling (§4) and account-access-consents. Each is extractors, one
//! domain call and a response DTO.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::error::ObResult;
use super::extract::{AccountsScope, EventApiScopes, PollingScopes, SignedJson};
use super::openapi as doc;
use super::requests::{self, Rules};
use super::{callback_urls, consents, polling, render, subscriptions};
use crate::model::resources::{CallbackUrlList, Envelope, EventSubscriptionList, Meta};
use crate::sandbox::domain::{CallbackUrlId, ConsentId, SubscriptionId};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::http::accept::AcceptLayer;
use crate::sandbox::http::error::{json_body, json_response};
use crate::sandbox::http::extract::{Authed, ObJson, ResourceId};
use crate::sandbox::http::middleware;
use crate::sandbox::http::routes::Routes;
use crate::sandbox::http::routes::Verb::{Delete, Get, Post, Put};
use crate::sandbox::state::AppState;

/// Where the OBIE resources are served.
const PREFIX: &str = "/open-banking/v3.1";

/// The OBIE resources under `/open-banking/v3.1` (signed where G-14 asks, all behind the G-08
/// `Accept` check) and the OBIE-shaped sandbox triggers.
pub fn routes(state: &AppState) -> Routes {
    let sign = from_fn_with_state(state.clone(), middleware::sign_response);
    let signed = signed_routes().map_router(|r| r.layer(sign));
    let open_banking = signed
        .include(unsigned_routes())
        .map_router(|r| r.layer(AcceptLayer));
    open_banking.include(super::helpers::routes())
}

/// Routes whose responses carry `x-jws-signature` (G-14).
fn signed_routes() -> Routes {
    Routes::under(PREFIX)
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
    Routes::under(PREFIX)
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

/// `{Data, Links: {Self}, Meta: {}}` around `data`.
fn envelope<D>(st: &AppState, data: D, self_path: &str) -> Envelope<D> {
    Envelope {
        data,
        links: render::links(st, self_path),
        meta: Meta::default(),
    }
}

/// DELETE's answer: 204 without a body (ES-11), unless the `delete-200-with-body` fault is on.
fn deleted<D: Serialize>(faults: &Faults, data: D) -> Response {
    if faults.has(Fault::Delete200WithBody) {
        json_response(StatusCode::OK, &json!({ "Data": data }))
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

fn created<T: Serialize>(location: String, body: &T) -> Response {
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
) -> ObResult<Response> {
    let faults = s.faults_for(&auth.client_id).await?;
    let fields = requests::new_subscription(&body.value, &Rules::of(&s, &faults))?;
    let sub = subscriptions::create(&s, &faults, &auth, fields).await?;
    let path = format!("/event-subscriptions/{}", sub.id);
    Ok(created(
        s.api_url(&path),
        &envelope(&s, render::subscription(&sub), &path),
    ))
}

async fn list_subscriptions(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
) -> ObResult<Response> {
    let event_subscription = subscriptions::list(&s, &auth)
        .await?
        .iter()
        .map(render::subscription)
        .collect();
    let data = EventSubscriptionList { event_subscription };
    Ok(json_response(
        StatusCode::OK,
        &envelope(&s, data, "/event-subscriptions"),
    ))
}

async fn replace_subscription(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    ResourceId(id): ResourceId<SubscriptionId>,
    SignedJson(body): SignedJson,
) -> ObResult<Response> {
    let faults = s.faults_for(&auth.client_id).await?;
    // Ownership before the body: another TPP's id is a 403 whatever the body says.
    let existing = subscriptions::owned(&s, &faults, &auth, &id).await?;
    let fields = requests::subscription_update(&body.value, &id, &Rules::of(&s, &faults))?;
    let sub = subscriptions::replace(&s, &faults, existing, fields).await?;
    let path = format!("/event-subscriptions/{}", sub.id);
    Ok(json_response(
        StatusCode::OK,
        &envelope(&s, render::subscription(&sub), &path),
    ))
}

async fn delete_subscription(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    ResourceId(id): ResourceId<SubscriptionId>,
) -> ObResult<Response> {
    let faults = s.faults_for(&auth.client_id).await?;
    let sub = subscriptions::delete(&s, &faults, &auth, &id).await?;
    Ok(deleted(&faults, render::subscription(&sub)))
}

// ---- callback urls -----------------------------------------------------------------------------

async fn create_callback_url(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    SignedJson(body): SignedJson,
) -> ObResult<Response> {
    let faults = s.faults_for(&auth.client_id).await?;
    let fields = requests::callback_url(&body.value, None, &Rules::of(&s, &faults))?;
    let cb = callback_urls::create(&s, &faults, &auth, fields).await?;
    let path = format!("/callback-urls/{}", cb.id);
    Ok(created(
        s.api_url(&path),
        &envelope(&s, render::callback_url(&cb), &path),
    ))
}

async fn list_callback_urls(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
) -> ObResult<Response> {
    let callback_url = callback_urls::list(&s, &auth)
        .await?
        .iter()
        .map(render::callback_url)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &envelope(&s, CallbackUrlList { callback_url }, "/callback-urls"),
    ))
}

async fn replace_callback_url(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    ResourceId(id): ResourceId<CallbackUrlId>,
    SignedJson(body): SignedJson,
) -> ObResult<Response> {
    let faults = s.faults_for(&auth.client_id).await?;
    let existing = callback_urls::owned(&s, &faults, &auth, &id).await?;
    let fields = requests::callback_url(&body.value, Some(&id), &Rules::of(&s, &faults))?;
    let cb = callback_urls::replace(&s, &faults, existing, fields).await?;
    let path = format!("/callback-urls/{}", cb.id);
    Ok(json_response(
        StatusCode::OK,
        &envelope(&s, render::callback_url(&cb), &path),
    ))
}

async fn delete_callback_url(
    State(s): State<AppState>,
    auth: Authed<EventApiScopes>,
    ResourceId(id): ResourceId<CallbackUrlId>,
) -> ObResult<Response> {
    let faults = s.faults_for(&auth.client_id).await?;
    let cb = callback_urls::delete(&s, &faults, &auth, &id).await?;
    Ok(deleted(&faults, render::callback_url(&cb)))
}

// ---- aggregated polling ------------------------------------------------------------------------

async fn poll_events(
    State(s): State<AppState>,
    auth: Authed<PollingScopes>,
    body: ObJson,
) -> ObResult<Response> {
    let req = requests::poll::parse_poll_request(&body.value, s.cfg.personality.closed_objects())?;
    let result = polling::poll(&s, &auth, req).await?;
    Ok(json_body(
        s.cfg.personality.poll_status,
        render::polling_body(&result),
    ))
}

// ---- account-access-consents -------------------------------------------------------------------

async fn create_consent(
    State(s): State<AppState>,
    auth: Authed<AccountsScope>,
    body: ObJson,
) -> ObResult<Response> {
    let consent = consents::create(&s, &auth, requests::new_consent(&body.value)?).await?;
    Ok(created(
        s.api_url(&format!(
            "/aisp/account-access-consents/{}",
            consent.consent_id
        )),
        &render::consent(&s, &consent),
    ))
}

async fn get_consent(
    State(s): State<AppState>,
    auth: Authed<AccountsScope>,
    ResourceId(id): ResourceId<ConsentId>,
) -> ObResult<Response> {
    let consent = consents::owned(&s, &auth, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &render::consent(&s, &consent),
    ))
}
