//! The application's webhook settings (TB-01..TB-05): validation of the url and security
//! header, activation at the next full hour (or at once, by configuration or the activate
//! helper), and what a settings change does to pending deliveries.

use crate::sandbox::config::{Activation, SandboxConfig, TatraWebhookFile};
use crate::sandbox::dialects::tatra::TatraError;
use crate::sandbox::domain::{ClientId, TatraSettings, Timestamp};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::state::AppState;

/// Longest webhook url accepted.
pub const MAX_URL: usize = 2048;
/// Longest security header accepted.
pub const MAX_HEADER: usize = 1024;
const HOUR_MS: i64 = 3_600_000;

/// A settings change as the API (or a `[[clients]]` entry) asks for it: a partial update. A
/// member left out (`None`) keeps its stored value; an empty string clears it.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    pub enabled: bool,
    pub url: Option<String>,
    pub security_header: Option<String>,
}

/// TB-04: the next full hour strictly after `now` (11:31:10 → 12:00; 12:00:00.000 → 13:00).
pub fn next_full_hour(now: Timestamp) -> Timestamp {
    Timestamp::from_millis((now.as_millis().div_euclid(HOUR_MS) + 1) * HOUR_MS)
}

/// The settings of an application that never stored any: disabled, no url, no header.
pub fn unset(client_id: &ClientId) -> TatraSettings {
    TatraSettings {
        client_id: client_id.clone(),
        enabled: false,
        url: None,
        security_header: String::new(),
        active_from: None,
    }
}

/// TB-02: empty or a full match of `[ a-zA-Z0-9=+/]*`, bounded in length.
fn header_problem(h: &str, pattern_checked: bool) -> Option<String> {
    if h.len() > MAX_HEADER {
        return Some(format!(
            "securityHeader is longer than {MAX_HEADER} characters"
        ));
    }
    let allowed =
        |c: char| c == ' ' || c == '=' || c == '+' || c == '/' || c.is_ascii_alphanumeric();
    if pattern_checked && !h.chars().all(allowed) {
        return Some("securityHeader must match [ a-zA-Z0-9=+/]*".into());
    }
    None
}

/// TB-01: an absolute http(s) url with a host and no query (not even an empty `?`), no
/// fragment, no credentials; plain http only to loopback when private networks are allowed.
/// `faults`: those in effect for the application.
pub fn url_problem(st: &AppState, faults: &Faults, url: &str) -> Option<String> {
    url_problem_for(&st.cfg, faults, &st.base_url, url)
}

/// [`url_problem`] for a sandbox configured with `cfg` and reached at `base_url`: usable before
/// the sandbox's state exists (a configured client's settings are checked before anything is
/// opened).
pub fn url_problem_for(
    cfg: &SandboxConfig,
    faults: &Faults,
    base_url: &str,
    url: &str,
) -> Option<String> {
    if let Some(p) = crate::sandbox::urls::destination_problem(url, MAX_URL) {
        return Some(format!("webhook url {p}"));
    }
    let Ok(u) = url::Url::parse(url) else {
        return Some("webhook url must be an absolute URL".into());
    };
    let Some(host) = u.host_str() else {
        return Some("webhook url has no host".into());
    };
    // `Url::query` is `Some("")` for a bare `?`, so that is refused too.
    if u.query().is_some() && !faults.has(Fault::TatraUrlQueryAccepted) {
        return Some("webhook url must not contain parameters".into());
    }
    if u.fragment().is_some() {
        return Some("webhook url must not contain a fragment".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Some("webhook url must not carry credentials".into());
    }
    match u.scheme() {
        "https" => None,
        "http"
            if crate::sandbox::urls::is_loopback_host(host)
                && crate::sandbox::urls::webhook_http_allowed(cfg, base_url) =>
        {
            None
        }
        _ => Some("webhook url must be an https URL".into()),
    }
}

/// Why a configured client's `tatra_webhook` cannot be applied, if it cannot: checked before
/// the sandbox opens anything, so a bad entry stops the start with one line.
pub fn seed_problem(
    cfg: &SandboxConfig,
    base_url: &str,
    hook: &TatraWebhookFile,
) -> Option<String> {
    if let Some(p) = hook
        .url
        .as_deref()
        .filter(|u| !u.is_empty())
        .and_then(|u| url_problem_for(cfg, &cfg.faults, base_url, u))
    {
        return Some(p);
    }
    if hook.enabled && hook.url.as_deref().is_none_or(str::is_empty) {
        return Some("url is required when enabled is true".into());
    }
    let checked = !cfg.faults.has(Fault::TatraHeaderPatternAccepted);
    header_problem(hook.security_header.as_deref().unwrap_or_default(), checked)
}

/// The application's settings, or the unset ones.
pub async fn settings_of(st: &AppState, client_id: &ClientId) -> Result<TatraSettings, TatraError> {
    Ok(st
        .store
        .tatra_settings(client_id)
        .await?
        .unwrap_or_else(|| unset(client_id)))
}

/// Validates and stores a change (`PUT /webhook-settings`). Enabling from disabled starts
/// the activation clock; staying enabled keeps `activeFrom`; disabling clears it and
/// cancels pending deliveries; a new url moves them.
pub async fn put_settings(
    st: &AppState,
    client_id: &ClientId,
    change: SettingsChange,
) -> Result<TatraSettings, TatraError> {
    let faults = st.faults_for(client_id).await?;
    let old = settings_of(st, client_id).await?;
    let next = next_settings(st, &faults, &old, change, Timestamp::now())?;
    // TB-05: disabling stops what is pending; otherwise a new url takes it along.
    st.store
        .replace_tatra_settings(&next, !faults.has(Fault::TatraSendsWhileDisabled))
        .await?;
    tracing::debug!(
        client = %client_id,
        enabled = next.enabled,
        "tatra webhook settings"
    );
    Ok(next)
}

/// Stores the settings of a `[[clients]]` entry, active at once.
pub async fn seed_settings(
    st: &AppState,
    client_id: &ClientId,
    change: SettingsChange,
) -> Result<(), TatraError> {
    let now = Timestamp::now();
    // The sandbox's own faults: seeding happens at start, before any TPP chose its own.
    let mut next = next_settings(st, &st.cfg.faults, &unset(client_id), change, now)?;
    if next.enabled {
        next.active_from = Some(now);
    }
    st.store.put_tatra_settings(&next).await?;
    Ok(())
}

/// The sandbox helper: active from now. Refused while disabled.
pub async fn activate(st: &AppState, client_id: &ClientId) -> Result<TatraSettings, TatraError> {
    let mut s = settings_of(st, client_id).await?;
    if !s.enabled {
        return Err(TatraError::WebhookNotEnabled);
    }
    s.active_from = Some(Timestamp::now());
    st.store.put_tatra_settings(&s).await?;
    Ok(s)
}

fn next_settings(
    st: &AppState,
    faults: &Faults,
    old: &TatraSettings,
    change: SettingsChange,
    now: Timestamp,
) -> Result<TatraSettings, TatraError> {
    // A member left out keeps its value; an empty string clears it.
    let url = match change.url {
        None => old.url.clone(),
        Some(u) if u.is_empty() => None,
        Some(u) => match url_problem(st, faults, &u) {
            Some(p) => return Err(TatraError::InvalidWebhookUrl(p)),
            None => Some(u),
        },
    };
    let header = change
        .security_header
        .unwrap_or_else(|| old.security_header.clone());
    let checked = !faults.has(Fault::TatraHeaderPatternAccepted);
    if let Some(p) = header_problem(&header, checked) {
        return Err(TatraError::InvalidSecurityHeader(p));
    }
    if change.enabled && url.is_none() {
        return Err(TatraError::InvalidRequest(
            "url is required when enabled is true".into(),
        ));
    }
    let active_from = match (change.enabled, old.enabled) {
        (false, _) => None,
        (true, true) => old.active_from,
        (true, false) => Some(match st.cfg.tatra.activation {
            Activation::NextHour => next_full_hour(now),
            Activation::Immediate => now,
        }),
    };
    Ok(TatraSettings {
        client_id: old.client_id.clone(),
        enabled: change.enabled,
        url,
        security_header: header,
        active_from,
    })
}

/// Why an event of the application must not be sent at `now`, if so (TB-04, TB-05): the
/// dropped-not-held rule, asked when an event is raised and again at each attempt, with the
/// `faults` in effect for the application.
pub fn drop_reason(faults: &Faults, s: &TatraSettings, now: Timestamp) -> Option<String> {
    if !s.enabled && !faults.has(Fault::TatraSendsWhileDisabled) {
        return Some("webhooks disabled".into());
    }
    match s.active_from {
        Some(from) if now < from && !faults.has(Fault::TatraSendsBeforeActivation) => Some(
            format!("webhooks not active until {}", from.rfc3339_millis()),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_full_hour_is_strictly_after_now() {
        let t = |h: i64, m: i64, s: i64, ms: i64| {
            Timestamp::from_millis(((h * 60 + m) * 60 + s) * 1000 + ms)
        };
        assert_eq!(next_full_hour(t(11, 31, 10, 0)), t(12, 0, 0, 0));
        assert_eq!(next_full_hour(t(12, 0, 0, 0)), t(13, 0, 0, 0));
        assert_eq!(next_full_hour(t(12, 59, 59, 999)), t(13, 0, 0, 0));
    }

    #[test]
    fn security_headers() {
        assert_eq!(header_problem("", true), None);
        assert_eq!(header_problem("Basic dXNlcjpwYXNzd29yZA==", true), None);
        assert!(header_problem("Bearer a.b", true).is_some());
        assert!(header_problem("tab\there", true).is_some());
        assert_eq!(header_problem("Bearer a.b", false), None);
        assert!(header_problem(&"a".repeat(MAX_HEADER + 1), false).is_some());
    }
}
