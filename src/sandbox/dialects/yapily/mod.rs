//! Yapily-style notifications (issue 10; seed `yapily-notifications-webhooks.txt`): an
//! application subscribes per event type (`payment.status.completed` …) with a webhook URL, and
//! each event of that type is POSTed to it as the common event object, signed per attempt in a
//! `yapily-signature` JWT. This module is the domain side: the event types, subscriptions and
//! raising an event into the one delivery pipeline (the push worker); [`wire`] renders
//! it, `http::yapily` is the API.

pub mod openapi;
pub mod routes;
pub mod wire;

use serde_json::{Value, json};

use crate::sandbox::domain::{
    ClientId, DeliveryId, Dialect, EventId, NewDelivery, NewEvent, SubscriptionId, Timestamp,
    YapilySubscription,
};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::state::AppState;
use crate::sandbox::store::StoreError;
use crate::sandbox::urls::is_loopback_host;

/// The event types an application can subscribe to. The subscription API names them by a dotted
/// id; the delivered object's `eventType` is the same name in upper snake case (YA-08), as the
/// seed's two examples (`payment.status.completed`, `PAYMENT_STATUS_COMPLETED`) suggest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YapilyEventType {
    PaymentStatusCompleted,
    PaymentStatusFailed,
    PaymentStatusPending,
    ConsentRevoked,
}

impl YapilyEventType {
    pub const ALL: [YapilyEventType; 4] = [
        YapilyEventType::PaymentStatusCompleted,
        YapilyEventType::PaymentStatusFailed,
        YapilyEventType::PaymentStatusPending,
        YapilyEventType::ConsentRevoked,
    ];

    /// The `eventTypeId` of the subscription API.
    pub fn id(self) -> &'static str {
        match self {
            YapilyEventType::PaymentStatusCompleted => "payment.status.completed",
            YapilyEventType::PaymentStatusFailed => "payment.status.failed",
            YapilyEventType::PaymentStatusPending => "payment.status.pending",
            YapilyEventType::ConsentRevoked => "consent.revoked",
        }
    }

    /// The `eventType` of the delivered object.
    pub fn event_type(self) -> String {
        self.id().replace('.', "_").to_ascii_uppercase()
    }

    /// Either spelling.
    pub fn parse(s: &str) -> Option<YapilyEventType> {
        Self::ALL
            .into_iter()
            .find(|t| t.id() == s || t.event_type() == s)
    }

    pub fn description(self) -> &'static str {
        match self {
            YapilyEventType::PaymentStatusCompleted => {
                "a payment reached its final, completed status"
            }
            YapilyEventType::PaymentStatusFailed => "a payment was rejected or failed",
            YapilyEventType::PaymentStatusPending => "a payment is waiting at the institution",
            YapilyEventType::ConsentRevoked => "the user revoked a consent at the institution",
        }
    }

    /// The default `eventPayload` when the trigger gives none: the object with its new status.
    /// The `eventPayload` of an event of this type about `object_id`.
    pub fn default_payload(self, object_id: &str) -> Value {
        let (kind, status) = match self {
            YapilyEventType::PaymentStatusCompleted => ("payment", "COMPLETED"),
            YapilyEventType::PaymentStatusFailed => ("payment", "FAILED"),
            YapilyEventType::PaymentStatusPending => ("payment", "PENDING"),
            YapilyEventType::ConsentRevoked => ("consent", "REVOKED"),
        };
        json!({ "id": object_id, "type": kind, "status": status })
    }

    /// Another type, for the `yapily-wrong-event-type` fault.
    fn other(self) -> YapilyEventType {
        match self {
            YapilyEventType::PaymentStatusCompleted => YapilyEventType::PaymentStatusFailed,
            _ => YapilyEventType::PaymentStatusCompleted,
        }
    }
}

/// Why a Yapily API request was refused; `http::yapily` renders it in the dialect's shape.
#[derive(Debug, thiserror::Error)]
pub enum YapilyError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An event a trigger asks for.
#[derive(Debug, Clone)]
pub struct YapilyEventSpec {
    pub client_id: ClientId,
    pub event_type: YapilyEventType,
    /// The resource the event is about; a fresh id when the trigger gives none.
    pub object_id: Option<String>,
    pub payload: Option<Value>,
}

/// What became of a raised event.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct YapilyRaised {
    pub id: EventId,
    pub event_type_id: &'static str,
    pub object_id: String,
    /// Ids of the deliveries written (empty: nobody subscribes to the type).
    pub deliveries: Vec<DeliveryId>,
}

/// YA-04: an absolute https URL without credentials; http only to loopback when allowed.
pub fn url_problem(st: &AppState, url: &str) -> Option<String> {
    if let Some(p) = crate::sandbox::urls::destination_problem(url, crate::sandbox::urls::MAX_URL) {
        return Some(format!("notification.url {p}"));
    }
    let Ok(u) = url::Url::parse(url) else {
        return Some("notification.url must be an absolute URL".into());
    };
    let Some(host) = u.host_str() else {
        return Some("notification.url has no host".into());
    };
    if !u.username().is_empty() || u.password().is_some() {
        return Some("notification.url must not carry credentials".into());
    }
    match u.scheme() {
        "https" => None,
        "http"
            if is_loopback_host(host)
                && crate::sandbox::urls::webhook_http_allowed(&st.cfg, &st.base_url) =>
        {
            None
        }
        _ => Some("notification.url must be an https URL".into()),
    }
}

/// YA-02/YA-03: subscribes the application to one type; a second one is a conflict.
pub async fn subscribe(
    st: &AppState,
    client_id: &ClientId,
    event_type: YapilyEventType,
    url: &str,
) -> Result<YapilySubscription, YapilyError> {
    if let Some(p) = url_problem(st, url) {
        return Err(YapilyError::BadRequest(p));
    }
    let s = YapilySubscription {
        id: SubscriptionId::random(),
        client_id: client_id.clone(),
        event_type_id: event_type.id().into(),
        url: url.into(),
        created_at: Timestamp::now(),
        deleted: false,
    };
    let faults = st.faults_for(client_id).await?;
    let allow_second = faults.has(Fault::YapilyDuplicateSubscription);
    if !st
        .store
        .insert_yapily_subscription(&s, allow_second)
        .await?
    {
        return Err(YapilyError::Conflict(format!(
            "the application already subscribes to {}",
            event_type.id()
        )));
    }
    Ok(s)
}

/// YA-06: removes the subscription and stops its pending deliveries, unless the URL still
/// serves another of the application's subscriptions.
pub async fn unsubscribe(
    st: &AppState,
    client_id: &ClientId,
    event_type: YapilyEventType,
) -> Result<(), YapilyError> {
    let keep = st
        .faults_for(client_id)
        .await?
        .has(Fault::YapilyAfterDelete);
    if !st
        .store
        .delete_yapily_subscription(client_id, event_type.id(), keep)
        .await?
    {
        return Err(not_subscribed(event_type));
    }
    Ok(())
}

/// Raises one event: the body is rendered and stored once, with one delivery per webhook
/// that wants it, in one transaction; then the push worker is woken.
pub async fn raise(st: &AppState, spec: YapilyEventSpec) -> Result<YapilyRaised, YapilyError> {
    let object_id = spec
        .object_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let event_id = EventId::random();
    let mut raised = YapilyRaised {
        id: event_id.clone(),
        event_type_id: spec.event_type.id(),
        object_id: object_id.clone(),
        deliveries: Vec::new(),
    };
    let faults = st.faults_for(&spec.client_id).await?;
    let Some(url) = destination(st, &faults, &spec).await? else {
        return Ok(raised);
    };
    let misdirected = if faults.has(Fault::YapilyToOtherApp) {
        st.store.foreign_yapily_url(&spec.client_id).await?
    } else {
        None
    };
    let event_type = if faults.has(Fault::YapilyWrongEventType) {
        spec.event_type.other()
    } else {
        spec.event_type
    };
    let payload = spec
        .payload
        .clone()
        .unwrap_or_else(|| spec.event_type.default_payload(&object_id));
    let body = wire::EventObject {
        id: (!faults.has(Fault::YapilyNoEventId)).then_some(event_id.as_str()),
        event_type: event_type.event_type(),
        application_id: spec.client_id.as_str(),
        organisation_id: &st.cfg.org_id,
        institution_id: wire::INSTITUTION_ID,
        event_payload: &payload,
        object_id: &object_id,
        consent_token: None,
        created: wire::iso_now(),
        url: &url,
        notification_status: "DELIVERED",
    }
    .to_json()
    .map_err(|e| StoreError::Corrupt(format!("rendering an event: {e}")))?;
    let deliveries = NewDelivery::to_each(
        Dialect::Yapily,
        std::iter::once(url).chain(misdirected),
        Timestamp::now(),
    );
    raised.deliveries = deliveries.iter().map(|d| d.id.clone()).collect();
    // The event object's bytes are fixed now, so every attempt sends them unchanged (YA-09).
    let event = NewEvent::webhook(
        event_id,
        &spec.client_id,
        spec.event_type.id(),
        (&object_id, "yapily-object"),
        body,
        deliveries,
    );
    let stored: std::sync::Arc<[NewEvent]> = std::sync::Arc::new([event]);
    st.writes.commit_trigger(None, stored.clone()).await?;
    st.metrics.events_raised(Dialect::Yapily, &stored);
    st.push_wake.notify_one();
    Ok(raised)
}

/// YA-11: the webhook of the application's subscription to the type, if any.
async fn destination(
    st: &AppState,
    faults: &Faults,
    spec: &YapilyEventSpec,
) -> Result<Option<String>, YapilyError> {
    let subs = st
        .store
        .yapily_subscriptions_of(&spec.client_id, false)
        .await?;
    let wanted = subs
        .iter()
        .find(|s| s.event_type_id == spec.event_type.id())
        .or_else(|| {
            faults
                .has(Fault::YapilyUnsubscribedTypes)
                .then(|| subs.first())
                .flatten()
        });
    match wanted {
        Some(s) => Ok(Some(s.url.clone())),
        None if faults.has(Fault::YapilyAfterDeleteDelivered) => remembered(st, spec).await,
        None => Ok(None),
    }
}

/// The `yapily-after-delete-delivered` fault: the URL the type was last delivered to, which a
/// bank that forgets to unsubscribe keeps using (YA-06).
async fn remembered(st: &AppState, spec: &YapilyEventSpec) -> Result<Option<String>, YapilyError> {
    let last = st.store.deliveries_of(&spec.client_id, 20).await?;
    Ok(last
        .into_iter()
        .find(|d| d.format == Dialect::Yapily && d.event_type == spec.event_type.id())
        .map(|d| d.url))
}

fn not_subscribed(t: YapilyEventType) -> YapilyError {
    YapilyError::NotFound(format!("the application has no subscription to {}", t.id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_spellings() {
        let t = YapilyEventType::PaymentStatusCompleted;
        assert_eq!(t.event_type(), "PAYMENT_STATUS_COMPLETED");
        assert_eq!(YapilyEventType::parse("PAYMENT_STATUS_COMPLETED"), Some(t));
        assert_eq!(YapilyEventType::parse("payment.status.completed"), Some(t));
        assert_eq!(YapilyEventType::parse("payment.completed"), None);
        assert_ne!(t.other(), t);
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("10.0.0.1"));
    }
}
