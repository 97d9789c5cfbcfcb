//! `[retention]` and `[limits]`: how long finished events, deliveries and attempts are kept,
//! how the sweeps run, and the per-TPP bounds, as data. The sweeping is `sandbox::retention`'s
//! and the bounds are held by the store; this module only holds and validates the numbers.

use std::time::Duration;

use super::file::{LimitsFile, RetentionFile};
use crate::sandbox::domain::TppBounds;

/// The longest age a `[retention]` key takes: ten years.
const MAX_AGE_SECS: u64 = 10 * 365 * 86_400;
/// The largest per-TPP bound.
const MAX_BOUND: u64 = 1_000_000_000;

/// `[retention]`: each age set removes rows older than it; none set (the default) keeps
/// everything.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// Events that are not awaiting polling (acknowledged, dropped after an error, pushed
    /// only) and have no pending delivery, by their creation; with their deliveries and
    /// attempts.
    pub events: Option<Duration>,
    /// Awaiting (never acknowledged) SETs too, by their creation: only when the operator
    /// asks (RFC 8936 §2 lets a transmitter drop undelivered SETs under its own policy).
    pub awaiting_events: Option<Duration>,
    /// Delivered, failed and cancelled deliveries, by their last change; with their attempts.
    pub deliveries: Option<Duration>,
    /// Completed attempt rows, by their start.
    pub attempts: Option<Duration>,
    /// Time between sweeps.
    pub interval: Duration,
    /// Rows deleted per transaction.
    pub batch: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            events: None,
            awaiting_events: None,
            deliveries: None,
            attempts: None,
            interval: Duration::from_secs(60),
            batch: 500,
        }
    }
}

impl RetentionConfig {
    /// Whether any age is set (otherwise no sweeper runs).
    pub fn enabled(&self) -> bool {
        self.events.is_some()
            || self.awaiting_events.is_some()
            || self.deliveries.is_some()
            || self.attempts.is_some()
    }
}

/// The defaults of `[limits]`: far above what a TPP practising needs, low enough that one
/// tenant cannot fill the operator's disk.
pub fn default_bounds() -> TppBounds {
    TppBounds {
        max_events: Some(100_000),
        max_subscriptions: Some(100),
    }
}

pub(super) fn retention_config(r: RetentionFile) -> Result<RetentionConfig, String> {
    let age = |field: &str, v: Option<u64>| match v {
        None => Ok(None),
        Some(s) if (1..=MAX_AGE_SECS).contains(&s) => Ok(Some(Duration::from_secs(s))),
        Some(_) => Err(format!(
            "config field retention.{field}: must be between 1 and {MAX_AGE_SECS} (seconds)"
        )),
    };
    let mut c = RetentionConfig {
        events: age("event_age_secs", r.event_age_secs)?,
        awaiting_events: age("awaiting_event_age_secs", r.awaiting_event_age_secs)?,
        deliveries: age("delivery_age_secs", r.delivery_age_secs)?,
        attempts: age("attempt_age_secs", r.attempt_age_secs)?,
        ..RetentionConfig::default()
    };
    if let Some(v) = r.interval_ms {
        if !(100..=86_400_000).contains(&v) {
            return Err(
                "config field retention.interval_ms: must be between 100 and 86400000".into(),
            );
        }
        c.interval = Duration::from_millis(v);
    }
    if let Some(v) = r.batch_size {
        if !(1..=10_000).contains(&v) {
            return Err("config field retention.batch_size: must be between 1 and 10000".into());
        }
        c.batch = v;
    }
    Ok(c)
}

pub(super) fn limits_config(l: LimitsFile) -> Result<TppBounds, String> {
    let bound = |field: &str, v: Option<u64>, default: Option<u64>| match v {
        None => Ok(default),
        Some(n) if (1..=MAX_BOUND).contains(&n) => Ok(Some(n)),
        Some(_) => Err(format!(
            "config field limits.{field}: must be between 1 and {MAX_BOUND}"
        )),
    };
    let d = default_bounds();
    Ok(TppBounds {
        max_events: bound("max_events_per_tpp", l.max_events_per_tpp, d.max_events)?,
        max_subscriptions: bound(
            "max_subscriptions_per_tpp",
            l.max_subscriptions_per_tpp,
            d.max_subscriptions,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;

    #[test]
    fn retention_is_off_and_bounds_on_by_default() {
        let cfg = parse("").unwrap();
        assert!(!cfg.retention.enabled());
        assert_eq!(cfg.limits, default_bounds());
    }

    #[test]
    fn sections_parse() {
        let cfg = parse(
            "[retention]\nevent_age_secs = 2592000\nattempt_age_secs = 86400\n\
             interval_ms = 1000\nbatch_size = 50\n[limits]\nmax_events_per_tpp = 7",
        )
        .unwrap();
        assert_eq!(cfg.retention.events, Some(Duration::from_secs(2_592_000)));
        assert_eq!(cfg.retention.attempts, Some(Duration::from_secs(86_400)));
        assert_eq!(cfg.retention.awaiting_events, None);
        assert_eq!(cfg.retention.interval, Duration::from_secs(1));
        assert_eq!(cfg.retention.batch, 50);
        assert_eq!(cfg.limits.max_events, Some(7));
        assert_eq!(cfg.limits.max_subscriptions, Some(100));
    }

    #[test]
    fn errors_name_the_field() {
        for (text, field) in [
            (
                "[retention]\nevent_age_secs = 0",
                "retention.event_age_secs",
            ),
            ("[retention]\nbatch_size = 0", "retention.batch_size"),
            ("[retention]\ninterval_ms = 5", "retention.interval_ms"),
            ("[retention]\nevents = 5", "events"),
            (
                "[limits]\nmax_events_per_tpp = 0",
                "limits.max_events_per_tpp",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(field), "{text}: {e}");
        }
    }
}
