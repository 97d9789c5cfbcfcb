//! Where the TPP clients come from: two fixed `[[tpp]]` (client credentials with a secret or a
//! private key, a static bearer token, or no token at all), or a `[registration]` endpoint that
//! gives every scenario fresh clients.

use std::path::Path;

use super::{
    ClientAuth, Clients, ProfileError, Registration, RegistrationFile, TppConfig, TppFile,
    absolute_url, err, one_of, read,
};
use crate::model::bank::SpecVersion;

/// The `token_endpoint_auth_method` registered clients use (`registration.auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationAuth {
    SecretBasic,
    SecretPost,
    /// RFC 8705 §2.1: the profile's CA-issued client certificate, registered by subject DN.
    TlsClientAuth,
    /// RFC 8705 §2.2: the profile's client certificate, registered in the client's `jwks`.
    SelfSignedTlsClientAuth,
}

impl RegistrationAuth {
    pub fn name(self) -> &'static str {
        match self {
            RegistrationAuth::SecretBasic => "client_secret_basic",
            RegistrationAuth::SecretPost => "client_secret_post",
            RegistrationAuth::TlsClientAuth => "tls_client_auth",
            RegistrationAuth::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    /// The client certificate of `[target]` authenticates the client.
    pub fn uses_certificate(self) -> bool {
        matches!(
            self,
            RegistrationAuth::TlsClientAuth | RegistrationAuth::SelfSignedTlsClientAuth
        )
    }
}

/// Validates `[registration]` or the `[[tpp]]` tables (files relative to `dir`).
pub(super) fn clients(
    registration: Option<RegistrationFile>,
    tpps_file: Vec<TppFile>,
    dir: &Path,
    base_url: &str,
    spec_version: SpecVersion,
) -> Result<Clients, ProfileError> {
    match (registration, tpps_file.is_empty()) {
        (Some(_), false) => err(
            "registration",
            "give either registration or two [[tpp]] tables, not both",
        ),
        (Some(r), true) => registration_of(r, base_url).map(Clients::Register),
        (None, true) => err(
            "tpp",
            "two [[tpp]] tables are needed (isolation tests use both), or a [registration] table",
        ),
        (None, false) => fixed(tpps_file, dir, spec_version).map(Clients::Fixed),
    }
}

/// `[registration]`: every scenario registers fresh clients.
fn registration_of(r: RegistrationFile, base_url: &str) -> Result<Registration, ProfileError> {
    let auth = one_of(
        "registration.auth_method",
        r.auth_method.as_deref(),
        RegistrationAuth::SecretBasic,
        &[
            ("client_secret_basic", RegistrationAuth::SecretBasic),
            ("client_secret_post", RegistrationAuth::SecretPost),
            ("tls_client_auth", RegistrationAuth::TlsClientAuth),
            (
                "self_signed_tls_client_auth",
                RegistrationAuth::SelfSignedTlsClientAuth,
            ),
        ],
    )?;
    Ok(Registration {
        endpoint: absolute_url("registration.endpoint", base_url, &r.endpoint)?,
        scope: r
            .scope
            .unwrap_or_else(|| "accounts payments fundsconfirmations eventpolling".into()),
        restricted_scope: r.restricted_scope,
        auth,
    })
}

/// The two fixed `[[tpp]]` clients, which must be different clients.
fn fixed(
    tpps_file: Vec<TppFile>,
    dir: &Path,
    spec_version: SpecVersion,
) -> Result<Vec<TppConfig>, ProfileError> {
    if tpps_file.len() != 2 {
        return err(
            "tpp",
            format!(
                "exactly two [[tpp]] tables are needed, found {}",
                tpps_file.len()
            ),
        );
    }
    let default_scope = match spec_version {
        SpecVersion::V3_1_2 => "eventpolling",
        SpecVersion::V3_1_11 => "accounts",
    };
    let mut tpps = Vec::new();
    for (i, tpp) in tpps_file.into_iter().enumerate() {
        let field = |n: &str| format!("tpp[{i}].{n}");
        if tpp.client_id.trim().is_empty() {
            return err(&field("client_id"), "must not be empty");
        }
        let auth = tpp_auth(&tpp, &field, dir)?;
        tpps.push(TppConfig {
            name: tpp.name.unwrap_or_else(|| ["A", "B"][i].to_string()),
            aud: tpp.aud.unwrap_or_else(|| tpp.client_id.clone()),
            client_id: tpp.client_id,
            auth,
            events_scope: tpp.events_scope.unwrap_or_else(|| "accounts".into()),
            polling_scope: tpp.polling_scope.unwrap_or_else(|| default_scope.into()),
            restricted_scope: tpp.restricted_scope,
            restricted_client: None,
        });
    }
    if tpps[0].client_id == tpps[1].client_id && tpps[0].auth == tpps[1].auth {
        return err("tpp[1].client_id", "the two TPPs must be different clients");
    }
    Ok(tpps)
}

/// How a fixed TPP authenticates (`field` names its fields in errors).
fn tpp_auth(
    tpp: &TppFile,
    field: &dyn Fn(&str) -> String,
    dir: &Path,
) -> Result<ClientAuth, ProfileError> {
    let method = tpp.auth_method.as_deref().unwrap_or("client_secret_basic");
    Ok(match method {
        "bearer" => match tpp.access_token.clone() {
            Some(t) if !t.trim().is_empty() => ClientAuth::Bearer(t),
            _ => return err(&field("access_token"), "is needed for bearer"),
        },
        "none" => ClientAuth::None,
        "tls_client_auth" => ClientAuth::TlsClientAuth,
        "client_secret_basic" | "client_secret_post" => {
            let Some(secret) = tpp.client_secret.clone() else {
                return err(&field("client_secret"), format!("is needed for {method}"));
            };
            if method == "client_secret_basic" {
                ClientAuth::SecretBasic(secret)
            } else {
                ClientAuth::SecretPost(secret)
            }
        }
        "private_key_jwt" => {
            let Some(p) = &tpp.private_key else {
                return err(&field("private_key"), "is needed for private_key_jwt");
            };
            let pem = String::from_utf8(read(dir, &field("private_key"), p)?)
                .or_else(|_| err(&field("private_key"), "is not PEM text"))?;
            crate::jose::SigningKey::from_pem(&pem).or_else(|e| err(&field("private_key"), e))?;
            let Some(key_id) = tpp.key_id.clone() else {
                return err(&field("key_id"), "is needed for private_key_jwt");
            };
            ClientAuth::PrivateKeyJwt { pem, key_id }
        }
        other => {
            return err(
                &field("auth_method"),
                format!(
                    "{other:?} is not one of client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth, bearer, none"
                ),
            );
        }
    })
}
