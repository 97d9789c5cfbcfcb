//! Event Notification Subscription API domain (obie-rules §2, ES-01..ES-13): validation of
//! `OBEventSubscription1` / `OBEventSubscriptionResponse1` bodies, one subscription per TPP,
//! owner scoping, full-replace PUT.

use serde_json::{Map, Value, json};

use crate::model::EventType;
use crate::sandbox::dialects::obie::validate::{
    Check, bounds, callback_url_problem, join, version_problem,
};
use crate::sandbox::domain::Subscription;
use crate::sandbox::domain::Tpp;
use crate::sandbox::error::{ApiError, ApiResult, ErrorItem, codes};
use crate::sandbox::faults::Fault;
use crate::sandbox::state::AppState;

/// The fields a TPP controls.
struct SubscriptionFields {
    version: String,
    callback_url: Option<String>,
    event_types: Option<Vec<String>>,
}

impl AppState {
    /// Validates the `Data` members shared by POST and PUT.
    fn check_subscription_data(
        &self,
        c: &mut Check,
        data: &Map<String, Value>,
    ) -> Option<SubscriptionFields> {
        let version = c
            .required(data, "Version", "Data")
            .and_then(|v| c.string(v, "Data.Version", 1, 10));
        if let Some(p) = version.as_deref().and_then(version_problem) {
            c.invalid("Data.Version", p);
        }
        let callback_url = c.opt_string(data, "CallbackUrl", "Data", 1, 2048);
        if let Some(p) = callback_url
            .as_deref()
            .and_then(|u| callback_url_problem(u, !self.has_fault(Fault::CallbackSuffixUnchecked)))
        {
            c.invalid("Data.CallbackUrl", format!("Data.CallbackUrl {p}"));
        }
        let supported = self.cfg.personality.event_types;
        let url = format!("{}/sandbox/event-types", self.base_url);
        let mut seen = Vec::new();
        let event_types = data.get("EventTypes").and_then(|v| {
            c.bounded_array(
                v,
                "Data.EventTypes",
                bounds::EVENT_TYPES,
                |c, item, path| {
                    let s = c.string(item, path, 1, 256)?;
                    match EventType::from_code(&s) {
                        // Refused rather than collapsed: a repeat is a mistake in the request.
                        Some(t) if seen.contains(&t) => {
                            c.invalid(path, format!("event type {s:?} is listed twice"));
                            None
                        }
                        Some(t) if supported.contains(&t) => {
                            seen.push(t);
                            Some(s)
                        }
                        _ => {
                            c.push(
                                ErrorItem::at(
                                    codes::UNSUPPORTED_EVENT_TYPE,
                                    path,
                                    format!("event type {s:?} is not supported"),
                                )
                                .with_url(url.clone()),
                            );
                            None
                        }
                    }
                },
            )
        });
        if event_types.as_ref().is_some_and(Vec::is_empty) {
            c.invalid(
                "Data.EventTypes",
                "Data.EventTypes must name at least one type; omit it to receive every type",
            );
        }
        Some(SubscriptionFields {
            version: version?,
            callback_url,
            event_types,
        })
    }

    /// Top-level members allowed in a body, or `None` when objects are open (v3.1.2).
    fn closed_members<'a>(&self, members: &'a [&'a str]) -> Option<&'a [&'a str]> {
        self.cfg.personality.closed_objects().then_some(members)
    }

    /// POST /event-subscriptions (ES-02, ES-03, ES-04).
    pub async fn create_subscription(&self, tpp: &Tpp, body: &Value) -> ApiResult<Subscription> {
        let mut c = Check::new();
        let fields = c.object(body, "").and_then(|top| {
            if let Some(allowed) = self.closed_members(&["Data"]) {
                c.closed(top, allowed, "");
            }
            let data = c.required(top, "Data", "")?;
            let data = c.object(data, "Data")?;
            self.check_subscription_data(&mut c, data)
        });
        c.finish()?;
        let fields =
            fields.ok_or_else(|| ApiError::Internal("validation passed without fields".into()))?;
        let sub = Subscription {
            id: uuid::Uuid::new_v4().to_string(),
            client_id: tpp.client_id.clone(),
            version: fields.version,
            callback_url: fields.callback_url,
            event_types: fields.event_types,
            created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        if !self
            .store
            .insert_subscription(&sub, self.has_fault(Fault::SubscriptionNo409))
            .await?
        {
            return Err(ApiError::Conflict(ErrorItem::new(
                codes::RESOURCE_ALREADY_EXISTS,
                "this TPP already has an event subscription; update or delete it instead",
            )));
        }
        Ok(sub)
    }

    /// GET /event-subscriptions (ES-08): the caller's subscriptions, `[]` when none.
    pub async fn list_subscriptions(&self, tpp: &Tpp) -> ApiResult<Vec<Subscription>> {
        Ok(self.store.subscriptions_of(&tpp.client_id).await?)
    }

    /// The subscription `id` if the caller owns it: unknown → 400 NotFound (G-11), another
    /// TPP's → 403 (G-10).
    async fn owned_subscription(&self, tpp: &Tpp, id: &str) -> ApiResult<Subscription> {
        match self.store.subscription(id).await? {
            None if self.has_fault(Fault::UnknownId404) => Err(ApiError::NotFound(ErrorItem::new(
                codes::RESOURCE_NOT_FOUND,
                format!("no event subscription with id {id}"),
            ))),
            None => Err(ApiError::not_found_id("event subscription", id)),
            Some(s) if s.client_id != tpp.client_id => {
                Err(ApiError::not_owner("event subscription"))
            }
            Some(s) => Ok(s),
        }
    }

    /// PUT /event-subscriptions/{id} (ES-10): full replace, answers the updated resource.
    pub async fn replace_subscription(
        &self,
        tpp: &Tpp,
        id: &str,
        body: &Value,
    ) -> ApiResult<Subscription> {
        let existing = self.owned_subscription(tpp, id).await?;
        let mut c = Check::new();
        let fields = c.object(body, "").and_then(|top| {
            if let Some(allowed) = self.closed_members(&["Data", "Links", "Meta"]) {
                c.closed(top, allowed, "");
            }
            crate::sandbox::dialects::obie::validate::links_and_meta(&mut c, top);
            let data = c.required(top, "Data", "")?;
            let data = c.object(data, "Data")?;
            if let Some(body_id) = c
                .required(data, "EventSubscriptionId", "Data")
                .and_then(|v| c.string(v, &join("Data", "EventSubscriptionId"), 1, 40))
                && body_id != id
            {
                c.invalid(
                    "Data.EventSubscriptionId",
                    format!("Data.EventSubscriptionId {body_id:?} differs from the id in the path"),
                );
            }
            self.check_subscription_data(&mut c, data)
        });
        c.finish()?;
        if self.has_fault(Fault::PutIgnoresBody) {
            return Ok(existing);
        }
        let fields =
            fields.ok_or_else(|| ApiError::Internal("validation passed without fields".into()))?;
        let updated = Subscription {
            version: fields.version,
            callback_url: fields.callback_url,
            event_types: fields.event_types,
            ..existing
        };
        // Pending pushes follow the CallbackUrl, or stop when it was removed.
        self.store
            .replace_subscription(&updated, !self.has_fault(Fault::PushAfterDelete))
            .await?;
        Ok(updated)
    }

    /// DELETE /event-subscriptions/{id} (ES-11).
    pub async fn delete_subscription(&self, tpp: &Tpp, id: &str) -> ApiResult<Subscription> {
        let existing = self.owned_subscription(tpp, id).await?;
        // Deleting the subscription stops pushes to its CallbackUrl.
        self.store
            .delete_subscription(id, !self.has_fault(Fault::PushAfterDelete))
            .await?;
        Ok(existing)
    }

    /// `Data` of one subscription as the API shows it (absent optional fields omitted, G-15).
    pub fn subscription_data(&self, s: &Subscription) -> Value {
        let mut m = Map::new();
        m.insert("EventSubscriptionId".into(), json!(s.id));
        if let Some(u) = &s.callback_url {
            m.insert("CallbackUrl".into(), json!(u));
        }
        m.insert("Version".into(), json!(s.version));
        if let Some(t) = &s.event_types {
            m.insert("EventTypes".into(), json!(t));
        }
        Value::Object(m)
    }
}
