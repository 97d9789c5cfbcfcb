//! Tracking events: what the scenario made happen (the trigger), what each TPP's polls
//! returned, checked and acknowledged (by each SET's `jti`, RFC 8936 §2.2), and draining a
//! TPP's queue between scenarios. The harness's own polls charge what they trip on (a 404 for
//! an empty queue, SETs served after their acknowledgement) to the rules it breaks and go on.

use std::collections::HashSet;
use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Drain, HarnessWorld, PollView, StepResult, Triggered, fail, set_errs};
use crate::harness::client::Exchange;
use crate::harness::context::{Purpose, canonical_json};
use crate::harness::defects::Problem;
use crate::harness::profile::BankEventType;
use crate::harness::profile::Conformance;
use crate::harness::set_check::PollCheck;
use crate::harness::trigger::TriggerRequest;
use crate::model::bank::LongPolling;

/// The defect kind of SETs served in the answer to the request that acknowledged them
/// (R8936-24), which a scenario withdraws once the next poll shows acks are not applied at all.
pub const SERVED_WITH_ITS_ACK: &str = "ack:served-with-its-ack";

/// How many polls one drain may send before it gives up.
const DRAIN_POLLS: usize = 200;

impl HarnessWorld {
    /// POST /events as TPP `name` with `body`; a 2xx answer is checked in full (schema, every
    /// SET): problems of the scenario's rules are kept for the step that checks them, the rest
    /// are findings. SETs are recorded as seen (and received if `explicit`) by their jti.
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

    /// Checks the answer `ex` to a poll of TPP `name` (see [`poll`](Self::poll)); also records
    /// the acknowledgements the bank accepted and finds SETs it serves after accepting their
    /// acknowledgement (AP-09, R8936-11; R8936-24 when served in the answer to that very
    /// request), which are left out of every later expectation.
    pub async fn check_poll(
        &mut self,
        name: &str,
        ex: &Exchange,
        explicit: bool,
    ) -> Result<(), String> {
        if self.empty_queue_404(ex) {
            return Ok(());
        }
        if !(200..300).contains(&ex.status()) {
            self.last_poll = None;
            return Ok(());
        }
        let ctx = self.ctx()?;
        let (aud, client) = {
            let id = &self.tpp(name).await?.id;
            (id.aud.clone(), id.client_id.clone())
        };
        let mut check = ctx
            .check_poll(&ex.response_body, ex.header("content-type"), &aud)
            .await;
        if let Some(last) = self.evidence.last_mut() {
            last.decoded_sets = check
                .sets
                .iter()
                .map(|s| json!({ "key": s.key, "header": s.header, "claims": s.claims }))
                .collect();
        }
        let (leaked, leak) = super::leaks::set_aside(&ctx, &mut check, name, &client, &aud);
        let acked_now = acks_of(ex);
        let mut problems = check.problems.clone();
        problems.extend(leak);
        problems.extend(check.sets.iter().flat_map(|s| s.problems.iter().cloned()));
        problems.extend(
            self.acknowledged(name, &client, &aud, &acked_now, &check)
                .await?,
        );
        // SETs the bank keeps serving after they were acknowledged belong to no scenario:
        // leaving them out keeps later expectations about this scenario.
        let stuck_ids: Vec<String> = check
            .sets
            .iter()
            .map(|s| s.id().to_string())
            .filter(|id| ctx.is_stuck(id))
            .collect();
        check.sets.retain(|s| !ctx.is_stuck(s.id()));
        let stuck = stuck_ids.len();
        let state = self.tpp(name).await?;
        for s in &check.sets {
            state.seen.insert(s.id().to_string());
            state.claims.insert(s.id().to_string(), s.claims.clone());
            if explicit && !state.received.iter().any(|k| k == s.id()) {
                state.received.push(s.id().to_string());
            }
        }
        self.sets.extend(check.sets.iter().cloned());
        // The poll answer is the last response recorded (`call` recorded it).
        let index = self.checks.last.unwrap_or_default();
        for s in &check.sets {
            self.checks.set_answers.insert(s.key.clone(), index);
            self.checks.set_answers.insert(s.id().to_string(), index);
        }
        self.defer(problems, Some(ex), index);
        self.last_poll = Some(PollView {
            tpp: name.to_string(),
            check,
            stuck,
            stuck_ids,
            leaked,
            acked: acked_now,
            empty_404: false,
        });
        Ok(())
    }

    /// Records the acknowledgements in a poll the bank answered 2xx (`acked_now`, those of
    /// TPP `name`'s own SETs) and returns the problem of SETs in `check` whose
    /// acknowledgement it had accepted, marking SETs served again as ones it keeps serving.
    async fn acknowledged(
        &mut self,
        name: &str,
        client: &str,
        aud: &str,
        acked_now: &[String],
        check: &PollCheck,
    ) -> Result<Vec<Problem>, String> {
        let ctx = self.ctx()?;
        let state = self.tpp(name).await?;
        let own: Vec<String> = acked_now
            .iter()
            .filter(|k| state.seen.contains(*k))
            .cloned()
            .collect();
        // Acknowledged before this request (served again), or in it (served with its ack).
        // A SET addressed to another TPP is that TPP's to acknowledge: served again after this
        // one's ack it is the leak (aud, R-02), not an ack ignored, so it is one defect.
        let (again, with_ack): (Vec<String>, Vec<String>) = check
            .sets
            .iter()
            .filter(|s| s.addressed_to(aud))
            .map(|s| s.id().to_string())
            .filter(|id| !ctx.is_stuck(id))
            .filter(|id| ctx.was_acked(client, id) || own.contains(id))
            .partition(|id| ctx.was_acked(client, id));
        ctx.record_acks(client, &own);
        let mut problems = Vec::new();
        if !with_ack.is_empty() {
            problems.push(Problem::new(
                "R8936-24",
                SERVED_WITH_ITS_ACK,
                format!(
                    "TPP {name} acknowledged {with_ack:?} and the answer to that very request serves them \
                     (acks apply before the batch is chosen)"
                ),
            ));
        }
        if !again.is_empty() {
            ctx.mark_stuck(&again);
            tracing::warn!("TPP {name}'s acknowledged SETs are served again: {again:?}");
            let problem = Problem::new(
                "AP-09/R8936-11",
                "ack:served-again",
                format!(
                    "TPP {name}'s acknowledgement of {again:?} was accepted (2xx), yet a later poll \
                     serves them again; they are left out of later expectations"
                ),
            );
            // The scenario's own acknowledgements are its check; SETs acknowledged before it
            // (by an earlier scenario or the drain) coming back are a finding of the run.
            let state = self.tpp(name).await?;
            if again.iter().any(|k| state.acked.contains(k)) {
                problems.push(problem);
            } else {
                self.record_finding(problem, self.last.clone().as_ref());
            }
        }
        Ok(problems)
    }

    /// A short poll with a valid token answered 404: the bank calls an empty queue "not found"
    /// (AP-06, R8936-16: nothing awaiting is a 200 with an empty `sets`). The defect is charged
    /// once per run as a finding (or to a scenario about those rules), and the answer is taken
    /// as "nothing awaiting", so the scenarios that only needed an empty answer go on.
    fn empty_queue_404(&mut self, ex: &Exchange) -> bool {
        if ex.status() != 404 || !self.last_token_valid {
            return false;
        }
        // A long poll answered 404 at once is the long-poll rule's (AP-08/R8936-08, judged by
        // `expect_poll_success`); one the bank held for most of its hold and then answered 404
        // did long-poll, and found nothing awaiting: the same empty-queue defect.
        if self.is_long_poll(ex) && !self.held_most_of_the_hold(ex) {
            return false;
        }
        let problem = Problem::new(
            "AP-06/R8936-16",
            "poll:404-for-nothing-awaiting",
            format!(
                "a poll with nothing awaiting was answered 404; the answer is 200 with an \
                 empty sets object (the harness takes the 404 as nothing awaiting): {}",
                ex.summary()
            ),
        );
        let index = self.checks.last.unwrap_or_default();
        self.defer(vec![problem], Some(ex), index);
        self.last_poll = Some(PollView {
            tpp: self.last_caller.clone().unwrap_or_default(),
            check: PollCheck {
                more_available: Some(false),
                ..PollCheck::default()
            },
            stuck: 0,
            stuck_ids: Vec::new(),
            leaked: Vec::new(),
            acked: Vec::new(),
            empty_404: true,
        });
        true
    }

    /// Did the bank hold the poll `ex` for at least half its declared long-poll timeout?
    fn held_most_of_the_hold(&self, ex: &Exchange) -> bool {
        self.ctx.as_ref().is_some_and(|c| {
            let hold = c.profile.bank.long_poll_timeout.as_millis();
            hold > 0 && u128::from(ex.elapsed_ms) * 2 >= hold
        })
    }

    /// Is the poll `ex` sent a long poll the bank is to hold? `returnImmediately` false, or
    /// absent (RFC 8936 §2.2) — unless the profile documents that the bank answers those at
    /// once (`immediate`: false and absent; `reject`: absent), which an `rfc8936` level does not
    /// excuse for an absent one.
    pub fn is_long_poll(&self, ex: &Exchange) -> bool {
        let Some(body) = ex.request_json() else {
            return false;
        };
        let declared = self
            .ctx
            .as_ref()
            .map(|c| (c.profile.bank.long_polling, c.profile.conformance));
        match (body.get("returnImmediately"), declared) {
            (Some(Value::Bool(true)), _) => false,
            (_, None) => true,
            (None, Some((_, Conformance::Rfc8936))) => true,
            (None, Some((mode, _))) => mode == LongPolling::Supported,
            (Some(_), Some((mode, _))) => mode != LongPolling::Immediate,
        }
    }

    /// Expects `ex` to be a successful poll (status per profile). A short poll answered 404
    /// taken as "nothing awaiting" ([`check_poll`](Self::check_poll)) was charged already.
    pub fn expect_poll_success(&self, ex: &Exchange) -> StepResult {
        let ctx = self.ctx()?;
        let long_poll = self.is_long_poll(ex);
        let status = ex.status();
        if status == 404 && self.last_poll.as_ref().is_some_and(|p| p.empty_404) {
            return Ok(());
        }
        if long_poll && (400..500).contains(&status) && !matches!(status, 401 | 403) {
            // A bank without long polling answers at once or refuses with 400 (AP-08, where the
            // profile declares it); a 404 or another refusal of a long poll (not 401/403, which
            // are about the token) is the long-poll rule's defect, not the success status's.
            return fail(if ctx.profile.conformance == Conformance::Rfc8936 {
                format!(
                    "R8936-08: a long poll (returnImmediately false or absent) was answered {status}; \
                     the transmitter holds it until a SET is available or its timeout passes: {}",
                    ex.summary()
                )
            } else {
                format!(
                    "AP-08: a poll with returnImmediately false was answered {status}; a bank without \
                     long polling answers it at once or refuses it with 400: {}",
                    ex.summary()
                )
            });
        }
        if !ctx.profile.bank.poll_success_status.contains(&status) {
            // A 2xx the profile does not list is the success status's alone; an error answer to
            // a well-formed poll is also the RFC's (every request variant gets a 200).
            // A refused poll that reported errors is the error-report rule's first (AP-10):
            // without `setErrs` the same poll would have been answered.
            let reports_errors = ex
                .request_json()
                .and_then(|b| {
                    b.get("setErrs")
                        .and_then(Value::as_object)
                        .map(|m| !m.is_empty())
                })
                .unwrap_or(false);
            let rules = if (200..300).contains(&status) {
                "AP-06"
            } else if reports_errors {
                "AP-10/R8936-23"
            } else {
                "AP-06/R8936-23"
            };
            return fail(format!(
                "{rules}: POST /events answered {status} (the profile expects {:?}): {}",
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

    /// Polls and acknowledges until nothing of TPP `name`'s is awaiting (bounded): each batch
    /// is acknowledged by jti in an acknowledge-only request; SETs the bank serves again are
    /// charged once to the ack rules (by [`check_poll`](Self::check_poll)) and looked past by
    /// growing the batch while `moreAvailable` says (or a full batch shows) more are awaiting.
    pub async fn drain(&mut self, name: &str) -> Result<Drain, String> {
        let was = std::mem::replace(&mut self.housekeeping, true);
        let outcome = self.drain_queue(name).await;
        self.housekeeping = was;
        outcome
    }

    /// The loop of [`drain`](Self::drain).
    async fn drain_queue(&mut self, name: &str) -> Result<Drain, String> {
        let ctx = self.ctx()?;
        let aud = self.tpp(name).await?.id.aud.clone();
        let ceiling = ctx.profile.bank.max_events_cap.unwrap_or(1_000);
        let mut window = self.peek_limit()?;
        // SETs served again after their acknowledgement are acknowledged once more per drain:
        // a bank whose first acknowledgement did not hold may keep the second.
        let mut reacked: HashSet<String> = HashSet::new();
        for _ in 0..DRAIN_POLLS {
            let ex = self
                .poll(name, Self::short_poll(Some(window)), false)
                .await?;
            if let Err(e) = self.expect_poll_success(&ex) {
                return Ok(Drain::Refused(e));
            }
            let Some(view) = self.last_poll.clone() else {
                return Ok(Drain::Done);
            };
            // Only the TPP's own SETs can be acknowledged by it: another TPP's SET in its poll
            // is a leak (AP-17) that a scenario about it reports.
            let again: Vec<String> = view
                .stuck_ids
                .iter()
                .filter(|k| reacked.insert((*k).clone()))
                .cloned()
                .collect();
            let ids: Vec<String> = view
                .check
                .sets
                .iter()
                .filter(|s| s.addressed_to(&aud))
                .map(|s| s.id().to_string())
                .chain(again.iter().cloned())
                .collect();
            if ids.is_empty() {
                let served = (view.check.sets.len() + view.stuck + view.leaked.len()) as u64;
                let more = view.check.more_available == Some(true) || served >= window;
                if more && window < ceiling {
                    // What is left is hidden behind SETs this TPP cannot clear: look further.
                    window = (window * 2).min(ceiling);
                    continue;
                }
                return Ok(Drain::Done);
            }
            let mut ack = json!({ "returnImmediately": true, "maxEvents": 0, "ack": ids });
            if !again.is_empty() {
                // Reporting them as errors is the one other way a TPP can tell the bank it is
                // done with them; a bank that drops errored SETs then serves what follows.
                ack["setErrs"] = set_errs(&again);
            }
            let ex = self.poll(name, ack, false).await?;
            if let Err(e) = self.expect_poll_success(&ex) {
                return Ok(Drain::Refused(e));
            }
        }
        fail(format!(
            "TPP {name}'s queue did not drain after {DRAIN_POLLS} polls"
        ))
    }

    /// Acknowledges `stuck` (SETs of TPP `name` served again after their acknowledgement) once
    /// more and reports them as errors, as housekeeping: a bank whose first acknowledgement
    /// did not hold, or that drops errored SETs, then serves what follows them.
    pub async fn clear_stuck(&mut self, name: &str, stuck: &[String]) -> StepResult {
        let body = json!({
            "returnImmediately": true, "maxEvents": 0, "ack": stuck, "setErrs": set_errs(stuck)
        });
        let was = std::mem::replace(&mut self.housekeeping, true);
        let sent = self.poll(name, body, false).await;
        self.housekeeping = was;
        sent.map(|_| ())
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
    pub async fn fire(
        &mut self,
        name: &str,
        event_type: BankEventType,
        expected: bool,
    ) -> StepResult {
        self.ensure_drained(name).await?;
        let ctx = self.ctx()?;
        if !ctx.profile.trigger_types.contains(&event_type) {
            return fail(format!("the profile's trigger cannot produce {event_type}"));
        }
        let request = self
            .trigger_request(name, event_type.clone(), ctx.trigger_wants_token())
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
        event_type: BankEventType,
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

    /// Does `set` belong to `t`: by the jti the trigger named, or by subject rid (also when
    /// the named key is not the SET's jti, as with a bank whose `sets` keys differ from its
    /// jtis and whose pushes carry only the jti)?
    pub fn matches(&self, t: &Triggered, set_key: &str, claims: &Value) -> bool {
        if t.key.as_deref() == Some(set_key) {
            return true;
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
                .map(|p| (p.check.sets.len() + p.stuck + p.leaked.len()) as u64)
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
            let id = set.id();
            if self.triggered.iter().any(|t| t.key.as_deref() == Some(id)) {
                continue;
            }
            // A trigger that named the SET by its `sets` key, where the key is not the jti
            // (AP-13, reported on its own): from here on the event is tracked by the jti, as
            // every SET is, so the scenarios that wait for it run rather than block.
            if set.key != id
                && let Some(t) = self
                    .triggered
                    .iter_mut()
                    .find(|t| t.tpp == name && t.key.as_deref() == Some(set.key.as_str()))
            {
                t.key = Some(id.to_string());
                continue;
            }
            let idx = if rid_known {
                self.triggered.iter().position(|t| {
                    t.tpp == name && t.key.is_none() && self.matches(t, id, &set.claims)
                })
            } else if exclude.contains(id) {
                None
            } else {
                self.triggered
                    .iter()
                    .position(|t| t.tpp == name && t.key.is_none() && t.expected)
            };
            if let Some(i) = idx {
                self.triggered[i].key = Some(id.to_string());
            }
        }
    }

    /// The jtis of the last poll's SETs ([`CheckedSet::id`](crate::harness::set_check::CheckedSet::id)).
    pub fn last_keys(&self) -> Result<Vec<String>, String> {
        let poll = self
            .last_poll
            .as_ref()
            .ok_or("the last request was not a successful poll")?;
        Ok(poll.check.sets.iter().map(|s| s.id().to_string()).collect())
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

/// The jtis a poll request acknowledged (its `ack` member).
fn acks_of(ex: &Exchange) -> Vec<String> {
    ex.request_json()
        .and_then(|b| b.get("ack").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}
