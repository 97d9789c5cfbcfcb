//! Making an event happen at the target, the way its profile says: an HTTP request template, a
//! command, a prompt for a person, or nothing (scenarios that need events are then not
//! applicable). Templates take `{placeholders}` (listed in the README), filled by
//! [`template`](super::template) with each value escaped for where it lands.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::Value;

use super::client::{self, Exchange, Request};
use super::context::RunContext;
use super::profile::{Trigger, TriggerAuth};
use super::template::{Context, render};
use crate::harness::profile::BankEventType;

/// One event to make happen.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    pub tpp_name: String,
    pub client_id: String,
    pub event_type: BankEventType,
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
                v.insert("event_type", self.profile.trigger_value(&r.event_type));
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
        // Before the event can be served anywhere: a SET about it in another TPP's poll is a
        // leak of this client's (see `origins`).
        self.origins.note(&r.resource_id, &r.client_id);
        let vars = self.trigger_vars(r);
        match trigger {
            Trigger::None => Err("the profile declares no trigger".into()),
            Trigger::Http { .. } => self.send_http(trigger, r, &vars, check_status).await,
            Trigger::Command { argv } => self.run_command(argv, &vars).await,
            Trigger::Manual { prompt } => self.ask_person(prompt, &vars).await,
        }
    }

    /// Sends the `http` trigger's request; `check_status`: an answer outside `expect_status`
    /// is an error.
    async fn send_http(
        &self,
        trigger: &Trigger,
        r: &TriggerRequest,
        vars: &HashMap<&'static str, String>,
        check_status: bool,
    ) -> Result<TriggerOutcome, String> {
        let Trigger::Http {
            expect_status,
            jti_pointer,
            ..
        } = trigger
        else {
            return Err("not an http trigger".into());
        };
        let req = http_request(trigger, r, vars)?;
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

    /// Runs the `command` trigger with the placeholders in its arguments and environment; its
    /// standard output may be JSON naming the `jti`.
    async fn run_command(
        &self,
        argv: &[String],
        vars: &HashMap<&'static str, String>,
    ) -> Result<TriggerOutcome, String> {
        let args: Vec<String> = argv
            .iter()
            .map(|a| render(a, vars, Context::Plain))
            .collect();
        let Some((program, rest)) = args.split_first() else {
            return Err("the trigger command is empty".into());
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(rest).kill_on_drop(true);
        for (k, v) in vars {
            cmd.env(format!("OBEVENTS_{}", k.to_ascii_uppercase()), v);
        }
        let out = tokio::time::timeout(self.profile.trigger_timeout, cmd.output())
            .await
            .map_err(|_| {
                format!(
                    "the trigger command {program:?} did not finish within {:?}",
                    self.profile.trigger_timeout
                )
            })?
            .map_err(|e| format!("cannot run the trigger command {program:?}: {e}"))?;
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

    /// Shows the `manual` trigger's prompt and waits (up to 10 minutes) for Enter; one person,
    /// so one prompt at a time.
    async fn ask_person(
        &self,
        prompt: &str,
        vars: &HashMap<&'static str, String>,
    ) -> Result<TriggerOutcome, String> {
        let _one_at_a_time = self.manual_lock.lock().await;
        eprintln!("\n>>> {}", render(prompt, vars, Context::Plain));
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

/// The request of an `http` trigger for `r`: its URL, headers and body filled with `vars`,
/// each escaped for where it lands (the body as its `Content-Type` says), and its auth.
fn http_request(
    trigger: &Trigger,
    r: &TriggerRequest,
    vars: &HashMap<&'static str, String>,
) -> Result<Request, String> {
    let Trigger::Http {
        method,
        url,
        headers,
        body,
        auth,
        ..
    } = trigger
    else {
        return Err("not an http trigger".into());
    };
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|e| format!("trigger.method: {e}"))?;
    let mut req = Request::new(method, render(url, vars, Context::Url));
    for (k, v) in headers {
        req.set_header(k, Some(render(v, vars, Context::Header)));
    }
    if let Some(value) = authorization(auth, r, vars) {
        req.set_header("Authorization", Some(value));
    }
    if let Some(b) = body {
        let content_type = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str());
        let context = Context::of_body(content_type, b);
        // A body the harness renders as JSON is sent as JSON unless the profile says otherwise:
        // what a bank's JSON endpoint expects, and what the README promises.
        if content_type.is_none() && context == Context::Json {
            req.set_header("Content-Type", Some("application/json".into()));
        }
        req.body = Some(render(b, vars, context).into_bytes());
    }
    Ok(req)
}

/// The `Authorization` header `auth` asks for, if any.
fn authorization(
    auth: &TriggerAuth,
    r: &TriggerRequest,
    vars: &HashMap<&'static str, String>,
) -> Option<String> {
    let basic = |user: &str, password: &str| {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    };
    match auth {
        TriggerAuth::None => None,
        TriggerAuth::TppToken => Some(format!(
            "Bearer {}",
            vars.get("access_token").map_or("", String::as_str)
        )),
        TriggerAuth::TppBasic => Some(basic(
            &r.client_id,
            r.client_secret.as_deref().unwrap_or(""),
        )),
        TriggerAuth::Basic { username, password } => Some(basic(username, password)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::profile::BankEventType;

    /// An id a bank might issue that breaks naive templating: a quote, a backslash, a line
    /// break, a slash.
    const HOSTILE: &str = "id \"q\" \\ back\nline/x";

    fn request(resource_id: &str) -> TriggerRequest {
        TriggerRequest {
            tpp_name: "A".into(),
            client_id: "tpp-\"1\"".into(),
            event_type: BankEventType::ob(crate::model::EventType::ResourceUpdate),
            resource_id: resource_id.into(),
            resource_type: "account-access-consent".into(),
            access_token: Some("tok".into()),
            dialect_type: None,
            client_secret: None,
            extra: Vec::new(),
        }
    }

    fn vars(r: &TriggerRequest) -> HashMap<&'static str, String> {
        HashMap::from([
            ("base_url", "http://127.0.0.1:8080".to_string()),
            ("client_id", r.client_id.clone()),
            ("resource_id", r.resource_id.clone()),
            ("access_token", "tok".to_string()),
        ])
    }

    fn http(url: &str, headers: &[(&str, &str)], body: &str) -> Trigger {
        Trigger::Http {
            method: "POST".into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Some(body.into()),
            auth: TriggerAuth::TppToken,
            expect_status: vec![201],
            jti_pointer: "/jti".into(),
        }
    }

    /// The JSON body of a trigger stays valid JSON and carries the ids exactly.
    #[test]
    fn a_json_body_carries_a_hostile_id_exactly() {
        let r = request(HOSTILE);
        let t = http(
            "{base_url}/sandbox/events",
            &[("Content-Type", "application/json")],
            r#"{"clientId":"{client_id}","resourceId":"{resource_id}"}"#,
        );
        let req = http_request(&t, &r, &vars(&r)).expect("a request");
        let body: Value =
            serde_json::from_slice(req.body.as_deref().unwrap_or_default()).expect("valid JSON");
        assert_eq!(body["resourceId"], HOSTILE);
        assert_eq!(body["clientId"], "tpp-\"1\"");
        assert_eq!(req.url, "http://127.0.0.1:8080/sandbox/events");
        assert_eq!(req.headers.last().map(|h| h.1.as_str()), Some("Bearer tok"));
    }

    /// A form body and a URL get the id percent-encoded; a header cannot be split by it.
    #[test]
    fn form_bodies_urls_and_headers_encode_the_id() {
        let r = request(HOSTILE);
        let t = http(
            "{base_url}/consents/{resource_id}/refresh",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Resource", "{resource_id}"),
            ],
            "resource={resource_id}&client={client_id}",
        );
        let req = http_request(&t, &r, &vars(&r)).expect("a request");
        let body = String::from_utf8(req.body.clone().unwrap_or_default()).expect("text");
        let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(form["resource"], HOSTILE);
        assert_eq!(form["client"], "tpp-\"1\"");
        let url = url::Url::parse(&req.url).expect("a URL");
        let segments: Vec<&str> = url
            .path_segments()
            .map(Iterator::collect)
            .unwrap_or_default();
        assert_eq!(segments.len(), 3, "{}", req.url);
        assert_eq!(
            percent_decode(segments[1]),
            HOSTILE,
            "the id is one path segment"
        );
        let header = req.headers.iter().find(|(k, _)| k == "X-Resource");
        let header = header.map(|h| h.1.as_str()).unwrap_or_default();
        assert!(!header.contains('\n'), "{header}");
        assert!(reqwest::header::HeaderValue::from_str(header).is_ok());
    }

    fn percent_decode(s: &str) -> String {
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }
}
