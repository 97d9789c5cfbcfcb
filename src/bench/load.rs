//! The open-loop load of `bench --profile`: requests start on a fixed schedule whatever the
//! bank's answers take, at most `connections` in flight per stream, and each request's latency
//! counts from when it was due, so a slow bank shows latency rather than hiding it behind
//! fewer requests. A burst of consecutive errors stops every stream.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Consecutive failed requests (of any stream) that stop the run.
pub const ERROR_BURST: u64 = 10;

/// What one stream of requests did.
#[derive(Default)]
pub struct Recorder {
    latencies_ms: Mutex<Vec<f64>>,
    pub ok: AtomicU64,
    pub errors: AtomicU64,
}

impl Recorder {
    /// Sorted latencies (ms) of the successful requests.
    pub fn latencies(&self) -> Vec<f64> {
        let mut v = self
            .latencies_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        v.sort_by(f64::total_cmp);
        v
    }
}

/// Shared by every stream: the stop flag and why it was raised.
#[derive(Default)]
pub struct Stop {
    flag: AtomicBool,
    consecutive: AtomicU64,
    why: Mutex<Option<String>>,
}

impl Stop {
    pub fn stopped(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    pub fn reason(&self) -> Option<String> {
        self.why.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops with `why` unless already stopped for a reason.
    pub fn finish_with(&self, why: String) {
        self.flag.store(true, Ordering::Relaxed);
        lock_why(&self.why).get_or_insert(why);
    }

    /// Ends the streams without an error (their work is done).
    pub fn finish(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    fn record(&self, outcome: &Result<(), String>) {
        match outcome {
            Ok(()) => self.consecutive.store(0, Ordering::Relaxed),
            Err(e) => {
                if self.consecutive.fetch_add(1, Ordering::Relaxed) + 1 >= ERROR_BURST
                    && !self.flag.swap(true, Ordering::Relaxed)
                {
                    *self.why.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!(
                        "stopped after {ERROR_BURST} consecutive errors; the last: {e}"
                    ));
                }
            }
        }
    }
}

fn lock_why(m: &Mutex<Option<String>>) -> std::sync::MutexGuard<'_, Option<String>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// When an open-loop stream's requests are due: `rate` per second from `first`, none at or
/// after `until`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub rate: f64,
    pub first: Instant,
    pub until: Instant,
}

impl Schedule {
    /// The time between two requests.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate.max(0.001))
    }
}

/// Runs `make(k)` for k = 0, 1, … as `schedule` says (until a stop), at most `connections`
/// at once; waits for the requests in flight. Returns how many were started.
pub async fn open_loop<F, Fut>(
    schedule: Schedule,
    connections: usize,
    rec: Arc<Recorder>,
    stop: Arc<Stop>,
    make: F,
) -> u64
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let interval = schedule.interval();
    let slots = Arc::new(Semaphore::new(connections.max(1)));
    let mut k = 0u64;
    let mut tasks = Vec::new();
    loop {
        let due = schedule.first + interval.mul_f64(k as f64);
        if due >= schedule.until || stop.stopped() {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        // A bank slower than the rate leaves requests due but not yet started when the time
        // is up; they are not started late, so the load ends with `--duration`.
        if Instant::now() >= schedule.until {
            break;
        }
        let fut = make(k);
        let (rec, stop) = (rec.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let outcome = fut.await;
            drop(permit);
            let ms = due.elapsed().as_secs_f64() * 1000.0;
            match &outcome {
                Ok(()) => {
                    rec.ok.fetch_add(1, Ordering::Relaxed);
                    rec.latencies_ms
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(ms);
                }
                Err(_) => {
                    rec.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            stop.record(&outcome);
        }));
        k += 1;
    }
    for t in tasks {
        let _ = t.await;
    }
    k
}

/// The resource ids of one run: `obevents-bench-{run}-{n}`, so a SET (polled or pushed, in
/// whatever wrapping) is matched to its trigger by finding the id in its text.
pub struct Ids {
    prefix: String,
}

impl Default for Ids {
    fn default() -> Self {
        Self::new()
    }
}

impl Ids {
    pub fn new() -> Ids {
        let run = uuid::Uuid::new_v4().simple().to_string();
        Ids {
            prefix: format!("obevents-bench-{}-", &run[..8]),
        }
    }

    pub fn id(&self, n: u64) -> String {
        format!("{}{n}", self.prefix)
    }

    /// The number of the first of this run's ids in `text` (a compact JWS's payload is
    /// decoded first).
    pub fn find(&self, text: &str) -> Option<u64> {
        let decoded = jws_payload(text);
        let text = decoded.as_deref().unwrap_or(text);
        let at = text.find(&self.prefix)? + self.prefix.len();
        let digits: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    }
}

/// The payload of a compact JWS, when `text` is one.
fn jws_payload(text: &str) -> Option<String> {
    let mut parts = text.trim().trim_matches('"').split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = crate::jose::b64_decode(payload).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_in_plain_text_and_in_a_jws_payload() {
        let ids = Ids::new();
        let text = format!("{{\"subject\":{{\"rid\":\"{}\"}}}}", ids.id(42));
        assert_eq!(ids.find(&text), Some(42));
        let jws = format!("e30.{}.c2ln", crate::jose::b64(text.as_bytes()));
        assert_eq!(ids.find(&jws), Some(42));
        assert_eq!(ids.find("nothing here"), None);
    }

    #[test]
    fn an_error_burst_stops_the_run_once() {
        let stop = Stop::default();
        for _ in 0..ERROR_BURST - 1 {
            stop.record(&Err("503".into()));
        }
        stop.record(&Ok(()));
        assert!(!stop.stopped());
        for _ in 0..ERROR_BURST {
            stop.record(&Err("503".into()));
        }
        assert!(stop.stopped());
        assert!(stop.reason().is_some_and(|r| r.contains("503")));
    }
}
