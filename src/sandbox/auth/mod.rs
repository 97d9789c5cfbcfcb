//! The sandbox authorisation server's domain: client registration (RFC 7591 subset), client
//! authentication (`client_secret_basic`, `client_secret_post`, `private_key_jwt`) and
//! client-credentials access tokens (self-contained HS256 JWTs, so validating one costs no
//! database read; the HMAC secret is persisted, so tokens outlive a restart). The mTLS methods
//! and certificate-bound tokens (RFC 8705) are in [`mtls`].

use std::sync::Arc;

use josekit::jws::HS256;
use josekit::jwt::{self, JwtPayload};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub mod basic;
pub mod mtls;

use crate::jose;
use crate::sandbox::config::parse_scopes;
use crate::sandbox::domain::{Client, ClientId, Timestamp, Tpp};
use crate::sandbox::limits::AuthFailures;
use crate::sandbox::state::AppState;
use crate::sandbox::store::StoreError;
use crate::sandbox::tls::ClientCert;

/// RFC 6749 §5.2 / RFC 7591 §3.2.2 error codes.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    /// Seconds to wait: the answer is 429 with `Retry-After`.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            error,
            description: description.into(),
            retry_after: None,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "authorisation server store error");
        OAuthError::new("server_error", "unexpected error")
    }
}

/// A successful registration: the secret is shown here once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub client: Client,
    pub client_secret: String,
    pub token_endpoint_auth_method: String,
}

/// How the client authenticated at the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientCredentials {
    Secret {
        client_id: ClientId,
        secret: String,
    },
    Assertion {
        client_id: Option<ClientId>,
        assertion: String,
    },
    /// `client_id` alone: the connection's certificate authenticates (RFC 8705 §2).
    Certificate {
        client_id: ClientId,
    },
}

impl ClientCredentials {
    /// The client id the request names (for an assertion without `client_id`, none).
    pub fn client_id(&self) -> Option<&ClientId> {
        match self {
            ClientCredentials::Secret { client_id, .. } => Some(client_id),
            ClientCredentials::Assertion { client_id, .. } => client_id.as_ref(),
            ClientCredentials::Certificate { client_id } => Some(client_id),
        }
    }
}

/// An issued access token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
}

pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random_token(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    jose::b64(&b)
}

/// Now in whole seconds, for the JWT claims (`iat`, `exp`) this module writes and checks.
fn now() -> i64 {
    Timestamp::now().as_secs()
}

/// RFC 7591 subset: `client_name`, `scope`, optional `jwks` (used to verify the client's
/// request signatures and `private_key_jwt` assertions). Unknown metadata is ignored.
pub async fn register(st: &AppState, body: &Value) -> Result<Registered, OAuthError> {
    let bad = |d: String| OAuthError::new("invalid_client_metadata", d);
    let obj = body
        .as_object()
        .ok_or_else(|| bad("the body must be a JSON object".into()))?;
    let client_name = match obj.get("client_name") {
        None => "unnamed client".to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => s.clone(),
        Some(_) => {
            return Err(bad(
                "client_name must be a non-empty string of at most 256 characters".into(),
            ));
        }
    };
    let scopes = registered_scopes(obj)?;
    let jwks = registered_jwks(obj)?;
    let auth_method = registered_auth_method(obj)?;
    if auth_method == "private_key_jwt" && jwks.is_none() {
        return Err(bad("private_key_jwt needs a jwks".into()));
    }
    let tls_subject_dn =
        mtls::registration(&auth_method, obj, jwks.as_deref(), st.cfg.tls.as_ref())?;
    let client_secret = random_token(24);
    let client = Client {
        client_id: ClientId::random(),
        secret_hash: hash_secret(&client_secret),
        client_name,
        scopes,
        seeded: false,
        jwks,
        created_at: Timestamp::now(),
        auth_method: auth_method.clone(),
        tls_subject_dn,
    };
    st.store.upsert_client(&client).await?;
    Ok(Registered {
        client,
        client_secret,
        token_endpoint_auth_method: auth_method,
    })
}

fn registered_scopes(obj: &serde_json::Map<String, Value>) -> Result<Vec<String>, OAuthError> {
    let bad = |d: String| OAuthError::new("invalid_client_metadata", d);
    Ok(match obj.get("scope") {
        None => crate::sandbox::config::DEFAULT_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        Some(Value::String(s)) => {
            let scopes = parse_scopes(s).map_err(bad)?;
            if scopes.is_empty() {
                return Err(bad("scope must name at least one scope".into()));
            }
            scopes
        }
        Some(_) => return Err(bad("scope must be a space-separated string".into())),
    })
}

fn registered_jwks(obj: &serde_json::Map<String, Value>) -> Result<Option<String>, OAuthError> {
    let bad = |d: String| OAuthError::new("invalid_client_metadata", d);
    Ok(match obj.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => {
            let text = v.to_string();
            jose::parse_client_jwks(text.as_bytes()).map_err(|e| bad(format!("jwks: {e}")))?;
            Some(text)
        }
        Some(_) => return Err(bad("jwks must be a JWKS object".into())),
    })
}

/// The registered `token_endpoint_auth_method`. The token endpoint accepts every secret and
/// assertion method from any client that has a secret or a jwks; the registered one is
/// validated and echoed (RFC 7591 §3.2.1), not enforced. A certificate method is enforced:
/// such a client gets no usable secret.
fn registered_auth_method(obj: &serde_json::Map<String, Value>) -> Result<String, OAuthError> {
    let bad = |d: String| OAuthError::new("invalid_client_metadata", d);
    Ok(match obj.get("token_endpoint_auth_method") {
        None => "client_secret_basic".to_string(),
        Some(Value::String(m))
            if [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                mtls::TLS_CLIENT_AUTH,
                mtls::SELF_SIGNED,
            ]
            .contains(&m.as_str()) =>
        {
            m.clone()
        }
        Some(m) => {
            return Err(bad(format!(
                "token_endpoint_auth_method {m} is not supported"
            )));
        }
    })
}

/// Authenticates a client at the token endpoint and issues a client-credentials token.
/// `scope` must be a subset of the client's scopes; absent means all of them. A token
/// asked for over a connection with a client certificate is bound to it (RFC 8705 §3).
pub async fn issue_token(
    st: &AppState,
    creds: ClientCredentials,
    scope: Option<&str>,
    cert: Option<&ClientCert>,
) -> Result<IssuedToken, OAuthError> {
    let client = authenticate(st, creds, cert).await?;
    let scopes = match scope {
        None => client.scopes.clone(),
        Some(s) => {
            let wanted: Vec<String> = s.split_whitespace().map(String::from).collect();
            if wanted.is_empty() {
                return Err(OAuthError::new("invalid_scope", "scope is empty"));
            }
            if let Some(extra) = wanted.iter().find(|w| !client.scopes.contains(w)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("scope {extra:?} is not registered for this client"),
                ));
            }
            wanted
        }
    };
    let ttl = st.cfg.token_ttl.as_secs();
    let mut payload = JwtPayload::new();
    let issued = now();
    payload.set_issuer(&st.issuer);
    payload.set_subject(client.client_id.as_str());
    payload.set_jwt_id(uuid::Uuid::new_v4().to_string());
    // NumericDate as whole seconds (RFC 7519 §2), no private duplicates of registered claims.
    // `exp` is rounded up, so a token lives at least `expires_in` seconds.
    let ttl_secs = i64::try_from(ttl).unwrap_or(i64::MAX / 2);
    let fraction = time::OffsetDateTime::now_utc().nanosecond() > 0;
    let exp = issued.saturating_add(ttl_secs) + i64::from(fraction);
    let _ = payload.set_claim("iat", Some(Value::from(issued)));
    let _ = payload.set_claim("exp", Some(Value::from(exp)));
    let _ = payload.set_claim("scope", Some(Value::String(scopes.join(" "))));
    if let Some(cert) = cert {
        let _ = payload.set_claim("cnf", Some(mtls::cnf_claim(cert)));
    }
    let signer = HS256
        .signer_from_bytes(&st.token_secret)
        .map_err(|e| OAuthError::new("server_error", e.to_string()))?;
    let header = josekit::jws::JwsHeader::new();
    let access_token = jwt::encode_with_signer(&payload, &header, &signer)
        .map_err(|e| OAuthError::new("server_error", e.to_string()))?;
    Ok(IssuedToken {
        access_token,
        expires_in: ttl,
        scope: scopes.join(" "),
    })
}

/// Client authentication with the lockout of `/token`: a locked client id is refused even
/// with the right secret (`temporarily_unavailable` with `retry_after`), and a failure counts
/// against its budget. The token endpoint and the portal's TPP sign-in both come through here,
/// so neither is a way around the other's lockout.
pub async fn authenticate(
    st: &AppState,
    creds: ClientCredentials,
    cert: Option<&ClientCert>,
) -> Result<Client, OAuthError> {
    let named = creds.client_id().cloned();
    if let Some(id) = &named
        && let Some(secs) = st.auth_failures.locked_for(id.as_str())
    {
        return Err(OAuthError {
            retry_after: Some(secs),
            ..OAuthError::new(
                "temporarily_unavailable",
                format!(
                    "too many failed authentications for this client id ({} in {} s); retry after {secs} s",
                    AuthFailures::LIMIT,
                    AuthFailures::WINDOW.as_secs()
                ),
            )
        });
    }
    match authenticate_client(st, creds, cert).await {
        Ok(c) => Ok(c),
        Err(e) => {
            if let (Some(id), "invalid_client") = (&named, e.error)
                && st.auth_failures.failed(id.as_str())
            {
                st.metrics.lockout("client");
            }
            Err(e)
        }
    }
}

async fn authenticate_client(
    st: &AppState,
    creds: ClientCredentials,
    cert: Option<&ClientCert>,
) -> Result<Client, OAuthError> {
    let invalid = || OAuthError::new("invalid_client", "client authentication failed");
    match creds {
        ClientCredentials::Certificate { client_id } => {
            let client = st.store.client(&client_id).await?.ok_or_else(invalid)?;
            mtls::authenticate(&client, cert)?;
            Ok(client)
        }
        ClientCredentials::Secret { client_id, secret } => {
            let client = st.store.client(&client_id).await?.ok_or_else(invalid)?;
            if client.secret_hash != hash_secret(&secret) {
                return Err(invalid());
            }
            Ok(client)
        }
        ClientCredentials::Assertion {
            client_id,
            assertion,
        } => assertion_client(st, client_id.as_ref().map(ClientId::as_str), &assertion).await,
    }
}

/// `private_key_jwt` (RFC 7523): iss = sub = client_id, aud names this AS, unexpired, signed
/// by a key in the client's registered JWKS.
async fn assertion_client(
    st: &AppState,
    client_id: Option<&str>,
    assertion: &str,
) -> Result<Client, OAuthError> {
    let invalid = || OAuthError::new("invalid_client", "client authentication failed");
    let decoded = jose::decode_compact(assertion)
        .map_err(|e| OAuthError::new("invalid_client", format!("client_assertion: {e}")))?;
    let claims = decoded
        .payload_json()
        .map_err(|e| OAuthError::new("invalid_client", format!("client_assertion: {e}")))?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    if claims.get("sub").and_then(Value::as_str) != Some(iss) {
        return Err(OAuthError::new(
            "invalid_client",
            "client_assertion: sub must equal iss",
        ));
    }
    if client_id.is_some_and(|c| c != iss) {
        return Err(OAuthError::new(
            "invalid_client",
            "client_assertion: iss differs from client_id",
        ));
    }
    let client = st
        .store
        .client(&ClientId::from(iss))
        .await?
        .ok_or_else(invalid)?;
    let jwks_text = client
        .jwks
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_client", "the client registered no jwks"))?;
    let jwks = jose::parse_jwks(jwks_text.as_bytes()).map_err(|_| invalid())?;
    jose::verify(&decoded, &jwks)
        .map_err(|e| OAuthError::new("invalid_client", format!("client_assertion: {e}")))?;
    let token_endpoint = format!("{}/token", st.base_url);
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == &token_endpoint || a == &st.issuer,
        Some(Value::Array(a)) => a.iter().any(|v| {
            v.as_str()
                .is_some_and(|s| s == token_endpoint || s == st.issuer)
        }),
        _ => false,
    };
    if !aud_ok {
        return Err(OAuthError::new(
            "invalid_client",
            "client_assertion: aud must name the token endpoint",
        ));
    }
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp > now() => {}
        _ => {
            return Err(OAuthError::new(
                "invalid_client",
                "client_assertion: expired or no exp",
            ));
        }
    }
    Ok(client)
}

/// The TPP a bearer token stands for, if it is ours, unexpired, its client still exists
/// (a `[[clients]]` entry removed from the config stops working after a restart), and,
/// for a certificate-bound token, `cert` is the certificate it is bound to.
/// Verified tokens are remembered until they expire, so a busy TPP's requests skip the
/// HMAC and JSON work (the poll path is the hot path, DESIGN.md §6); the cache holds the
/// binding with the token, and the binding is checked on every call, cached or not.
pub async fn validate_token(
    st: &AppState,
    token: &str,
    cert: Option<&ClientCert>,
) -> Result<Result<Arc<Tpp>, TokenRefused>, StoreError> {
    let tpp = match st.tokens.get(token) {
        Some(tpp) => tpp,
        None => {
            let Some((tpp, exp)) = verify_token(st, token) else {
                return Ok(Err(TokenRefused::Invalid));
            };
            let tpp = Arc::new(tpp);
            if st.store.client(&tpp.client_id).await?.is_none() {
                return Ok(Err(TokenRefused::Invalid));
            }
            st.tokens.put(token, tpp.clone(), exp);
            tpp
        }
    };
    Ok(match mtls::binding_problem(tpp.cnf.as_deref(), cert) {
        None => Ok(tpp),
        Some(why) => Err(TokenRefused::Unbound(why)),
    })
}

/// Why a presented access token is not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefused {
    /// Not one of ours, expired, or its client is gone: nothing more is said.
    Invalid,
    /// Valid, but bound to a certificate this connection did not present (RFC 8705 §3).
    Unbound(&'static str),
}

fn verify_token(st: &AppState, token: &str) -> Option<(Tpp, std::time::SystemTime)> {
    let verifier = HS256.verifier_from_bytes(&st.token_secret).ok()?;
    let (payload, _) = jwt::decode_with_verifier(token, &verifier).ok()?;
    let exp = payload.expires_at()?;
    if exp <= std::time::SystemTime::now() {
        return None;
    }
    // No issuer check: the HMAC secret already proves the token is ours, and the issuer
    // follows the bound address, which may change between restarts (port 0).
    let client_id = ClientId::from(payload.subject()?);
    let scopes = payload
        .claim("scope")
        .and_then(Value::as_str)
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let cnf = mtls::bound_thumbprint(&payload);
    Some((
        Tpp {
            client_id,
            scopes,
            cnf,
        },
        exp,
    ))
}
