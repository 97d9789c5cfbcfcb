//! HTTP Basic, the other way in besides `/token`: the dialect APIs' applications (Yapily,
//! Tatra) send `client_id:client_secret`, the operator the admin credential. Both share the
//! failure budgets of the authorisation server, so a secret that `/token` has locked out cannot
//! be guessed over Basic instead: one budget per client id (shared with `/token`), one for the
//! admin credential.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{OAuthError, hash_secret};
use crate::sandbox::domain::ClientId;
use crate::sandbox::state::AppState;
use crate::sandbox::store::StoreError;

/// The key of the admin credential's budget (client ids are looked up in their own map).
const ADMIN: &str = "admin";

/// How an application's Basic credentials fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Application {
    /// Both right: this application.
    Known(ClientId),
    /// Missing, malformed or wrong.
    Refused,
    /// Too many failures for this client id lately: retry after this many seconds.
    Locked(u64),
}

/// How an `Authorization` header fared as the admin credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    Accepted,
    /// Basic, but not the admin credential.
    Refused,
    /// Too many wrong admin passwords lately: retry after this many seconds.
    Locked(u64),
    /// Not Basic at all (a bearer token, or nothing).
    NotBasic,
}

/// RFC 6749 §2.3.1: id and secret in Basic are form-urlencoded before base64. `None` when the
/// header is absent or not Basic.
pub fn credentials(headers: &HeaderMap) -> Option<Result<(String, String), OAuthError>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bad = || OAuthError::new("invalid_client", "malformed Basic credentials");
    let decoded = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Some(
        decoded
            .and_then(|d| {
                let (id, secret) = d.split_once(':')?;
                let dec = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                };
                Some((dec(id)?, dec(secret)?))
            })
            .ok_or_else(bad),
    )
}

/// The application named by HTTP Basic `client_id:client_secret`: how the dialect APIs
/// authenticate one. A locked client id is refused even with the right secret; a wrong secret
/// counts against the same budget as a failed `/token`.
pub async fn application(st: &AppState, headers: &HeaderMap) -> Result<Application, StoreError> {
    let Some(Ok((id, secret))) = credentials(headers) else {
        return Ok(Application::Refused);
    };
    if let Some(secs) = st.auth_failures.locked_for(&id) {
        return Ok(Application::Locked(secs));
    }
    let secret_hash = hash_secret(&secret);
    let known = st
        .store
        .client(&ClientId::from(id.as_str()))
        .await?
        .filter(|c| c.secret_hash == secret_hash)
        .map(|c| c.client_id);
    Ok(match known {
        Some(app) => Application::Known(app),
        None => {
            st.auth_failures.failed(&id);
            Application::Refused
        }
    })
}

/// Whether `authorization` is the admin credential, with its own failure budget.
pub fn admin(st: &AppState, authorization: Option<&str>) -> Admin {
    let Some(value) = authorization else {
        return Admin::NotBasic;
    };
    let is_basic = value
        .trim()
        .split_once(' ')
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    if !is_basic {
        return Admin::NotBasic;
    }
    if let Some(secs) = st.admin_failures.locked_for(ADMIN) {
        return Admin::Locked(secs);
    }
    if st.admin.accepts(value) {
        Admin::Accepted
    } else {
        st.admin_failures.failed(ADMIN);
        Admin::Refused
    }
}
