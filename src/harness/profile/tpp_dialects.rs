//! The `[yapily]` and `[tatra]` sections of a TPP profile: the TPP's Yapily-style and
//! Tatra-style webhook receivers (URL, TLS to them, the answer time the TPP declares, and for
//! Tatra the `Authorization` value — the "Webhook Security Header" — the TPP configured at the
//! bank). Read like `[push]`: unknown fields refused, every error names its field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ProfileError, err, tls_pems};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct YapilyFile {
    url: String,
    ca_cert: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    answer_within_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TatraFile {
    url: String,
    authorization: Option<String>,
    consent_id: Option<String>,
    ca_cert: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    answer_within_ms: Option<u64>,
}

/// A webhook receiver of the TPP and how the referee reaches it.
#[derive(Debug, Clone)]
pub struct HookReceiver {
    /// The receiver's URL (placeholders allowed).
    pub url: String,
    /// Extra CA certificates (PEM) the receiver's server certificate is checked against.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key (PEM, concatenated) for mutual TLS to the receiver.
    pub identity_pem: Option<Vec<u8>>,
    /// The answer time the TPP declares.
    pub answer_within: Duration,
}

/// The TPP's Yapily-style notification receiver (`[yapily]`).
#[derive(Debug, Clone)]
pub struct YapilyReceiver {
    pub hook: HookReceiver,
}

/// The TPP's Tatra-style webhook receiver (`[tatra]`).
#[derive(Debug, Clone)]
pub struct TatraReceiver {
    pub hook: HookReceiver,
    /// The Webhook Security Header the TPP configured: sent as `Authorization` on every call
    /// (TB-03). `None`: the TPP configured none, so calls carry no `Authorization`.
    pub authorization: Option<String>,
    /// The `consentId` the webhooks name (a TPP may check it is one of its consents);
    /// `None`: a fresh one per webhook.
    pub consent_id: Option<String>,
}

/// An http(s) URL (placeholders allowed, checked by the caller's `check`).
pub(super) fn http_url(field: &str, url: &str) -> Result<(), ProfileError> {
    let probe = url.replace("{port}", "1");
    let ok = url::Url::parse(&probe)
        .ok()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if ok {
        Ok(())
    } else {
        err(field, format!("{url:?} is not an http(s) URL"))
    }
}

fn within(section: &str, ms: Option<u64>) -> Result<Duration, ProfileError> {
    match ms.unwrap_or(5_000) {
        0 => err(&format!("{section}.answer_within_ms"), "must be at least 1"),
        ms => Ok(Duration::from_millis(ms)),
    }
}

/// A validated `[yapily]`; `placeholders` checks the URL's `{…}`.
pub(super) fn yapily(
    f: YapilyFile,
    dir: &Path,
    placeholders: impl Fn(&str, &str) -> Result<(), ProfileError>,
) -> Result<YapilyReceiver, ProfileError> {
    placeholders("yapily.url", &f.url)?;
    http_url("yapily.url", &f.url)?;
    let (ca_pem, identity_pem) = tls_pems(
        dir,
        "yapily",
        f.ca_cert.as_deref(),
        f.client_cert.as_deref(),
        f.client_key.as_deref(),
    )?;
    Ok(YapilyReceiver {
        hook: HookReceiver {
            url: f.url,
            ca_pem,
            identity_pem,
            answer_within: within("yapily", f.answer_within_ms)?,
        },
    })
}

/// Tatra's rule for a security header (TB-02): empty or `[ a-zA-Z0-9=+/]*`.
fn security_header_ok(v: &str) -> bool {
    v.chars()
        .all(|c| c == ' ' || c == '=' || c == '+' || c == '/' || c.is_ascii_alphanumeric())
}

/// A validated `[tatra]`; `placeholders` checks the URL's `{…}`.
pub(super) fn tatra(
    f: TatraFile,
    dir: &Path,
    placeholders: impl Fn(&str, &str) -> Result<(), ProfileError>,
) -> Result<TatraReceiver, ProfileError> {
    placeholders("tatra.url", &f.url)?;
    http_url("tatra.url", &f.url)?;
    if let Some(a) = &f.authorization
        && !security_header_ok(a)
    {
        return err(
            "tatra.authorization",
            "a Webhook Security Header matches [ a-zA-Z0-9=+/]* (e.g. \"Basic dXNlcjpwYXNzd29yZA==\")",
        );
    }
    if f.consent_id.as_ref().is_some_and(|c| c.trim().is_empty()) {
        return err("tatra.consent_id", "must not be empty");
    }
    let (ca_pem, identity_pem) = tls_pems(
        dir,
        "tatra",
        f.ca_cert.as_deref(),
        f.client_cert.as_deref(),
        f.client_key.as_deref(),
    )?;
    Ok(TatraReceiver {
        hook: HookReceiver {
            url: f.url,
            ca_pem,
            identity_pem,
            answer_within: within("tatra", f.answer_within_ms)?,
        },
        authorization: f.authorization.filter(|a| !a.is_empty()),
        consent_id: f.consent_id,
    })
}

#[cfg(test)]
mod tests {
    use crate::harness::profile::tpp::TppProfile;
    use std::path::Path;

    #[test]
    fn yapily_and_tatra_sections_and_their_errors() {
        let p = TppProfile::parse(
            "[yapily]\nurl = \"http://127.0.0.1:{port}/y\"\n[tatra]\nurl = \"http://h/t\"\n\
             authorization = \"Basic dXNlcjpwYXNzd29yZA==\"\nanswer_within_ms = 900\n",
            Path::new("."),
        )
        .unwrap();
        assert!(p.push.is_none());
        let t = p.tatra.unwrap();
        assert_eq!(
            t.authorization.as_deref(),
            Some("Basic dXNlcjpwYXNzd29yZA==")
        );
        assert_eq!(t.hook.answer_within.as_millis(), 900);
        assert_eq!(p.yapily.unwrap().hook.url, "http://127.0.0.1:{port}/y");
        for (text, field) in [
            ("[yapily]\nurl = \"ftp://x\"\n", "field yapily.url"),
            (
                "[yapily]\nurl = \"http://x\"\nsecret = 1\n",
                "unknown field `secret`",
            ),
            (
                "[tatra]\nurl = \"http://x/{nope}\"\n",
                "unknown placeholder {nope}",
            ),
            (
                "[tatra]\nurl = \"http://x\"\nauthorization = \"Bearer a.b\"\n",
                "field tatra.authorization",
            ),
            (
                "[tatra]\nurl = \"http://x\"\nclient_key = \"k.pem\"\n",
                "field tatra.client_key",
            ),
            (
                "[yapily]\nurl = \"http://x\"\nanswer_within_ms = 0\n",
                "field yapily.answer_within_ms",
            ),
        ] {
            let e = TppProfile::parse(text, Path::new(".")).unwrap_err().0;
            assert!(e.contains(field), "{text:?}: {e}");
        }
    }
}
