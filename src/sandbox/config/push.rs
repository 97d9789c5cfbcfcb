//! `[push]`: the retry policy of real-time push and where pushes may go, as data. The
//! rule that turns an attempt into the delivery's next state is the push worker's
//! (`sandbox::push`); this module only holds and validates the numbers.

use std::time::Duration;

use super::file::PushFile;

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

impl PushConfig {
    /// Short timers for conformance runs and tests, so a whole retry sequence takes about a
    /// second: 300 ms then 600 ms (doubling back-off, two retries), 1 s per attempt.
    pub fn quick() -> Self {
        PushConfig {
            retry_schedule: vec![Duration::from_millis(300), Duration::from_millis(600)],
            request_timeout: Duration::from_millis(1_000),
            max_interval: Duration::from_secs(60),
            ..Default::default()
        }
    }

    /// The policy as a bank states it to a conformance harness.
    pub fn declaration(&self) -> crate::model::bank::PushDeclaration {
        crate::model::bank::PushDeclaration {
            retry_schedule: self.retry_schedule.clone(),
            request_timeout: self.request_timeout,
        }
    }

    /// Whether private destinations are allowed when the sandbox listens on `bound`.
    pub fn private_allowed(&self, bound: std::net::SocketAddr) -> bool {
        self.allow_private_networks
            .unwrap_or_else(|| bound.ip().is_loopback())
    }
}

pub(super) fn push_config(p: PushFile) -> Result<PushConfig, String> {
    let mut c = PushConfig::default();
    if let Some(schedule) = p.retry_schedule_ms {
        if schedule.len() > 100 || schedule.iter().any(|&d| d > 7 * 24 * 3_600_000) {
            return Err(
                "config field push.retry_schedule_ms: at most 100 delays of at most 7 days each"
                    .into(),
            );
        }
        c.retry_schedule = schedule.into_iter().map(Duration::from_millis).collect();
    }
    if let Some(v) = p.request_timeout_ms {
        if v == 0 || v > 600_000 {
            return Err(
                "config field push.request_timeout_ms: must be between 1 and 600000".into(),
            );
        }
        c.request_timeout = Duration::from_millis(v);
    }
    if let Some(v) = p.max_interval_secs {
        if v == 0 {
            return Err("config field push.max_interval_secs: must be at least 1".into());
        }
        c.max_interval = Duration::from_secs(v);
    }
    c.allow_private_networks = p.allow_private_networks;
    for (field, value, slot) in [
        ("concurrency", p.concurrency, &mut c.concurrency),
        ("per_destination", p.per_destination, &mut c.per_destination),
    ] {
        if let Some(v) = value {
            if v == 0 || v > 10_000 {
                return Err(format!(
                    "config field push.{field}: must be between 1 and 10000"
                ));
            }
            *slot = v;
        }
    }
    Ok(c)
}
