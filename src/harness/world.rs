//! The cucumber World: one scenario's view of the target. It holds the scenario's TPP clients
//! (registered fresh per scenario when the profile allows, else the profile's two fixed
//! clients), the last response, every exchange as evidence, and what the scenario expects to be
//! delivered. Steps (in `steps/`) are thin phrases over the helpers here; every helper talks to
//! the target over HTTP only.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{self, Exchange, Request};
use super::context::{Purpose, RunContext, canonical_json};
use super::outcome::Seen;
use super::profile::Clients;
use super::profile::TppConfig;
use super::set_check::{CheckedSet, PollCheck};
use super::trigger::TriggerRequest;
use crate::model::EventType;

/// A step's failure: a message that names the rule when one is at stake.
pub type StepResult = Result<(), String>;

/// Overrides for the next request a step sends (set by "the next request …" steps).
#[derive(Debug, Default, Clone)]
pub struct NextRequest {
    pub headers: Vec<(String, Option<String>)>,
    pub no_token: bool,
    pub invalid_token: bool,
    pub restricted_token: bool,
    pub unsigned: bool,
    pub bad_signature: bool,
}

/// A TPP as this scenario knows it.
#[derive(Debug, Clone)]
pub struct TppState {
    pub id: TppConfig,
    pub tokens: HashMap<String, String>,
    /// Keys of SETs this TPP received from explicit polls, in order.
    pub received: Vec<String>,
    /// Every key ever seen in this TPP's polls (explicit or not).
    pub seen: HashSet<String>,
    pub claims: HashMap<String, Value>,
    pub acked: Vec<String>,
    pub errored: Vec<String>,
    pub subscription: Option<Value>,
    pub callback_url: Option<Value>,
    /// SETs from before the scenario may be awaiting: drain them before the first poll or
    /// trigger (lazily, so scenarios that never poll never depend on polling working).
    pub needs_drain: bool,
}

/// An event the scenario made happen.
#[derive(Debug, Clone)]
pub struct Triggered {
    pub tpp: String,
    pub event_type: EventType,
    pub resource_id: String,
    /// The jti named by the trigger's answer, or matched later.
    pub key: Option<String>,
    /// Whether the scenario expects it to be delivered.
    pub expected: bool,
}

/// How a drain ended.
#[derive(Debug, Clone)]
pub enum Drain {
    /// Nothing is awaiting any more.
    Done,
    /// The bank answered a poll with an error (the message says which).
    Refused(String),
}

/// The last poll's outcome.
#[derive(Debug, Clone)]
pub struct PollView {
    pub tpp: String,
    pub check: PollCheck,
    /// How many SETs of the answer were left out as ones the bank will not stop serving.
    pub stuck: usize,
}

#[derive(cucumber::World)]
#[world(init = Self::new)]
pub struct HarnessWorld {
    /// Set by the runner's `before` hook.
    pub ctx: Option<Arc<RunContext>>,
    pub tpps: HashMap<String, TppState>,
    pub next: NextRequest,
    pub last: Option<Exchange>,
    pub last_poll: Option<PollView>,
    /// The JSON body of the last subscription/callback request, for "reflects the request".
    pub last_sent: Option<Value>,
    pub evidence: Vec<Exchange>,
    pub triggered: Vec<Triggered>,
    /// Every SET checked in this scenario, for the SET assertions and the report.
    pub sets: Vec<CheckedSet>,
    /// When the trigger that should release a held long poll returned.
    pub event_fired_at: Option<Instant>,
    /// The TPP that sent the last API request.
    pub last_caller: Option<String>,
    /// The rule IDs the scenario is tagged with (set by the runner's `before` hook).
    pub rules: Vec<String>,
    /// Problems of cross-cutting checks that concern other rules than the scenario's.
    pub findings: Vec<Seen>,
}

impl std::fmt::Debug for HarnessWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HarnessWorld")
            .field("tpps", &self.tpps.keys().collect::<Vec<_>>())
            .field("exchanges", &self.evidence.len())
            .finish()
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

impl HarnessWorld {
    fn new() -> Self {
        HarnessWorld {
            ctx: None,
            tpps: HashMap::new(),
            next: NextRequest::default(),
            last: None,
            last_poll: None,
            last_sent: None,
            evidence: Vec::new(),
            triggered: Vec::new(),
            sets: Vec::new(),
            event_fired_at: None,
            last_caller: None,
            rules: Vec::new(),
            findings: Vec::new(),
        }
    }

    pub fn ctx(&self) -> Result<Arc<RunContext>, String> {
        self.ctx
            .clone()
            .ok_or_else(|| "the run context was not set (runner bug)".to_string())
    }

    pub fn last(&self) -> Result<&Exchange, String> {
        self.last
            .as_ref()
            .ok_or_else(|| "no request was sent yet".to_string())
    }

    pub fn record(&mut self, ex: Exchange) {
        self.evidence.push(ex.clone());
        self.last = Some(ex);
    }

    /// The TPP named `name` ("A" or "B"), registering it first if the profile uses registration.
    pub async fn tpp(&mut self, name: &str) -> Result<&mut TppState, String> {
        if !self.tpps.contains_key(name) {
            let ctx = self.ctx()?;
            let id = match &ctx.profile.clients {
                Clients::Fixed(list) => {
                    let idx = match name {
                        "A" => 0,
                        "B" => 1,
                        other => return fail(format!("unknown TPP {other:?} (use A or B)")),
                    };
                    list[idx].clone()
                }
                Clients::Register(reg) => {
                    let (mut id, ex) = ctx.register(name, &reg.scope).await?;
                    self.evidence.push(ex);
                    if let Some(rs) = &reg.restricted_scope {
                        let (restricted, ex) =
                            ctx.register(&format!("{name}-restricted"), rs).await?;
                        self.evidence.push(ex);
                        id.restricted_client = Some(Box::new(restricted));
                    }
                    id
                }
            };
            self.tpps.insert(
                name.to_string(),
                TppState {
                    id,
                    tokens: HashMap::new(),
                    received: Vec::new(),
                    seen: HashSet::new(),
                    claims: HashMap::new(),
                    acked: Vec::new(),
                    errored: Vec::new(),
                    subscription: None,
                    callback_url: None,
                    // A client registered just now has nothing awaiting.
                    needs_drain: matches!(ctx.profile.clients, Clients::Fixed(_)),
                },
            );
        }
        self.tpps
            .get_mut(name)
            .ok_or_else(|| format!("TPP {name} vanished"))
    }

    /// A bearer token of `name` for `purpose`, cached per scope.
    pub async fn token(&mut self, name: &str, purpose: Purpose) -> Result<String, String> {
        let ctx = self.ctx()?;
        let state = self.tpp(name).await?;
        let (identity, scope) = match purpose {
            Purpose::Events => (state.id.clone(), state.id.events_scope.clone()),
            Purpose::Polling => (state.id.clone(), state.id.polling_scope.clone()),
            Purpose::Restricted => {
                match (&state.id.restricted_client, &state.id.restricted_scope) {
                    (Some(client), Some(scope)) => ((**client).clone(), scope.clone()),
                    (None, Some(scope)) => (state.id.clone(), scope.clone()),
                    _ => return fail("the profile names no restricted scope"),
                }
            }
        };
        let cache_key = format!("{}|{scope}", identity.client_id);
        if let Some(t) = state.tokens.get(&cache_key) {
            return Ok(t.clone());
        }
        let (token, ex) = ctx.token(&identity, &scope).await?;
        self.evidence.extend(ex);
        self.tpp(name)
            .await?
            .tokens
            .insert(cache_key, token.clone());
        Ok(token)
    }

    /// Sends a request to the API as TPP `name`, applying and clearing the next-request overrides.
    /// `signed` adds `x-jws-signature` when the profile signs (G-14).
    pub async fn call(
        &mut self,
        name: &str,
        purpose: Purpose,
        method: Method,
        path: &str,
        body: Option<Value>,
        signed: bool,
    ) -> Result<Exchange, String> {
        let ctx = self.ctx()?;
        let next = std::mem::take(&mut self.next);
        let mut req = Request::new(method, ctx.api_url(path)).header("Accept", "application/json");
        if let Some(b) = &body {
            req = req.json(b);
            self.last_sent = Some(b.clone());
        }
        self.send_with(name, purpose, req, next, signed).await
    }

    /// Sends a prepared request as TPP `name` with the given overrides.
    pub async fn send_with(
        &mut self,
        name: &str,
        purpose: Purpose,
        mut req: Request,
        next: NextRequest,
        signed: bool,
    ) -> Result<Exchange, String> {
        let ctx = self.ctx()?;
        if !next.no_token {
            let token = if next.invalid_token {
                "obevents-invalid-token".to_string()
            } else if next.restricted_token {
                self.token(name, Purpose::Restricted).await?
            } else {
                self.token(name, purpose).await?
            };
            // An API that needs no token (auth_method "none") gets no Authorization header.
            if !token.is_empty() {
                req.set_header("Authorization", Some(format!("Bearer {token}")));
            }
        }
        if signed
            && !next.unsigned
            && let Some(body) = &req.body
            && let Some(sig) = ctx.sign_request(body)
        {
            let sig = if next.bad_signature {
                // Sign a different body: the header is well formed but does not match.
                ctx.sign_request(b"{\"tampered\":true}").unwrap_or(sig)
            } else {
                sig
            };
            req.set_header("x-jws-signature", Some(sig));
        }
        for (k, v) in next.headers {
            req.set_header(&k, v);
        }
        self.last_caller = Some(name.to_string());
        // AP-16 lets a bank limit request rates: a 429 is waited out (Retry-After, at most
        // 10 s) and retried a few times rather than charged to the scenario's rule.
        let mut attempt = 0;
        loop {
            let ex = client::send(&ctx.http, req.clone()).await;
            if let Some(e) = &ex.error {
                self.evidence.push(ex.clone());
                return fail(format!("cannot reach the target: {e}"));
            }
            attempt += 1;
            if ex.status() == 429 && attempt < 4 {
                let wait = ex
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .min(10);
                self.evidence.push(ex);
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                continue;
            }
            self.record(ex.clone());
            self.check_answer(&ex)?;
            return Ok(ex);
        }
    }

    /// The bank's documented `maxEvents` cap, or an error naming the missing profile field.
    pub fn declared_cap(&self) -> Result<u64, String> {
        self.ctx()?
            .profile
            .bank
            .max_events_cap
            .ok_or_else(|| "the profile declares no bank.max_events_cap".into())
    }

    /// The bank's documented default batch, or an error naming the missing profile field.
    pub fn declared_default_batch(&self) -> Result<u64, String> {
        self.ctx()?
            .profile
            .bank
            .default_batch
            .ok_or_else(|| "the profile declares no bank.default_batch".into())
    }

    /// The maxEvents of the harness's own housekeeping polls (draining, waiting for events):
    /// small enough to stay within any documented cap, so a bank's cap never fails a scenario
    /// that is not about caps.
    pub fn peek_limit(&self) -> Result<u64, String> {
        let ctx = self.ctx()?;
        // SETs the bank will not stop serving (AP-09) take room in every batch: look past them.
        let wanted = 10 + ctx.stuck_count() as u64;
        Ok(match ctx.profile.bank.max_events_cap {
            Some(cap) => cap.min(wanted),
            None => wanted,
        })
    }

    /// POST /events as TPP `name` with `body`; a 2xx answer is checked in full (schema, every
    /// SET) and any problem fails the step. Keys are recorded as seen (and received if `explicit`).
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
        let problems = self.triage(check.problems.clone(), Some(ex));
        self.last_poll = Some(PollView {
            tpp: name.to_string(),
            check,
            stuck,
        });
        if !problems.is_empty() {
            return fail(format!(
                "the poll answer breaks {} rule(s):\n  {}",
                problems.len(),
                problems.join("\n  ")
            ));
        }
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

    /// The ids listed by `GET path` (`pointer` to the array, `field` the id member).
    async fn list_ids(
        &mut self,
        name: &str,
        path: &str,
        pointer: &str,
        field: &str,
    ) -> Result<Vec<String>, String> {
        let ex = self
            .call(name, Purpose::Events, Method::GET, path, None, false)
            .await?;
        if ex.status() != 200 {
            return fail(format!(
                "cannot list TPP {name}'s {path} to clean up: {}",
                ex.summary()
            ));
        }
        Ok(ex
            .json()
            .and_then(|v| v.pointer(pointer).and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.get(field).and_then(Value::as_str).map(String::from))
            .collect())
    }

    /// Deletes everything `GET path` lists for TPP `name`, then checks the list is empty.
    async fn delete_listed(
        &mut self,
        name: &str,
        path: &str,
        pointer: &str,
        field: &str,
        rules: &str,
    ) -> StepResult {
        let ids = self.list_ids(name, path, pointer, field).await?;
        for id in &ids {
            let ex = self
                .call(
                    name,
                    Purpose::Events,
                    Method::DELETE,
                    &format!("{path}/{id}"),
                    None,
                    false,
                )
                .await?;
            match ex.status() {
                200..=299 => {}
                403 => {
                    return fail(format!(
                        "{rules}: GET {path} as TPP {name} listed {id}, which TPP {name} may not delete (403): \
                         the list shows a resource that is not this TPP's"
                    ));
                }
                _ => {
                    return fail(format!(
                        "cannot delete TPP {name}'s {path}/{id} to clean up: {}",
                        ex.summary()
                    ));
                }
            }
        }
        if !ids.is_empty() {
            let left = self.list_ids(name, path, pointer, field).await?;
            if !left.is_empty() {
                return fail(format!(
                    "{rules}: after DELETE answered 2xx, GET {path} still lists {left:?}"
                ));
            }
        }
        Ok(())
    }

    /// Starts TPP `name` from nothing: drains its awaiting SETs (while its old subscription, if
    /// any, still exists — some banks refuse polls without one), deletes its subscriptions and
    /// callback URLs, and forgets what the scenario knew. A drain the bank refuses is retried
    /// before the scenario's first poll or trigger, so scenarios that never poll never depend on
    /// polling working.
    pub async fn start_clean(&mut self, name: &str) -> StepResult {
        let ctx = self.ctx()?;
        let fresh =
            !self.tpps.contains_key(name) && matches!(ctx.profile.clients, Clients::Register(_));
        let mut drained = fresh;
        let bank = &ctx.profile.bank;
        if !fresh && bank.polling {
            // Without a subscription API every TPP is always subscribed.
            let had_subscription = !bank.subscription_api
                || !self
                    .list_ids(
                        name,
                        "/event-subscriptions",
                        "/Data/EventSubscription",
                        "EventSubscriptionId",
                    )
                    .await?
                    .is_empty();
            if had_subscription {
                let next = std::mem::take(&mut self.next);
                let outcome = self.drain(name).await;
                self.next = next;
                drained = matches!(outcome?, Drain::Done);
            }
        }
        if ctx.profile.bank.subscription_api {
            self.delete_listed(
                name,
                "/event-subscriptions",
                "/Data/EventSubscription",
                "EventSubscriptionId",
                "ES-08/ES-11",
            )
            .await?;
        }
        if ctx.profile.bank.callback_urls {
            self.delete_listed(
                name,
                "/callback-urls",
                "/Data/CallbackUrl",
                "CallbackUrlId",
                "CB-01/CB-02",
            )
            .await?;
        }
        let state = self.tpp(name).await?;
        state.needs_drain = !drained && ctx.profile.bank.polling;
        state.received.clear();
        state.acked.clear();
        state.errored.clear();
        state.subscription = None;
        state.callback_url = None;
        self.triggered.retain(|t| t.tpp != name);
        self.last = None;
        self.last_poll = None;
        Ok(())
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
                self.served_again(name, &keys, &ex).await?;
                return Ok(Drain::Done);
            }
            ack = keys;
        }
        fail(format!("TPP {name}'s queue did not drain after 200 polls"))
    }

    /// The body of a polling-only subscription asking for `types`.
    /// Without `types` the body omits EventTypes, which asks for every supported type (ES-07):
    /// the smallest valid request, and what a polling-only TPP typically sends.
    pub fn subscription_body(&self, types: Option<Vec<EventType>>) -> Result<Value, String> {
        let ctx = self.ctx()?;
        let mut data = json!({ "Version": ctx.profile.bank.subscription_version });
        if let Some(types) = types {
            let codes: Vec<&str> = types.iter().map(|t| t.code()).collect();
            data["EventTypes"] = json!(codes);
        }
        Ok(json!({ "Data": data }))
    }

    /// POST /event-subscriptions; remembers the created resource on 201.
    pub async fn create_subscription(
        &mut self,
        name: &str,
        body: Value,
    ) -> Result<Exchange, String> {
        let ex = self
            .call(
                name,
                Purpose::Events,
                Method::POST,
                "/event-subscriptions",
                Some(body),
                true,
            )
            .await?;
        if ex.status() == 201
            && let Some(data) = ex.json().and_then(|v| v.get("Data").cloned())
        {
            self.tpp(name).await?.subscription = Some(data);
        }
        Ok(ex)
    }

    /// Subscribes TPP `name` for polling, or fails the step.
    pub async fn subscribe(&mut self, name: &str, types: Option<Vec<EventType>>) -> StepResult {
        if !self.ctx()?.profile.bank.subscription_api {
            // The bank has no subscription API: every TPP receives its events as it is.
            return Ok(());
        }
        let body = self.subscription_body(types)?;
        let ex = self.create_subscription(name, body).await?;
        if ex.status() != 201 {
            return fail(format!(
                "ES-02: cannot subscribe TPP {name}: {}",
                ex.summary()
            ));
        }
        Ok(())
    }

    /// The subscription id of TPP `name`, from this scenario's create/replace.
    pub async fn subscription_id(&mut self, name: &str) -> Result<String, String> {
        let state = self.tpp(name).await?;
        state
            .subscription
            .as_ref()
            .and_then(|d| {
                d.get("EventSubscriptionId")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .ok_or_else(|| format!("TPP {name} has no subscription in this scenario"))
    }

    /// Replaces `{placeholders}` in a docstring body.
    pub async fn fill(&mut self, name: &str, template: &str) -> Result<String, String> {
        let ctx = self.ctx()?;
        let state = self.tpp(name).await?;
        let mut vars: HashMap<&str, String> = HashMap::new();
        vars.insert("version", ctx.profile.bank.subscription_version.clone());
        vars.insert("client_id", state.id.client_id.clone());
        if let Some(id) = state
            .subscription
            .as_ref()
            .and_then(|d| d.get("EventSubscriptionId"))
            .and_then(Value::as_str)
        {
            vars.insert("subscription_id", id.to_string());
        }
        for (i, key) in state.received.iter().enumerate().take(9) {
            let name: &'static str = [
                "jti1", "jti2", "jti3", "jti4", "jti5", "jti6", "jti7", "jti8", "jti9",
            ][i];
            vars.insert(name, key.clone());
        }
        Ok(super::trigger::render(template, &vars))
    }

    /// The event type used when a step names none: the first the trigger can produce.
    pub fn default_event_type(&self) -> Result<EventType, String> {
        self.ctx()?
            .profile
            .trigger_types
            .first()
            .copied()
            .ok_or_else(|| "the profile's trigger produces no event types".to_string())
    }

    /// Makes one event happen for TPP `name`.
    pub async fn fire(&mut self, name: &str, event_type: EventType, expected: bool) -> StepResult {
        self.ensure_drained(name).await?;
        let ctx = self.ctx()?;
        if !ctx.profile.trigger_types.contains(&event_type) {
            return fail(format!("the profile's trigger cannot produce {event_type}"));
        }
        let token = if ctx.trigger_wants_token() {
            Some(self.token(name, Purpose::Events).await?)
        } else {
            None
        };
        let state = self.tpp(name).await?;
        let request = TriggerRequest {
            tpp_name: name.to_string(),
            client_id: state.id.client_id.clone(),
            event_type,
            resource_id: format!("obevents-{}", uuid::Uuid::new_v4()),
            resource_type: ctx.profile.trigger_resource_type.clone(),
            access_token: token,
        };
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
