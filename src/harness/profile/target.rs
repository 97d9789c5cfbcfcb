//! The `[target]` section: where the bank is (its base URL, where the event resources live,
//! its token endpoint and JWKS), what its SETs are expected to carry (issuer, OB header
//! values, algorithm), and the TLS material to reach it with.

use std::path::Path;
use std::time::Duration;

use super::{
    Paths, ProfileError, TargetFile, TlsSettings, absolute_url, check_identity, err, read, read_ca,
};

/// The validated `[target]` section. Its fields are spread into [`Profile`](super::Profile),
/// whose readers use them as `profile.base_url` and so on, like the other top-level settings.
pub(super) struct Target {
    pub base_url: String,
    pub api_base: String,
    pub paths: Paths,
    pub token_endpoint: Option<String>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub ob_iss: Option<String>,
    pub trust_anchor: Option<String>,
    pub alg: String,
    pub tls: TlsSettings,
    pub request_timeout: Duration,
}

/// Validates `[target]` (files relative to `dir`); `base_url_override` replaces `base_url`.
pub(super) fn target(
    t: TargetFile,
    dir: &Path,
    base_url_override: Option<&str>,
) -> Result<Target, ProfileError> {
    let base_raw = base_url_override
        .unwrap_or(&t.base_url)
        .trim_end_matches('/')
        .to_string();
    let base_url = absolute_url("target.base_url", "", &base_raw)?;
    let api_base = api_base(t.api_base)?;
    let paths = Paths {
        events: path("target.events_path", t.events_path, "/events")?,
        subscriptions: path(
            "target.subscriptions_path",
            t.subscriptions_path,
            "/event-subscriptions",
        )?,
        callback_urls: path(
            "target.callback_urls_path",
            t.callback_urls_path,
            "/callback-urls",
        )?,
    };
    let url =
        |field: &str, u: Option<String>| u.map(|u| absolute_url(field, &base_url, &u)).transpose();
    let token_endpoint = url("target.token_endpoint", t.token_endpoint)?;
    let jwks_url = url("target.jwks_url", t.jwks_url)?;
    if t.issuer.as_deref().is_some_and(|i| i.trim().is_empty()) {
        return err("target.issuer", "must not be empty");
    }
    // `{base_url}` lets a profile follow `--base-url` (the example profiles use it).
    let issuer = t.issuer.map(|i| i.replace("{base_url}", &base_url));
    let alg = alg(t.alg)?;
    let tls = tls(
        t.client_cert.as_deref(),
        t.client_key.as_deref(),
        t.ca_cert.as_deref(),
        dir,
    )?;
    Ok(Target {
        base_url,
        api_base,
        paths,
        token_endpoint,
        jwks_url,
        issuer,
        ob_iss: t.ob_iss,
        trust_anchor: t.trust_anchor,
        alg,
        tls: TlsSettings {
            accept_invalid_certs: t.accept_invalid_certs,
            ..tls
        },
        request_timeout: Duration::from_secs(t.request_timeout_secs.unwrap_or(30).max(1)),
    })
}

fn api_base(v: Option<String>) -> Result<String, ProfileError> {
    let raw = v.unwrap_or_else(|| "/open-banking/v3.1".into());
    if !raw.starts_with('/') {
        return err(
            "target.api_base",
            "must start with / (\"/\" for the host root)",
        );
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// A resource path below `api_base` (`default` when not given).
fn path(field: &str, v: Option<String>, default: &str) -> Result<String, ProfileError> {
    let v = v.unwrap_or_else(|| default.into());
    if !v.starts_with('/') || v.len() < 2 {
        return err(field, "must be a path starting with /");
    }
    Ok(v.trim_end_matches('/').to_string())
}

fn alg(v: Option<String>) -> Result<String, ProfileError> {
    let alg = v.unwrap_or_else(|| "PS256".into());
    if crate::jose::Alg::parse(&alg).is_none_or(|a| a == crate::jose::Alg::None) {
        return err(
            "target.alg",
            format!("{alg:?} is not one of PS256, RS256, ES256"),
        );
    }
    Ok(alg)
}

/// The client certificate (with its key appended) and the extra CA, read from `dir`.
fn tls(
    cert: Option<&Path>,
    key: Option<&Path>,
    ca: Option<&Path>,
    dir: &Path,
) -> Result<TlsSettings, ProfileError> {
    let mut tls = TlsSettings::default();
    match (cert, key) {
        (Some(c), Some(k)) => {
            let mut pem = read(dir, "target.client_cert", c)?;
            pem.push(b'\n');
            pem.extend(read(dir, "target.client_key", k)?);
            tls.client_cert_pem = Some(check_identity("target.client_cert", pem)?);
        }
        (Some(c), None) => {
            let pem = read(dir, "target.client_cert", c)?;
            tls.client_cert_pem = Some(check_identity("target.client_cert", pem)?);
        }
        (None, Some(_)) => return err("target.client_key", "needs target.client_cert"),
        (None, None) => {}
    }
    if let Some(ca) = ca {
        tls.ca_pem = Some(read_ca(dir, "target.ca_cert", ca)?);
    }
    Ok(tls)
}
