//! Making an event happen at the target, the way its profile says: an HTTP request template, a
//! command, a prompt for a person, or nothing (scenarios that need events are then not
//! applicable). Templates take `{placeholders}` (listed in the README).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::Value;

use super::client::{self, Exchange, Request};
use super::context::RunContext;
use super::profile::{Trigger, TriggerAuth};
use crate::model::EventType;

/// One event to make happen.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    pub tpp_name: String,
    pub client_id: String,
    pub event_type: EventType,
    pub resource_id: String,
    pub resource_type: String,
    pub access_token: Option<String>,
    /// A dialect's own event type id (e.g. `payment.status.completed`): `{event_type}` and its
    /// variants render it instead of `event_type`.
    pub dialect_type: Option<String>,
    /// The TPP's client secret, for `auth = "tpp-basic"`.
    pub client_secret: Option<String>,
    /// A dialect action's own placeholders (e.g. `{consent_id}`), added to the standard ones.
    pub extra: Vec<(&'static str, String)>,
}

/// What the trigger told us.
#[derive(Debug, Clone, Default)]
pub struct TriggerOutcome {
    /// The jti, if the trigger's answer names it.
    pub jti: Option<String>,
    pub exchange: Option<Exchange>,
    /// The answer as JSON: the HTTP answer's body, or a command's standard output.
    pub output: Option<Value>,
}

/// Replaces `{name}` placeholders; unknown names stay as they are, so JSON braces survive.
///
/// ```
/// use std::collections::HashMap;
/// use obevents::harness::trigger::render;
/// let vars = HashMap::from([("client_id", "tpp-a".to_string())]);
/// assert_eq!(render(r#"{"clientId":"{client_id}"}"#, &vars), r#"{"clientId":"tpp-a"}"#);
/// ```
pub fn render(template: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) if vars.contains_key(&after[..end]) => {
                out.push_str(&vars[&after[..end]]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl RunContext {
    fn trigger_vars(&self, r: &TriggerRequest) -> HashMap<&'static str, String> {
        let mut v = HashMap::new();
        v.insert("base_url", self.profile.base_url.clone());
        v.insert("api_base", self.profile.api_base.clone());
        v.insert("client_id", r.client_id.clone());
        v.insert("tpp", r.tpp_name.clone());
        match &r.dialect_type {
            Some(t) => {
                for name in ["event_type", "event_type_code", "event_type_short"] {
                    v.insert(name, t.clone());
                }
            }
            None => {
                v.insert("event_type", r.event_type.urn().to_string());
                v.insert("event_type_code", r.event_type.code().to_string());
                v.insert("event_type_short", r.event_type.short().to_string());
            }
        }
        v.insert("resource_id", r.resource_id.clone());
        v.insert("resource_type", r.resource_type.clone());
        v.insert("access_token", r.access_token.clone().unwrap_or_default());
        v.insert("interaction_id", uuid::Uuid::new_v4().to_string());
        for (k, val) in &r.extra {
            v.insert(k, val.clone());
        }
        v
    }

    /// Does the trigger's template mention `placeholder` (e.g. `{resource_id}`)?
    pub fn trigger_mentions(&self, placeholder: &str) -> bool {
        match &self.profile.trigger {
            Trigger::Http {
                url, body, headers, ..
            } => {
                url.contains(placeholder)
                    || body.as_deref().is_some_and(|b| b.contains(placeholder))
                    || headers.iter().any(|(_, v)| v.contains(placeholder))
            }
            Trigger::Command { argv } => argv.iter().any(|a| a.contains(placeholder)),
            Trigger::Manual { prompt } => prompt.contains(placeholder),
            Trigger::None => false,
        }
    }

    /// Does the trigger pass our resource id to the bank (so SETs can be matched by `rid`)?
    pub fn trigger_uses_resource_id(&self) -> bool {
        self.trigger_mentions("{resource_id}")
    }

    /// Does the trigger need the TPP's access token (its auth, a template, or a command, which
    /// also gets it as `OBEVENTS_ACCESS_TOKEN`)?
    pub fn trigger_wants_token(&self) -> bool {
        matches!(
            self.profile.trigger,
            Trigger::Http {
                auth: TriggerAuth::TppToken,
                ..
            } | Trigger::Command { .. }
        ) || self.trigger_mentions("{access_token}")
    }

    /// Fires the trigger once.
    pub async fn fire(&self, r: &TriggerRequest) -> Result<TriggerOutcome, String> {
        self.fire_with(&self.profile.trigger, r).await
    }

    /// Runs `trigger` (the profile's trigger, or its `[subscribe]`/`[unsubscribe]` action for a
    /// bank without a subscription API) once with the placeholders of `r`.
    pub async fn fire_with(
        &self,
        trigger: &Trigger,
        r: &TriggerRequest,
    ) -> Result<TriggerOutcome, String> {
        self.run_action(trigger, r, true).await
    }

    /// Like [`fire_with`](Self::fire_with), but an HTTP answer outside `expect_status` is
    /// returned, not refused: for steps that judge the answer themselves (a refusal expected).
    pub async fn fire_unchecked(
        &self,
        trigger: &Trigger,
        r: &TriggerRequest,
    ) -> Result<TriggerOutcome, String> {
        self.run_action(trigger, r, false).await
    }

    async fn run_action(
        &self,
        trigger: &Trigger,
        r: &TriggerRequest,
        check_status: bool,
    ) -> Result<TriggerOutcome, String> {
        let vars = self.trigger_vars(r);
        match trigger {
            Trigger::None => Err("the profile declares no trigger".into()),
            Trigger::Http {
                method,
                url,
                headers,
                body,
                auth,
                expect_status,
                jti_pointer,
            } => {
                let method = Method::from_bytes(method.as_bytes())
                    .map_err(|e| format!("trigger.method: {e}"))?;
                let mut req = Request::new(method, render(url, &vars));
                for (k, v) in headers {
                    req.set_header(k, Some(render(v, &vars)));
                }
                match auth {
                    TriggerAuth::None => {}
                    TriggerAuth::TppToken => req.set_header(
                        "Authorization",
                        Some(format!("Bearer {}", vars["access_token"])),
                    ),
                    TriggerAuth::TppBasic => req.set_header(
                        "Authorization",
                        Some(format!(
                            "Basic {}",
                            STANDARD.encode(format!(
                                "{}:{}",
                                r.client_id,
                                r.client_secret.as_deref().unwrap_or("")
                            ))
                        )),
                    ),
                    TriggerAuth::Basic { username, password } => req.set_header(
                        "Authorization",
                        Some(format!(
                            "Basic {}",
                            STANDARD.encode(format!("{username}:{password}"))
                        )),
                    ),
                }
                if let Some(b) = body {
                    req.body = Some(render(b, &vars).into_bytes());
                }
                let ex = client::send(&self.http, req).await;
                if let Some(e) = &ex.error {
                    return Err(format!("cannot reach the target: {e}"));
                }
                if check_status && !expect_status.contains(&ex.status()) {
                    return Err(format!(
                        "the trigger answered {} (expected {expect_status:?}): {}",
                        ex.status(),
                        ex.summary()
                    ));
                }
                let output = ex.json();
                let jti = output.as_ref().and_then(|v| {
                    v.pointer(jti_pointer)
                        .and_then(Value::as_str)
                        .map(String::from)
                });
                Ok(TriggerOutcome {
                    jti,
                    exchange: Some(ex),
                    output,
                })
            }
            Trigger::Command { argv } => {
                let args: Vec<String> = argv.iter().map(|a| render(a, &vars)).collect();
                let mut cmd = tokio::process::Command::new(&args[0]);
                cmd.args(&args[1..]).kill_on_drop(true);
                for (k, v) in &vars {
                    cmd.env(format!("OBEVENTS_{}", k.to_ascii_uppercase()), v);
                }
                let out = tokio::time::timeout(self.profile.trigger_timeout, cmd.output())
                    .await
                    .map_err(|_| {
                        format!(
                            "the trigger command {:?} did not finish within {:?}",
                            args[0], self.profile.trigger_timeout
                        )
                    })?
                    .map_err(|e| format!("cannot run the trigger command {:?}: {e}", args[0]))?;
                if !out.status.success() {
                    return Err(format!(
                        "the trigger command exited with {}: {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                let stdout = String::from_utf8_lossy(&out.stdout);
                let output = serde_json::from_str::<Value>(stdout.trim()).ok();
                let jti = output
                    .as_ref()
                    .and_then(|v| v["jti"].as_str().map(String::from));
                Ok(TriggerOutcome {
                    jti,
                    exchange: None,
                    output,
                })
            }
            Trigger::Manual { prompt } => {
                let _one_at_a_time = self.manual_lock.lock().await;
                eprintln!("\n>>> {}", render(prompt, &vars));
                let read = tokio::task::spawn_blocking(|| {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).map(|_| line)
                });
                match tokio::time::timeout(Duration::from_secs(600), read).await {
                    Ok(Ok(Ok(_))) => Ok(TriggerOutcome::default()),
                    _ => Err("no confirmation was typed within 10 minutes".into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let mut vars = HashMap::new();
        vars.insert("client_id", "c1".to_string());
        assert_eq!(
            render(r#"{"clientId":"{client_id}","x":{unknown}}"#, &vars),
            r#"{"clientId":"c1","x":{unknown}}"#
        );
    }
}
