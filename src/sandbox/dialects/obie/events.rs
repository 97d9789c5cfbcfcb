//! Raising OBIE events: an event that happens for a TPP is filtered by its subscription (AP-03,
//! N-11) into the polling queue and its push destination, built into its SET ([`super::set`]),
//! and stored durably with its delivery rows in one transaction — together with the consent
//! status change that caused it, if any; then the TPP's long polls and the push worker wake.

use super::error::{ObError, ObResult};
use super::set;
use crate::model::EventType;
use crate::sandbox::domain::{
    ClientId, ConsentStatusChange, DeliveryId, Dialect, NewDelivery, NewEvent, Timestamp,
};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::http::error::{ErrorItem, codes};
use crate::sandbox::state::AppState;

/// Reasons a linked-account-update may carry (N-07).
pub const LINKED_ACCOUNT_REASONS: [&str; 2] = ["UK.OBIE.AccountClosure", "UK.OBIE.CASS"];

/// An event that happened, before subscription filtering.
#[derive(Debug, Clone)]
pub struct EventSpec {
    pub client_id: ClientId,
    pub event_type: EventType,
    pub resource_id: String,
    pub resource_type: String,
    pub reason: Option<String>,
    /// The interaction id of the call that caused the change, used as `txn` (D-EV 3.1.7+).
    pub txn: Option<String>,
}

/// What became of a raised event.
#[derive(Debug, Clone, PartialEq)]
pub struct RaiseOutcome {
    pub queued: bool,
    pub jti: Option<String>,
    /// The push delivery of the event, when the TPP has a callback URL for it.
    pub delivery_id: Option<DeliveryId>,
    pub reason: Option<&'static str>,
}

/// Where one event goes.
struct Destination {
    /// Into the polling queue.
    poll: bool,
    /// Pushed to this callback URL.
    push: Option<String>,
}

/// Validates an event request (type support per personality, N-07 constraints).
/// Whether `v` is a URI path segment as it stands (RFC 3986 unreserved characters), so the
/// SET's `sub` and `rlk` links built from it are URIs (`format: uri`) that point where they say.
fn uri_segment(v: &str) -> bool {
    v != "."
        && v != ".."
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

pub fn check_spec(st: &AppState, spec: &EventSpec) -> ObResult<()> {
    let mut errors = Vec::new();
    if !st.cfg.personality.event_types.contains(&spec.event_type) {
        errors.push(
            ErrorItem::at(
                codes::UNSUPPORTED_EVENT_TYPE,
                "eventType",
                format!("{} is not supported by this bank", spec.event_type),
            )
            .with_url(format!("{}/sandbox/event-types", st.base_url)),
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
        } else if !uri_segment(v) {
            errors.push(ErrorItem::at(
                codes::FIELD_INVALID,
                name,
                format!(
                    "{name} may hold only letters, digits and - . _ ~ (not . or .. alone): it becomes a segment of the SET's sub and rlk URIs"
                ),
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
        Err(ObError::Invalid(errors))
    }
}

/// Raises one event for a TPP (see [`raise_all`]).
pub async fn raise(
    st: &AppState,
    change: Option<ConsentStatusChange>,
    spec: EventSpec,
) -> ObResult<RaiseOutcome> {
    check_spec(st, &spec)?;
    let (event, outcome) = prepare(st, &spec).await?;
    commit(st, change, event.into_iter().collect()).await?;
    Ok(outcome)
}

/// What one trigger does, committed together (one transaction): an optional consent status
/// change and the events it raises, each stored with its signed SET if the TPP's subscription
/// wants it. Either all of it is stored or none of it; one outcome per spec, in order.
pub async fn raise_all(
    st: &AppState,
    change: Option<ConsentStatusChange>,
    specs: Vec<EventSpec>,
) -> ObResult<Vec<RaiseOutcome>> {
    for spec in &specs {
        check_spec(st, spec)?;
    }
    let mut events = Vec::new();
    let mut outcomes = Vec::new();
    for spec in &specs {
        let (event, outcome) = prepare(st, spec).await?;
        events.extend(event);
        outcomes.push(outcome);
    }
    commit(st, change, events).await?;
    Ok(outcomes)
}

/// The event one spec becomes (if anyone wants it) with its delivery rows, and its outcome.
async fn prepare(st: &AppState, spec: &EventSpec) -> ObResult<(Option<NewEvent>, RaiseOutcome)> {
    // The faults of the TPP the event is for (not of the caller: an operator's trigger
    // raises it with the TPP's own choice).
    let faults = st.faults_for(&spec.client_id).await?;
    let dest = destination(st, &faults, spec).await?;
    let dest = match remembered(st, &faults, spec, dest).await? {
        Err(reason) => {
            let outcome = RaiseOutcome {
                queued: false,
                jti: None,
                delivery_id: None,
                reason: Some(reason),
            };
            return Ok((None, outcome));
        }
        Ok(dest) => dest,
    };
    let mut event = set::build_off_thread(st, faults.clone(), spec).await?;
    event.poll = dest.poll;
    let misdirected = match &dest.push {
        Some(_) if faults.has(Fault::PushToOtherTpp) => {
            st.store.foreign_callback_url(&spec.client_id).await?
        }
        _ => None,
    };
    for url in dest.push.into_iter().chain(misdirected) {
        event.deliveries.push(NewDelivery {
            id: DeliveryId::random(),
            format: Dialect::Obie,
            url,
            next_attempt_at: Timestamp::now(),
        });
    }
    let outcome = RaiseOutcome {
        queued: true,
        jti: Some(event.jti.clone()),
        delivery_id: event.deliveries.first().map(|d| d.id.clone()),
        reason: None,
    };
    Ok((Some(event), outcome))
}

/// Stores the trigger's change and events in one transaction, then wakes who waits for them.
async fn commit(
    st: &AppState,
    change: Option<ConsentStatusChange>,
    events: Vec<NewEvent>,
) -> ObResult<()> {
    let events: std::sync::Arc<[NewEvent]> = events.into();
    if !st.writes.commit_trigger(change, events.clone()).await? {
        // The guarded status change found the consent changed by a concurrent request.
        return Err(ObError::consent_status(
            "the consent's status changed while this request was handled",
        ));
    }
    st.metrics.events_raised(Dialect::Obie, &events);
    for e in events.iter() {
        st.notifier.wake(e.client_id.as_str());
    }
    if events.iter().any(|e| !e.deliveries.is_empty()) {
        st.push_wake.notify_one();
    }
    Ok(())
}

/// The `push-after-unsubscribe` fault: a bank that remembers where it last pushed and keeps
/// pushing there after the subscription no longer names that URL.
async fn remembered(
    st: &AppState,
    faults: &Faults,
    spec: &EventSpec,
    dest: Result<Destination, &'static str>,
) -> ObResult<Result<Destination, &'static str>> {
    if !faults.has(Fault::PushAfterUnsubscribe) || dest.as_ref().is_ok_and(|d| d.push.is_some()) {
        return Ok(dest);
    }
    let last = st.store.deliveries_of(&spec.client_id, 20).await?;
    let Some(url) = last
        .into_iter()
        .find(|d| d.format == Dialect::Obie)
        .map(|d| d.url)
    else {
        return Ok(dest);
    };
    let poll = dest.as_ref().is_ok_and(|d| d.poll);
    Ok(Ok(Destination {
        poll,
        push: Some(url),
    }))
}

/// Where an event for this TPP goes, or why nowhere. With an event subscription: the
/// polling queue (AP-03), and its CallbackUrl by push when the subscription wants the type
/// (R-02, N-11). Without one: a callback-url registration (ES-13: a subscription
/// supersedes it) receives resource-update events by push only (CB-05).
async fn destination(
    st: &AppState,
    faults: &Faults,
    spec: &EventSpec,
) -> ObResult<Result<Destination, &'static str>> {
    let subs = st.store.subscriptions_of(&spec.client_id).await?;
    if subs.is_empty() {
        let registered = st.store.callback_urls_of(&spec.client_id).await?;
        if let Some(cb) = registered.first()
            && spec.event_type == EventType::ResourceUpdate
        {
            return Ok(Ok(Destination {
                poll: faults.has(Fault::EventsWithoutSubscription),
                push: Some(cb.url.clone()),
            }));
        }
        if faults.has(Fault::EventsWithoutSubscription) {
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
        None if faults.has(Fault::UnsubscribedTypesDelivered) => Ok(Ok(Destination {
            poll: true,
            push: None,
        })),
        None if faults.has(Fault::PushUnsubscribedTypes) => {
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
