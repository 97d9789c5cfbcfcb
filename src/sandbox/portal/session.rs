//! Who is signed in to the portal: the session cookie, its CSRF token, and the extractors that
//! read them ([`Viewer`] on every page, [`Posted`] on every state change).
//!
//! **Sessions are signed, stateless cookies.** The cookie is a compact HS256 JWT (who, role,
//! CSRF token, expiry) under a key derived from the sandbox's persisted token secret, so any
//! replica sharing the database accepts a session another replica issued, with no session
//! table to write on every sign-in and no sticky load balancing. The key is derived (SHA-256 of
//! a label and the secret) rather than the token secret itself, so a session cookie is never a
//! valid bearer token nor the reverse. The price of statelessness: signing out deletes the
//! cookie in the browser but cannot revoke a copy of it before it expires
//! ([`SESSION_TTL`]); a TPP session also ends at once when its client is removed, since every
//! request looks the client up.
//!
//! **CSRF**: each session carries a random token, put in a hidden field of every form; a POST
//! whose field does not match its session's token is refused before anything is done (and the
//! cookie is `SameSite=Strict` besides). The sign-in form, which has no session yet, is
//! protected the same way by a short-lived pre-session cookie holding the token, signed like a
//! session so that only a pair the portal issued passes.

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use josekit::jws::HS256;
use josekit::jwt::{self, JwtPayload};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::page::PortalError;
use crate::sandbox::domain::{ClientId, Timestamp};
use crate::sandbox::state::AppState;

/// How long a session lasts after sign-in (not extended by use).
pub const SESSION_TTL: Duration = Duration::from_secs(3600);
/// The session cookie.
pub const COOKIE: &str = "obevents_portal";
/// The sign-in form's pre-session cookie (its CSRF token).
pub const PRE_COOKIE: &str = "obevents_portal_signin";
/// Largest form body the portal reads.
const FORM_LIMIT: usize = 64 * 1024;

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A TPP, signed in with its client id and secret: sees only itself.
    Tpp(ClientId),
    /// The operator, signed in with the admin credential: sees every TPP.
    Operator(String),
}

/// A valid session: who, its CSRF token and when it ends.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub role: Role,
    pub csrf: String,
    pub expires: Timestamp,
}

impl Viewer {
    /// The client id `requested` if this viewer may see it: a TPP only itself, the operator any
    /// existing TPP. Anything else is the same "no such page" answer, so a TPP learns nothing
    /// about other client ids by editing the URL.
    pub async fn may_see(&self, st: &AppState, requested: &str) -> Result<ClientId, PortalError> {
        if let Role::Tpp(own) = &self.role
            && own.as_str() != requested
        {
            return Err(PortalError::NotFound);
        }
        let id = ClientId::from(requested);
        match st.store.client(&id).await? {
            Some(_) => Ok(id),
            None => Err(PortalError::NotFound),
        }
    }

    pub fn is_operator(&self) -> bool {
        matches!(self.role, Role::Operator(_))
    }

    /// Who is signed in, as the header shows it.
    pub fn label(&self) -> String {
        match &self.role {
            Role::Tpp(id) => format!("TPP {id}"),
            Role::Operator(user) => format!("operator: {user}"),
        }
    }

    /// Where this viewer starts: its own overview, or the operator's TPP list.
    pub fn home(&self) -> String {
        match &self.role {
            Role::Tpp(id) => super::page::tpp_path(id, ""),
            Role::Operator(_) => "/portal/tpps".into(),
        }
    }
}

/// A fresh random token (CSRF tokens), 32 bytes base64url.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    crate::jose::b64(&b)
}

/// The session key: derived from the persisted token secret, shared by every replica.
fn key(st: &AppState) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"obevents portal session v1\0");
    h.update(&st.token_secret);
    h.finalize().to_vec()
}

/// The signed cookie value of a new session for `role`.
pub fn issue(st: &AppState, role: &Role) -> Result<(String, Viewer), PortalError> {
    let now = Timestamp::now();
    let expires = now.saturating_add(SESSION_TTL);
    let csrf = random_token();
    let mut p = JwtPayload::new();
    let (kind, sub) = match role {
        Role::Tpp(id) => ("tpp", id.as_str()),
        Role::Operator(user) => ("operator", user.as_str()),
    };
    p.set_subject(sub);
    let _ = p.set_claim("role", Some(Value::from(kind)));
    let _ = p.set_claim("csrf", Some(Value::from(csrf.clone())));
    let _ = p.set_claim("exp", Some(Value::from(expires.as_secs())));
    let value = signed(st, &p, "a session")?;
    let viewer = Viewer {
        role: role.clone(),
        csrf,
        expires: Timestamp::from_secs(expires.as_secs()),
    };
    Ok((value, viewer))
}

/// A sign-in form's token and its pre-session cookie value. The cookie is the token signed
/// with the session key (and a purpose, so it is never a session), expiring after `ttl`: a
/// sign-in is accepted only with a pair this portal issued, not with any cookie and field
/// that merely agree (an empty pair included).
pub fn issue_sign_in(st: &AppState, ttl: Duration) -> Result<(String, String), PortalError> {
    let csrf = random_token();
    let mut p = JwtPayload::new();
    let _ = p.set_claim("use", Some(Value::from(SIGN_IN_USE)));
    let _ = p.set_claim("csrf", Some(Value::from(csrf.clone())));
    let expires = Timestamp::now().saturating_add(ttl);
    let _ = p.set_claim("exp", Some(Value::from(expires.as_secs())));
    Ok((csrf, signed(st, &p, "a sign-in token")?))
}

/// `payload` as a compact HS256 JWT under the session key (`what` names it in errors).
fn signed(st: &AppState, payload: &JwtPayload, what: &str) -> Result<String, PortalError> {
    let signer = HS256
        .signer_from_bytes(key(st))
        .map_err(|e| PortalError::Internal(format!("session key: {e}")))?;
    jwt::encode_with_signer(payload, &josekit::jws::JwsHeader::new(), &signer)
        .map_err(|e| PortalError::Internal(format!("signing {what}: {e}")))
}

/// The token a pre-session cookie value carries, if this portal issued it and it is unexpired.
pub fn sign_in_token(st: &AppState, value: &str) -> Option<String> {
    let verifier = HS256.verifier_from_bytes(key(st)).ok()?;
    let (p, _) = jwt::decode_with_verifier(value, &verifier).ok()?;
    if p.claim("use").and_then(Value::as_str) != Some(SIGN_IN_USE) {
        return None;
    }
    let exp = p.claim("exp").and_then(Value::as_i64)?;
    if exp <= Timestamp::now().as_secs() {
        return None;
    }
    let csrf = p.claim("csrf").and_then(Value::as_str)?;
    (!csrf.is_empty()).then(|| csrf.to_string())
}

/// The `use` claim of a sign-in form's pre-session cookie.
const SIGN_IN_USE: &str = "sign-in";

/// The session a cookie value stands for, if it is ours and unexpired.
fn verify(st: &AppState, value: &str) -> Option<Viewer> {
    let verifier = HS256.verifier_from_bytes(key(st)).ok()?;
    let (p, _) = jwt::decode_with_verifier(value, &verifier).ok()?;
    let exp = p.claim("exp").and_then(Value::as_i64)?;
    if exp <= Timestamp::now().as_secs() {
        return None;
    }
    let sub = p.subject()?;
    let role = match p.claim("role").and_then(Value::as_str)? {
        "tpp" => Role::Tpp(ClientId::from(sub)),
        "operator" => Role::Operator(sub.to_string()),
        _ => return None,
    };
    Some(Viewer {
        role,
        csrf: p.claim("csrf").and_then(Value::as_str)?.to_string(),
        expires: Timestamp::from_secs(exp),
    })
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/portal, Secure under TLS; `max_age`
/// 0 deletes it.
pub fn set_cookie(st: &AppState, name: &str, value: &str, max_age: Duration) -> HeaderValue {
    let secure = if st.cfg.tls.is_some() { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/portal; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Equal in constant time (CSRF tokens).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PortalError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, PortalError> {
        let viewer = cookie(&parts.headers, COOKIE)
            .and_then(|v| verify(st, v))
            .ok_or(PortalError::SignIn)?;
        // A TPP removed since sign-in (a `[[clients]]` entry taken out) is signed out.
        if let Role::Tpp(id) = &viewer.role
            && st.store.client(id).await?.is_none()
        {
            return Err(PortalError::SignIn);
        }
        Ok(viewer)
    }
}

/// The fields of a form as posted (`application/x-www-form-urlencoded`), in order.
pub async fn form_fields(req: Request) -> Result<Vec<(String, String)>, PortalError> {
    let bytes = axum::body::to_bytes(req.into_body(), FORM_LIMIT)
        .await
        .map_err(|_| PortalError::BadRequest("the form is too large or was cut short".into()))?;
    Ok(url::form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// A state change from a signed-in viewer: the session, and the form `T` whose `csrf` field
/// matched the session's token. Every portal POST but sign-in takes one, so none can be made
/// without the token.
pub struct Posted<T> {
    pub viewer: Viewer,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = PortalError;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, PortalError> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, st).await?;
        let fields = form_fields(Request::from_parts(parts, body)).await?;
        let given = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        if !same(given, &viewer.csrf) {
            return Err(PortalError::Csrf);
        }
        let map: serde_json::Map<String, Value> = fields
            .into_iter()
            .filter(|(k, _)| k != "csrf")
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let form = serde_json::from_value(Value::Object(map))
            .map_err(|e| PortalError::BadRequest(format!("the form is incomplete: {e}")))?;
        Ok(Posted { viewer, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; obevents_portal=xyz"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
