//! Real-time push as a scenario sees it: the TPP's mailboxes at the run's callback receiver,
//! subscriptions whose CallbackUrl is one of them, and the pushes that arrived — each checked
//! like a polled SET and kept as evidence.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{HarnessWorld, StepResult, fail};
use crate::harness::client::{Exchange, mask_header};
use crate::harness::defects::Problem;
use crate::harness::outcome::{ReceivedRequest, ReceiverLog};
use crate::harness::profile::BankEventType;
use crate::harness::profile::Dialect;
use crate::harness::receiver::{Answer, Received};

/// A mailbox of the scenario: which TPP it belongs to and where it was registered.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub tpp: String,
    pub id: String,
    pub url: String,
    /// How many of the receiver's requests were looked at.
    pub checked: usize,
    /// The pushes of this TPP's own events (or that cannot be told apart), checked and kept as
    /// evidence; pushes of other TPPs' SETs are findings, not attempts.
    pub kept: Vec<Received>,
}

/// `"A"` for TPP A's receiver, `"A2"` for its second one.
pub fn label(tpp: &str, second: bool) -> String {
    if second {
        format!("{tpp}2")
    } else {
        tpp.to_string()
    }
}

impl HarnessWorld {
    /// The mailbox `label` of TPP `tpp`, opened at the receiver on first use.
    pub async fn mailbox(&mut self, tpp: &str, label: &str) -> Result<Mailbox, String> {
        if let Some(m) = self.mailboxes.get(label) {
            return Ok(m.clone());
        }
        let ctx = self.ctx()?;
        let aud = self.tpp(tpp).await?.id.aud.clone();
        let (id, url) = ctx.receiver()?.open(Some(&aud));
        let m = Mailbox {
            tpp: tpp.to_string(),
            id,
            url,
            checked: 0,
            kept: Vec::new(),
        };
        self.mailboxes.insert(label.to_string(), m.clone());
        Ok(m)
    }

    /// Sets what mailbox `label` answers.
    pub async fn script(
        &mut self,
        tpp: &str,
        label: &str,
        script: Vec<Answer>,
        then: Answer,
    ) -> StepResult {
        let m = self.mailbox(tpp, label).await?;
        self.ctx()?.receiver()?.script(&m.id, script, then);
        Ok(())
    }

    /// The subscription body asking for `types` (all when `None`) with CallbackUrl `url`.
    pub fn push_subscription_body(
        &self,
        url: Option<&str>,
        types: Option<Vec<BankEventType>>,
    ) -> Result<Value, String> {
        let mut body = self.subscription_body(types)?;
        if let Some(u) = url {
            body["Data"]["CallbackUrl"] = json!(u);
        }
        Ok(body)
    }

    /// Subscribes TPP `tpp` with mailbox `label` as its CallbackUrl, or fails the step.
    pub async fn subscribe_push(
        &mut self,
        tpp: &str,
        label: &str,
        types: Option<Vec<BankEventType>>,
    ) -> StepResult {
        let m = self.mailbox(tpp, label).await?;
        if self.stream_actions().is_some() {
            return self.create_stream(tpp, &m.url, types).await;
        }
        let body = self.push_subscription_body(Some(&m.url), types)?;
        let ex = self.create_subscription(tpp, body).await?;
        if ex.status() != 201 {
            return fail(format!(
                "ES-02: cannot subscribe TPP {tpp} with a CallbackUrl: {}",
                ex.summary()
            ));
        }
        Ok(())
    }

    /// PUT of TPP `tpp`'s subscription with CallbackUrl `url` (none: removed), same types.
    pub async fn replace_callback(&mut self, tpp: &str, url: Option<&str>) -> StepResult {
        if self.stream_actions().is_some() {
            return match url {
                Some(u) => self.move_stream(tpp, u).await,
                None => fail("a stream's endpoint cannot be removed, only the stream deleted"),
            };
        }
        let ctx = self.ctx()?;
        let types = self
            .tpp(tpp)
            .await?
            .subscription
            .as_ref()
            .and_then(|d| d.get("EventTypes"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().and_then(|c| ctx.profile.event_type(c)))
                    .collect::<Vec<_>>()
            });
        self.replace_push_subscription(tpp, url, types).await
    }

    /// PUT of TPP `tpp`'s subscription with CallbackUrl `url` (none: removed) and `types` (all:
    /// `None`); a refusal fails the step (ES-10), an acceptance is the moment pushes are judged
    /// from.
    pub async fn replace_push_subscription(
        &mut self,
        tpp: &str,
        url: Option<&str>,
        types: Option<Vec<BankEventType>>,
    ) -> StepResult {
        let id = self.subscription_id(tpp).await?;
        let mut body = self.push_subscription_body(url, types)?;
        body["Data"]["EventSubscriptionId"] = json!(id);
        let ex = self.put_subscription(tpp, &id, body.clone()).await?;
        if ex.status() != 200 {
            return fail(format!(
                "ES-10: cannot change TPP {tpp}'s subscription: {}",
                ex.summary()
            ));
        }
        // Accepted, but the answer still shows what was there: the change did not take effect
        // (ES-10's defect, judged by its own scenarios), so what follows has no change to
        // judge against.
        if let Some(kept) = ex.json().and_then(|got| unapplied(&body, &got)) {
            self.change_unapplied = Some(format!(
                "TPP {tpp}'s PUT was answered 200 but its answer keeps the old {kept} (ES-10)"
            ));
            return Ok(());
        }
        self.note_change();
        Ok(())
    }

    /// Remembers that the bank just accepted a change of the subscription pushes follow, if the
    /// last answer was a 2xx.
    pub fn note_change(&mut self) {
        if let Some(ex) = &self.last
            && (200..300).contains(&ex.status())
        {
            self.changed_at = Some(ex.finished.unwrap_or_else(Instant::now));
        }
    }

    /// Waits until mailbox `label` holds `n` pushes of its TPP's events or `timeout` passes;
    /// checks and records every new push; returns the TPP's pushes.
    pub async fn await_pushes(
        &mut self,
        label: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Received>, String> {
        let deadline = Instant::now() + timeout;
        let ctx = self.ctx()?;
        loop {
            let m = self
                .mailboxes
                .get(label)
                .cloned()
                .ok_or_else(|| format!("the scenario opened no receiver {label}"))?;
            let raw = ctx.receiver()?.received(&m.id);
            self.check_pushes(label, &raw).await?;
            let kept = self
                .mailboxes
                .get(label)
                .map(|m| m.kept.clone())
                .unwrap_or_default();
            let left = deadline.saturating_duration_since(Instant::now());
            if kept.len() >= n || left.is_zero() {
                return Ok(kept);
            }
            ctx.receiver()?.wait_for(&m.id, raw.len() + 1, left).await;
        }
    }

    /// Sorts each push not looked at yet: a SET of another TPP is an R-02 finding; the others
    /// get the SET checks polling applies and are kept as attempts and evidence. Problems of the
    /// scenario's own rules fail the step; others are findings.
    async fn check_pushes(&mut self, label: &str, got: &[Received]) -> StepResult {
        let Some(m) = self.mailboxes.get(label).cloned() else {
            return Ok(());
        };
        let ctx = self.ctx()?;
        let aud = self.tpp(&m.tpp).await?.id.aud.clone();
        let mut problems = Vec::new();
        let mut kept = Vec::new();
        let dialect = ctx.profile.dialect;
        for r in got.iter().skip(m.checked) {
            let mut ex = push_exchange(r, &m.url);
            if dialect != Dialect::Obie {
                let (foreign, found) = if dialect == Dialect::Yapily {
                    self.check_yapily_push(&m.tpp, &aud, r).await
                } else {
                    self.check_tatra_push(&m.tpp, r)
                };
                let found = found.iter().map(|m| Problem::from_message(m)).collect();
                problems.extend(self.triage(found, Some(&ex)));
                self.evidence.push(ex);
                self.checks.last = Some(self.evidence.len() - 1);
                if !foreign {
                    kept.push(r.clone());
                }
                continue;
            }
            let token = r.body_text();
            if let Some(claims) = push_claims(&token)
                && self.foreign(&m.tpp, &aud, &claims)
            {
                let msg = Problem::new(
                    "R-02",
                    "push:other-tpps-set",
                    format!(
                        "TPP {}'s CallbackUrl received a SET about another TPP's event (aud {}, \
                         jti {})",
                        m.tpp,
                        claims.get("aud").unwrap_or(&Value::Null),
                        claims.get("jti").unwrap_or(&Value::Null)
                    ),
                );
                problems.extend(self.triage(vec![msg], Some(&ex)));
                self.evidence.push(ex);
                continue;
            }
            let key = push_claims(&token)
                .and_then(|c| c.get("jti").and_then(Value::as_str).map(String::from))
                .unwrap_or_else(|| format!("push {}", m.kept.len() + kept.len() + 1));
            let mut checked = ctx.check_set(&key, token.trim(), &aud).await;
            if checked.claims.is_null()
                && let Some(claims) = push_claims(&token)
            {
                checked.claims = claims;
            }
            ex.decoded_sets = vec![json!({
                "key": checked.key, "header": checked.header, "claims": checked.claims
            })];
            problems.extend(self.triage(checked.problems.clone(), Some(&ex)));
            self.evidence.push(ex);
            self.sets.push(checked);
            // A failed push assertion looks at the pushes, not at the request that subscribed.
            self.checks.last = Some(self.evidence.len() - 1);
            kept.push(r.clone());
        }
        if let Some(mm) = self.mailboxes.get_mut(label) {
            mm.checked = got.len().max(mm.checked);
            mm.kept.extend(kept);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            let lines: Vec<String> = problems.iter().map(Problem::message).collect();
            fail(format!(
                "a push breaks {} rule(s):\n  {}",
                lines.len(),
                lines.join("\n  ")
            ))
        }
    }

    /// Is a pushed SET with `claims` about none of TPP `tpp`'s triggered events and addressed
    /// to someone else?
    fn foreign(&self, tpp: &str, aud: &str, claims: &Value) -> bool {
        let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
        let ours = self
            .triggered
            .iter()
            .any(|t| t.tpp == tpp && self.matches(t, jti, claims));
        let addressed = match claims.get("aud") {
            Some(Value::String(a)) => a == aud,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud)),
            _ => true,
        };
        !ours && !addressed
    }

    /// Waits the profile's quiet period and returns the pushes of `label` that arrived after
    /// `since` (or after the first `after` pushes when `since` is `None`).
    pub async fn quiet(
        &mut self,
        label: &str,
        after: usize,
        since: Option<Instant>,
    ) -> Result<Vec<Received>, String> {
        let quiet = self.ctx()?.profile.push.quiet_period;
        tokio::time::sleep(quiet).await;
        let all = self.await_pushes(label, 0, Duration::ZERO).await?;
        Ok(match since {
            Some(t) => all.into_iter().filter(|r| r.at > t).collect(),
            None => all.into_iter().skip(after).collect(),
        })
    }
}

impl HarnessWorld {
    /// What each of the scenario's mailboxes got, as the receiver saw it: arrival time, the
    /// delay from the request before, the answer, headers (credentials masked) and body.
    pub fn receiver_logs(&self) -> Vec<ReceiverLog> {
        let Ok(ctx) = self.ctx() else {
            return Vec::new();
        };
        let Ok(receiver) = ctx.receiver() else {
            return Vec::new();
        };
        let mut labels: Vec<&String> = self.mailboxes.keys().collect();
        labels.sort();
        labels
            .into_iter()
            .filter_map(|l| {
                let m = &self.mailboxes[l];
                let got = receiver.received(&m.id);
                (!got.is_empty()).then(|| ReceiverLog {
                    mailbox: l.clone(),
                    url: m.url.clone(),
                    requests: received_requests(&got),
                })
            })
            .collect()
    }
}

/// `got` as the report shows it.
fn received_requests(got: &[Received]) -> Vec<ReceivedRequest> {
    let mut previous: Option<Instant> = None;
    got.iter()
        .map(|r| {
            let after = previous.map(|p| r.at.saturating_duration_since(p).as_millis());
            previous = Some(r.at);
            let arrived = time::OffsetDateTime::from(r.wall)
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
                ))
                .unwrap_or_default();
            ReceivedRequest {
                arrived,
                after_previous_ms: after,
                method: r.method.clone(),
                path: r.path.clone(),
                answered: match r.answered {
                    Answer::Status(s) => s.to_string(),
                    Answer::Hold(d) => format!("held {} ms, then 202", d.as_millis()),
                },
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), mask_header(k, v)))
                    .collect(),
                body: r.body_text(),
            }
        })
        .collect()
}

/// What identifies the event a push carries, so a retry of it can be told from a push of
/// another event: a SET's `jti`, a JSON event's `id`, else the body itself (a Tatra-style body
/// is fixed when its event is raised).
pub fn event_id(r: &Received) -> String {
    let text = r.body_text();
    if let Some(jti) =
        push_claims(&text).and_then(|c| c.get("jti").and_then(Value::as_str).map(String::from))
    {
        return jti;
    }
    serde_json::from_slice::<Value>(&r.body)
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(String::from))
        .unwrap_or(text)
}

/// The claims of a pushed compact JWT, read without verifying it.
fn push_claims(token: &str) -> Option<Value> {
    let token = token.trim();
    let object = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes)
            .ok()
            .filter(Value::is_object)
    };
    if let Some(payload) = token.split('.').nth(1) {
        return object(&crate::jose::b64_decode(payload).ok()?);
    }
    // Not a compact JWS: that defect is one finding of the SET checks (N-01/J-01). The claims
    // are still read when the body carries them as JSON or as base64 of JSON, so the scenarios
    // that judge where and when the event was pushed judge that, not the body's framing again.
    object(token.as_bytes()).or_else(|| {
        use base64::Engine;
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        engines
            .iter()
            .find_map(|e| e.decode(token).ok())
            .or_else(|| crate::jose::b64_decode(token).ok())
            .and_then(|b| object(&b))
    })
}

/// A push as report evidence: the bank's request and the receiver's answer.
pub(super) fn push_exchange(r: &Received, registered: &str) -> Exchange {
    let origin = url::Url::parse(registered)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let status = match r.answered {
        Answer::Status(s) => s,
        Answer::Hold(_) => 202,
    };
    Exchange {
        method: r.method.clone(),
        url: format!("{origin}{}", r.path),
        request_headers: r.headers.clone(),
        request_body: Some(r.body_text()),
        status: Some(status),
        response_headers: Vec::new(),
        response_body: String::new(),
        error: None,
        elapsed_ms: 0,
        decoded_sets: Vec::new(),
        started: Some(r.at),
        finished: Some(r.at),
    }
}

/// The member of a subscription PUT `sent` that the answer `got` does not show as sent
/// (`CallbackUrl` or `EventTypes`, either way round: set, changed or removed), if any.
fn unapplied(sent: &Value, got: &Value) -> Option<&'static str> {
    let (s, g) = (sent.get("Data")?, got.get("Data")?);
    if s.get("CallbackUrl") != g.get("CallbackUrl") {
        return Some("CallbackUrl");
    }
    let sent_types = subscription_types(s);
    (sent_types.is_some() && sent_types != subscription_types(g)).then_some("EventTypes")
}

/// The set of event types a subscription `Data` names (by type, whatever the spelling).
pub fn subscription_types(data: &Value) -> Option<Vec<BankEventType>> {
    data.get("EventTypes").and_then(Value::as_array).map(|a| {
        let none = std::collections::BTreeMap::new();
        let mut v: Vec<BankEventType> = a
            .iter()
            .map(|t| BankEventType::named(t.as_str().unwrap_or("?"), &none))
            .collect();
        v.sort();
        v.dedup();
        v
    })
}
