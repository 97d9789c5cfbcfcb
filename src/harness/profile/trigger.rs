//! The `[trigger]` section: how the harness makes an event happen at the target (an HTTP call,
//! a command, a person, or not at all) and which event types it can raise. The same shape
//! serves `[subscribe]`, `[unsubscribe]` and the `[tatra]` actions.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

/// What a validated `[trigger]` gives the profile: the trigger, the event types it raises, the
/// resource type it passes, the command's time limit, and what `{event_type}` is for each type
/// (by name).
pub(super) type ParsedTrigger = (
    Trigger,
    Vec<BankEventType>,
    String,
    Duration,
    BTreeMap<String, String>,
);

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
            BTreeMap::new(),
        ));
    };
    let timeout = Duration::from_secs(tr.timeout_secs.unwrap_or(30));
    let types = match &tr.event_types {
        Some(names) => trigger_types(names, bank)?,
        None => bank.event_types.clone(),
    };
    let values = event_type_values(&tr.event_type_values, &types)?;
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
    Ok((trigger, types, resource_type, timeout, values))
}

/// `trigger.event_types`: each one of `bank.event_types` (by name, an OBIE type in any
/// spelling), or anything when the bank names none.
fn trigger_types(
    names: &[String],
    bank: &BankSettings,
) -> Result<Vec<BankEventType>, ProfileError> {
    let mut out = Vec::new();
    for n in names {
        let t = BankEventType::named(n, &BTreeMap::new());
        let known = if bank.event_types.is_empty() {
            Some(t.clone())
        } else {
            bank.event_types
                .iter()
                .find(|b| (b.ob.is_some() && b.ob == t.ob) || b.name == t.name)
                .cloned()
        };
        match known {
            Some(t) if !out.contains(&t) => out.push(t),
            Some(_) => return err("trigger.event_types", format!("{n:?} is listed twice")),
            None => {
                return err(
                    "trigger.event_types",
                    format!("{n} is not in bank.event_types"),
                );
            }
        }
    }
    Ok(out)
}

/// `trigger.event_type_values`: what `{event_type}` is for each of the trigger's `types`, keyed
/// by the type's name (an OBIE type in any spelling).
fn event_type_values(
    given: &BTreeMap<String, String>,
    types: &[BankEventType],
) -> Result<BTreeMap<String, String>, ProfileError> {
    let mut out = BTreeMap::new();
    for (name, value) in given {
        let named = BankEventType::named(name, &BTreeMap::new());
        let Some(t) = types
            .iter()
            .find(|t| (t.ob.is_some() && t.ob == named.ob) || t.name == named.name)
        else {
            return err(
                &format!("trigger.event_type_values.{name}"),
                "names no event type the trigger raises (trigger.event_types)",
            );
        };
        out.insert(t.name.clone(), value.clone());
    }
    Ok(out)
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
