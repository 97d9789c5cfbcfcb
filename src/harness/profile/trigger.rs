//! The `[trigger]` section: how the harness makes an event happen at the target (an HTTP call,
//! a command, a person, or not at all) and which event types it can raise. The same shape
//! serves `[subscribe]`, `[unsubscribe]` and the `[tatra]` actions.

use std::time::Duration;

use super::*;

/// What a validated `[trigger]` gives the profile: the trigger, the event types it raises, the
/// resource type it passes, and the command's time limit.
pub(super) type ParsedTrigger = (Trigger, Vec<EventType>, String, Duration);

/// Validates `[trigger]` against the bank's event types.
pub(super) fn trigger(
    trigger: Option<TriggerFile>,
    bank: &BankSettings,
) -> Result<ParsedTrigger, ProfileError> {
    let Some(tr) = trigger else {
        return Ok((
            Trigger::None,
            Vec::new(),
            "account-access-consent".to_string(),
            Duration::from_secs(30),
        ));
    };
    let timeout = Duration::from_secs(tr.timeout_secs.unwrap_or(30));
    let types = match &tr.event_types {
        Some(names) => event_types("trigger.event_types", names)?,
        None => bank.event_types.clone(),
    };
    if let Some(t) = types.iter().find(|t| !bank.event_types.contains(t)) {
        return err(
            "trigger.event_types",
            format!("{t} is not in bank.event_types"),
        );
    }
    let resource_type = tr
        .resource_type
        .clone()
        .unwrap_or_else(|| "account-access-consent".into());
    let trigger = match tr.kind.as_str() {
        "http" => http(&tr)?,
        "command" => match &tr.command {
            Some(argv) if !argv.is_empty() => Trigger::Command { argv: argv.clone() },
            _ => {
                return err(
                    "trigger.command",
                    "is needed (a non-empty list) for kind = \"command\"",
                );
            }
        },
        "manual" => Trigger::Manual {
            prompt: tr.prompt.clone().unwrap_or_else(|| {
                "Make a {event_type} event happen for client {client_id} (resource {resource_id}), then press Enter".into()
            }),
        },
        "none" => Trigger::None,
        other => {
            return err(
                "trigger.kind",
                format!("{other:?} is not one of http, command, manual, none"),
            );
        }
    };
    let types = if matches!(trigger, Trigger::None) {
        Vec::new()
    } else {
        types
    };
    Ok((trigger, types, resource_type, timeout))
}

/// A `kind = "http"` trigger: its request template and how it authenticates.
fn http(tr: &TriggerFile) -> Result<Trigger, ProfileError> {
    let Some(url) = tr.url.clone() else {
        return err("trigger.url", "is needed for kind = \"http\"");
    };
    let url = if url.starts_with('/') {
        format!("{{base_url}}{url}")
    } else {
        url
    };
    let auth = auth(tr)?;
    let method = tr
        .method
        .clone()
        .unwrap_or_else(|| "POST".into())
        .to_ascii_uppercase();
    if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method.as_str()) {
        return err(
            "trigger.method",
            format!("{method:?} is not an HTTP method this harness sends"),
        );
    }
    Ok(Trigger::Http {
        method,
        url,
        headers: tr.headers.clone().into_iter().collect(),
        body: tr.body.clone(),
        auth,
        expect_status: tr
            .expect_status
            .clone()
            .unwrap_or_else(|| vec![200, 201, 202, 204]),
        jti_pointer: tr.jti_pointer.clone().unwrap_or_else(|| "/jti".into()),
    })
}

fn auth(tr: &TriggerFile) -> Result<TriggerAuth, ProfileError> {
    Ok(match tr.auth.as_deref() {
        None | Some("none") => TriggerAuth::None,
        Some("tpp-token") => TriggerAuth::TppToken,
        Some("tpp-basic") => TriggerAuth::TppBasic,
        Some("basic") => match (tr.username.clone(), tr.password.clone()) {
            (Some(username), Some(password)) => TriggerAuth::Basic { username, password },
            _ => {
                return err(
                    "trigger.username",
                    "basic auth needs trigger.username and trigger.password",
                );
            }
        },
        Some(other) => {
            return err(
                "trigger.auth",
                format!("{other:?} is not one of none, tpp-token, tpp-basic, basic"),
            );
        }
    })
}

/// Validates an action of `[trigger]`'s shape at `field` (`subscribe`, `tatra.settings` …):
/// its errors name the action's fields.
pub(super) fn action_at(
    file: TriggerFile,
    field: &str,
    bank: &BankSettings,
) -> Result<Trigger, ProfileError> {
    trigger(Some(file), bank)
        .map(|t| t.0)
        .map_err(|e| ProfileError(e.0.replace("trigger.", &format!("{field}."))))
}

/// Validates `[subscribe]` or `[unsubscribe]` (`field`): only for a bank without a
/// subscription API.
pub(super) fn subscription_action(
    file: Option<TriggerFile>,
    field: &str,
    bank: &BankSettings,
) -> Result<Option<Trigger>, ProfileError> {
    match file {
        None => Ok(None),
        Some(_) if bank.subscription_api => err(field, "is only for bank.subscription_api = false"),
        Some(file) => action_at(file, field, bank).map(Some),
    }
}
