//! Tracking events: what the scenario made happen (the trigger), what each TPP's polls
//! returned, checked and acknowledged, and draining a TPP's queue between scenarios.

use std::collections::HashSet;
use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Drain, HarnessWorld, PollView, StepResult, Triggered, fail};
use crate::harness::client::Exchange;
use crate::harness::context::{Purpose, canonical_json};
use crate::harness::trigger::TriggerRequest;
use crate::model::EventType;

impl HarnessWorld {
    /// POST /events as TPP `name` with `body`; a 2xx answer is checked in full (schema, every
    /// SET): problems of the scenario's rules are kept for the step that checks them, the rest
    /// are findings. Keys are recorded as seen (and received if `explicit`).
    pub async fn poll(
        &mut self,
        name: &str,
        body: Value,
        explicit: bool,
    ) -> Result<Exchange, String> {
        let ex = self
            .call(
                name,
                Purpose::Polling,
                Method::POST,
                "/events",
                Some(body),
                false,
            )
            .await?;
        self.check_poll(name, &ex, explicit).await?;
        Ok(ex)
    }

    pub async fn check_poll(
        &mut self,
        name: &str,
        ex: &Exchange,
        explicit: bool,
    ) -> Result<(), String> {
        if !(200..300).contains(&ex.status()) {
            self.last_poll = None;
            return Ok(());
        }
        let ctx = self.ctx()?;
        let aud = self.tpp(name).await?.id.aud.clone();
        let check = ctx
            .check_poll(&ex.response_body, ex.header("content-type"), &aud)
            .await;
        if let Some(last) = self.evidence.last_mut() {
            last.decoded_sets = check
                .sets
                .iter()
                .map(|s| json!({ "key": s.key, "header": s.header, "claims": s.claims }))
                .collect();
        }
        let mut check = check;
        // SETs the bank keeps serving after they were acknowledged (AP-09, found by a drain)
        // belong to no scenario: leaving them out keeps later expectations about this scenario.
        let served = check.sets.len();
        check.sets.retain(|s| !ctx.is_stuck(&s.key));
        let stuck = served - check.sets.len();
        let state = self.tpp(name).await?;
        for s in &check.sets {
            state.seen.insert(s.key.clone());
            state.claims.insert(s.key.clone(), s.claims.clone());
            if explicit && !state.received.contains(&s.key) {
                state.received.push(s.key.clone());
            }
        }
        self.sets.extend(check.sets.iter().cloned());
        // The poll answer is the last response recorded (`call` recorded it).
        let index = self.checks.last.unwrap_or_default();
        for s in &check.sets {
            self.checks.set_answers.insert(s.key.clone(), index);
        }
        self.defer(check.problems.clone(), Some(ex), index);
        self.last_poll = Some(PollView {
            tpp: name.to_string(),
            check,
            stuck,
        });
        Ok(())
    }

    /// Expects `ex` to be a successful poll (status per profile).
    pub fn expect_poll_success(&self, ex: &Exchange) -> StepResult {
        let ctx = self.ctx()?;
        let long_poll = ex
            .request_body
            .as_deref()
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            .is_some_and(|b| b.get("returnImmediately") == Some(&Value::Bool(false)));
        let status = ex.status();
        if long_poll && (404..500).contains(&status) {
            // A bank without long polling answers at once or refuses with 400 (AP-08); a 404 or
            // another refusal of an explicit long poll (not 401/403, which are about the token)
            // is AP-08's defect, not the success status's (AP-06).
            return fail(format!(
                "AP-08: a poll with returnImmediately false was answered {status}; a bank without \
                 long polling answers it at once or refuses it with 400: {}",
                ex.summary()
            ));
        }
        if !ctx.profile.bank.poll_success_status.contains(&ex.status()) {
            return fail(format!(
                "AP-06: POST /events answered {} (the profile expects {:?}): {}",
                ex.status(),
                ctx.profile.bank.poll_success_status,
                ex.summary()
            ));
        }
        Ok(())
    }

    /// A short poll body (returnImmediately true; maxEvents when given).
    pub fn short_poll(max_events: Option<u64>) -> Value {
        let mut b = json!({ "returnImmediately": true });
        if let Some(n) = max_events {
            b["maxEvents"] = json!(n);
        }
        b
    }

    /// Polls and acknowledges until nothing is awaiting (bounded).
    pub async fn drain(&mut self, name: &str) -> Result<Drain, String> {
        let limit = self.peek_limit()?;
        let mut ack: Vec<String> = Vec::new();
        for _ in 0..200 {
            let mut body = Self::short_poll(Some(limit));
            if !ack.is_empty() {
                body["ack"] = json!(ack);
            }
            let ex = self.poll(name, body, false).await?;
            if let Err(e) = self.expect_poll_success(&ex) {
                return Ok(Drain::Refused(e));
            }
            let keys: Vec<String> = self
                .last_poll
                .as_ref()
                .map(|p| p.check.sets.iter().map(|s| s.key.clone()).collect())
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(Drain::Done);
            }
            // A bank that re-serves what was just acknowledged would loop forever here: the
            // defect is reported once (AP-09) and those SETs are left out from now on.
            if keys.iter().all(|k| ack.contains(k)) {
                // Only the TPP's own SETs can be stuck for it: another TPP's SET in its poll is
                // a leak (AP-17) the TPP cannot acknowledge, and marking it stuck would hide
                // that leak from the scenario that checks for it.
                let own = self.own_keys(name, &keys).await?;
                if !own.is_empty() {
                    self.served_again(name, &own, &ex).await?;
                }
                return Ok(Drain::Done);
            }
            ack = keys;
        }
        fail(format!("TPP {name}'s queue did not drain after 200 polls"))
    }

    /// Those of `keys` (in the last poll) whose SET is addressed to TPP `name`, or to no one.
    async fn own_keys(&mut self, name: &str, keys: &[String]) -> Result<Vec<String>, String> {
        let aud = self.tpp(name).await?.id.aud.clone();
        let sets = self
            .last_poll
            .as_ref()
            .map(|p| p.check.sets.clone())
            .unwrap_or_default();
        Ok(sets
            .iter()
            .filter(|s| keys.contains(&s.key))
            .filter(|s| match s.claims.get("aud") {
                Some(Value::String(a)) => *a == aud,
                Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud.as_str())),
                _ => true,
            })
            .map(|s| s.key.clone())
            .collect())
    }

    /// Drains TPP `name`'s queue if `start_clean` could not, before the scenario's first poll or
    /// trigger. A bank that refuses to poll for a TPP without a subscription (a spec gap, AP-03)
    /// has nothing it could serve it either, so that refusal is not an error.
    pub async fn ensure_drained(&mut self, name: &str) -> StepResult {
        let state = self.tpp(name).await?;
        if !state.needs_drain {
            return Ok(());
        }
        state.needs_drain = false;
        let subscribed = state.subscription.is_some();
        // The overrides are meant for the step's own request, not for the housekeeping polls.
        let next = std::mem::take(&mut self.next);
        let outcome = self.drain(name).await;
        self.next = next;
        match outcome? {
            Drain::Done => Ok(()),
            Drain::Refused(_) if !subscribed => Ok(()),
            Drain::Refused(why) => fail(format!("cannot drain TPP {name}'s awaiting SETs: {why}")),
        }
    }

    /// Makes one event happen for TPP `name`.
    pub async fn fire(&mut self, name: &str, event_type: EventType, expected: bool) -> StepResult {
        self.ensure_drained(name).await?;
        let ctx = self.ctx()?;
        if !ctx.profile.trigger_types.contains(&event_type) {
            return fail(format!("the profile's trigger cannot produce {event_type}"));
        }
        let request = self
            .trigger_request(name, event_type, ctx.trigger_wants_token())
            .await?;
        self.ensure_drained(name).await?;
        let outcome = ctx.fire(&request).await?;
        if let Some(ex) = outcome.exchange {
            self.evidence.push(ex);
        }
        self.triggered.push(Triggered {
            tpp: name.to_string(),
            event_type,
            resource_id: request.resource_id,
            key: outcome.jti,
            expected,
        });
        Ok(())
    }

    /// The placeholders of a trigger (or subscribe action) for TPP `name` and `event_type`, with a
    /// fresh resource id and, when `with_token`, the TPP's events-scope token.
    pub async fn trigger_request(
        &mut self,
        name: &str,
        event_type: EventType,
        with_token: bool,
    ) -> Result<TriggerRequest, String> {
        let ctx = self.ctx()?;
        let token = if with_token {
            Some(self.token(name, Purpose::Events).await?)
        } else {
            None
        };
        let state = self.tpp(name).await?;
        Ok(TriggerRequest {
            tpp_name: name.to_string(),
            client_id: state.id.client_id.clone(),
            event_type,
            resource_id: format!("obevents-{}", uuid::Uuid::new_v4()),
            resource_type: ctx.profile.trigger_resource_type.clone(),
            access_token: token,
            dialect_type: None,
            client_secret: None,
            extra: Vec::new(),
        })
    }

    /// Does `set` belong to `t` (by jti when the trigger named it, else by subject rid)?
    pub fn matches(&self, t: &Triggered, set_key: &str, claims: &Value) -> bool {
        if let Some(k) = &t.key {
            return k == set_key;
        }
        let rid_known = self
            .ctx
            .as_ref()
            .is_some_and(|c| c.trigger_uses_resource_id());
        if rid_known {
            let events = claims.get("events").and_then(Value::as_object);
            return events.is_some_and(|m| {
                m.values().any(|e| {
                    e.pointer("/subject")
                        .and_then(|s| s.get(crate::model::set::RID))
                        .and_then(Value::as_str)
                        == Some(t.resource_id.as_str())
                })
            });
        }
        false
    }

    /// Waits until every expected event of TPP `name` triggered so far is visible in its polls
    /// (or a poll is full, so no more can be seen), without acknowledging anything. Bounded by
    /// the profile's event timeout.
    pub async fn await_events(&mut self, name: &str, before: &HashSet<String>) -> StepResult {
        let ctx = self.ctx()?;
        let limit = self.peek_limit()?;
        let deadline = Instant::now() + ctx.profile.event_timeout;
        loop {
            let ex = self
                .poll(name, Self::short_poll(Some(limit)), false)
                .await?;
            self.expect_poll_success(&ex)?;
            self.assign_keys(name, before);
            // An event is visible once a poll showed its SET; a jti named by the trigger is
            // not enough, the bank may queue the SET after answering the trigger.
            let seen = &self.tpp(name).await?.seen.clone();
            let pending = self
                .triggered
                .iter()
                .filter(|t| {
                    t.tpp == name && t.expected && t.key.as_ref().is_none_or(|k| !seen.contains(k))
                })
                .count();
            let visible = self
                .last_poll
                .as_ref()
                .map(|p| p.check.sets.len() as u64)
                .unwrap_or(0);
            if pending == 0 || visible >= limit {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return fail(format!(
                    "timing: {pending} triggered event(s) for TPP {name} did not appear in its polls within \
                     timing.event_timeout_ms ({} ms); check the trigger, or raise the timeout if the bank is slow",
                    ctx.profile.event_timeout.as_millis()
                ));
            }
            tokio::time::sleep(ctx.profile.poll_interval).await;
        }
    }

    /// Matches the last poll's SETs to triggered events that have no key yet. With a resource
    /// id to match on, by `rid`; otherwise the oldest unmatched expected event takes the next
    /// SET not in `exclude` (SETs that were already there before the trigger).
    pub fn assign_keys(&mut self, name: &str, exclude: &HashSet<String>) {
        let Some(poll) = self.last_poll.clone() else {
            return;
        };
        let rid_known = self
            .ctx
            .as_ref()
            .is_some_and(|c| c.trigger_uses_resource_id());
        for set in &poll.check.sets {
            if self
                .triggered
                .iter()
                .any(|t| t.key.as_deref() == Some(set.key.as_str()))
            {
                continue;
            }
            let idx = if rid_known {
                self.triggered.iter().position(|t| {
                    t.tpp == name && t.key.is_none() && self.matches(t, &set.key, &set.claims)
                })
            } else if exclude.contains(&set.key) {
                None
            } else {
                self.triggered
                    .iter()
                    .position(|t| t.tpp == name && t.key.is_none() && t.expected)
            };
            if let Some(i) = idx {
                self.triggered[i].key = Some(set.key.clone());
            }
        }
    }

    /// The keys of the last poll's SETs.
    pub fn last_keys(&self) -> Result<Vec<String>, String> {
        let poll = self
            .last_poll
            .as_ref()
            .ok_or("the last request was not a successful poll")?;
        Ok(poll.check.sets.iter().map(|s| s.key.clone()).collect())
    }

    /// Keys of the expected events of TPP `name`.
    pub fn expected_keys(&self, name: &str) -> Vec<Option<String>> {
        self.triggered
            .iter()
            .filter(|t| t.tpp == name && t.expected)
            .map(|t| t.key.clone())
            .collect()
    }

    /// Compares a SET's claims with what the TPP saw before under the same key.
    pub fn same_claims(a: &Value, b: &Value) -> bool {
        canonical_json(a) == canonical_json(b)
    }
}
