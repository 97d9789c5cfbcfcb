//! The push worker: treats due delivery rows as its queue. It claims due rows (a lease, so
//! replicas never send the same attempt twice; the store also refuses to start an attempt
//! while another of the same delivery is in flight within its lease, which covers a manual
//! retry that makes a claimed delivery due again), sends each under a global semaphore and a
//! per-URL one, records the attempt as started before sending and its outcome with the
//! delivery's next state after (both through the group commit, `store::group`, so attempts
//! ending together share a transaction), and
//! sleeps until the next row is due, a new delivery is stored (`AppState::push_wake`), or the
//! sandbox stops. Other replicas' rows are picked up at least once a second.
//!
//! The stored SET is sent as it is: signing happened once, when the event was raised.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Outcome;
use super::guard::{Guard, GuardedResolver};
use crate::sandbox::config::PushConfig;
use crate::sandbox::domain::{Attempt, AttemptVerdict, Dialect, DueDelivery, Timestamp};
use crate::sandbox::faults::Faults;
use crate::sandbox::state::AppState;
use crate::sandbox::store::{AttemptStart, EXCERPT_CHARS};

/// Longest sleep between looks at the table: bounds how late rows written by another replica
/// (or left by a replica that died mid-attempt) are picked up.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// Rows claimed per look.
const BATCH: usize = 256;
/// Per-URL semaphores kept before idle ones are dropped.
const MAX_DESTINATIONS: usize = 1_024;

/// Runs the worker of `state` until the sandbox's shutdown token is cancelled.
pub async fn run(state: AppState, guard: Guard) {
    let cfg = state.cfg.push.clone();
    let client = match client_builder(&cfg)
        .dns_resolver(GuardedResolver::shared(guard))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "push worker cannot build its HTTP client; push is off");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let claim_floor = (cfg.concurrency / 8).clamp(1, BATCH);
    let mut per_url: HashMap<String, Arc<Semaphore>> = HashMap::new();
    // A crashed attempt's lease runs out after the request could have finished.
    let lease = cfg.request_timeout.saturating_add(Duration::from_secs(5));
    loop {
        if state.shutdown.is_cancelled() {
            return;
        }
        let free = slots.available_permits().min(BATCH);
        let claimed = if free == 0 {
            Vec::new()
        } else {
            let now = Timestamp::now();
            match state
                .store
                .claim_due(now, now.saturating_add(lease), free)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "push worker cannot read deliveries");
                    Vec::new()
                }
            }
        };
        let full = !claimed.is_empty() && claimed.len() == free;
        for d in claimed {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            if per_url.len() > MAX_DESTINATIONS {
                per_url.retain(|_, s| s.available_permits() < cfg.per_destination);
            }
            let lane = Arc::clone(
                per_url
                    .entry(d.url.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(cfg.per_destination.max(1)))),
            );
            let leased = Leased { d, lease, slot };
            tokio::spawn(attempt(state.clone(), client.clone(), guard, leased, lane));
        }
        if full {
            continue;
        }
        let wait = match state.store.next_due().await {
            Ok(Some(at)) => {
                let ms = at.millis_since(Timestamp::now());
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(MAX_IDLE)
            }
            _ => MAX_IDLE,
        };
        if wait.is_zero() && slots.available_permits() < claim_floor {
            // Due rows wait for free slots, not in a busy loop, and for a few of them: a
            // saturated worker then claims several rows per transaction, not one per attempt
            // that ends. The slots free as attempts end (each bounded by the request timeout).
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                p = Arc::clone(&slots).acquire_many_owned(claim_floor as u32) => drop(p),
            }
            continue;
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = state.push_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// How the worker's HTTP client is built, but for the guarded resolver: the bench's plain
/// POST loop (the push limit) builds its client from this too. Connections are kept alive
/// for as many attempts as may be in flight at once, so a busy destination is not
/// reconnected for each delivery (several callback URLs often share one host).
pub fn client_builder(cfg: &PushConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(cfg.request_timeout)
        .connect_timeout(cfg.request_timeout.min(Duration::from_secs(10)))
        .no_proxy()
        .pool_max_idle_per_host(cfg.concurrency.max(cfg.per_destination))
}

/// A claimed delivery with its lease and the worker slot its attempt holds.
struct Leased {
    d: DueDelivery,
    lease: Duration,
    slot: OwnedSemaphorePermit,
}

/// One try of one delivery, recorded whatever happens.
async fn attempt(
    state: AppState,
    client: reqwest::Client,
    guard: Guard,
    leased: Leased,
    lane: Arc<Semaphore>,
) {
    let Leased {
        d,
        lease,
        slot: _slot,
    } = leased;
    let Ok(_lane) = lane.acquire_owned().await else {
        return;
    };
    let number = d.attempts + 1;
    let interaction_id = uuid::Uuid::new_v4().to_string();
    let started_at = Timestamp::now();
    // Recorded before anything is sent, so a crash mid-attempt leaves it visible; refused
    // when another attempt of this delivery took the number (a lease that ran out while this
    // one was still claimed) or is still being sent (a manual retry made the delivery due
    // again after another worker's claim): then nothing is sent twice.
    let start = AttemptStart {
        delivery_id: d.id.clone(),
        attempt: number,
        started_at,
        interaction_id: interaction_id.clone(),
        live_since: started_at.saturating_sub(lease),
    };
    match state.writes.begin_attempt(start).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(delivery = %d.id, attempt = number, "attempt taken by another worker");
            return;
        }
        Err(e) => {
            tracing::warn!(delivery = %d.id, error = %e, "cannot record a push attempt as started");
            return;
        }
    }
    let faults = faults_of(&state, &d).await;
    let clock = Instant::now();
    let (outcome, excerpt, note) = send(&state, &faults, &client, guard, &d, &interaction_id).await;
    let took = clock.elapsed();
    let latency_ms = i64::try_from(took.as_millis()).unwrap_or(i64::MAX);
    let ended = Timestamp::now();
    let verdict =
        state
            .cfg
            .push
            .faulty_verdict(&faults, d.format, &outcome, number, d.created_at, ended);
    let sent_as = (number, interaction_id.as_str());
    super::observe::attempt(&state, &d, sent_as, &outcome, verdict, took);
    let (status_code, error) = match &outcome {
        Outcome::Status(s) => (Some(i64::from(*s)), None),
        Outcome::Timeout => (
            None,
            Some("no answer within the request timeout".to_string()),
        ),
        Outcome::Connection(e) => (None, Some(e.clone())),
        Outcome::Refused(e) => (None, Some(format!("not sent: {e}"))),
    };
    let record = Attempt {
        attempt: number,
        started_at,
        latency_ms,
        status_code,
        error,
        interaction_id: Some(interaction_id),
        response_excerpt: excerpt,
        note,
        in_flight: false,
    };
    if let Err(e) = state
        .writes
        .record_attempt(d.id.clone(), record, verdict)
        .await
    {
        // The lease runs out and the delivery is tried again: at least once, never lost; the
        // started attempt is then shown as interrupted.
        tracing::warn!(delivery = %d.id, error = %e, "cannot record a push attempt");
        return;
    }
    if let AttemptVerdict::RetryAt(_) = verdict {
        state.push_wake.notify_one();
    }
}

/// The faults in effect for the delivery's TPP, read once per attempt (rendering and the
/// retry verdict both use them). If the store cannot say, the sandbox's own: the attempt goes
/// ahead as a bank without the TPP's choice would make it, rather than not at all.
async fn faults_of(state: &AppState, d: &DueDelivery) -> Arc<Faults> {
    match state.faults_for(&d.client_id).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(delivery = %d.id, error = %e, "cannot read the TPP's own faults");
            Arc::new(state.cfg.faults.clone())
        }
    }
}

/// Sends the delivery once: `(outcome, response excerpt, note on the TPP's answer)`.
async fn send(
    state: &AppState,
    faults: &Faults,
    client: &reqwest::Client,
    guard: Guard,
    d: &DueDelivery,
    interaction_id: &str,
) -> (Outcome, Option<String>, Option<String>) {
    // The registered URL is what the guard judges; a rewritten one stays on the same host.
    let url = match url::Url::parse(&d.url) {
        Ok(u) => u,
        Err(e) => return (Outcome::Refused(format!("invalid URL: {e}")), None, None),
    };
    let lookup = tokio::time::timeout(state.cfg.push.request_timeout, guard.refusal(&url)).await;
    match lookup {
        Ok(Some(why)) => return (Outcome::Refused(why), None, None),
        Ok(None) => {}
        Err(_) => return (Outcome::Timeout, None, None),
    }
    let wire = match crate::sandbox::dialects::render(state, faults, d, interaction_id).await {
        Ok(w) => w,
        Err(why) => return (Outcome::Refused(why), None, None),
    };
    let mut request = client.post(&wire.url).body(wire.body);
    for (name, value) in wire.headers {
        request = request.header(name, value);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return (Outcome::Timeout, None, None),
        Err(e) => return (Outcome::Connection(error_chain(&e)), None, None),
    };
    let status = response.status().as_u16();
    let echoed = response
        .headers()
        .get("x-fapi-interaction-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let excerpt = read_excerpt(response).await;
    // R-05 is OBIE's: the JSON webhook dialects accept any 2xx and send no interaction id.
    let note = match d.format {
        Dialect::Obie | Dialect::Wso2 => answer_note(status, echoed.as_deref(), interaction_id),
        Dialect::Yapily | Dialect::Tatra => None,
    };
    (Outcome::Status(status), excerpt, note)
}

/// the TPP acknowledges with 202 and echoes the interaction id; other 2xx are accepted
/// as delivered but noted as the TPP's deviation.
fn answer_note(status: u16, echoed: Option<&str>, sent: &str) -> Option<String> {
    if !(200..300).contains(&status) {
        return None;
    }
    let mut notes = Vec::new();
    if status != 202 {
        notes.push(format!("the TPP answered {status}; OBIE R-05 asks for 202"));
    }
    if echoed != Some(sent) {
        notes.push("the TPP did not echo x-fapi-interaction-id (R-05)".to_string());
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// At most [`EXCERPT_CHARS`] bytes of the answer, as text.
async fn read_excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut body = Vec::new();
    while body.len() < EXCERPT_CHARS {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = (EXCERPT_CHARS - body.len()).min(chunk.len());
                body.extend_from_slice(&chunk[..take]);
            }
            _ => break,
        }
    }
    (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned())
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::answer_note;

    #[test]
    fn notes_on_the_tpps_answer() {
        assert_eq!(answer_note(202, Some("i"), "i"), None);
        assert!(answer_note(200, Some("i"), "i").unwrap().contains("202"));
        assert!(
            answer_note(202, None, "i")
                .unwrap()
                .contains("x-fapi-interaction-id")
        );
        assert_eq!(answer_note(503, None, "i"), None);
    }
}
