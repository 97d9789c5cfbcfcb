//! The cucumber World: one scenario's view of the target. It holds the scenario's TPP clients
//! (registered fresh per scenario when the profile allows, else the profile's two fixed
//! clients), the last response, every exchange as evidence, and what the scenario expects to be
//! delivered. Steps (in `steps/`) are thin phrases over the helpers, split by concern: talking
//! to the target (here), tracking triggered, polled and acknowledged events (`tracking`),
//! setting the scene through the subscription API (`resources`) or a stream configuration
//! (`stream`), and recording findings of the cross-cutting checks (`recording`). Every helper
//! talks to the target over HTTP only.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use reqwest::Method;
use serde_json::Value;

use super::client::{self, Exchange, Request};
use super::context::{Purpose, RunContext};
use super::defects::Occurrence;
use super::profile::Clients;
use super::profile::TppConfig;
use super::set_check::{CheckedSet, PollCheck};
use super::settle::Checks;
use super::template::{Context, render};
use crate::harness::profile::BankEventType;

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
    /// This TPP's SETs another TPP acknowledged or reported as errors in this scenario.
    pub touched_by_others: Vec<String>,
    pub subscription: Option<Value>,
    pub callback_url: Option<Value>,
    /// The stream this scenario created for the TPP (`[push] registration = "stream"`).
    pub stream_id: Option<String>,
    /// SETs from before the scenario may be awaiting: drain them before the first poll or
    /// trigger (lazily, so scenarios that never poll never depend on polling working).
    pub needs_drain: bool,
}

/// An event the scenario made happen.
#[derive(Debug, Clone)]
pub struct Triggered {
    pub tpp: String,
    pub event_type: BankEventType,
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
    /// Their jtis.
    pub stuck_ids: Vec<String>,
    /// The jtis of SETs of events raised for other TPPs (AP-17), left out of `check`.
    pub leaked: Vec<String>,
    /// The jtis the poll request acknowledged.
    pub acked: Vec<String>,
    /// A short poll answered 404, charged as the bank's word for an empty queue and taken as
    /// an empty answer.
    pub empty_404: bool,
}

mod leaks;
mod push;
mod recording;
mod referee;
mod resources;
mod stream;
mod tatra;
mod tpp_webhooks;
mod tracking;
mod yapily;

pub use push::{Mailbox, event_id, label, subscription_types};
pub use tatra::TatraConsent;
pub use yapily::Creds;

pub use recording::set_errs;
pub use resources::listed_items;
pub use tracking::SERVED_WITH_ITS_ACK;

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
    /// Set while the harness drains a queue for a scenario: what it finds there is a finding,
    /// never the scenario's failure.
    pub housekeeping: bool,
    /// Whether the last API request carried the TPP's own valid token (not none, not an
    /// invalid or restricted one): only then can its answer speak for the TPP's queue.
    pub last_token_valid: bool,
    /// The rule IDs the scenario is tagged with (set by the runner's `before` hook).
    pub rules: Vec<String>,
    /// Occurrences of defects found by cross-cutting checks that concern other rules than the
    /// scenario's (the run groups them into findings).
    pub findings: Vec<Occurrence>,
    /// Problems of the scenario's own rules found by those checks, and where checks looked.
    pub checks: Checks,
    /// The scenario's mailboxes at the callback receiver, by label (`A`, `A2`, `B`).
    pub mailboxes: HashMap<String, Mailbox>,
    /// When the bank last answered 2xx to a change of the subscription pushes follow (DELETE,
    /// a PUT of its URL or types): pushes are judged against it.
    pub changed_at: Option<Instant>,
    /// Why the scenario's change of the subscription, though answered 2xx, did not take effect
    /// (its answer still shows the old resource): nothing after it can be judged.
    pub change_unapplied: Option<String>,
    /// Dialect events the scenario triggered: (TPP, event type id).
    pub dialect_fired: Vec<(String, String)>,
    /// Every problem found in a dialect webhook (kept for the assertions of its own rules).
    pub push_problems: Vec<String>,
    /// `jti`s of webhook signatures seen in this scenario (JWD-07).
    pub signature_jtis: HashSet<String>,
    /// What the scenario did at a Tatra-style bank.
    pub tatra: tatra::TatraState,
    /// What a TPP scenario pushed to the refereed TPP and observed of it.
    pub referee: referee::RefereeState,
}

impl std::fmt::Debug for HarnessWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HarnessWorld")
            .field("tpps", &self.tpps.keys().collect::<Vec<_>>())
            .field("exchanges", &self.evidence.len())
            .finish()
    }
}

pub(super) fn fail<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

impl Default for HarnessWorld {
    fn default() -> Self {
        Self::new()
    }
}

impl HarnessWorld {
    /// A world without a run context yet (the runner's `before` hook, or `bench --profile`,
    /// sets it).
    pub fn new() -> Self {
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
            last_token_valid: false,
            housekeeping: false,
            rules: Vec::new(),
            findings: Vec::new(),
            checks: Checks::default(),
            mailboxes: HashMap::new(),
            changed_at: None,
            change_unapplied: None,
            dialect_fired: Vec::new(),
            push_problems: Vec::new(),
            signature_jtis: HashSet::new(),
            tatra: tatra::TatraState::default(),
            referee: referee::RefereeState::default(),
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
        self.checks.last = Some(self.evidence.len() - 1);
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
                    touched_by_others: Vec::new(),
                    subscription: None,
                    callback_url: None,
                    stream_id: None,
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
        self.last_token_valid = !(next.no_token || next.invalid_token || next.restricted_token);
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

    /// Replaces `{placeholders}` in a step's template for TPP `name`: a docstring body
    /// ([`Context::Json`]) or a path ([`Context::Url`]); each value escaped for it.
    pub async fn fill(
        &mut self,
        name: &str,
        template: &str,
        context: Context,
    ) -> Result<String, String> {
        let ctx = self.ctx()?;
        let state = self.tpp(name).await?;
        let mut vars: HashMap<&str, String> = HashMap::new();
        vars.insert("version", ctx.profile.bank.subscription_version.clone());
        vars.insert("client_id", state.id.client_id.clone());
        let ids = [
            (
                "subscription_id",
                state.subscription.as_ref(),
                "EventSubscriptionId",
            ),
            (
                "callback_url_id",
                state.callback_url.as_ref(),
                "CallbackUrlId",
            ),
        ];
        for (var, data, member) in ids {
            if let Some(id) = data.and_then(|d| d.get(member)).and_then(Value::as_str) {
                vars.insert(var, id.to_string());
            }
        }
        for (i, key) in state.received.iter().enumerate().take(9) {
            let name: &'static str = [
                "jti1", "jti2", "jti3", "jti4", "jti5", "jti6", "jti7", "jti8", "jti9",
            ][i];
            vars.insert(name, key.clone());
        }
        Ok(render(template, &vars, context))
    }

    /// The event type used when a step names none: the first the trigger can produce.
    pub fn default_event_type(&self) -> Result<BankEventType, String> {
        self.ctx()?
            .profile
            .trigger_types
            .first()
            .cloned()
            .ok_or_else(|| "the profile's trigger produces no event types".to_string())
    }
}
