//! The scene a scenario starts from: a TPP made clean (its queue drained, its subscriptions and
//! callback URLs deleted; in the other dialects, `yapily` and `tatra`) and subscribed for
//! polling through the target's subscription API.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Drain, HarnessWorld, StepResult, fail};
use crate::harness::client::Exchange;
use crate::harness::context::Purpose;
use crate::harness::profile::{BankEventType, Clients, Dialect};

impl HarnessWorld {
    /// The ids listed by `GET path` (`pointer` to the array, `field` the id member). A list
    /// that is not an array is read as well as it can be ([`listed_items`]): its shape is
    /// ES-08's or CB-02's defect, which the schema check on every answer reports.
    pub(super) async fn list_ids(
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
        let body = ex.json().unwrap_or(Value::Null);
        Ok(listed_items(&body, pointer, field)
            .iter()
            .filter_map(|s| s.get(field).and_then(Value::as_str).map(String::from))
            .collect())
    }

    /// Runs a `[subscribe]` or `[unsubscribe]` action of the profile for TPP `name`, if it has one.
    async fn subscription_action(
        &mut self,
        name: &str,
        action: Option<&crate::harness::profile::Trigger>,
        event_type: BankEventType,
    ) -> StepResult {
        let Some(action) = action else {
            return Ok(());
        };
        let ctx = self.ctx()?;
        let request = self.trigger_request(name, event_type, true).await?;
        let outcome = ctx
            .fire_with(action, &request)
            .await
            .map_err(|e| format!("cannot (un)subscribe TPP {name} through the profile: {e}"))?;
        self.evidence.extend(outcome.exchange);
        Ok(())
    }

    /// Deletes everything `GET path` lists for TPP `name`, and the subscriptions the run
    /// created for it that the list does not show (a list the bank shapes wrongly must not
    /// leave one behind to turn every later subscription into a 409), then checks the list is
    /// empty.
    pub(super) async fn delete_listed(
        &mut self,
        name: &str,
        path: &str,
        pointer: &str,
        field: &str,
        rules: &str,
    ) -> StepResult {
        let ctx = self.ctx()?;
        let client = self.tpp(name).await?.id.client_id.clone();
        let ids = self.list_ids(name, path, pointer, field).await?;
        let remembered: Vec<String> = if path == "/event-subscriptions" {
            ctx.created("subscription", &client)
                .into_iter()
                .filter(|id| !ids.contains(id))
                .collect()
        } else {
            Vec::new()
        };
        for id in ids.iter().chain(&remembered) {
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
            let listed = ids.contains(id);
            match ex.status() {
                200..=299 => ctx.note_created("subscription", &client, id, false),
                // One the run created but the list did not show may be gone already.
                _ if !listed => ctx.note_created("subscription", &client, id, false),
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
        match ctx.profile.dialect {
            Dialect::Yapily => return self.yapily_start_clean(name).await,
            Dialect::Tatra => return self.tatra_start_clean(name).await,
            Dialect::Obie | Dialect::Wso2 => {}
        }
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
        self.delete_old_streams(name).await?;
        if !ctx.profile.bank.subscription_api
            && let Some(event_type) = ctx
                .profile
                .bank
                .event_types
                .first()
                .or(ctx.profile.trigger_types.first())
                .cloned()
        {
            self.subscription_action(name, ctx.profile.unsubscribe.as_ref(), event_type)
                .await?;
        }
        let state = self.tpp(name).await?;
        state.needs_drain = !drained && ctx.profile.bank.polling;
        state.received.clear();
        state.acked.clear();
        state.errored.clear();
        state.subscription = None;
        state.callback_url = None;
        state.stream_id = None;
        self.triggered.retain(|t| t.tpp != name);
        self.last = None;
        self.last_poll = None;
        Ok(())
    }

    /// The body of a polling-only subscription asking for `types`.
    /// Without `types` the body omits EventTypes, which asks for every supported type (ES-07):
    /// the smallest valid request, and what a polling-only TPP typically sends.
    pub fn subscription_body(&self, types: Option<Vec<BankEventType>>) -> Result<Value, String> {
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
            let state = self.tpp(name).await?;
            if let Some(id) = data.get("EventSubscriptionId").and_then(Value::as_str) {
                let client = state.id.client_id.clone();
                self.ctx()?.note_created("subscription", &client, id, true);
            }
            self.tpp(name).await?.subscription = Some(data);
        }
        Ok(ex)
    }

    /// Subscribes TPP `name` for polling, or fails the step.
    pub async fn subscribe(&mut self, name: &str, types: Option<Vec<BankEventType>>) -> StepResult {
        let ctx = self.ctx()?;
        if !ctx.profile.bank.subscription_api {
            // The bank has no subscription API: the profile's `[subscribe]` action, if any, or
            // every TPP receives its events as it is.
            let event_type = types
                .and_then(|t| t.first().cloned())
                .or_else(|| ctx.profile.bank.event_types.first().cloned())
                .ok_or("the profile lists no bank.event_types")?;
            return self
                .subscription_action(name, ctx.profile.subscribe.as_ref(), event_type)
                .await;
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

    /// PUT /event-subscriptions/{id} as `caller`; on 200 remembers the answer as the caller's
    /// subscription (when the caller has one in this scenario).
    pub async fn put_subscription(
        &mut self,
        caller: &str,
        id: &str,
        body: Value,
    ) -> Result<Exchange, String> {
        let ex = self
            .call(
                caller,
                Purpose::Events,
                Method::PUT,
                &format!("/event-subscriptions/{id}"),
                Some(body),
                true,
            )
            .await?;
        if ex.status() == 200
            && let Some(data) = ex.json().and_then(|v| v.get("Data").cloned())
            && self.tpp(caller).await?.subscription.is_some()
        {
            self.tpp(caller).await?.subscription = Some(data);
        }
        Ok(ex)
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
}

/// The items a list answer holds at `pointer`: the array's elements; read leniently when the
/// bank sends something else (a single object carrying `field` is one item, an object of such
/// objects its values, anything else none), so one shape defect does not stop the run.
///
/// ```
/// use obevents::harness::world::listed_items;
/// use serde_json::json;
/// let one = json!({"Data": {"EventSubscription": {"EventSubscriptionId": "s1"}}});
/// assert_eq!(listed_items(&one, "/Data/EventSubscription", "EventSubscriptionId").len(), 1);
/// let list = json!({"Data": {"EventSubscription": [{"EventSubscriptionId": "s1"}]}});
/// assert_eq!(listed_items(&list, "/Data/EventSubscription", "EventSubscriptionId").len(), 1);
/// assert!(listed_items(&json!({}), "/Data/EventSubscription", "EventSubscriptionId").is_empty());
/// ```
pub fn listed_items(body: &Value, pointer: &str, field: &str) -> Vec<Value> {
    match body.pointer(pointer) {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(m)) if m.contains_key(field) => vec![Value::Object(m.clone())],
        Some(Value::Object(m)) => m
            .values()
            .filter(|v| v.get(field).is_some())
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}
