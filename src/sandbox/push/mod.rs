//! Real-time push (OBIE R-01..R-10, RFC 8935): the retry policy as data, the rule that turns
//! one attempt's outcome into the delivery's next state, and the worker ([`worker`]) that sends
//! due deliveries. Destinations are checked by [`guard`] before anything is sent.
//!
//! What a delivery is, where it stands and every attempt are rows (`deliveries`,
//! `delivery_attempts`), written with the event and after each attempt: a restart resumes from
//! them, and nothing about delivery lives only in memory.

pub mod guard;
pub mod worker;

use std::time::Duration;

use super::domain::AttemptVerdict;

/// The push policy (R-08: exponential back-off, a maximum number of retries, a maximum time
/// interval). `[push]` in the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct PushConfig {
    /// The delay before each retry; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    /// How long one attempt may take (connect, send, answer).
    pub request_timeout: Duration,
    /// After this long since the event, the endpoint is declared unresponsive: no more tries.
    pub max_interval: Duration,
    /// Whether callback URLs may resolve to loopback, private or link-local addresses.
    /// `None`: allowed exactly when the sandbox listens on a loopback address.
    pub allow_private_networks: Option<bool>,
    /// Attempts in flight at once, and at most this many to one callback URL.
    pub concurrency: usize,
    pub per_destination: usize,
}

impl Default for PushConfig {
    /// Modelled on the WSO2 Open Banking accelerator's event notification defaults (peers.md
    /// §2.3, §7: 5 retries, 60 s initial wait growing as 60 s·eⁿ) with Svix's 30 s request
    /// timeout, and a 2-hour maximum interval that the schedule (about 86 minutes) fits in.
    fn default() -> Self {
        PushConfig {
            retry_schedule: [60_000, 163_000, 443_000, 1_205_000, 3_276_000]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
            request_timeout: Duration::from_secs(30),
            max_interval: Duration::from_secs(7_200),
            allow_private_networks: None,
            concurrency: 64,
            per_destination: 4,
        }
    }
}

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
    /// `now_ms`, for a delivery created at `created_ms`.
    pub fn verdict(
        &self,
        outcome: &Outcome,
        attempt: i64,
        created_ms: i64,
        now_ms: i64,
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
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        let next = now_ms.saturating_add(delay_ms);
        let limit_ms = i64::try_from(self.max_interval.as_millis()).unwrap_or(i64::MAX);
        if next.saturating_sub(created_ms) > limit_ms {
            return AttemptVerdict::Failed;
        }
        AttemptVerdict::RetryAt(next)
    }

    /// Whether private destinations are allowed when the sandbox listens on `bound`.
    pub fn private_allowed(&self, bound: std::net::SocketAddr) -> bool {
        self.allow_private_networks
            .unwrap_or_else(|| bound.ip().is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            c.verdict(&Outcome::Status(202), 1, 0, 10),
            AttemptVerdict::Delivered
        );
        assert_eq!(
            c.verdict(&Outcome::Status(200), 1, 0, 10),
            AttemptVerdict::Delivered
        );
        assert_eq!(
            c.verdict(&Outcome::Status(503), 1, 0, 10),
            AttemptVerdict::RetryAt(110)
        );
        assert_eq!(
            c.verdict(&Outcome::Timeout, 2, 0, 500),
            AttemptVerdict::RetryAt(700)
        );
        assert_eq!(
            c.verdict(&Outcome::Status(503), 3, 0, 900),
            AttemptVerdict::Failed
        );
        assert_eq!(
            c.verdict(&Outcome::Status(429), 1, 0, 0),
            AttemptVerdict::RetryAt(100)
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
            assert_eq!(c.verdict(&o, 1, 0, 0), AttemptVerdict::Failed, "{o:?}");
        }
        let refused = Outcome::Refused("private".into());
        assert_eq!(c.verdict(&refused, 1, 0, 0), AttemptVerdict::Failed);
    }

    #[test]
    fn the_maximum_interval_ends_retries() {
        let c = PushConfig {
            max_interval: Duration::from_millis(150),
            ..cfg()
        };
        assert_eq!(
            c.verdict(&Outcome::Status(500), 1, 0, 10),
            AttemptVerdict::RetryAt(110)
        );
        assert_eq!(
            c.verdict(&Outcome::Status(500), 2, 0, 120),
            AttemptVerdict::Failed
        );
    }
}
