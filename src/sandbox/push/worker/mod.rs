//! The push worker: treats due delivery rows as its queue. Each look for work is one claim
//! (`store::claim`): due rows within each URL's room are leased (so replicas never send the
//! same attempt twice) and their attempts written as started, in one transaction, before
//! anything is sent. Claimed deliveries wait in the worker ([`lanes`](super::lanes)) for a
//! global slot and their URL's lane, and are sent the moment both are free; the worker holds
//! up to one more round of each limit claimed ahead, so requests keep going out while the
//! next claim runs. Each outcome is recorded with the delivery's next state through the
//! group commit (`store::group`, so attempts ending together share a transaction). A claim
//! cut short by one URL's backlog (`Claimed::cut_short`) is followed by another at once, with
//! that URL now full and left out, so its backlog does not hold back other URLs. The worker
//! sleeps until the next row is due, a new delivery is stored (`AppState::push_wake`), an
//! attempt ends (freeing a slot and a lane), a claim comes back, or the sandbox stops.
//! Other replicas' rows are picked up at least once a second.
//!
//! The stored SET is sent as it is: signing happened once, when the event was raised.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Outcome;
use super::guard::{Blocked, Guard, GuardedResolver};
use super::lanes::{self, Held, Lanes};
use crate::sandbox::config::PushConfig;
use crate::sandbox::domain::{
    Attempt, AttemptVerdict, DeliveryId, Dialect, DueDelivery, Timestamp,
};
use crate::sandbox::faults::Faults;
use crate::sandbox::state::AppState;
use crate::sandbox::store::claim::Claimed;
use crate::sandbox::store::{EXCERPT_CHARS, StoreError};

/// Longest sleep between looks at the table: bounds how late rows written by another replica
/// (or left by a replica that died mid-attempt) are picked up.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// When the worker next claims.
#[derive(Debug, Clone, Copy)]
enum Look {
    /// From this instant, as soon as the worker may hold enough more to be worth a claim.
    At(Instant),
    /// Rows were due but their URLs had no room: after the next attempt ends, or at this
    /// instant at the latest.
    WhenFreed(Instant),
}

impl Look {
    fn due(self, now: Instant) -> bool {
        match self {
            Look::At(t) | Look::WhenFreed(t) => t <= now,
        }
    }

    /// What the last claim says about the next one: `asked` for as of `claimed_at`, what it
    /// came to.
    fn after(asked: usize, claimed_at: Timestamp, claimed: &Claimed, now: Instant) -> Look {
        let got = claimed.started.len();
        // Full, or cut short by one URL's backlog: more rows are due now.
        if got > 0 && (got == asked || claimed.cut_short) {
            return Look::At(now);
        }
        match claimed.next_due {
            None => Look::At(now + MAX_IDLE),
            // Due when the claim chose and not taken: no room for it.
            Some(at) if at <= claimed_at => Look::WhenFreed(now + MAX_IDLE),
            // Due since, or later: that moment (the claim's answer took time to come back).
            Some(at) => {
                let ms = u64::try_from(at.millis_since(Timestamp::now())).unwrap_or(0);
                Look::At(now + Duration::from_millis(ms).min(MAX_IDLE))
            }
        }
    }
}

/// What a claim task returns: how many it asked for, as of when, and the store's answer.
type ClaimAnswer = (usize, Timestamp, Result<Claimed, StoreError>);

/// The next look once a claim came back (`joined`), its deliveries queued in `lanes`. Wakes
/// that came while it was out (`pushed`: new rows; `freed_since`: an attempt ended) stand
/// over its answer, which predates them.
fn came_back(
    joined: Result<ClaimAnswer, tokio::task::JoinError>,
    lanes: &mut Lanes,
    pushed: bool,
    freed_since: bool,
) -> Look {
    match joined {
        Ok((asked, claimed_at, Ok(claimed))) => {
            let now = Instant::now();
            let next = match Look::after(asked, claimed_at, &claimed, now) {
                _ if pushed => Look::At(now),
                Look::WhenFreed(_) if freed_since => Look::At(now),
                next => next,
            };
            lanes.push(claimed.started);
            next
        }
        Ok((_, _, Err(e))) => {
            tracing::warn!(error = %e, "push worker cannot claim deliveries");
            Look::At(Instant::now() + MAX_IDLE)
        }
        Err(e) => {
            tracing::warn!(error = %e, "push worker's claim task failed");
            Look::At(Instant::now() + MAX_IDLE)
        }
    }
}

/// Runs the worker of `state` until the sandbox's shutdown token is cancelled, then hands back
/// the deliveries it claimed and has not sent ([`hand_back`]). A crash cannot: its claimed
/// deliveries keep their in-flight attempts, shown as interrupted when next claimed (at least
/// once, never lost).
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
    let max_wait = lanes::max_wait_for(cfg.request_timeout);
    let mut lanes = Lanes::new(cfg.concurrency, cfg.per_destination, max_wait);
    let freed = Arc::clone(&lanes.freed);
    // A busy worker claims once half its slots' worth may be held again: each claim's
    // transaction then starts many attempts, while those already waiting keep slots busy.
    let floor = (cfg.concurrency / 2).max(1);
    let lease = lanes::lease_for(cfg.request_timeout);
    let mut claims: JoinSet<ClaimAnswer> = JoinSet::new();
    let mut look = Look::At(Instant::now());
    // Wakes that came while a claim was out: its answer predates them, so they stand.
    let (mut pushed, mut freed_since) = (false, false);
    loop {
        if state.shutdown.is_cancelled() {
            return hand_back(&state, lanes, claims).await;
        }
        for (d, held) in lanes.ready() {
            tokio::spawn(attempt(state.clone(), client.clone(), guard, d, held));
        }
        state
            .metrics
            .set_push_worker(lanes.sending(), lanes.waiting());
        let now = Instant::now();
        let mut claiming = !claims.is_empty();
        if !claiming
            && look.due(now)
            && let Some(claim) = lanes.claim(lease, floor)
        {
            let store = state.store.clone();
            claims.spawn(async move { (claim.limit, claim.now, store.claim_due(&claim).await) });
            claiming = true;
            (pushed, freed_since) = (false, false);
        }
        // Waiting for a claim to come back, or for attempts to end before the next, is
        // woken by that; the timer only bounds it.
        let timer = match look {
            Look::At(t) | Look::WhenFreed(t) if t > now && !claiming => t,
            _ => now + MAX_IDLE,
        };
        tokio::select! {
            biased;
            _ = state.shutdown.cancelled() => return hand_back(&state, lanes, claims).await,
            Some(joined) = claims.join_next(), if claiming => {
                look = came_back(joined, &mut lanes, pushed, freed_since);
            }
            _ = freed.notified() => {
                freed_since = true;
                if let Look::WhenFreed(_) = look {
                    look = Look::At(Instant::now());
                }
            }
            _ = state.push_wake.notified() => {
                pushed = true;
                look = Look::At(Instant::now());
            }
            _ = tokio::time::sleep_until(timer) => {
                if !claiming {
                    look = Look::At(Instant::now());
                }
            }
        }
    }
}

/// The longest a stopping worker waits for a claim still out, to hand its deliveries back.
const LAST_CLAIM_WAIT: Duration = Duration::from_secs(5);

/// The worker is stopping: the deliveries it claimed and has not sent, a claim still out
/// included, go back to the table as they were before their claim (`Store::release_unsent`),
/// rather than staying leased and later shown as interrupted attempts that never went out.
/// Attempts already sent are left to end: an outcome that comes back before the sandbox's
/// writer closes is committed; a later one is lost, and that attempt is shown as interrupted.
async fn hand_back(state: &AppState, mut lanes: Lanes, mut claims: JoinSet<ClaimAnswer>) {
    match tokio::time::timeout(LAST_CLAIM_WAIT, claims.join_next()).await {
        Ok(Some(Ok((_, _, Ok(claimed))))) => lanes.push(claimed.started),
        Ok(_) => {}
        Err(_) => tracing::warn!(
            "push worker stopped with a claim still out; its deliveries show as interrupted when next claimed"
        ),
    }
    let unsent: Vec<(DeliveryId, i64)> = lanes
        .take_waiting()
        .into_iter()
        .map(|d| (d.id, d.attempt))
        .collect();
    if unsent.is_empty() {
        return;
    }
    match state.store.release_unsent(&unsent, Timestamp::now()).await {
        Ok(n) => tracing::info!(
            released = n,
            "push worker stopped; deliveries claimed and not sent were handed back"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            unsent = unsent.len(),
            "push worker stopped; cannot hand back the deliveries it had not sent (shown as interrupted when next claimed)"
        ),
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

/// One try of one claimed delivery (its attempt already recorded as started by the claim),
/// its outcome recorded whatever happens, with `started_at` now, when its turn came to be
/// sent, rather than when it was claimed (it may have waited for a slot or its URL's lane).
async fn attempt(
    state: AppState,
    client: reqwest::Client,
    guard: Guard,
    d: DueDelivery,
    held: Held,
) {
    let number = d.attempt;
    let started_at = Timestamp::now();
    let interaction_id = d.interaction_id.clone();
    let faults = faults_of(&state, &d).await;
    let clock = std::time::Instant::now();
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
    let lookup = tokio::time::timeout(state.cfg.push.request_timeout, guard.check(&url)).await;
    match lookup {
        Ok(Err(blocked)) => return (not_sent(blocked), None, None),
        Ok(Ok(())) => {}
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

/// The outcome of an attempt the guard stopped: a refused destination is final, a name that
/// did not resolve is retried like a failed connection (a DNS failure may pass).
fn not_sent(blocked: Blocked) -> Outcome {
    match blocked {
        Blocked::Refused(why) => Outcome::Refused(why),
        Blocked::Unresolved(why) => Outcome::Connection(why),
    }
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
mod tests;
