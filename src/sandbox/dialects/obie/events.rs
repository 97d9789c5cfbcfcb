//! Raising events: an event that happens for a TPP is filtered by its subscription (AP-03,
//! N-11), built into a SET (N-02..N-07), signed once (J-02..J-05) and stored durably; then any
//! long poll of that TPP is woken. Polling and the inspection endpoint only ever read the
//! stored token, so signing never happens on the poll path.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::jose::{self, Alg};
use crate::model::EventType;
use crate::model::set::{self, SetClaims};
use crate::sandbox::domain::{
    ConsentStatusChange, Dialect, EventDetails, NewDelivery, NewEvent, ResourceLink,
};
use crate::sandbox::error::{ApiError, ApiResult, ErrorItem, codes};
use crate::sandbox::faults::Fault;
use crate::sandbox::state::AppState;
use crate::sandbox::store::now_ms;

/// Reasons a linked-account-update may carry (N-07).
pub const LINKED_ACCOUNT_REASONS: [&str; 2] = ["UK.OBIE.AccountClosure", "UK.OBIE.CASS"];

/// An event that happened, before subscription filtering.
#[derive(Debug, Clone)]
pub struct EventSpec {
    pub client_id: String,
    pub event_type: EventType,
    pub resource_id: String,
    pub resource_type: String,
    pub reason: Option<String>,
    /// The interaction id of the call that caused the change, used as `txn` (D-EV 3.1.7+).
    pub txn: Option<String>,
}

/// What became of a raised event.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RaiseOutcome {
    pub queued: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The push delivery of the event, when the TPP has a callback URL for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Where one event goes.
struct Destination {
    /// Into the polling queue.
    poll: bool,
    /// Pushed to this callback URL.
    push: Option<String>,
}

/// The API path of a resource of type `rty`, used for `rlk` links and `sub`.
fn resource_path(rty: &str, rid: &str) -> String {
    let collection = match rty {
        "account-access-consent" | "account-access-consents" => "aisp/account-access-consents",
        "domestic-payment" | "domestic-payments" => "pisp/domestic-payments",
        "domestic-payment-consent" | "domestic-payment-consents" => {
            "pisp/domestic-payment-consents"
        }
        "funds-confirmation-consent" | "funds-confirmation-consents" => {
            "cbpii/funds-confirmation-consents"
        }
        "domestic-vrp-consent" | "domestic-vrp-consents" => "pisp/domestic-vrp-consents",
        other if other.ends_with('s') => other,
        other => return format!("/{other}s/{rid}"),
    };
    format!("/{collection}/{rid}")
}

impl AppState {
    /// Validates an event request (type support per personality, N-07 constraints).
    pub fn check_event_spec(&self, spec: &EventSpec) -> ApiResult<()> {
        let mut errors = Vec::new();
        if !self.cfg.personality.event_types.contains(&spec.event_type) {
            errors.push(
                ErrorItem::at(
                    codes::UNSUPPORTED_EVENT_TYPE,
                    "eventType",
                    format!("{} is not supported by this bank", spec.event_type),
                )
                .with_url(format!("{}/sandbox/event-types", self.base_url)),
            );
        }
        for (name, v) in [
            ("resourceId", &spec.resource_id),
            ("resourceType", &spec.resource_type),
        ] {
            if v.trim().is_empty() || v.chars().count() > 128 {
                errors.push(ErrorItem::at(
                    codes::FIELD_INVALID,
                    name,
                    format!("{name} must be 1 to 128 characters"),
                ));
            }
        }
        if spec.event_type == EventType::AccountAccessConsentLinkedAccountUpdate {
            if spec.resource_type != "account-access-consent" {
                errors.push(ErrorItem::at(
                    codes::FIELD_INVALID,
                    "resourceType",
                    "a linked-account-update is about an account-access-consent (N-07)",
                ));
            }
            if let Some(r) = &spec.reason
                && !LINKED_ACCOUNT_REASONS.contains(&r.as_str())
            {
                errors.push(ErrorItem::at(
                    codes::FIELD_INVALID,
                    "reason",
                    format!(
                        "reason must be one of {}",
                        LINKED_ACCOUNT_REASONS.join(", ")
                    ),
                ));
            }
        }
        if let Some(r) = &spec.reason
            && (r.is_empty() || r.chars().count() > 128)
        {
            errors.push(ErrorItem::at(
                codes::FIELD_INVALID,
                "reason",
                "reason must be 1 to 128 characters",
            ));
        }
        if spec.event_type == EventType::ResourceUpdate && spec.reason.is_some() {
            errors.push(ErrorItem::at(
                codes::FIELD_UNEXPECTED,
                "reason",
                "a resource-update has no reason",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(errors))
        }
    }

    /// Raises one event for a TPP: stores it with its signed SET if the TPP's subscription
    /// wants it, then wakes the TPP's long polls.
    pub async fn raise_event(&self, spec: EventSpec) -> ApiResult<RaiseOutcome> {
        let mut outcomes = self.raise_events(None, vec![spec]).await?;
        outcomes
            .pop()
            .ok_or_else(|| ApiError::Internal("one event raised, no outcome".into()))
    }

    /// What one trigger does, committed together (one transaction): an optional consent status
    /// change and the events it raises. Either all of it is stored or none of it.
    pub async fn raise_events(
        &self,
        change: Option<ConsentStatusChange>,
        specs: Vec<EventSpec>,
    ) -> ApiResult<Vec<RaiseOutcome>> {
        for spec in &specs {
            self.check_event_spec(spec)?;
        }
        let mut events = Vec::new();
        let mut outcomes = Vec::new();
        for spec in &specs {
            match self.destination(spec).await? {
                Err(reason) => outcomes.push(RaiseOutcome {
                    queued: false,
                    jti: None,
                    delivery_id: None,
                    reason: Some(reason),
                }),
                Ok(dest) => {
                    let mut event = self.build_event(spec)?;
                    event.poll = dest.poll;
                    let misdirected = match &dest.push {
                        Some(_) if self.has_fault(Fault::PushToOtherTpp) => {
                            self.store.foreign_callback_url(&spec.client_id).await?
                        }
                        _ => None,
                    };
                    for url in dest.push.into_iter().chain(misdirected) {
                        event.deliveries.push(NewDelivery {
                            id: uuid::Uuid::new_v4().to_string(),
                            format: Dialect::Obie,
                            url,
                            next_attempt_at: now_ms(),
                        });
                    }
                    outcomes.push(RaiseOutcome {
                        queued: true,
                        jti: Some(event.jti.clone()),
                        delivery_id: event.deliveries.first().map(|d| d.id.clone()),
                        reason: None,
                    });
                    events.push(event);
                }
            }
        }
        if !self.store.commit_trigger(change.as_ref(), &events).await? {
            // The guarded status change found the consent changed by a concurrent request.
            return Err(ApiError::bad_request(ErrorItem::new(
                codes::RESOURCE_INVALID_CONSENT_STATUS,
                "the consent's status changed while this request was handled",
            )));
        }
        for e in &events {
            self.notifier.wake(&e.client_id);
        }
        if events.iter().any(|e| !e.deliveries.is_empty()) {
            self.push_wake.notify_one();
        }
        Ok(outcomes)
    }

    /// Where an event for this TPP goes, or why nowhere. With an event subscription: the
    /// polling queue (AP-03), and its CallbackUrl by push when the subscription wants the type
    /// (R-02, N-11). Without one: a callback-url registration (ES-13: a subscription
    /// supersedes it) receives resource-update events by push only (CB-05).
    async fn destination(&self, spec: &EventSpec) -> ApiResult<Result<Destination, &'static str>> {
        let subs = self.store.subscriptions_of(&spec.client_id).await?;
        if subs.is_empty() {
            let registered = self.store.callback_urls_of(&spec.client_id).await?;
            if let Some(cb) = registered.first()
                && spec.event_type == EventType::ResourceUpdate
            {
                return Ok(Ok(Destination {
                    poll: self.has_fault(Fault::EventsWithoutSubscription),
                    push: Some(cb.url.clone()),
                }));
            }
            if self.has_fault(Fault::EventsWithoutSubscription) {
                return Ok(Ok(Destination {
                    poll: true,
                    push: None,
                }));
            }
            return Ok(Err("the TPP has no event subscription"));
        }
        match subs.iter().find(|s| s.wants(spec.event_type)) {
            Some(s) => Ok(Ok(Destination {
                poll: true,
                push: s.callback_url.clone(),
            })),
            None if self.has_fault(Fault::UnsubscribedTypesDelivered) => Ok(Ok(Destination {
                poll: true,
                push: None,
            })),
            None if self.has_fault(Fault::PushUnsubscribedTypes) => {
                match subs.iter().find_map(|s| s.callback_url.clone()) {
                    Some(url) => Ok(Ok(Destination {
                        poll: false,
                        push: Some(url),
                    })),
                    None => Ok(Err(
                        "the TPP's subscription does not ask for this event type",
                    )),
                }
            }
            None => Ok(Err(
                "the TPP's subscription does not ask for this event type",
            )),
        }
    }

    /// The `events` member for one event (N-05..N-07), from the format-neutral facts.
    fn event_payload(spec: &EventSpec, links: &[ResourceLink]) -> Value {
        let links: Vec<(String, String)> = links
            .iter()
            .map(|l| (l.version.clone(), l.link.clone()))
            .collect();
        let subject = set::subject(&spec.resource_id, &spec.resource_type, &links);
        let mut body = Map::new();
        if let Some(r) = &spec.reason {
            body.insert("reason".into(), json!(r));
        }
        body.insert("subject".into(), subject);
        let mut events = Map::new();
        events.insert(spec.event_type.urn().into(), Value::Object(body));
        Value::Object(events)
    }

    /// Records what happened (format-neutral) and builds and signs its OBIE SET once. Faults in
    /// the SET area bend exactly one claim or header of the SET here, never the event's facts.
    pub fn build_event(&self, spec: &EventSpec) -> ApiResult<NewEvent> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let event_id = uuid::Uuid::new_v4().to_string();
        let key = if self.has_fault(Fault::SetsKeyNotJti) {
            uuid::Uuid::new_v4().to_string()
        } else {
            event_id.clone()
        };
        let url = format!(
            "{}{}",
            self.api_url(""),
            resource_path(&spec.resource_type, &spec.resource_id)
        );
        let links = vec![ResourceLink {
            version: "v3.1".into(),
            link: url.clone(),
        }];
        // N-03: the interaction id of the causing call, else the event's own id.
        let txn = spec.txn.clone().unwrap_or_else(|| event_id.clone());
        let mut events = Self::event_payload(spec, &links);
        let claims = SetClaims {
            iss: self.issuer.clone(),
            iat: if self.has_fault(Fault::SetIatFuture) {
                now + 3600
            } else {
                now
            },
            jti: event_id.clone(),
            aud: if self.has_fault(Fault::SetWrongAud) {
                "obevents-someone-else".into()
            } else {
                spec.client_id.clone()
            },
            sub: url,
            txn: (!self.has_fault(Fault::SetMissingTxn)).then(|| txn.clone()),
            toe: now,
            events: Value::Null,
        };
        if self.has_fault(Fault::SetEventsString) {
            events = Value::String(events.to_string());
        }
        let mut payload =
            serde_json::to_value(&claims).map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Value::Object(m) = &mut payload {
            m.insert("events".into(), events);
        }
        let token = self.sign_set(&payload, now)?;
        Ok(NewEvent {
            event_id,
            jti: key,
            client_id: spec.client_id.clone(),
            event_type: spec.event_type.urn().into(),
            resource_id: spec.resource_id.clone(),
            resource_type: spec.resource_type.clone(),
            resource_links: links,
            txn: Some(txn),
            toe: now,
            details: EventDetails {
                reason: spec.reason.clone(),
            },
            token: Some(token),
            poll: true,
            created_at: now,
            deliveries: Vec::new(),
        })
    }

    /// Signs a SET payload with the bank's key and OB header (J-02..J-05), as faults allow.
    fn sign_set(&self, payload: &Value, now: i64) -> ApiResult<String> {
        let alg = if self.has_fault(Fault::SetUnsigned) {
            Alg::None
        } else if self.has_fault(Fault::SetRs256) {
            Alg::RS256
        } else {
            Alg::PS256
        };
        let signing_key = match &self.foreign_key {
            Some(k) if self.has_fault(Fault::SetForeignKey) => k,
            _ => &self.key,
        };
        let kid = if self.has_fault(Fault::SetWrongKid) {
            "obevents-no-such-kid"
        } else {
            signing_key.kid()
        };
        let header = jose::ob_header(alg, kid, &self.ob_header, now, false);
        let body = serde_json::to_vec(payload).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(jose::sign_compact(signing_key, &header, &body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::resource_path;

    #[test]
    fn resource_paths() {
        assert_eq!(
            resource_path("account-access-consent", "c1"),
            "/aisp/account-access-consents/c1"
        );
        assert_eq!(resource_path("widget", "w"), "/widgets/w");
    }
}
