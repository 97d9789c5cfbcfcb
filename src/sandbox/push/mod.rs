//! Real-time push (OBIE R-01..R-10, RFC 8935): the retry policy as data, the rule that turns
//! one attempt's outcome into the delivery's next state, and the worker ([`worker`]) that sends
//! due deliveries. Destinations are checked by [`guard`] before anything is sent; every attempt
//! is logged and counted by `observe`.
//!
//! What a delivery is, where it stands and every attempt are rows (`deliveries`,
//! `delivery_attempts`), written with the event, when an attempt is claimed and after it: a
//! restart resumes from them, and nothing about delivery lives only in memory.

pub mod guard;
mod lanes;
mod observe;
pub mod worker;

use std::time::Duration;

use super::config::PushConfig;
use super::domain::{AttemptVerdict, Dialect, Timestamp};
use super::faults::{Fault, Faults};

/// What one attempt came to, before the policy judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The TPP answered with this status.
    Status(u16),
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection could not be made or broke.
    Connection(String),
    /// The destination is not allowed or cannot exist; nothing was sent.
    Refused(String),
}

impl Outcome {
    /// unacknowledged or 5xx is retried; so are 408 and 429, which ask for a later try.
    fn retryable(&self) -> bool {
        match self {
            Outcome::Status(s) => *s >= 500 || *s == 408 || *s == 429,
            Outcome::Timeout | Outcome::Connection(_) => true,
            Outcome::Refused(_) => false,
        }
    }
}

impl PushConfig {
    /// The delivery's next state after attempt number `attempt` (1 = first try) ended at
    /// `now`, for a delivery created at `created`.
    pub fn verdict(
        &self,
        outcome: &Outcome,
        attempt: i64,
        created: Timestamp,
        now: Timestamp,
    ) -> AttemptVerdict {
        if let Outcome::Status(s) = outcome
            && (200..300).contains(s)
        {
            return AttemptVerdict::Delivered;
        }
        if !outcome.retryable() {
            return AttemptVerdict::Failed;
        }
        let retries_done = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        let delay = self.retry_schedule.get(retries_done).copied();
        let Some(delay) = delay else {
            return AttemptVerdict::Failed;
        };
        let next = now.saturating_add(delay);
        let limit_ms = i64::try_from(self.max_interval.as_millis()).unwrap_or(i64::MAX);
        if next.millis_since(created) > limit_ms {
            return AttemptVerdict::Failed;
        }
        AttemptVerdict::RetryAt(next)
    }

    /// [`verdict`](Self::verdict) for a delivery of `format`, as a bank with the retry faults
    /// switched on reaches it: each fault bends exactly one part of the policy. A Yapily or
    /// Tatra webhook is retried on any non-2xx answer (YA-09, TB-11), where OBIE retries only
    /// 5xx, 408 and 429; it goes through the same switch as `push-retry-4xx`.
    pub fn faulty_verdict(
        &self,
        faults: &Faults,
        format: Dialect,
        outcome: &Outcome,
        attempt: i64,
        created: Timestamp,
        now: Timestamp,
    ) -> AttemptVerdict {
        let delay = |d: Option<&Duration>| d.copied().unwrap_or(Duration::from_secs(1));
        let status = match outcome {
            Outcome::Status(s) => Some(*s),
            _ => None,
        };
        let ok = |s: u16| (200..300).contains(&s);
        // The JSON webhook dialects retry any non-2xx answer; each has its own no-retry fault.
        let webhook = !format.sends_sets();
        let no_retry = match format {
            Dialect::Obie | Dialect::Wso2 => {
                faults.has(Fault::PushNoRetry5xx) && status.is_some_and(|s| s >= 500)
            }
            Dialect::Yapily => faults.has(Fault::YapilyNoRetry) && status.is_some_and(|s| !ok(s)),
            Dialect::Tatra => faults.has(Fault::TatraNoRetry) && status.is_some_and(|s| !ok(s)),
        };
        if no_retry {
            return AttemptVerdict::Failed;
        }
        let repeat = match format {
            Dialect::Obie | Dialect::Wso2 => faults.has(Fault::PushRepeatAfter202),
            Dialect::Yapily => faults.has(Fault::YapilyRepeatAfter2xx),
            Dialect::Tatra => false,
        };
        if repeat && attempt == 1 && status.is_some_and(ok) {
            let first = delay(self.retry_schedule.first());
            return AttemptVerdict::RetryAt(now.saturating_add(first));
        }
        let judged = match status {
            Some(s) if webhook && !ok(s) => Outcome::Status(503),
            Some(s) if faults.has(Fault::PushRetry4xx) && (400..500).contains(&s) => {
                Outcome::Status(503)
            }
            _ => outcome.clone(),
        };
        let mut v = self.verdict(&judged, attempt, created, now);
        if v == AttemptVerdict::Failed
            && judged.retryable()
            && faults.has(Fault::PushRetriesForever)
        {
            let last = delay(self.retry_schedule.last());
            v = AttemptVerdict::RetryAt(now.saturating_add(last));
        }
        if faults.has(Fault::PushNoBackoff)
            && let AttemptVerdict::RetryAt(_) = v
        {
            v = AttemptVerdict::RetryAt(now);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: i64) -> Timestamp {
        Timestamp::from_millis(n)
    }

    fn cfg() -> PushConfig {
        PushConfig {
            retry_schedule: vec![Duration::from_millis(100), Duration::from_millis(200)],
            max_interval: Duration::from_secs(60),
            ..Default::default()
        }
    }

    #[test]
    fn two_xx_delivers_five_xx_retries_on_schedule_then_fails() {
        let c = cfg();
        assert_eq!(
            c.verdict(&Outcome::Status(202), 1, ms(0), ms(10)),
            AttemptVerdict::Delivered
        );
        assert_eq!(
            c.verdict(&Outcome::Status(200), 1, ms(0), ms(10)),
            AttemptVerdict::Delivered
        );
        assert_eq!(
            c.verdict(&Outcome::Status(503), 1, ms(0), ms(10)),
            AttemptVerdict::RetryAt(ms(110))
        );
        assert_eq!(
            c.verdict(&Outcome::Timeout, 2, ms(0), ms(500)),
            AttemptVerdict::RetryAt(ms(700))
        );
        assert_eq!(
            c.verdict(&Outcome::Status(503), 3, ms(0), ms(900)),
            AttemptVerdict::Failed
        );
        assert_eq!(
            c.verdict(&Outcome::Status(429), 1, ms(0), ms(0)),
            AttemptVerdict::RetryAt(ms(100))
        );
    }

    #[test]
    fn four_xx_and_refused_destinations_are_not_retried() {
        let c = cfg();
        for o in [
            Outcome::Status(400),
            Outcome::Status(404),
            Outcome::Status(301),
        ] {
            assert_eq!(
                c.verdict(&o, 1, ms(0), ms(0)),
                AttemptVerdict::Failed,
                "{o:?}"
            );
        }
        let refused = Outcome::Refused("private".into());
        assert_eq!(c.verdict(&refused, 1, ms(0), ms(0)), AttemptVerdict::Failed);
    }

    #[test]
    fn the_maximum_interval_ends_retries() {
        let c = PushConfig {
            max_interval: Duration::from_millis(150),
            ..cfg()
        };
        assert_eq!(
            c.verdict(&Outcome::Status(500), 1, ms(0), ms(10)),
            AttemptVerdict::RetryAt(ms(110))
        );
        assert_eq!(
            c.verdict(&Outcome::Status(500), 2, ms(0), ms(120)),
            AttemptVerdict::Failed
        );
    }

    #[test]
    fn each_retry_fault_bends_one_part_of_the_policy() {
        let c = cfg();
        let with = |f: Fault| Faults::new([f]);
        let v = |f: Fault, o: Outcome, attempt: i64, now: i64| {
            c.faulty_verdict(&with(f), Dialect::Obie, &o, attempt, ms(0), ms(now))
        };
        assert_eq!(
            v(Fault::PushNoRetry5xx, Outcome::Status(503), 1, 0),
            AttemptVerdict::Failed
        );
        assert_eq!(
            v(Fault::PushRetry4xx, Outcome::Status(400), 1, 0),
            AttemptVerdict::RetryAt(ms(100))
        );
        assert_eq!(
            v(Fault::PushRetriesForever, Outcome::Status(503), 9, 50),
            AttemptVerdict::RetryAt(ms(250))
        );
        assert_eq!(
            v(Fault::PushNoBackoff, Outcome::Status(503), 1, 7),
            AttemptVerdict::RetryAt(ms(7))
        );
        assert_eq!(
            v(Fault::PushRepeatAfter202, Outcome::Status(202), 1, 0),
            AttemptVerdict::RetryAt(ms(100))
        );
        assert_eq!(
            v(Fault::PushRepeatAfter202, Outcome::Status(202), 2, 0),
            AttemptVerdict::Delivered
        );
        let y = |f: Fault, o: Outcome, attempt: i64| {
            c.faulty_verdict(&with(f), Dialect::Yapily, &o, attempt, ms(0), ms(0))
        };
        // YA-09: any non-2xx is retried for a Yapily webhook; the Yapily faults bend only it.
        assert_eq!(
            y(Fault::PushUnsigned, Outcome::Status(400), 1),
            AttemptVerdict::RetryAt(ms(100))
        );
        assert_eq!(
            y(Fault::YapilyNoRetry, Outcome::Status(404), 1),
            AttemptVerdict::Failed
        );
        assert_eq!(
            y(Fault::YapilyRepeatAfter2xx, Outcome::Status(200), 1),
            AttemptVerdict::RetryAt(ms(100))
        );
        let t = |f: Fault, o: Outcome, attempt: i64| {
            c.faulty_verdict(&with(f), Dialect::Tatra, &o, attempt, ms(0), ms(0))
        };
        // TB-11: a Tatra webhook is retried on any non-2xx, except with its no-retry fault.
        assert_eq!(
            t(Fault::PushUnsigned, Outcome::Status(404), 1),
            AttemptVerdict::RetryAt(ms(100))
        );
        assert_eq!(
            t(Fault::TatraNoRetry, Outcome::Status(503), 1),
            AttemptVerdict::Failed
        );
        assert_eq!(
            t(Fault::YapilyNoRetry, Outcome::Status(503), 1),
            AttemptVerdict::RetryAt(ms(100))
        );
        assert_eq!(
            v(Fault::YapilyNoRetry, Outcome::Status(503), 1, 0),
            AttemptVerdict::RetryAt(ms(100))
        );
        // Faults that are not about retries leave the policy alone.
        assert_eq!(
            v(Fault::PushUnsigned, Outcome::Status(400), 1, 0),
            AttemptVerdict::Failed
        );
    }
}
