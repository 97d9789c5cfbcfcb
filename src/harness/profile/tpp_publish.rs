//! A TPP profile's `[publish]` section: the hosted sandbox a TPP run's summary is sent to when
//! the run ends (`PUT /sandbox/referee-run`), so the sandbox portal's Referee page shows the
//! TPP's verdicts; with the TPP's client at that sandbox and, for a sandbox under a private CA
//! or asking for mutual TLS, the certificates to reach it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ProfileError, err, tls_pems};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishFile {
    url: String,
    client_id: String,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    ca_cert: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

/// Where and as whom a TPP run's summary is published.
#[derive(Debug, Clone)]
pub struct PublishSettings {
    /// The sandbox's base URL (its `/token` and `/sandbox/referee-run` are under it).
    pub url: url::Url,
    pub client_id: String,
    pub client_secret: String,
    /// Extra CA certificates (PEM) the sandbox's server certificate is checked against.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key (PEM, concatenated) for a sandbox that asks for mutual TLS.
    pub identity_pem: Option<Vec<u8>>,
}

pub(super) fn publish(p: PublishFile, dir: &Path) -> Result<PublishSettings, ProfileError> {
    let url = url::Url::parse(&p.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            ProfileError(format!(
                "field publish.url: {:?} is not an http(s) URL",
                p.url
            ))
        })?;
    if p.client_id.trim().is_empty() {
        return err("publish.client_id", "must not be empty");
    }
    // The secret may stay out of the file (a CI secret in the environment).
    let client_secret = match (p.client_secret, p.client_secret_env) {
        (Some(s), None) => s,
        (None, Some(var)) => std::env::var(&var).map_err(|_| {
            ProfileError(format!(
                "field publish.client_secret_env: the environment variable {var} is not set"
            ))
        })?,
        (Some(_), Some(_)) => {
            return err(
                "publish.client_secret_env",
                "give publish.client_secret or publish.client_secret_env, not both",
            );
        }
        (None, None) => {
            return err(
                "publish.client_secret",
                "needed (or publish.client_secret_env naming an environment variable)",
            );
        }
    };
    let (ca_pem, identity_pem) = tls_pems(
        dir,
        "publish",
        p.ca_cert.as_deref(),
        p.client_cert.as_deref(),
        p.client_key.as_deref(),
    )?;
    Ok(PublishSettings {
        url,
        client_id: p.client_id,
        client_secret,
        ca_pem,
        identity_pem,
    })
}
