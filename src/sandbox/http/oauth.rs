//! The sandbox authorisation server's endpoints: discovery, JWKS, dynamic registration (RFC 7591
//! subset) and the token endpoint (RFC 6749 client credentials, errors per §5.2), with the
//! RFC 8705 mTLS methods and metadata when the sandbox asks for client certificates.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::error::{clip, json_response};
use super::openapi::ops;
use super::routes::Routes;
use super::routes::Verb::{Get, Post};
use crate::jose;
use crate::sandbox::auth::{self, mtls};
use crate::sandbox::auth::{ClientCredentials, OAuthError};
use crate::sandbox::config::SCOPES;
use crate::sandbox::domain::ClientId;
use crate::sandbox::state::AppState;
use crate::sandbox::tls::PeerCert;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Get,
            "/.well-known/openid-configuration",
            &ops::DISCOVERY,
            discovery,
        )
        .add(Get, "/jwks", &ops::JWKS, jwks)
        .add(Post, "/register", &ops::REGISTER, register)
        .add(Post, "/token", &ops::TOKEN, token)
        .refuse_with(&["/token", "/register"], refusal)
}

/// A wrong method or an unknown path under the authorisation server's endpoints: its OAuth
/// JSON error, like every other error there, with the router's status.
fn refusal(
    _: &HeaderMap,
    _: &super::InteractionId,
    status: StatusCode,
    message: String,
) -> Response {
    let mut resp = oauth_error(OAuthError::new("invalid_request", message));
    *resp.status_mut() = status;
    resp
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// RFC 6749 §5.2: JSON error, `no-store`, and for `invalid_client` a 401 with a challenge.
fn oauth_error(e: OAuthError) -> Response {
    let status = match e.error {
        _ if e.retry_after.is_some() => StatusCode::TOO_MANY_REQUESTS,
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        "access_denied" => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut resp = json_response(
        status,
        &json!({ "error": e.error, "error_description": clip(e.description) }),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="obevents""#),
        );
    }
    resp
}

/// Does the request's `Content-Type` have the media type `essence` (parameters allowed)?
fn content_type_is(headers: &HeaderMap, essence: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(essence))
}

async fn discovery(State(s): State<AppState>) -> Response {
    let token_endpoint = format!("{}/token", s.base_url);
    let mut methods = vec![
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let mtls = s.cfg.tls.as_ref().filter(|t| t.mtls());
    methods.extend(mtls.map(|t| t.auth_methods()).unwrap_or_default());
    let mut doc = json!({
        "issuer": s.issuer,
        "token_endpoint": token_endpoint,
        "registration_endpoint": format!("{}/register", s.base_url),
        "jwks_uri": format!("{}/jwks", s.base_url),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": ["PS256", "RS256", "ES256"],
        "scopes_supported": SCOPES,
        "response_types_supported": ["token"],
    });
    if mtls.is_some() {
        // RFC 8705 §3.3, §5: tokens asked for with a certificate are bound to it; every
        // endpoint accepts mTLS on the one listener, so the alias is the endpoint itself.
        doc["tls_client_certificate_bound_access_tokens"] = json!(true);
        doc["mtls_endpoint_aliases"] = json!({ "token_endpoint": token_endpoint });
    }
    json_response(StatusCode::OK, &doc)
}

async fn jwks(State(s): State<AppState>) -> Response {
    let published = s
        .published_keys
        .read()
        .map(|k| k.clone())
        .unwrap_or_default();
    let mut keys = vec![s.key.public_jwk()];
    keys.extend(published.iter());
    json_response(StatusCode::OK, &jose::jwks_json(&keys))
}

/// The OAuth JSON error for a body that could not be read (too large, bad chunking, cut
/// short), with the rejection's status — never a plain-text rejection.
fn body_error(rejection: BytesRejection, error: &'static str) -> Response {
    let mut resp = oauth_error(OAuthError::new(
        error,
        format!(
            "the request body could not be read: {}",
            rejection.body_text()
        ),
    ));
    *resp.status_mut() = rejection.status();
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body is not read, so the connection cannot be reused.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

async fn register(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_error(rejection, "invalid_client_metadata"),
    };
    if !s.cfg.open_registration {
        return oauth_error(OAuthError::new(
            "access_denied",
            "dynamic registration is disabled on this sandbox",
        ));
    }
    if !content_type_is(&headers, "application/json") {
        return oauth_error(OAuthError::new(
            "invalid_client_metadata",
            "send the metadata as application/json",
        ));
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return oauth_error(OAuthError::new(
                "invalid_client_metadata",
                format!("the body is not JSON: {e}"),
            ));
        }
    };
    match auth::register(&s, &value).await {
        Ok(r) => {
            let mut out = json!({
                "client_id": r.client.client_id,
                "client_secret": r.client_secret,
                "client_id_issued_at": r.client.created_at.as_secs(),
                "client_secret_expires_at": 0,
                "client_name": r.client.client_name,
                "scope": r.client.scopes.join(" "),
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": r.token_endpoint_auth_method,
            });
            if mtls::is_mtls_method(&r.token_endpoint_auth_method) {
                // The certificate authenticates this client: it gets no secret (RFC 7591 §3.2.1).
                if let Some(o) = out.as_object_mut() {
                    o.remove("client_secret");
                    o.remove("client_secret_expires_at");
                }
                out["tls_client_certificate_bound_access_tokens"] = json!(true);
            }
            if let Some(dn) = &r.client.tls_subject_dn {
                out["tls_client_auth_subject_dn"] = json!(dn);
            }
            if let Some(j) = r
                .client
                .jwks
                .as_deref()
                .and_then(|j| serde_json::from_str::<Value>(j).ok())
            {
                out["jwks"] = j;
            }
            json_response(StatusCode::CREATED, &out)
        }
        Err(e) => oauth_error(e),
    }
}

async fn token(
    State(s): State<AppState>,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_error(rejection, "invalid_request"),
    };
    let (creds, scope) = match token_request(&headers, &body) {
        Ok(r) => r,
        Err(e) => return oauth_error(e),
    };
    match auth::issue_token(&s, creds, scope.as_deref(), cert.as_deref()).await {
        Ok(t) => {
            let mut resp = json_response(
                StatusCode::OK,
                &json!({ "access_token": t.access_token, "token_type": "Bearer", "expires_in": t.expires_in, "scope": t.scope }),
            );
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => oauth_error(e),
    }
}

/// A token request parsed at the edge: how the client authenticates and the scope it asks
/// for, once the form and the grant type are valid (RFC 6749 §4.4, §5.2).
fn token_request(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ClientCredentials, Option<String>), OAuthError> {
    if !content_type_is(headers, "application/x-www-form-urlencoded") {
        return Err(OAuthError::new(
            "invalid_request",
            "send the request as application/x-www-form-urlencoded",
        ));
    }
    let mut form = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if form.insert(k.to_string(), v.to_string()).is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("parameter {k} appears more than once"),
            ));
        }
    }
    let creds = client_credentials(headers, &form)?;
    match form.get("grant_type").map(String::as_str) {
        None => return Err(OAuthError::new("invalid_request", "grant_type is required")),
        Some("client_credentials") => {}
        // This sandbox never issues codes or refresh tokens, so any presented one is invalid.
        Some("authorization_code") | Some("refresh_token") => {
            return Err(OAuthError::new(
                "invalid_grant",
                "this sandbox issues no authorisation codes or refresh tokens",
            ));
        }
        Some(other) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type {other} is not supported"),
            ));
        }
    }
    Ok((creds, form.get("scope").cloned()))
}

/// Exactly one client authentication method: Basic, `client_secret` in the form, a
/// `private_key_jwt` assertion, or (RFC 8705 §2) `client_id` alone over mutual TLS.
fn client_credentials(
    headers: &HeaderMap,
    form: &std::collections::HashMap<String, String>,
) -> Result<ClientCredentials, OAuthError> {
    let basic = auth::basic::credentials(headers);
    let post = form
        .get("client_secret")
        .map(|secret| (form.get("client_id").cloned(), secret.clone()));
    let assertion = form.get("client_assertion").cloned();
    let methods = [basic.is_some(), post.is_some(), assertion.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if methods > 1 {
        return Err(OAuthError::new(
            "invalid_request",
            "use exactly one client authentication method",
        ));
    }
    match (basic, post, assertion) {
        (Some(Ok((client_id, secret))), _, _) => Ok(ClientCredentials::Secret {
            client_id: client_id.into(),
            secret,
        }),
        (Some(Err(e)), _, _) => Err(e),
        (_, Some((Some(client_id), secret)), _) => Ok(ClientCredentials::Secret {
            client_id: client_id.into(),
            secret,
        }),
        (_, Some((None, _)), _) => Err(OAuthError::new(
            "invalid_request",
            "client_secret without client_id",
        )),
        (_, _, Some(assertion)) => {
            if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
                return Err(OAuthError::new(
                    "invalid_request",
                    format!("client_assertion_type must be {JWT_BEARER}"),
                ));
            }
            Ok(ClientCredentials::Assertion {
                client_id: form.get("client_id").map(|id| ClientId::from(id.as_str())),
                assertion,
            })
        }
        (None, None, None) => match form.get("client_id") {
            Some(client_id) => Ok(ClientCredentials::Certificate {
                client_id: ClientId::from(client_id.as_str()),
            }),
            None => Err(OAuthError::new(
                "invalid_client",
                "no client authentication was given",
            )),
        },
    }
}
