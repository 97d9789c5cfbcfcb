//! Aggregated polling (`POST /events`, obie-rules §4, RFC 8936 §2): request validation, the
//! personality's documented deviations, ack-then-select in one store transaction, and long
//! polling woken by the TPP's [`Notify`](tokio::sync::Notify).

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::error::{ObError, ObResult};
use crate::sandbox::dialects::obie::validate::{Check, bounds};
use crate::sandbox::domain::Tpp;
use crate::sandbox::domain::{ClientId, PollBatch, PollOps};
use crate::sandbox::faults::Fault;
use crate::sandbox::http::error::{ErrorItem, codes};
use crate::sandbox::personality::{LongPolling, UnknownAck};
use crate::sandbox::state::AppState;

/// Largest `maxEvents` accepted as a number at all (larger is a 400, edge case 5).
const MAX_EVENTS_CEILING: i64 = i32::MAX as i64;

/// An `OBEventPolling1` request, validated.
#[derive(Debug, Default, Clone)]
pub struct PollRequest {
    pub max_events: Option<usize>,
    pub return_immediately: Option<bool>,
    pub ack: Vec<String>,
    /// `(jti, err, description)`.
    pub set_errs: Vec<(String, String, String)>,
}

/// What the handler renders.
#[derive(Debug, Clone)]
pub struct PollResult {
    pub sets: Vec<(String, String)>,
    /// `None` when a fault omits the member.
    pub more_available: Option<bool>,
}

/// AP-04 / RFC 8936 §2.2 validation. `closed`: reject unknown members (v3.1.11).
pub fn parse_poll_request(body: &Value, closed: bool) -> ObResult<PollRequest> {
    let mut c = Check::new();
    let mut req = PollRequest::default();
    if let Some(top) = c.object(body, "") {
        if closed {
            c.closed(
                top,
                &["maxEvents", "returnImmediately", "ack", "setErrs"],
                "",
            );
        }
        match top.get("maxEvents") {
            None => {}
            // JSON Schema's "integer" is any number without a fractional part, so 2.0 and 1e2
            // are integers too.
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v < 0.0 => c.invalid("maxEvents", "maxEvents must not be negative"),
                Some(v) if v.fract() == 0.0 && v <= MAX_EVENTS_CEILING as f64 => {
                    req.max_events = Some(v as usize)
                }
                _ => c.invalid(
                    "maxEvents",
                    format!("maxEvents must be an integer from 0 to {MAX_EVENTS_CEILING}"),
                ),
            },
            Some(_) => c.invalid("maxEvents", "maxEvents must be an integer"),
        }
        match top.get("returnImmediately") {
            None => {}
            Some(Value::Bool(b)) => req.return_immediately = Some(*b),
            Some(_) => c.invalid("returnImmediately", "returnImmediately must be a boolean"),
        }
        if let Some(v) = top.get("ack") {
            req.ack = c
                .bounded_array(v, "ack", bounds::ACK, |c, item, path| {
                    c.string(item, path, 1, 128)
                })
                .unwrap_or_default();
        }
        match top.get("setErrs") {
            None => {}
            Some(Value::Object(errs)) if errs.len() > bounds::SET_ERRS => c.invalid(
                "setErrs",
                format!(
                    "setErrs has {} members; at most {} are allowed",
                    errs.len(),
                    bounds::SET_ERRS
                ),
            ),
            Some(Value::Object(errs)) => {
                for (jti, entry) in errs {
                    let path = format!("setErrs.{jti}");
                    if jti.is_empty() || jti.chars().count() > 128 {
                        c.invalid(
                            path.clone(),
                            "a setErrs key is a jti of 1 to 128 characters",
                        );
                    }
                    let Some(e) = c.object(entry, &path) else {
                        continue;
                    };
                    let err = c
                        .required(e, "err", &path)
                        .and_then(|v| c.string(v, &format!("{path}.err"), 1, 40));
                    let desc = c
                        .required(e, "description", &path)
                        .and_then(|v| c.string(v, &format!("{path}.description"), 1, 256));
                    if let (Some(err), Some(desc)) = (err, desc) {
                        req.set_errs.push((jti.clone(), err, desc));
                    }
                }
            }
            Some(_) => c.invalid("setErrs", "setErrs must be an object keyed by jti"),
        }
    }
    c.finish()?;
    Ok(req)
}

/// One `POST /events`, its body parsed at the edge with [`parse_poll_request`].
pub async fn poll(st: &AppState, tpp: &Tpp, req: PollRequest) -> ObResult<PollResult> {
    let p = &st.cfg.personality;

    // Documented deviations (obie-rules §10), checked before anything changes state.
    if let (Some(limit), Some(n)) = (p.max_events_limit, req.max_events)
        && n > limit
    {
        return Err(ObError::invalid(
            "maxEvents",
            "maxEvents is not within the limits allowed by ASPSP",
        ));
    }
    if p.long_polling == LongPolling::Reject && req.return_immediately == Some(false) {
        return Err(ObError::invalid(
            "returnImmediately",
            "long polling is not supported: returnImmediately must be true",
        ));
    }
    if p.unknown_ack == UnknownAck::Reject {
        let unknown = st.store.unknown_jtis(&tpp.client_id, &req.ack).await?;
        if !unknown.is_empty() {
            return Err(ObError::Invalid(vec![ErrorItem::at(
                codes::FIELD_INVALID,
                "ack",
                "Jti in the request are not valid",
            )]));
        }
    }
    if st.has_fault(Fault::SetErrsRejected) && !req.set_errs.is_empty() {
        return Err(ObError::invalid("setErrs", "setErrs is not accepted"));
    }

    // A documented maxEvents limit (HSBC) is also the most a poll ever returns.
    let cap = st
        .cfg
        .max_events_cap
        .min(p.max_events_limit.unwrap_or(usize::MAX));
    let limit = if st.has_fault(Fault::MaxEventsIgnored) {
        cap
    } else {
        match req.max_events {
            Some(n) => n.min(cap),
            None => p.default_batch.unwrap_or(cap).min(cap),
        }
    };
    // R8936-08: absent returnImmediately means long poll. Nothing can be returned when
    // limit is 0, so an acknowledge-only request is answered at once (edge case 4).
    let long_poll = limit > 0
        && p.long_polling == LongPolling::Supported
        && req.return_immediately != Some(true)
        && !st.has_fault(Fault::LongPollImmediate);

    let ack: &[String] = if st.has_fault(Fault::AckedRedelivered) {
        &[]
    } else {
        &req.ack
    };
    let ops = PollOps {
        client_id: &tpp.client_id,
        scope_acks: !st.has_fault(Fault::AckNotScoped),
        ack,
        set_errs: &req.set_errs,
        drop_errored: !p.errored_redelivered,
        scope_select: !st.has_fault(Fault::EventsLeakToOtherTpp),
        limit,
    };
    let mut batch = if long_poll {
        hold(st, &tpp.client_id, &ops).await?
    } else {
        st.store.poll(&ops).await?
    };
    if st.has_fault(Fault::EmptyQueue404) && batch.sets.is_empty() && limit > 0 {
        return Err(ObError::NotFound(ErrorItem::new(
            codes::RESOURCE_NOT_FOUND,
            "no events",
        )));
    }
    if st.has_fault(Fault::MoreAvailableAlwaysFalse) {
        batch.more_available = false;
    }
    Ok(PollResult {
        sets: batch.sets,
        more_available: (!st.has_fault(Fault::MoreAvailableOmitted))
            .then_some(batch.more_available),
    })
}

/// Holds the request until a SET is available or the configured timeout passes. Interest
/// is registered before each read of the store, so an event stored in between wakes us.
async fn hold(st: &AppState, client_id: &ClientId, ops: &PollOps<'_>) -> ObResult<PollBatch> {
    let deadline = Instant::now() + st.cfg.long_poll_timeout;
    let notify = st.notifier.of(client_id.as_str());
    let mut first = true;
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Acks and errors apply once, on the first read.
        let batch = if first {
            st.store.poll(ops).await?
        } else {
            st.store
                .poll(&PollOps {
                    ack: &[],
                    set_errs: &[],
                    ..ops.clone()
                })
                .await?
        };
        first = false;
        if !batch.sets.is_empty() {
            return Ok(batch);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining == Duration::ZERO {
            return Ok(batch);
        }
        tokio::select! {
            _ = notified => {}
            // R8936-09: a timed-out long poll is a normal, empty answer; so is one cut short
            // because the sandbox is stopping, which then closes the connection.
            _ = tokio::time::sleep(remaining) => return Ok(batch),
            _ = st.shutdown.cancelled() => return Ok(batch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(body: Value) -> Vec<String> {
        match parse_poll_request(&body, true) {
            Err(ObError::Invalid(items)) => items.into_iter().filter_map(|i| i.path).collect(),
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_rfc_variants() {
        for b in [
            json!({}),
            json!({"maxEvents": 0, "ack": ["a"]}),
            json!({"returnImmediately": true, "ack": [], "setErrs": {}}),
            json!({"setErrs": {"j": {"err": "jwtIss", "description": "bad issuer"}}}),
        ] {
            assert!(parse_poll_request(&b, true).is_ok(), "{b}");
        }
    }

    #[test]
    fn rejects_bad_members_with_paths() {
        assert_eq!(paths(json!({"maxEvents": -1})), ["maxEvents"]);
        assert_eq!(paths(json!({"maxEvents": 2.5})), ["maxEvents"]);
        assert!(
            parse_poll_request(&json!({"maxEvents": 2.0}), true)
                .is_ok_and(|r| r.max_events == Some(2))
        );
        assert_eq!(paths(json!({"maxEvents": "5"})), ["maxEvents"]);
        assert_eq!(paths(json!({"maxEvents": null})), ["maxEvents"]);
        assert_eq!(
            paths(json!({"returnImmediately": "true"})),
            ["returnImmediately"]
        );
        assert_eq!(paths(json!({"setErrs": []})), ["setErrs"]);
        assert_eq!(
            paths(json!({"setErrs": {"j": {"err": "x".repeat(41), "description": "d"}}})),
            ["setErrs.j.err"]
        );
        assert_eq!(
            paths(json!({"setErrs": {"j": {"description": "d"}}})),
            ["setErrs.j.err"]
        );
        assert_eq!(paths(json!({"ack": "j"})), ["ack"]);
        assert_eq!(paths(json!({"ack": [1]})), ["ack[0]"]);
        assert_eq!(paths(json!({"acks": ["j"]})), ["acks"]);
    }
}
