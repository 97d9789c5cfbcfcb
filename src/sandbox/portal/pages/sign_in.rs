//! Signing in and out. A TPP signs in with its client id and secret through the same client
//! authentication as `POST /token`, lockout included (`auth::authenticate`); the operator with
//! the admin credential, under its own failure budget (`auth::basic::admin`). Neither page
//! says whether a client id exists.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::sandbox::auth::basic::{self, Admin};
use crate::sandbox::auth::{self, ClientCredentials};
use crate::sandbox::domain::ClientId;
use crate::sandbox::portal::page::{PortalError, html, see_other};
use crate::sandbox::portal::session::{
    self, COOKIE, PRE_COOKIE, Posted, Role, SESSION_TTL, Viewer, form_fields,
};
use crate::sandbox::state::AppState;

/// How long the sign-in form's token lives.
const PRE_TTL: std::time::Duration = std::time::Duration::from_secs(1800);

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignIn {
    bank: String,
    csrf: String,
    message: Option<String>,
    client_id: String,
}

/// `GET /portal`: the viewer's home, or the sign-in page.
pub async fn root(viewer: Result<Viewer, PortalError>) -> Response {
    match viewer {
        Ok(v) => see_other(&v.home()),
        Err(_) => see_other("/portal/sign-in"),
    }
}

/// `GET /portal/sign-in`: the form, with a fresh pre-session token.
pub async fn form(State(st): State<AppState>, viewer: Result<Viewer, PortalError>) -> Response {
    if let Ok(v) = viewer {
        return see_other(&v.home());
    }
    page(&st, StatusCode::OK, None, String::new(), None)
}

/// The sign-in page with `message`, setting a new pre-session token.
fn page(
    st: &AppState,
    status: StatusCode,
    message: Option<String>,
    client_id: String,
    retry_after: Option<u64>,
) -> Response {
    let (csrf, pre_cookie) = match session::issue_sign_in(st, PRE_TTL) {
        Ok(pair) => pair,
        Err(e) => return e.into_response(),
    };
    let mut resp = html(
        status,
        &SignIn {
            bank: st.cfg.personality.bank.to_string(),
            csrf,
            message,
            client_id,
        },
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(st, PRE_COOKIE, &pre_cookie, PRE_TTL),
    );
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// `POST /portal/sign-in`: `kind=tpp` with `client_id`/`client_secret`, or `kind=operator`
/// with `username`/`password`.
pub async fn submit(State(st): State<AppState>, req: Request) -> Response {
    let pre =
        session::cookie(req.headers(), PRE_COOKIE).and_then(|v| session::sign_in_token(&st, v));
    let fields = match form_fields(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let token = field("csrf");
    if pre.as_deref().is_none_or(|p| !session::same(p, &token)) {
        let message = "the sign-in form expired or did not come from this portal; try again";
        return page(
            &st,
            StatusCode::FORBIDDEN,
            Some(message.into()),
            String::new(),
            None,
        );
    }
    let outcome = match field("kind").as_str() {
        "tpp" => tpp(&st, field("client_id"), field("client_secret")).await,
        "operator" => Ok(operator(&st, &field("username"), &field("password"))),
        _ => Err(PortalError::BadRequest(
            "kind must be tpp or operator".into(),
        )),
    };
    match outcome {
        Ok(Ok(role)) => signed_in(&st, &role),
        Ok(Err(refused)) => page(
            &st,
            refused.status,
            Some(refused.message),
            field("client_id"),
            refused.retry_after,
        ),
        Err(e) => e.into_response(),
    }
}

/// A refused sign-in, as the form shows it.
struct Refused {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

fn locked(secs: u64) -> Refused {
    Refused {
        status: StatusCode::TOO_MANY_REQUESTS,
        message: format!(
            "too many failed sign-ins for this identity; locked for {secs} s (the same lockout as POST /token)"
        ),
        retry_after: Some(secs),
    }
}

fn wrong(what: &str) -> Refused {
    Refused {
        status: StatusCode::UNAUTHORIZED,
        message: format!("wrong {what}"),
        retry_after: None,
    }
}

async fn tpp(
    st: &AppState,
    client_id: String,
    secret: String,
) -> Result<Result<Role, Refused>, PortalError> {
    if client_id.is_empty() {
        return Ok(Err(wrong("client id or secret")));
    }
    let creds = ClientCredentials::Secret {
        client_id: ClientId::from(client_id),
        secret,
    };
    match auth::authenticate(st, creds, None).await {
        Ok(client) => Ok(Ok(Role::Tpp(client.client_id))),
        Err(e) if e.retry_after.is_some() => Ok(Err(locked(e.retry_after.unwrap_or(1)))),
        Err(e) if e.error == "invalid_client" => Ok(Err(wrong("client id or secret"))),
        Err(e) => Err(PortalError::Internal(e.description)),
    }
}

fn operator(st: &AppState, user: &str, password: &str) -> Result<Role, Refused> {
    let header = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    match basic::admin(st, Some(&header)) {
        Admin::Accepted => Ok(Role::Operator(user.to_string())),
        Admin::Locked(secs) => Err(locked(secs)),
        Admin::Refused | Admin::NotBasic => Err(wrong("user name or password")),
    }
}

fn signed_in(st: &AppState, role: &Role) -> Response {
    let (value, viewer) = match session::issue(st, role) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    tracing::info!(who = %viewer.label(), "portal sign-in");
    let mut resp = see_other(&viewer.home());
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(st, COOKIE, &value, SESSION_TTL),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(st, PRE_COOKIE, "", std::time::Duration::ZERO),
    );
    resp
}

#[derive(Deserialize)]
pub struct NoFields {}

/// `POST /portal/sign-out`: deletes the session cookie.
pub async fn sign_out(State(st): State<AppState>, _posted: Posted<NoFields>) -> Response {
    let mut resp = see_other("/portal/sign-in");
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&st, COOKIE, "", std::time::Duration::ZERO),
    );
    resp
}
