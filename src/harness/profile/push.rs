//! The `[push]` section: what the bank declares about real-time push (R-08's retry policy:
//! back-off, maximum retries — a schedule whose last delay may repeat —, whether 4xx is
//! retried, catch-up by polling after the last attempt, what retries already scheduled do when
//! the subscription changes) and where the harness's callback receiver listens and is reachable.

use std::net::SocketAddr;
use std::time::Duration;

use super::{ProfileError, PushFile, err};

/// The bank's declared retry spacing.
#[derive(Debug, Clone, PartialEq)]
pub enum RetrySpacing {
    /// The delay before each retry, exactly (±tolerance).
    Schedule(Vec<Duration>),
    /// Each delay within these bounds and none shorter than the one before (back-off).
    Bounds { min: Duration, max: Duration },
    /// Nothing declared: retry timing cannot be judged.
    Undeclared,
}

/// What retries already scheduled do when the subscription that asked for them is deleted, or
/// its URL removed or changed. No specification says (R-02 lets the bank identify the URL
/// when the event occurs; the Yapily seed is silent), so a bank declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingRetries {
    /// They stop; a changed URL gets nothing of them either.
    Cancel,
    /// They go on to the URL of the event's time, whatever happens to the subscription.
    Keep,
    /// They stop when the subscription or its URL goes, and move to a changed URL.
    Follow,
}

impl PendingRetries {
    fn parse(v: &str) -> Option<PendingRetries> {
        match v {
            "cancel" => Some(PendingRetries::Cancel),
            "keep" => Some(PendingRetries::Keep),
            "follow" => Some(PendingRetries::Follow),
            _ => None,
        }
    }

    /// Whether they stop when the subscription is deleted or its URL removed.
    pub fn stop(self) -> bool {
        self != PendingRetries::Keep
    }
}

/// The validated `[push]` section.
#[derive(Debug, Clone)]
pub struct PushPolicy {
    pub receiver_listen: SocketAddr,
    /// The base of the URLs registered as CallbackUrl; `None` = `http(s)://{bound address}`.
    pub receiver_public_url: Option<String>,
    /// The receiver's certificate chain and key (PEM): it serves HTTPS.
    pub receiver_tls: Option<(Vec<u8>, Vec<u8>)>,
    /// A schedule whose last delay repeats is given here at full length.
    pub spacing: RetrySpacing,
    /// Attempts in all, the first included.
    pub max_attempts: Option<u32>,
    /// Declared: what scheduled retries do when the subscription changes; `None` = not judged.
    pub pending_retries: Option<PendingRetries>,
    pub retries_4xx: bool,
    pub catch_up_polling: bool,
    pub accepts_http_callbacks: bool,
    /// How long the bank waits for one answer.
    pub request_timeout: Option<Duration>,
    /// How long after the trigger the first push may take.
    pub first_push_timeout: Duration,
    /// How long "no further push" is watched for.
    pub quiet_period: Duration,
    pub tolerance_percent: u32,
    /// Allowance added to every upper timing bound (network, the bank's scheduler).
    pub slack: Duration,
}

impl PushPolicy {
    /// The declared delay before retry number `n` (0 = the first retry): `(earliest, latest)`
    /// with tolerance and slack applied.
    pub fn retry_window(&self, n: usize) -> Option<(Duration, Duration)> {
        let widen = |lo: Duration, hi: Duration| {
            let t = f64::from(self.tolerance_percent) / 100.0;
            (
                lo.mul_f64((1.0 - t).max(0.0)),
                hi.mul_f64(1.0 + t) + self.slack,
            )
        };
        match &self.spacing {
            RetrySpacing::Schedule(s) => s.get(n).map(|d| widen(*d, *d)),
            RetrySpacing::Bounds { min, max } => Some(widen(*min, *max)),
            RetrySpacing::Undeclared => None,
        }
    }

    /// The longest a whole delivery may take from the first attempt to the last, upper bound.
    pub fn longest_delivery(&self) -> Duration {
        let retries = self.max_attempts.unwrap_or(1).saturating_sub(1) as usize;
        let mut total = Duration::ZERO;
        for n in 0..retries {
            let hi = self.retry_window(n).map_or(self.quiet_period, |w| w.1);
            total += hi + self.request_timeout.unwrap_or(Duration::ZERO);
        }
        total + self.slack
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Validates `[push]`; `event_timeout` is the default wait for a first push, `dir` where
/// relative file names are found.
pub(super) fn push(
    p: PushFile,
    event_timeout: Duration,
    dir: &std::path::Path,
) -> Result<PushPolicy, ProfileError> {
    let receiver = receiver(&p, dir)?;
    let declared = spacing(&p)?;
    let max_attempts = max_attempts(p.max_attempts, p.repeat_last, &declared)?;
    let spacing = repeated(declared, max_attempts);
    let pending_retries = match p.pending_retries.as_deref() {
        None => None,
        Some(v) => match PendingRetries::parse(v) {
            Some(p) => Some(p),
            None => {
                return err(
                    "push.pending_retries",
                    format!("{v:?} is not one of cancel, keep, follow"),
                );
            }
        },
    };
    let tolerance_percent = p.tolerance_percent.unwrap_or(10);
    if tolerance_percent > 100 {
        return err("push.tolerance_percent", "must be between 0 and 100");
    }
    let slack = ms(p.timing_slack_ms.unwrap_or(250));
    let quiet_period = quiet_period(p.quiet_period_ms, &spacing, slack);
    Ok(PushPolicy {
        receiver_listen: receiver.listen,
        receiver_public_url: receiver.public_url,
        receiver_tls: receiver.tls,
        spacing,
        max_attempts,
        pending_retries,
        retries_4xx: p.retries_4xx.unwrap_or(false),
        catch_up_polling: p.catch_up_polling.unwrap_or(false),
        accepts_http_callbacks: receiver.accepts_http_callbacks,
        request_timeout: p.request_timeout_ms.map(ms),
        first_push_timeout: p.first_push_timeout_ms.map_or(event_timeout, ms),
        quiet_period,
        tolerance_percent,
        slack,
    })
}

/// Where the harness's callback receiver listens and how the bank reaches it.
struct Receiver {
    listen: SocketAddr,
    public_url: Option<String>,
    tls: Option<(Vec<u8>, Vec<u8>)>,
    accepts_http_callbacks: bool,
}

fn receiver(p: &PushFile, dir: &std::path::Path) -> Result<Receiver, ProfileError> {
    let tls = match (&p.receiver_tls_cert, &p.receiver_tls_key) {
        (Some(c), Some(k)) => Some((
            super::read(dir, "push.receiver_tls_cert", c)?,
            super::read(dir, "push.receiver_tls_key", k)?,
        )),
        (None, None) => None,
        _ => {
            return err(
                "push.receiver_tls_cert",
                "receiver_tls_cert and receiver_tls_key go together",
            );
        }
    };
    let listen = match p.receiver_listen.as_deref() {
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
        Some(a) => a.parse().or_else(|_| {
            err(
                "push.receiver_listen",
                format!("{a:?} is not an address:port (e.g. \"0.0.0.0:8443\")"),
            )
        })?,
    };
    let accepts_http_callbacks = p.accepts_http_callbacks.unwrap_or(true);
    let public_url = match p.receiver_public_url.as_deref() {
        None if !accepts_http_callbacks && tls.is_none() => {
            return err(
                "push.receiver_public_url",
                "is needed when push.accepts_http_callbacks = false without \
                 push.receiver_tls_cert: an https URL (e.g. a TLS-terminating proxy) that forwards \
                 to push.receiver_listen",
            );
        }
        None => None,
        Some(u) => Some(public_url(u, accepts_http_callbacks)?),
    };
    Ok(Receiver {
        listen,
        public_url,
        tls,
        accepts_http_callbacks,
    })
}

/// `receiver_public_url` checked: https, or http when the bank accepts http callbacks.
fn public_url(u: &str, accepts_http_callbacks: bool) -> Result<String, ProfileError> {
    let scheme = url::Url::parse(u).map(|p| p.scheme().to_string());
    match scheme.as_deref() {
        Ok("https") => {}
        Ok("http") if accepts_http_callbacks => {}
        Ok("http") => {
            return err(
                "push.receiver_public_url",
                "must be https when push.accepts_http_callbacks = false",
            );
        }
        _ => {
            return err(
                "push.receiver_public_url",
                format!("{u:?} is not an http(s) URL"),
            );
        }
    }
    Ok(u.trim_end_matches('/').to_string())
}

/// The declared retry spacing: a schedule, or bounds, or nothing.
fn spacing(p: &PushFile) -> Result<RetrySpacing, ProfileError> {
    Ok(
        match (
            &p.retry_schedule_ms,
            p.min_retry_delay_ms,
            p.max_retry_delay_ms,
        ) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return err(
                    "push.retry_schedule_ms",
                    "give either the schedule or min/max_retry_delay_ms, not both",
                );
            }
            (Some(s), None, None) => {
                if s.len() > 50 || s.contains(&0) {
                    return err(
                        "push.retry_schedule_ms",
                        "1 to 50 delays of at least 1 ms each",
                    );
                }
                RetrySpacing::Schedule(s.iter().copied().map(ms).collect())
            }
            (None, Some(min), Some(max)) if min <= max => RetrySpacing::Bounds {
                min: ms(min),
                max: ms(max),
            },
            (None, Some(_), Some(_)) => {
                return err(
                    "push.min_retry_delay_ms",
                    "must not exceed max_retry_delay_ms",
                );
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return err(
                    "push.min_retry_delay_ms",
                    "min_retry_delay_ms and max_retry_delay_ms go together",
                );
            }
            (None, None, None) => RetrySpacing::Undeclared,
        },
    )
}

/// Attempts in all: as declared, or what the schedule says. A schedule gives the delay before
/// each retry; `max_attempts` beyond its length + 1 (or `repeat_last = true`) repeats its last
/// delay, as banks that describe their policy as "then every N minutes" do.
fn max_attempts(
    declared: Option<u32>,
    repeat_last: Option<bool>,
    spacing: &RetrySpacing,
) -> Result<Option<u32>, ProfileError> {
    let listed = match spacing {
        RetrySpacing::Schedule(s) => Some(s.len() + 1),
        _ => None,
    };
    match (declared, repeat_last, listed) {
        (Some(0), _, _) => err("push.max_attempts", "must be at least 1"),
        (_, Some(true), None) => err(
            "push.repeat_last",
            "repeats the last delay of push.retry_schedule_ms, which is not given",
        ),
        (None, Some(true), Some(_)) => err(
            "push.repeat_last",
            "needs push.max_attempts: how many attempts in all (R-08: the policy defines a \
             maximum number of retries)",
        ),
        (Some(n), _, Some(l)) if (n as usize) < l => err(
            "push.max_attempts",
            format!(
                "is {n}, but retry_schedule_ms declares {} retries ({l} attempts); list only \
                 the delays used",
                l - 1
            ),
        ),
        (Some(n), Some(false), Some(l)) if n as usize > l => err(
            "push.max_attempts",
            format!(
                "is {n}, more than the {l} attempts retry_schedule_ms declares, although \
                 repeat_last = false"
            ),
        ),
        (Some(n), _, _) if n > 1000 => err("push.max_attempts", "must be at most 1000"),
        (Some(n), _, _) => Ok(Some(n)),
        (None, _, Some(l)) => Ok(u32::try_from(l).ok()),
        (None, _, None) => Ok(None),
    }
}

/// The schedule at full length: its last delay repeated up to `max_attempts`.
fn repeated(spacing: RetrySpacing, max_attempts: Option<u32>) -> RetrySpacing {
    match (spacing, max_attempts) {
        (RetrySpacing::Schedule(mut s), Some(n)) => {
            let retries = (n as usize).saturating_sub(1);
            if let Some(last) = s.last().copied() {
                s.resize(retries.max(s.len()), last);
            }
            RetrySpacing::Schedule(s)
        }
        (other, _) => other,
    }
}

/// How long "no further push" is watched for: as declared, or long enough for one more retry
/// of the longest declared delay to show itself.
fn quiet_period(declared: Option<u64>, spacing: &RetrySpacing, slack: Duration) -> Duration {
    let longest_delay = match spacing {
        RetrySpacing::Schedule(s) => s.iter().max().copied(),
        RetrySpacing::Bounds { max, .. } => Some(*max),
        RetrySpacing::Undeclared => None,
    };
    match (declared, longest_delay) {
        (Some(q), _) => ms(q.max(1)),
        (None, Some(d)) => (d.mul_f64(1.5) + slack).max(Duration::from_secs(1)),
        (None, None) => Duration::from_secs(5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(toml_text: &str) -> PushFile {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn a_schedule_declares_the_attempts_and_the_windows() {
        let p = push(
            file("retry_schedule_ms = [300, 600]"),
            Duration::from_secs(5),
            std::path::Path::new("."),
        )
        .unwrap();
        assert_eq!(p.max_attempts, Some(3));
        let (lo, hi) = p.retry_window(1).unwrap();
        assert_eq!(lo, Duration::from_millis(540));
        assert_eq!(hi, Duration::from_millis(660 + 250));
        assert!(p.retry_window(2).is_none());
        assert!(p.quiet_period >= Duration::from_millis(900));
    }

    #[test]
    fn a_last_delay_that_repeats_fills_the_schedule_up_to_max_attempts() {
        for text in [
            "retry_schedule_ms = [100, 400]\nmax_attempts = 5",
            "retry_schedule_ms = [100, 400]\nmax_attempts = 5\nrepeat_last = true",
        ] {
            let p = push(
                file(text),
                Duration::from_secs(5),
                std::path::Path::new("."),
            )
            .unwrap();
            assert_eq!(p.max_attempts, Some(5));
            let ms = Duration::from_millis;
            assert_eq!(
                p.spacing,
                RetrySpacing::Schedule(vec![ms(100), ms(400), ms(400), ms(400)])
            );
            assert!(p.retry_window(3).is_some() && p.retry_window(4).is_none());
        }
        let keep = push(
            file("pending_retries = \"keep\""),
            Duration::from_secs(5),
            std::path::Path::new("."),
        )
        .unwrap();
        assert_eq!(keep.pending_retries, Some(PendingRetries::Keep));
        assert!(!PendingRetries::Keep.stop() && PendingRetries::Follow.stop());
    }

    #[test]
    fn contradictions_name_the_field() {
        for (text, field) in [
            (
                "retry_schedule_ms = [1, 2]\nmax_attempts = 2",
                "push.max_attempts",
            ),
            (
                "retry_schedule_ms = [1]\nmax_attempts = 5\nrepeat_last = false",
                "push.max_attempts",
            ),
            (
                "retry_schedule_ms = [1]\nrepeat_last = true",
                "push.repeat_last",
            ),
            ("pending_retries = \"maybe\"", "push.pending_retries"),
            (
                "retry_schedule_ms = [1]\nmin_retry_delay_ms = 1",
                "push.retry_schedule_ms",
            ),
            (
                "min_retry_delay_ms = 9\nmax_retry_delay_ms = 1",
                "push.min_retry_delay_ms",
            ),
            ("receiver_listen = \"nowhere\"", "push.receiver_listen"),
            ("accepts_http_callbacks = false", "push.receiver_public_url"),
        ] {
            let e = push(
                file(text),
                Duration::from_secs(1),
                std::path::Path::new("."),
            )
            .unwrap_err();
            assert!(e.0.contains(field), "{text}: {e}");
        }
    }
}
