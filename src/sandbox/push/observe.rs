//! What an operator sees of push: one `info` line per attempt (target `obevents::push`) and the
//! attempt metrics (`sandbox::metrics`). Only the destination's host is logged, never the
//! whole URL or the error text (which quotes it): a callback URL's path or query may carry
//! something of the TPP's.

use std::time::Duration;

use super::Outcome;
use crate::sandbox::domain::{AttemptVerdict, DueDelivery};
use crate::sandbox::metrics::{AttemptAnswer, AttemptOutcome};
use crate::sandbox::state::AppState;

/// Logs and counts attempt number `number` of `d` (sent with `interaction_id`), which came to
/// `outcome` after `took` and moves the delivery on by `verdict`.
pub(super) fn attempt(
    state: &AppState,
    d: &DueDelivery,
    (number, interaction_id): (i64, &str),
    outcome: &Outcome,
    verdict: AttemptVerdict,
    took: Duration,
) {
    let (answer, status, error) = match outcome {
        Outcome::Status(s) => (AttemptAnswer::Status(*s), Some(*s), None),
        Outcome::Timeout => (AttemptAnswer::Timeout, None, Some("timeout")),
        Outcome::Connection(_) => (AttemptAnswer::Connection, None, Some("connection failed")),
        Outcome::Refused(_) => (AttemptAnswer::Refused, None, Some("not sent: refused")),
    };
    let result = match verdict {
        AttemptVerdict::Delivered => AttemptOutcome::Delivered,
        AttemptVerdict::RetryAt(_) => AttemptOutcome::Retry,
        AttemptVerdict::Failed => AttemptOutcome::Failed,
    };
    state.metrics.push_attempt(d.format, result, answer, took);
    let host = url::Url::parse(&d.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "-".into());
    tracing::info!(
        target: "obevents::push",
        delivery = %d.id,
        client = %d.client_id,
        dialect = d.format.name(),
        host,
        attempt = number,
        interaction_id,
        status,
        error,
        latency_ms = (took.as_secs_f64() * 100_000.0).round() / 100.0,
        outcome = result.label(),
        "push attempt"
    );
}
