//! The Yapily-style notification API as a scenario uses it (webhook-dialects.md §1): requests
//! with the application's HTTP Basic credentials to the subscription resource (a fixed
//! application started clean by deleting what it holds), events raised
//! through the profile's trigger, and the checks every received webhook gets (YA-07, YA-08,
//! YA-12 and the `yapily-signature` rules JWD-01..07).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};

use super::{HarnessWorld, StepResult, fail};
use crate::harness::client::{self, Exchange, Request};
use crate::harness::dialects::yapily as sig;
use crate::harness::profile::{ClientAuth, Clients, YapilySettings};
use crate::harness::receiver::Received;

/// Which credentials a request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creds {
    Own,
    Missing,
    WrongSecret,
}

impl HarnessWorld {
    pub fn yapily(&self) -> Result<YapilySettings, String> {
        self.ctx()?
            .profile
            .yapily
            .clone()
            .ok_or_else(|| "the profile is not dialect = \"yapily\"".to_string())
    }

    /// The event type id the trigger raises by default, or the second one.
    pub fn yapily_type(&self, second: bool) -> Result<String, String> {
        let y = self.yapily()?;
        y.event_types
            .get(usize::from(second))
            .cloned()
            .ok_or_else(|| "yapily.event_types lists fewer than two event types".to_string())
    }

    /// A request to the subscription resource (`suffix` appended) as TPP `tpp`.
    pub async fn yapily_request(
        &mut self,
        tpp: &str,
        method: Method,
        suffix: &str,
        body: Option<Vec<u8>>,
        creds: Creds,
    ) -> Result<Exchange, String> {
        let ctx = self.ctx()?;
        let y = self.yapily()?;
        let state = self.tpp(tpp).await?;
        let secret = match &state.id.auth {
            ClientAuth::SecretBasic(s) | ClientAuth::SecretPost(s) => s.clone(),
            _ => return fail("a Yapily-style application needs client_id and client_secret"),
        };
        let url = format!("{}{}{suffix}", ctx.profile.base_url, y.subscriptions_path);
        let mut req = Request::new(method, url).header("Accept", "application/json");
        let user = match creds {
            Creds::Own => Some(format!("{}:{secret}", state.id.client_id)),
            Creds::WrongSecret => Some(format!("{}:{secret}-wrong", state.id.client_id)),
            Creds::Missing => None,
        };
        if let Some(u) = user {
            req = req.header("Authorization", format!("Basic {}", STANDARD.encode(u)));
        }
        if let Some(b) = body {
            req = req.raw("application/json", b);
        }
        let ex = client::send(&ctx.http, req).await;
        if let Some(e) = &ex.error {
            self.evidence.push(ex.clone());
            return fail(format!("cannot reach the target: {e}"));
        }
        self.record(ex.clone());
        Ok(ex)
    }

    /// Starts TPP `tpp` from nothing: every subscription its application holds (left by an
    /// earlier scenario of a fixed application) deleted, and the list then checked empty. A
    /// list the bank refuses blocks the scenario; one still full after the DELETEs fails YA-06.
    pub async fn yapily_start_clean(&mut self, tpp: &str) -> StepResult {
        let ctx = self.ctx()?;
        let fresh =
            !self.tpps.contains_key(tpp) && matches!(ctx.profile.clients, Clients::Register(_));
        self.tpp(tpp).await?;
        if fresh {
            // An application registered for this scenario has subscribed to nothing.
            return Ok(());
        }
        let listed = self.yapily_listed(tpp).await?;
        for type_id in &listed {
            let ex = self
                .yapily_request(
                    tpp,
                    Method::DELETE,
                    &format!("/{type_id}"),
                    None,
                    Creds::Own,
                )
                .await?;
            if !(200..300).contains(&ex.status()) && ex.status() != 404 {
                return fail(format!(
                    "cannot delete TPP {tpp}'s subscription to {type_id} to start clean: {}",
                    ex.summary()
                ));
            }
        }
        if !listed.is_empty() {
            let left = self.yapily_listed(tpp).await?;
            if !left.is_empty() {
                return fail(format!(
                    "YA-06: after DELETE answered, the list of TPP {tpp}'s subscriptions still \
                     holds {left:?}"
                ));
            }
        }
        self.last = None;
        Ok(())
    }

    /// The event type ids of TPP `tpp`'s subscriptions, from `GET` of the subscription resource.
    async fn yapily_listed(&mut self, tpp: &str) -> Result<Vec<String>, String> {
        let ex = self
            .yapily_request(tpp, Method::GET, "", None, Creds::Own)
            .await?;
        let items = ex
            .json()
            .filter(|_| ex.status() == 200)
            .and_then(|v| v.get("data").and_then(Value::as_array).cloned());
        let Some(items) = items else {
            return fail(format!(
                "cannot list TPP {tpp}'s subscriptions to start clean (a 200 whose data is an \
                 array): {}",
                ex.summary()
            ));
        };
        Ok(items
            .iter()
            .filter_map(|i| {
                i.get("eventTypeId")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .collect())
    }

    /// POST of a subscription to `type_id` at mailbox `label`.
    pub async fn yapily_subscribe(
        &mut self,
        tpp: &str,
        label: &str,
        type_id: &str,
    ) -> Result<Exchange, String> {
        let m = self.mailbox(tpp, label).await?;
        let body = json!({
            "eventTypeId": type_id,
            "notification": { "type": "WEBHOOK", "url": m.url }
        });
        self.last_sent = Some(body.clone());
        self.yapily_request(
            tpp,
            Method::POST,
            "",
            Some(body.to_string().into_bytes()),
            Creds::Own,
        )
        .await
    }

    /// Makes an event of `type_id` happen for TPP `tpp` through the profile's trigger.
    pub async fn yapily_fire(&mut self, tpp: &str, type_id: &str) -> StepResult {
        let ctx = self.ctx()?;
        let mut request = self
            .trigger_request(tpp, self.default_event_type()?, ctx.trigger_wants_token())
            .await?;
        request.dialect_type = Some(type_id.to_string());
        if let ClientAuth::SecretBasic(s) | ClientAuth::SecretPost(s) =
            &self.tpp(tpp).await?.id.auth
        {
            request.client_secret = Some(s.clone());
        }
        let outcome = ctx.fire(&request).await?;
        if let Some(ex) = outcome.exchange {
            self.evidence.push(ex);
        }
        self.dialect_fired
            .push((tpp.to_string(), type_id.to_string()));
        Ok(())
    }

    /// The checks of one webhook received for TPP `tpp` (whose application id is `app`):
    /// whether it is another application's (YA-12, not counted as an attempt), and every
    /// problem, each starting with its rule.
    pub(super) async fn check_yapily_push(
        &mut self,
        tpp: &str,
        app: &str,
        r: &Received,
    ) -> (bool, Vec<String>) {
        let mut problems = Vec::new();
        let event: Option<Value> = serde_json::from_slice(&r.body).ok();
        let owner = event
            .as_ref()
            .and_then(|e| e.get("applicationId"))
            .and_then(Value::as_str);
        if let Some(o) = owner
            && o != app
        {
            problems.push(format!(
                "YA-12: TPP {tpp}'s webhook URL received an event of application {o}"
            ));
            self.push_problems.extend(problems.clone());
            return (true, problems);
        }
        if r.method != "POST" {
            problems.push(format!(
                "YA-07: the webhook was sent with {}, not POST",
                r.method
            ));
        }
        let media = r.header("content-type").unwrap_or("").to_ascii_lowercase();
        if !media.starts_with("application/json") {
            problems.push(format!(
                "YA-07: Content-Type is {media:?}; the event object is JSON"
            ));
        }
        for p in sig::event_problems(&r.body) {
            problems.push(format!(
                "YA-07: the body is not the common event object: {p}"
            ));
        }
        if let Some(t) = event
            .as_ref()
            .and_then(|e| e.get("eventType"))
            .and_then(Value::as_str)
        {
            let wanted: Vec<String> = self
                .dialect_fired
                .iter()
                .filter(|(who, _)| who == tpp)
                .map(|(_, id)| YapilySettings::event_type_of(id))
                .collect();
            if !wanted.iter().any(|w| w == t) {
                problems.push(format!(
                    "YA-08: eventType {t:?} is none of the event types triggered for TPP {tpp} \
                     ({wanted:?})"
                ));
            }
        }
        problems.extend(self.signature_problems(r).await);
        self.push_problems.extend(problems.clone());
        (false, problems)
    }

    /// JWD-01..07 on the `yapily-signature` header of `r`, refreshing the JWKS once on an
    /// unknown `kid`.
    async fn signature_problems(&mut self, r: &Received) -> Vec<String> {
        let Ok(ctx) = self.ctx() else {
            return Vec::new();
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let skew = ctx.profile.clock_skew;
        let header = r.header(sig::HEADER);
        let jwks = ctx.jwks(false).await.ok();
        let (mut signed, mut problems) = sig::check(header, &r.body, jwks.as_ref(), now, skew);
        if problems.iter().any(|p| p.starts_with("JWD-03: kid")) {
            let fresh = ctx.jwks(true).await.ok();
            (signed, problems) = sig::check(header, &r.body, fresh.as_ref(), now, skew);
        }
        if let Some(jti) = signed.jti
            && !self.signature_jtis.insert(jti.clone())
        {
            problems.push(format!(
                "JWD-07: the signature jti {jti} was used before in this scenario"
            ));
        }
        problems
    }
}
