//! The push worker: treats due delivery rows as its queue. Each look for work is one claim
//! (`store::claim`): due rows whose URL has a free lane are leased (so replicas never send
//! the same attempt twice) and their attempts written as started, in one transaction, before
//! anything is sent. Each claimed delivery is then sent at once, under a global slot and its
//! URL's lane, and its outcome recorded with the delivery's next state through the group
//! commit (`store::group`, so attempts ending together share a transaction). A claim cut
//! short by one URL's backlog (`Claimed::cut_short`) is followed by another at once, with
//! that URL now full and left out, so its backlog does not hold back other URLs. The worker
//! sleeps until the next row is due, a new delivery is stored (`AppState::push_wake`), an
//! attempt ends (freeing a lane that due rows wait for), or the sandbox stops. Other
//! replicas' rows are picked up at least once a second.
//!
//! The stored SET is sent as it is: signing happened once, when the event was raised.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::Outcome;
use super::guard::{Guard, GuardedResolver};
use crate::sandbox::config::PushConfig;
use crate::sandbox::domain::{Attempt, AttemptVerdict, Dialect, DueDelivery, Timestamp};
use crate::sandbox::faults::Faults;
use crate::sandbox::state::AppState;
use crate::sandbox::store::EXCERPT_CHARS;
use crate::sandbox::store::claim::{Claim, Claimed};

/// Longest sleep between looks at the table: bounds how late rows written by another replica
/// (or left by a replica that died mid-attempt) are picked up.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// Rows claimed per look.
const BATCH: usize = 256;
/// Per-URL lanes kept before idle ones are dropped.
const MAX_DESTINATIONS: usize = 1_024;

/// The worker's limits on what it sends at once: slots across all destinations, lanes per
/// URL (as a real TPP endpoint is not sent more than a few requests at once).
struct Limits {
    slots: Arc<Semaphore>,
    lanes: HashMap<String, Arc<Semaphore>>,
    per_destination: usize,
    /// Signalled whenever an attempt's request is over and its slot and lane are free.
    freed: Arc<Notify>,
}

impl Limits {
    /// A claim for as many deliveries as there are free slots, within each URL's free lanes.
    fn claim(&mut self, lease: Duration) -> Option<Claim> {
        let limit = self.slots.available_permits().min(BATCH);
        if limit == 0 {
            return None;
        }
        if self.lanes.len() > MAX_DESTINATIONS {
            let per = self.per_destination;
            self.lanes.retain(|_, s| s.available_permits() < per);
        }
        // Only lanes in use differ from the default room: the idle ones are not copied.
        let per = self.per_destination;
        let room = self
            .lanes
            .iter()
            .map(|(url, lane)| (url, lane.available_permits()))
            .filter(|(_, free)| *free < per)
            .map(|(url, free)| (url.clone(), free))
            .collect();
        Some(Claim {
            now: Timestamp::now(),
            lease,
            limit,
            room,
            default_room: self.per_destination,
        })
    }

    /// The slot and the lane for a claimed delivery. The claim counted both as free and only
    /// this loop takes them, so neither waits; an attempt ending meanwhile only frees more.
    async fn take(&mut self, url: &str) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let per = self.per_destination;
        let lane = Arc::clone(
            self.lanes
                .entry(url.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(per))),
        );
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok()?;
        let lane = lane.acquire_owned().await.ok()?;
        Some((slot, lane))
    }
}

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
    let mut limits = Limits {
        slots: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
        lanes: HashMap::new(),
        per_destination: cfg.per_destination.max(1),
        freed: Arc::new(Notify::new()),
    };
    let claim_floor = (cfg.concurrency / 8).clamp(1, BATCH);
    // A crashed attempt's lease runs out after the request could have finished.
    let lease = cfg.request_timeout.saturating_add(Duration::from_secs(5));
    loop {
        if state.shutdown.is_cancelled() {
            return;
        }
        let claim = limits.claim(lease);
        let asked = claim.as_ref().map_or(0, |c| c.limit);
        let Claimed {
            started: claimed,
            cut_short,
            next_due,
        } = match &claim {
            None => Claimed::default(),
            Some(c) => state.store.claim_due(c).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "push worker cannot claim deliveries");
                Claimed::default()
            }),
        };
        let got = claimed.len();
        for d in claimed {
            let Some((slot, lane)) = limits.take(&d.url).await else {
                return;
            };
            let held = Held {
                slot: Some(slot),
                lane: Some(lane),
                freed: Arc::clone(&limits.freed),
            };
            tokio::spawn(attempt(state.clone(), client.clone(), guard, d, held));
        }
        // Cut short: the URLs that filled the window are full now (their lanes were just
        // taken) and the next claim leaves them out, so it reaches other URLs' due rows.
        if got > 0 && (got == asked || cut_short) {
            continue;
        }
        // No claim (every slot busy): rows may be due, so wait for slots as if they were.
        let wait = match (&claim, next_due) {
            (None, _) => Duration::ZERO,
            (Some(_), Some(at)) => {
                let ms = at.millis_since(Timestamp::now());
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(MAX_IDLE)
            }
            (Some(_), None) => MAX_IDLE,
        };
        if wait.is_zero() {
            // Rows are due but were not all claimed: the slots or their URLs' lanes are
            // busy. Wait for attempts to end rather than look again at once; when the slots
            // are the limit, for a few of them, so a saturated worker claims several rows per
            // transaction, not one per attempt that ends. Each wait is bounded by the
            // request timeout of the attempts it waits for.
            let freed = Arc::clone(&limits.freed);
            if limits.slots.available_permits() < claim_floor {
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    p = Arc::clone(&limits.slots).acquire_many_owned(claim_floor as u32) => drop(p),
                }
            } else {
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    _ = state.push_wake.notified() => {}
                    _ = freed.notified() => {}
                    _ = tokio::time::sleep(MAX_IDLE) => {}
                }
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

/// What an attempt holds while its request is out: a worker slot and its URL's lane.
struct Held {
    slot: Option<OwnedSemaphorePermit>,
    lane: Option<OwnedSemaphorePermit>,
    freed: Arc<Notify>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // Released before the worker is told, so the room its next claim counts includes them.
        drop((self.slot.take(), self.lane.take()));
        self.freed.notify_one();
    }
}

/// One try of one claimed delivery (its attempt already recorded as started), its outcome
/// recorded whatever happens.
async fn attempt(
    state: AppState,
    client: reqwest::Client,
    guard: Guard,
    d: DueDelivery,
    held: Held,
) {
    let number = d.attempt;
    let started_at = d.started_at;
    let interaction_id = d.interaction_id.clone();
    let faults = faults_of(&state, &d).await;
    let clock = Instant::now();
    let (outcome, excerpt, note) = send(&state, &faults, &client, guard, &d, &interaction_id).await;
    let took = clock.elapsed();
    // The request is over: its slot and lane go to the next attempt while this one's outcome
    // waits for its group commit (the delivery stays leased until then, so it is not claimed
    // again). Held through the commit, they left the worker waiting on the database, not
    // sending, for most of each attempt. The writer's bounded queue still bounds how many
    // outcomes wait.
    drop(held);
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
    use std::time::{Duration, Instant};

    use super::answer_note;
    use crate::sandbox::domain::{Dialect, NewDelivery, NewEvent, Timestamp};
    use crate::sandbox::{Bank, Sandbox, SandboxConfig};

    /// A receiver on 127.0.0.1 that answers 202 after `hold`; its base URL, and a channel
    /// that gets a message per request received.
    async fn receiver(hold: Duration) -> (String, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let app = axum::Router::new().fallback(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(());
                tokio::time::sleep(hold).await;
                axum::http::StatusCode::ACCEPTED
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, rx)
    }

    fn event(n: usize, client: &str, url: &str, due: Timestamp) -> NewEvent {
        NewEvent {
            event_id: format!("e{n}").into(),
            jti: format!("e{n}"),
            client_id: client.into(),
            event_type: "urn:uk:org:openbanking:events:resource-update".into(),
            resource_id: format!("r{n}"),
            resource_type: "domestic-payment".into(),
            resource_links: Vec::new(),
            txn: None,
            toe: Timestamp::now(),
            details: Default::default(),
            token: Some("e30.e30.c2ln".into()),
            poll: false,
            created_at: Timestamp::now(),
            deliveries: vec![NewDelivery {
                id: format!("d{n}").into(),
                format: Dialect::Obie,
                url: url.into(),
                next_attempt_at: due,
            }],
        }
    }

    /// A slow TPP's backlog, longer than one claim reads, does not hold back a delivery to
    /// another TPP due just after it: the claim that takes the slow URL's free lanes is cut
    /// short and the worker claims again at once, rather than when the slow attempts end or
    /// its idle wait (a second) runs out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_urls_backlog_does_not_hold_back_another_urls_delivery() {
        let (slow, _slow_seen) = receiver(Duration::from_secs(3)).await;
        let (quick, mut quick_seen) = receiver(Duration::ZERO).await;
        let mut cfg = SandboxConfig::for_bank(Bank::Obie);
        cfg.push.request_timeout = Duration::from_secs(5);
        let sandbox = Sandbox::start(cfg, ":memory:", "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        // Let the worker find nothing and settle into its idle wait, so the wake below is the
        // only one it gets (a wake sent while it is busy is kept and would end a later wait).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = Timestamp::now();
        let backlog = 600;
        let mut events: Vec<NewEvent> = (0..backlog)
            .map(|n| event(n, "slow-tpp", &format!("{slow}/hook"), now))
            .collect();
        let later = now.saturating_add(Duration::from_millis(1));
        events.push(event(backlog, "quick-tpp", &format!("{quick}/hook"), later));
        sandbox.state.store.insert_events(&events).await.unwrap();
        let started = Instant::now();
        sandbox.state.push_wake.notify_one();
        let got = tokio::time::timeout(Duration::from_secs(10), quick_seen.recv()).await;
        let took = started.elapsed();
        sandbox.stop().await;
        assert!(matches!(got, Ok(Some(()))), "the quick TPP got nothing");
        assert!(
            took < Duration::from_millis(700),
            "the quick TPP's delivery waited {took:?} behind the slow TPP's backlog"
        );
    }

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
