//! Aggregated polling (`POST /events`, obie-rules §4, RFC 8936 §2): the
//! personality's documented deviations, ack-then-select in one store transaction, and long
//! polling woken by the TPP's [`Notify`](tokio::sync::Notify).

use std::time::Duration;

use tokio::time::Instant;

use super::error::{ObError, ObResult};
pub use super::requests::poll::PollRequest;
use crate::sandbox::behaviours::{self, Behaviour};
use crate::sandbox::domain::Tpp;
use crate::sandbox::domain::{ClientId, PollBatch, PollOps};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::http::error::{EdgeError, ErrorItem, codes};
use crate::sandbox::personality::{LongPolling, UnknownAck};
use crate::sandbox::state::AppState;

/// What the handler renders.
#[derive(Debug, Clone)]
pub struct PollResult {
    pub sets: Vec<(String, String)>,
    /// `None` when a fault omits the member.
    pub more_available: Option<bool>,
}

/// One `POST /events`, its body parsed at the edge (`requests::poll`).
pub async fn poll(st: &AppState, tpp: &Tpp, req: PollRequest) -> ObResult<PollResult> {
    let p = &st.cfg.personality;
    // The sandbox's faults with the ones this TPP chose, read once for the whole request.
    let (faults, behaviours) = st.choices_for(&tpp.client_id).await?;
    // Practice behaviours: checked before anything changes, so a throttled poll's acks wait
    // for the poll that is let through.
    if behaviours.has(Behaviour::Throttle429)
        && let Some(secs) = st.throttle.check(&tpp.client_id)
    {
        return Err(EdgeError::Throttled(secs).into());
    }
    if behaviours.has(Behaviour::SlowPolls) {
        tokio::time::sleep(behaviours::SLOW_BY).await;
    }

    refuse_deviations(st, &faults, tpp, &req).await?;

    // A documented maxEvents limit (HSBC) is also the most a poll ever returns.
    let cap = st
        .cfg
        .max_events_cap
        .min(p.max_events_limit.unwrap_or(usize::MAX));
    let limit = if faults.has(Fault::MaxEventsIgnored) {
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
        && !faults.has(Fault::LongPollImmediate);

    let ack: &[String] = if faults.has(Fault::AckedRedelivered) {
        &[]
    } else {
        &req.ack
    };
    let ops = PollOps {
        client_id: &tpp.client_id,
        scope_acks: !faults.has(Fault::AckNotScoped),
        ack,
        set_errs: &req.set_errs,
        drop_errored: !p.errored_redelivered,
        scope_select: !faults.has(Fault::EventsLeakToOtherTpp),
        limit,
    };
    let mut batch = if long_poll {
        hold(st, &tpp.client_id, &ops).await?
    } else {
        st.store.poll(&ops).await?
    };
    st.metrics.poll(long_poll, batch.sets.len());
    if faults.has(Fault::EmptyQueue404) && batch.sets.is_empty() && limit > 0 {
        return Err(ObError::NotFound(ErrorItem::new(
            codes::RESOURCE_NOT_FOUND,
            "no events",
        )));
    }
    if faults.has(Fault::MoreAvailableAlwaysFalse) {
        batch.more_available = false;
    }
    if behaviours.has(Behaviour::NewestFirst) {
        batch.sets.reverse();
    }
    if faults.has(Fault::SetsKeyNotJti) {
        for (key, _) in &mut batch.sets {
            *key = sets_key_not_jti(key);
        }
    }
    Ok(PollResult {
        sets: batch.sets,
        more_available: (!faults.has(Fault::MoreAvailableOmitted)).then_some(batch.more_available),
    })
}

/// The `sets` key of `sets-key-not-jti` (AP-13): stable from poll to poll, never the jti.
/// Only the key is wrong: the SET, the trigger's answer and acknowledgements by jti are as
/// ever, so the fault breaks AP-13 alone.
pub fn sets_key_not_jti(jti: &str) -> String {
    format!("key-{jti}")
}

/// The personality's documented deviations (obie-rules §10) and the polling faults that refuse
/// a request, checked before anything changes state.
async fn refuse_deviations(
    st: &AppState,
    faults: &Faults,
    tpp: &Tpp,
    req: &PollRequest,
) -> ObResult<()> {
    let p = &st.cfg.personality;
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
    if faults.has(Fault::SetErrsRejected) && !req.set_errs.is_empty() {
        return Err(ObError::invalid("setErrs", "setErrs is not accepted"));
    }
    Ok(())
}

/// Holds the request until a SET is available or the configured timeout passes. Interest
/// is registered before each read of the store, so an event stored in between wakes us.
async fn hold(st: &AppState, client_id: &ClientId, ops: &PollOps<'_>) -> ObResult<PollBatch> {
    let deadline = Instant::now() + st.cfg.long_poll_timeout;
    let notify = st.notifier.of(client_id.as_str());
    let _held = st.metrics.hold_long_poll();
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
