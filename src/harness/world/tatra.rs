//! Tatra-banka-style webhooks as a scenario drives them (webhook-dialects.md §2): applying a
//! TPP's webhook settings, creating a consent, starting a refresh and raising a transaction
//! through the profile's `[tatra]` actions and `[trigger]`, and the checks every received
//! webhook gets (TB-03, TB-06..TB-11).

use std::collections::HashMap;
use std::time::Instant;

use serde_json::Value;

use super::{HarnessWorld, StepResult, fail};
use crate::harness::client::Exchange;
use crate::harness::dialects::tatra::{self as tb, Event, Kind};
use crate::harness::profile::{ClientAuth, Clients, TatraSettings, Trigger};
use crate::harness::receiver::Received;
use crate::harness::trigger::{TriggerOutcome, TriggerRequest};

/// A consent the scenario created: its owner and its accounts as (accountId, bankCode).
#[derive(Debug, Clone)]
pub struct TatraConsent {
    pub tpp: String,
    pub id: String,
    pub accounts: Vec<(String, String)>,
}

/// What the scenario did at a Tatra-style bank.
#[derive(Debug, Default)]
pub struct TatraState {
    pub consents: Vec<TatraConsent>,
    /// The security header each TPP's settings were last given ("" for none).
    pub headers: HashMap<String, String>,
    /// taskIds the scenario's refreshes answered, by consent id.
    pub tasks: Vec<(String, String)>,
    /// The accounts each transaction was raised on, when the trigger names them.
    pub transactions: Vec<Vec<String>>,
    /// When the last transaction or refresh was started: silence is judged from then.
    pub fired_at: Option<Instant>,
    /// The answer of the last settings, refresh or trigger call.
    pub last: Option<Exchange>,
}

impl HarnessWorld {
    pub fn tatra_settings(&self) -> Result<TatraSettings, String> {
        self.ctx()?
            .profile
            .tatra
            .clone()
            .ok_or_else(|| "the profile is not dialect = \"tatra\"".to_string())
    }

    /// A request for a `[tatra]` action or the trigger, as TPP `tpp`, with `extra` placeholders.
    async fn tatra_request(
        &mut self,
        tpp: &str,
        extra: Vec<(&'static str, String)>,
    ) -> Result<TriggerRequest, String> {
        let mut r = self
            .trigger_request(tpp, self.default_event_type()?, false)
            .await?;
        if let ClientAuth::SecretBasic(s) | ClientAuth::SecretPost(s) =
            &self.tpp(tpp).await?.id.auth
        {
            r.client_secret = Some(s.clone());
        }
        r.extra = extra;
        Ok(r)
    }

    /// Runs `action` (the profile's `name`: `tatra.settings` …, or `trigger`) for TPP `tpp`;
    /// the answer is evidence and the scenario's last Tatra answer. Errors name the action.
    async fn tatra_action(
        &mut self,
        tpp: &str,
        name: &str,
        action: &Trigger,
        extra: Vec<(&'static str, String)>,
        checked: bool,
    ) -> Result<TriggerOutcome, String> {
        let ctx = self.ctx()?;
        let request = self.tatra_request(tpp, extra).await?;
        let started = Instant::now();
        let outcome = if checked {
            ctx.fire_with(action, &request).await
        } else {
            ctx.fire_unchecked(action, &request).await
        }
        .map_err(|e| format!("{name}: {e}"))?;
        // Silence is judged from the last action that could cause a webhook.
        if matches!(name, "tatra.refresh" | "trigger") {
            self.tatra.fired_at = Some(started);
        }
        if let Some(ex) = &outcome.exchange {
            self.record(ex.clone());
            self.tatra.last = Some(ex.clone());
        }
        self.last_caller = Some(tpp.to_string());
        Ok(outcome)
    }

    /// Applies TPP `tpp`'s webhook settings through `tatra.settings`; `checked`: an answer
    /// outside the action's `expect_status` fails. Returns the HTTP status, if any.
    pub async fn tatra_apply(
        &mut self,
        tpp: &str,
        enabled: bool,
        url: &str,
        header: &str,
        checked: bool,
    ) -> Result<Option<u16>, String> {
        let t = self.tatra_settings()?;
        let action = t.settings.ok_or("the profile declares no tatra.settings")?;
        let extra = vec![
            ("enabled", enabled.to_string()),
            ("webhook_url", url.to_string()),
            ("security_header", header.to_string()),
        ];
        let outcome = self
            .tatra_action(tpp, "tatra.settings", &action, extra, checked)
            .await?;
        let status = outcome.exchange.as_ref().map(Exchange::status);
        if status.is_none_or(|s| (200..300).contains(&s)) {
            self.tatra
                .headers
                .insert(tpp.to_string(), header.to_string());
        }
        Ok(status)
    }

    /// Has TPP `tpp`'s webhooks active at mailbox `label` with `header`: enabled from disabled
    /// (which also ends deliveries left from earlier scenarios) and activated, or, for
    /// applications active since before the run, given the new URL and header only.
    pub async fn tatra_enable(&mut self, tpp: &str, label: &str, header: &str) -> StepResult {
        let url = self.mailbox(tpp, label).await?.url;
        let t = self.tatra_settings()?;
        if !t.can_activate() && t.already_active {
            // Disabling would restart the hour: only the URL and header change.
            self.tatra_apply(tpp, true, &url, header, true).await?;
            return Ok(());
        }
        self.tatra_apply(tpp, false, &url, header, true).await?;
        self.tatra_apply(tpp, true, &url, header, true).await?;
        if let Some(a) = &t.activate {
            self.tatra_action(tpp, "tatra.activate", a, Vec::new(), true)
                .await?;
        }
        Ok(())
    }

    /// Starts TPP `tpp` from nothing: a fixed application's webhooks, which an earlier scenario
    /// may have left enabled (with its header, at its receiver, with deliveries pending), are
    /// disabled at a URL no scenario watches. Applications registered for the scenario, settings
    /// applied by hand (`manual`) and applications that must stay active (`already_active`)
    /// are left as they are.
    pub async fn tatra_start_clean(&mut self, tpp: &str) -> StepResult {
        let ctx = self.ctx()?;
        let fresh =
            !self.tpps.contains_key(tpp) && matches!(ctx.profile.clients, Clients::Register(_));
        self.tpp(tpp).await?;
        let t = self.tatra_settings()?;
        let automatic = matches!(
            t.settings,
            Some(Trigger::Http { .. } | Trigger::Command { .. })
        );
        if fresh || !automatic || t.already_active {
            return Ok(());
        }
        let parked = self.mailbox(tpp, &format!("{tpp}-parked")).await?.url;
        self.tatra_apply(tpp, false, &parked, "", true).await?;
        self.tatra.headers.remove(tpp);
        self.tatra.last = None;
        self.last = None;
        Ok(())
    }

    /// Creates a consent for TPP `tpp` through `tatra.consent` and reads its accounts.
    pub async fn tatra_consent(&mut self, tpp: &str) -> Result<TatraConsent, String> {
        let t = self.tatra_settings()?;
        let action = t
            .consent
            .clone()
            .ok_or("the profile declares no tatra.consent")?;
        let out = self
            .tatra_action(tpp, "tatra.consent", &action, Vec::new(), true)
            .await?;
        let v = out
            .output
            .ok_or("tatra.consent answered no JSON to read the consent from")?;
        let id = v
            .pointer(&t.consent_id_pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                format!(
                    "the consent answer has no string at {}: {v}",
                    t.consent_id_pointer
                )
            })?
            .to_string();
        let accounts: Vec<(String, String)> = v
            .pointer(&t.accounts_pointer)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| {
                        Some((
                            x.get("accountId")?.as_str()?.to_string(),
                            x.get("bankCode")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !accounts.iter().any(|(_, b)| *b == t.home_bank) {
            return fail(format!(
                "the consent lists no {} account (accountId and bankCode at {}): {v}",
                t.home_bank, t.accounts_pointer
            ));
        }
        let c = TatraConsent {
            tpp: tpp.to_string(),
            id,
            accounts,
        };
        self.tatra.consents.push(c.clone());
        Ok(c)
    }

    /// TPP `tpp`'s consent in this scenario.
    pub fn tatra_consent_of(&self, tpp: &str) -> Result<TatraConsent, String> {
        self.tatra
            .consents
            .iter()
            .rev()
            .find(|c| c.tpp == tpp)
            .cloned()
            .ok_or_else(|| format!("TPP {tpp} has no consent in this scenario"))
    }

    /// Starts a refresh of `consent_id` as TPP `tpp`; the taskId when the answer is 2xx.
    pub async fn tatra_refresh(
        &mut self,
        tpp: &str,
        consent_id: &str,
    ) -> Result<Option<String>, String> {
        let t = self.tatra_settings()?;
        let action = t
            .refresh
            .clone()
            .ok_or("the profile declares no tatra.refresh")?;
        let extra = vec![("consent_id", consent_id.to_string())];
        let out = self
            .tatra_action(tpp, "tatra.refresh", &action, extra, false)
            .await?;
        let ok = out
            .exchange
            .as_ref()
            .is_none_or(|ex| (200..300).contains(&ex.status()));
        let task = out
            .output
            .as_ref()
            .and_then(|v| v.pointer(&t.task_id_pointer))
            .and_then(Value::as_str)
            .map(String::from)
            .filter(|_| ok);
        if let Some(task) = &task {
            self.tatra
                .tasks
                .push((consent_id.to_string(), task.clone()));
        }
        Ok(task)
    }

    /// Raises a transaction on the home-bank accounts of TPP `tpp`'s consent (the trigger gets
    /// `{consent_id}`, `{account_id}` and `{account_ids}`, a JSON array).
    pub async fn tatra_transaction(&mut self, tpp: &str) -> StepResult {
        let t = self.tatra_settings()?;
        let c = self.tatra_consent_of(tpp)?;
        let own: Vec<String> = c
            .accounts
            .iter()
            .filter(|(_, b)| *b == t.home_bank)
            .map(|(a, _)| a.clone())
            .collect();
        let extra = vec![
            ("consent_id", c.id.clone()),
            ("account_id", own.first().cloned().unwrap_or_default()),
            (
                "account_ids",
                serde_json::to_string(&own).unwrap_or_else(|_| "[]".into()),
            ),
        ];
        let ctx = self.ctx()?;
        if ctx.trigger_mentions("{account_ids}") {
            self.tatra.transactions.push(own);
        } else if ctx.trigger_mentions("{account_id}") {
            self.tatra
                .transactions
                .push(own.into_iter().take(1).collect());
        }
        self.tatra_action(tpp, "trigger", &ctx.profile.trigger, extra, true)
            .await?;
        Ok(())
    }

    /// The checks of one webhook received at TPP `tpp`'s mailbox: whether it is about a consent
    /// that is not `tpp`'s (another TPP's is a TB-10 problem; one unknown to the scenario is
    /// left aside), and every problem, each starting with its rule.
    pub(super) fn check_tatra_push(&mut self, tpp: &str, r: &Received) -> (bool, Vec<String>) {
        let Ok(t) = self.tatra_settings() else {
            return (false, Vec::new());
        };
        let mut problems = Vec::new();
        if r.method != "POST" {
            problems.push(format!(
                "TB-11: the webhook was sent with {}, not POST",
                r.method
            ));
        }
        let media = r.header("content-type").unwrap_or("").to_ascii_lowercase();
        if !media.starts_with("application/json") {
            problems.push(format!(
                "TB-11: Content-Type is {media:?}; the body is JSON"
            ));
        }
        if let Some(h) = self.tatra.headers.get(tpp)
            && let Some(p) = tb::authorization_problem(h, r.header("authorization"))
        {
            problems.push(p);
        }
        let event = match tb::parse(&r.body, t.kind_field.as_deref()) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("TB-11: {e}"));
                self.push_problems.extend(problems.clone());
                return (false, problems);
            }
        };
        let consent = event
            .consent_id()
            .and_then(|id| self.tatra.consents.iter().find(|c| c.id == id))
            .cloned();
        match consent {
            Some(c) if c.tpp != tpp => {
                let msg = format!(
                    "TB-10: TPP {tpp}'s webhook endpoint received a {} about TPP {}'s consent {}",
                    event.kind.name(),
                    c.tpp,
                    c.id
                );
                self.push_problems.push(msg.clone());
                return (true, vec![msg]);
            }
            None if event.consent_id().is_some() && !self.tatra.consents.is_empty() => {
                // Applications registered for this scenario own only its consents, so any
                // other consent is another application's; fixed clients may still get late
                // webhooks of an earlier scenario's consents, which are left aside.
                let fresh = self
                    .ctx()
                    .is_ok_and(|c| matches!(c.profile.clients, Clients::Register(_)));
                if !fresh {
                    return (true, Vec::new());
                }
                let msg = format!(
                    "TB-10: TPP {tpp}'s webhook endpoint received a {} about consent {:?}, which \
                     this application never created",
                    event.kind.name(),
                    event.consent_id().unwrap_or_default()
                );
                self.push_problems.push(msg.clone());
                return (true, vec![msg]);
            }
            _ => {}
        }
        for p in tb::schema_problems(&event) {
            problems.push(format!(
                "{}: the {} lacks an attribute: {p}",
                event.kind.rule(),
                event.kind.name()
            ));
        }
        if let Some(c) = consent {
            problems.extend(self.event_problems(&t, &c, &event));
        }
        self.push_problems.extend(problems.clone());
        (false, problems)
    }

    /// TB-06..TB-08: what the event says against the consent and the refreshes it is about.
    fn event_problems(&self, t: &TatraSettings, c: &TatraConsent, e: &Event) -> Vec<String> {
        let mut problems = Vec::new();
        let bank_of = |a: &str| {
            c.accounts
                .iter()
                .find(|(id, _)| id == a)
                .map(|(_, b)| b.as_str())
        };
        match e.kind {
            Kind::Transaction => {
                if let Some(et) = e.str("eventType")
                    && et != "NEW"
                {
                    problems.push(format!(
                        "TB-06: the transactionEvent's eventType is {et:?}; NEW is the only value"
                    ));
                }
                let mut named = e.account_ids();
                named.sort();
                let raised = self.tatra.transactions.iter().map(|a| {
                    let mut a = a.clone();
                    a.sort();
                    a
                });
                if !self.tatra.transactions.is_empty() && !raised.clone().any(|a| a == named) {
                    problems.push(format!(
                        "TB-06: the transactionEvent names accounts {named:?}; the transaction \
                         was raised on {:?} (one event per consent, aggregating its accounts)",
                        raised.collect::<Vec<_>>()
                    ));
                }
                for a in e.account_ids() {
                    if bank_of(&a) != Some(t.home_bank.as_str()) {
                        problems.push(format!(
                            "TB-06: the transactionEvent names account {a}, which is not one of \
                             consent {}'s {} accounts",
                            c.id, t.home_bank
                        ));
                    }
                }
            }
            Kind::Account => {
                let bank = e.str("bankCode").unwrap_or_default();
                if bank == t.home_bank {
                    problems.push(format!(
                        "TB-07: an accountEvent for {bank}, the bank's own accounts (they need no \
                         refresh)"
                    ));
                }
                for a in e.account_ids() {
                    if bank_of(&a) != Some(bank) {
                        problems.push(format!(
                            "TB-07: the accountEvent of bank {bank:?} names account {a}, which is \
                             not one of consent {}'s {bank} accounts",
                            c.id
                        ));
                    }
                }
                let tasks: Vec<&str> = self
                    .tatra
                    .tasks
                    .iter()
                    .filter(|(cid, _)| *cid == c.id)
                    .map(|(_, task)| task.as_str())
                    .collect();
                if let Some(task) = e.str("taskId")
                    && !tasks.is_empty()
                    && !tasks.contains(&task)
                {
                    problems.push(format!(
                        "TB-08: the accountEvent's taskId is {task:?}; PUT /refresh answered \
                         {tasks:?}"
                    ));
                }
            }
        }
        problems
    }
}
