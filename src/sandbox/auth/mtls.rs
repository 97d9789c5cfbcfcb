//! RFC 8705 on the sandbox authorisation server: which mTLS client authentication a client
//! registers (`tls_client_auth` by subject DN, `self_signed_tls_client_auth` by a certificate
//! in its JWKS), authenticating it at `/token` by the certificate of the connection, and
//! certificate-bound access tokens (`cnf.x5t#S256`, §3) and their check on every API call.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::OAuthError;
use crate::sandbox::domain::Client;
use crate::sandbox::tls::{ClientCert, TlsConfig};

pub const TLS_CLIENT_AUTH: &str = "tls_client_auth";
pub const SELF_SIGNED: &str = "self_signed_tls_client_auth";

/// Is `method` one of the two certificate methods?
pub fn is_mtls_method(method: &str) -> bool {
    method == TLS_CLIENT_AUTH || method == SELF_SIGNED
}

/// The subject DN a `tls_client_auth` registration names, checked against what the sandbox
/// can do: `None` for other methods. `jwks` is the registered JWKS text, if any.
pub fn registration(
    method: &str,
    meta: &Map<String, Value>,
    jwks: Option<&str>,
    tls: Option<&TlsConfig>,
) -> Result<Option<String>, OAuthError> {
    let bad = |d: &str| OAuthError::new("invalid_client_metadata", d);
    if !is_mtls_method(method) {
        return Ok(None);
    }
    if tls.is_none_or(|t| !t.auth_methods().contains(&method)) {
        return Err(bad(&format!(
            "token_endpoint_auth_method {method} needs a sandbox that asks for client certificates{}",
            if method == TLS_CLIENT_AUTH {
                " and has a client CA (--client-ca)"
            } else {
                " and accepts self-signed ones"
            }
        )));
    }
    if method == SELF_SIGNED {
        return match jwks.map(registered_certificates) {
            Some(certs) if !certs.is_empty() => Ok(None),
            _ => Err(bad(
                "self_signed_tls_client_auth needs a jwks with the client certificate in a key's x5c",
            )),
        };
    }
    for other in [
        "tls_client_auth_san_dns",
        "tls_client_auth_san_uri",
        "tls_client_auth_san_ip",
        "tls_client_auth_san_email",
    ] {
        if meta.contains_key(other) {
            return Err(bad(&format!(
                "{other} is not supported: register tls_client_auth_subject_dn"
            )));
        }
    }
    match meta.get("tls_client_auth_subject_dn") {
        Some(Value::String(dn)) if crate::sandbox::tls::cert::parse_dn(dn).is_some() => {
            Ok(Some(dn.clone()))
        }
        Some(_) => Err(bad(
            "tls_client_auth_subject_dn must be an RFC 4514 distinguished name such as CN=tpp,O=Acme,C=GB",
        )),
        None => Err(bad("tls_client_auth needs tls_client_auth_subject_dn")),
    }
}

/// The DER certificates of the `x5c` members (first of each chain) of a JWKS text.
fn registered_certificates(jwks: &str) -> Vec<Vec<u8>> {
    let Ok(v) = serde_json::from_str::<Value>(jwks) else {
        return Vec::new();
    };
    v["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["x5c"].get(0)?.as_str())
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect()
}

/// RFC 8705 §2: does the connection's certificate authenticate `client`?
pub fn authenticate(client: &Client, cert: Option<&ClientCert>) -> Result<(), OAuthError> {
    let fail = |d: &str| OAuthError::new("invalid_client", d);
    let Some(cert) = cert else {
        return Err(fail(
            "no client certificate was presented on this connection (client_id alone needs mutual TLS)",
        ));
    };
    match client.auth_method.as_str() {
        TLS_CLIENT_AUTH => {
            let dn = client.tls_subject_dn.as_deref().unwrap_or_default();
            if !cert.ca_verified {
                Err(fail(
                    "the client certificate is not issued by the sandbox's client CA",
                ))
            } else if !cert.subject_matches(dn) {
                Err(fail(
                    "the client certificate's subject does not match the registered tls_client_auth_subject_dn",
                ))
            } else {
                Ok(())
            }
        }
        SELF_SIGNED => {
            let known = client
                .jwks
                .as_deref()
                .map(registered_certificates)
                .unwrap_or_default();
            if known.contains(&cert.der) {
                Ok(())
            } else {
                Err(fail(
                    "the client certificate is not one registered in the client's jwks (x5c)",
                ))
            }
        }
        _ => Err(fail(
            "this client is not registered for tls_client_auth or self_signed_tls_client_auth",
        )),
    }
}

/// The `cnf` claim binding a token to `cert` (RFC 8705 §3.1).
pub fn cnf_claim(cert: &ClientCert) -> Value {
    json!({ "x5t#S256": cert.thumbprint })
}

/// The thumbprint a token's claims bind it to, if any.
pub fn bound_thumbprint(payload: &josekit::jwt::JwtPayload) -> Option<String> {
    payload
        .claim("cnf")
        .and_then(|c| c.get("x5t#S256"))
        .and_then(Value::as_str)
        .map(String::from)
}

/// RFC 8705 §3: a bound token is honoured only on a connection with that very certificate.
pub fn binding_holds(bound: Option<&str>, cert: Option<&ClientCert>) -> bool {
    binding_problem(bound, cert).is_none()
}

/// Why a token bound to `bound` is not honoured on a connection presenting `cert`, in words
/// for the 401's `error_description` (the token itself is valid, so the caller needs to know
/// it is the connection that is wrong); `None` when the binding holds.
pub fn binding_problem(bound: Option<&str>, cert: Option<&ClientCert>) -> Option<&'static str> {
    match (bound, cert) {
        (None, _) => None,
        (Some(t), Some(c)) if c.thumbprint == t => None,
        (Some(_), None) => Some(
            "the access token is bound to a client certificate (cnf x5t#S256) and this connection presented none",
        ),
        (Some(_), Some(_)) => Some(
            "the access token is bound to a different client certificate (cnf x5t#S256) than this connection's",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbound_tokens_need_no_certificate_and_bound_ones_need_theirs() {
        let a = ClientCert::new(vec![1, 2, 3], false);
        let b = ClientCert::new(vec![4, 5, 6], false);
        assert!(binding_holds(None, None));
        assert!(binding_holds(None, Some(&a)));
        assert!(binding_holds(Some(&a.thumbprint), Some(&a)));
        assert!(!binding_holds(Some(&a.thumbprint), None));
        assert!(!binding_holds(Some(&a.thumbprint), Some(&b)));
    }
}
