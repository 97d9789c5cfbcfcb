//! An event's OBIE wire form: the Security Event Token (RFC 8417, `OBEventNotification2`,
//! N-02..N-07) built from the format-neutral facts when the event happens and signed once
//! (J-02..J-05), so polling and push only ever serve the stored token. The SET-area faults bend
//! exactly one claim or header here, never the event's facts.

use serde_json::{Map, Value, json};

use super::error::{ObError, ObResult};
use super::events::EventSpec;
use crate::jose::{self, Alg, JoseError};
use crate::model::set::{self, SetClaims};
use crate::sandbox::domain::{EventDetails, EventId, NewEvent, ResourceLink, Timestamp};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::state::AppState;

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

/// [`build`] on the process's CPU pool (`sandbox::cpu_pool`, one thread per core): a PS256
/// signature is a few hundred microseconds of CPU, which inline would hold a runtime thread the
/// other requests' tasks wait on; the pool's bounded queue makes a burst of triggers wait there.
/// The trigger is still answered only after its event is stored.
pub async fn build_off_thread(
    st: &AppState,
    faults: std::sync::Arc<Faults>,
    spec: &EventSpec,
) -> ObResult<NewEvent> {
    let (st, spec) = (st.clone(), spec.clone());
    crate::sandbox::cpu_pool::run(move || build(&st, &faults, &spec))
        .await
        .map_err(|e| ObError::Signing(JoseError::Header(format!("the signing task failed: {e}"))))?
}

/// Records what happened (format-neutral) and builds and signs its OBIE SET once. Faults in
/// the SET area (`faults`: those in effect for the event's TPP) bend exactly one claim or
/// header of the SET here, never the event's facts.
pub fn build(st: &AppState, faults: &Faults, spec: &EventSpec) -> ObResult<NewEvent> {
    let now = Timestamp::now();
    // `iat`, `toe` and the header's `iat` are NumericDates: whole seconds.
    let secs = now.as_secs();
    let event_id = EventId::random();
    let url = format!(
        "{}{}",
        st.api_url(""),
        resource_path(&spec.resource_type, &spec.resource_id)
    );
    let links = vec![ResourceLink {
        version: "v3.1".into(),
        link: url.clone(),
    }];
    // N-03: the interaction id of the causing call, else the event's own id.
    let txn = spec.txn.clone().unwrap_or_else(|| event_id.to_string());
    let mut events = events_member(spec, &links);
    let claims = SetClaims {
        iss: st.issuer.clone(),
        iat: if faults.has(Fault::SetIatFuture) {
            secs + 3600
        } else {
            secs
        },
        jti: event_id.to_string(),
        aud: if faults.has(Fault::SetWrongAud) {
            "obevents-someone-else".into()
        } else {
            spec.client_id.to_string()
        },
        sub: url,
        txn: (!faults.has(Fault::SetMissingTxn)).then(|| txn.clone()),
        toe: secs,
        events: Value::Null,
    };
    if faults.has(Fault::SetEventsString) {
        events = Value::String(events.to_string());
    }
    let mut payload = serde_json::to_value(&claims)
        .map_err(|e| JoseError::Malformed(format!("the SET payload: {e}")))?;
    if let Value::Object(m) = &mut payload {
        m.insert("events".into(), events);
    }
    let token = sign(st, faults, &payload, secs)?;
    Ok(NewEvent {
        jti: event_id.to_string(),
        event_id,
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

/// The `events` member for one event (N-05..N-07), from the format-neutral facts.
fn events_member(spec: &EventSpec, links: &[ResourceLink]) -> Value {
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

/// Signs a SET payload with the bank's key and OB header (J-02..J-05), as faults allow.
fn sign(st: &AppState, faults: &Faults, payload: &Value, now: i64) -> ObResult<String> {
    let alg = if faults.has(Fault::SetUnsigned) {
        Alg::None
    } else if faults.has(Fault::SetRs256) {
        Alg::RS256
    } else {
        Alg::PS256
    };
    let signing_key = if faults.has(Fault::SetForeignKey) {
        st.foreign_key()?
    } else {
        &st.key
    };
    let kid = if faults.has(Fault::SetWrongKid) {
        "obevents-no-such-kid"
    } else {
        signing_key.kid()
    };
    let header = jose::ob_header(alg, kid, &st.ob_header, now, false);
    let body = serde_json::to_vec(payload)
        .map_err(|e| JoseError::Malformed(format!("the SET payload: {e}")))?;
    Ok(jose::sign_compact(signing_key, &header, &body)?)
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
