//! `obevents bench --profile bank.toml`: load on any bank a target profile describes, through
//! the harness's own plumbing (the profile loader, tokens, subscriptions, triggers and callback
//! receiver). TPP A polls and acknowledges; TPP B receives pushes when the bank pushes
//! (`bank.realtime`), else polls too. Triggers run at `--rate` events/s over the TPPs and each
//! polling TPP polls at `--rate` polls/s, open-loop (`load`), for `--duration` seconds; then the
//! figures: poll throughput and latency per TPP, trigger latency, trigger → poll and trigger →
//! push latency, and the push receipt rate.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::load::{Ids, Recorder, Schedule, Stop, open_loop};
use super::percentile;
use super::report::Figure;
use crate::harness::context::{Purpose, RunContext};
use crate::harness::profile::{Dialect, Profile};
use crate::harness::trigger::TriggerRequest;
use crate::harness::world::{HarnessWorld, Mailbox, StepResult};

/// The bounds `bench --profile` needs.
pub struct Bounds {
    pub rate: f64,
    pub duration: Duration,
    pub connections: usize,
}

/// One TPP's part in the run.
struct Tpp {
    name: &'static str,
    /// The polling token, or the mailbox pushes arrive in.
    role: Role,
    trigger: TriggerRequest,
}

enum Role {
    Polls(String),
    Pushed(Mailbox),
}

/// When each event was triggered (by resource-id number) and when first seen by a TPP.
#[derive(Default)]
struct Seen {
    sent: Mutex<HashMap<u64, Instant>>,
    polled: Mutex<HashMap<u64, Instant>>,
}

/// A polling TPP's loop state: jtis to acknowledge with its next poll, jtis seen.
#[derive(Default)]
struct PollState {
    to_ack: Mutex<Vec<String>>,
    seen: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn fail(e: String) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Loads the profile and prepares TPPs A and B (fresh subscriptions, tokens, a mailbox).
async fn prepare(
    path: &Path,
    ids: &Ids,
    bounds: &Bounds,
) -> anyhow::Result<(Arc<RunContext>, Vec<Tpp>)> {
    let profile = Profile::load(path, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    if matches!(profile.dialect, Dialect::Yapily | Dialect::Tatra) {
        anyhow::bail!(
            "bench --profile measures OBIE-style polling and push; dialect {:?} is not benched",
            profile.dialect
        );
    }
    let mut ctx = RunContext::new(profile).map_err(fail)?;
    let pushes = ctx.profile.bank.realtime;
    if pushes {
        ctx.start_receiver().await.map_err(fail)?;
        // Every push of the run is counted: room for each event, and as many again for
        // repeats (bounded by the run's own rate and duration).
        let events = bounds.rate * bounds.duration.as_secs_f64();
        ctx.receiver()
            .map_err(fail)?
            .keep_up_to(events as usize * 2 + 16);
    }
    anyhow::ensure!(
        ctx.profile.bank.polling || pushes,
        "the profile's bank neither polls nor pushes: nothing to bench"
    );
    let ctx = Arc::new(ctx);
    let mut world = HarnessWorld::new();
    world.ctx = Some(ctx.clone());
    let event_type = world.default_event_type().map_err(fail)?;
    let mut tpps = Vec::new();
    for name in ["A", "B"] {
        let push = pushes && (name == "B" || !ctx.profile.bank.polling);
        world.start_clean(name).await.map_err(fail)?;
        let role = if push {
            setup(world.subscribe_push(name, name, None).await)?;
            Role::Pushed(world.mailbox(name, name).await.map_err(fail)?)
        } else {
            setup(world.subscribe(name, None).await)?;
            Role::Polls(world.token(name, Purpose::Polling).await.map_err(fail)?)
        };
        let mut trigger = world
            .trigger_request(name, event_type.clone(), ctx.trigger_wants_token())
            .await
            .map_err(fail)?;
        trigger.resource_id = ids.id(0);
        tpps.push(Tpp {
            name,
            role,
            trigger,
        });
    }
    Ok((ctx, tpps))
}

fn setup(r: StepResult) -> anyhow::Result<()> {
    r.map_err(|e| anyhow::anyhow!("cannot set the TPPs up: {e}"))
}

/// One poll of `tpp`, acknowledging what its earlier polls got; notes when each of this run's
/// events was first polled.
async fn poll_once(
    ctx: Arc<RunContext>,
    token: String,
    state: Arc<PollState>,
    seen: Arc<Seen>,
    ids: Arc<Ids>,
) -> Result<(), String> {
    let ack: Vec<String> = std::mem::take(&mut *lock(&state.to_ack));
    let max = ctx.profile.bank.max_events_cap.unwrap_or(50).min(50);
    let mut body = json!({"returnImmediately": true, "maxEvents": max});
    if !ack.is_empty() {
        body["ack"] = json!(ack);
    }
    let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let mut req = ctx
        .http
        .post(ctx.api_url("/events"))
        .header("content-type", "application/json")
        .header("accept", "application/json");
    if !token.is_empty() {
        req = req.bearer_auth(&token);
    }
    if let Some(sig) = ctx.sign_request(&bytes) {
        req = req.header("x-jws-signature", sig);
    }
    let answer = req.body(bytes).send().await;
    let r = answer.map_err(|e| {
        // The acknowledgements go with a later poll.
        lock(&state.to_ack).extend(ack.iter().cloned());
        e.to_string()
    })?;
    let status = r.status().as_u16();
    let success = &ctx.profile.bank.poll_success_status;
    let ok = success.contains(&status) || (success.is_empty() && status == 200);
    let text = r.text().await.map_err(|e| e.to_string())?;
    if !ok {
        lock(&state.to_ack).extend(ack);
        return Err(format!("poll answered {status}"));
    }
    let at = Instant::now();
    let sets = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("sets").and_then(Value::as_object).cloned())
        .unwrap_or_default();
    for (jti, set) in sets {
        if !lock(&state.seen).insert(jti.clone()) {
            continue;
        }
        if let Some(n) = set.as_str().and_then(|s| ids.find(s)) {
            lock(&seen.polled).entry(n).or_insert(at);
        }
        lock(&state.to_ack).push(jti);
    }
    Ok(())
}

/// Fires event `n` for `tpp`, noting when it was sent.
async fn trigger_once(
    ctx: Arc<RunContext>,
    mut request: TriggerRequest,
    n: u64,
    seen: Arc<Seen>,
    ids: Arc<Ids>,
) -> Result<(), String> {
    request.resource_id = ids.id(n);
    lock(&seen.sent).insert(n, Instant::now());
    ctx.fire(&request).await.map(|_| ())
}

/// Every stream at once, for the run's duration; then a grace period for the last events.
async fn drive(
    ctx: &Arc<RunContext>,
    tpps: &[Tpp],
    bounds: &Bounds,
    ids: &Arc<Ids>,
) -> (
    Arc<Seen>,
    Arc<Recorder>,
    Vec<(usize, Arc<Recorder>)>,
    Arc<Stop>,
) {
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(Stop::default());
    // Ends the polls once every event is polled (the grace period bounds it).
    let polls_done = Arc::new(Stop::default());
    let triggers = Arc::new(Recorder::default());
    let begin = Instant::now();
    let until = begin + bounds.duration;
    let triggered = Schedule {
        rate: bounds.rate,
        first: begin,
        until,
    };
    // Polls fall half an interval after the triggers, not in step with them: in step, every
    // event would wait a whole interval for the poll after the one that just missed it, and
    // trigger → SET polled would read as the poll interval whatever the bank did.
    let polled = Schedule {
        first: begin + triggered.interval() / 2,
        ..triggered
    };
    let mut polls = Vec::new();
    let mut streams = Vec::new();
    for (i, t) in tpps.iter().enumerate() {
        let Role::Polls(token) = &t.role else {
            continue;
        };
        let rec = Arc::new(Recorder::default());
        polls.push((i, rec.clone()));
        let state = Arc::new(PollState::default());
        let (ctx, token, seen, ids, stop) = (
            ctx.clone(),
            token.clone(),
            seen.clone(),
            ids.clone(),
            polls_done.clone(),
        );
        // Polling goes on past the triggers' end, long enough for their last events.
        let grace = ctx.profile.event_timeout.min(Duration::from_secs(5));
        let schedule = Schedule {
            until: until + grace,
            ..polled
        };
        let conns = bounds.connections;
        streams.push(tokio::spawn(async move {
            open_loop(schedule, conns, rec, stop, move |_| {
                poll_once(
                    ctx.clone(),
                    token.clone(),
                    state.clone(),
                    seen.clone(),
                    ids.clone(),
                )
            })
            .await;
        }));
    }
    let requests: Vec<TriggerRequest> = tpps.iter().map(|t| t.trigger.clone()).collect();
    let (c, s, i) = (ctx.clone(), seen.clone(), ids.clone());
    open_loop(
        triggered,
        bounds.connections,
        triggers.clone(),
        stop.clone(),
        move |n| {
            let request = requests[n as usize % requests.len()].clone();
            trigger_once(c.clone(), request, n, s.clone(), i.clone())
        },
    )
    .await;
    let polling: Vec<u64> = polls.iter().map(|(i, _)| *i as u64).collect();
    await_polled(ctx, &seen, &polling, tpps.len() as u64, &stop).await;
    polls_done.finish();
    for s in streams {
        let _ = s.await;
    }
    if let Some(why) = polls_done.reason() {
        stop.finish_with(why);
    }
    (seen, triggers, polls, stop)
}

/// Waits (at most the profile's event timeout, 5 s at most) until every event triggered for a
/// polling TPP (`polling`, by index among `count` TPPs) was polled.
async fn await_polled(ctx: &RunContext, seen: &Seen, polling: &[u64], count: u64, stop: &Stop) {
    let deadline = Instant::now() + ctx.profile.event_timeout.min(Duration::from_secs(5));
    while !stop.stopped() && Instant::now() < deadline {
        let wanted = lock(&seen.sent)
            .keys()
            .filter(|n| polling.contains(&(*n % count)))
            .count();
        if lock(&seen.polled).len() >= wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn spread(v: &[f64]) -> String {
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        percentile(v, 0.5),
        percentile(v, 0.9),
        percentile(v, 0.99)
    )
}

fn latency(id: &'static str, measure: String, v: &[f64], extra: String) -> Figure {
    Figure::plain(id, &measure, (percentile(v, 0.99), "ms p99"), "-", None)
        .detail(format!("{}; {extra}", spread(v)))
}

/// Trigger → first seen, in ms, for events `n` of `tpp_index` (round robin over `tpps`).
fn delays(
    sent: &HashMap<u64, Instant>,
    got: &HashMap<u64, Instant>,
    pick: impl Fn(u64) -> bool,
) -> (Vec<f64>, usize) {
    let mut v: Vec<f64> = Vec::new();
    let mut wanted = 0;
    for (n, at) in sent.iter().filter(|(n, _)| pick(**n)) {
        wanted += 1;
        if let Some(seen) = got.get(n) {
            v.push(seen.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        }
    }
    v.sort_by(f64::total_cmp);
    (v, wanted)
}

/// `obevents bench --profile`: the figures, and why the run stopped early if it did.
pub async fn run(path: &Path, bounds: Bounds) -> anyhow::Result<(Vec<Figure>, Option<String>)> {
    let ids = Arc::new(Ids::new());
    let (ctx, tpps) = prepare(path, &ids, &bounds).await?;
    let started = Instant::now();
    let (seen, triggers, polls, stop) = drive(&ctx, &tpps, &bounds, &ids).await;
    let secs = started.elapsed().as_secs_f64();
    let mut figures = Vec::new();
    let t = triggers.latencies();
    figures.push(latency(
        "trigger_latency",
        "triggers (request → answer, from when due)".into(),
        &t,
        format!(
            "{} sent at {:.0}/s, {} failed",
            t.len(),
            bounds.rate,
            triggers.errors.load(std::sync::atomic::Ordering::Relaxed)
        ),
    ));
    let sent = lock(&seen.sent).clone();
    let polled = lock(&seen.polled).clone();
    let count = tpps.len() as u64;
    for (i, rec) in &polls {
        let tpp = &tpps[*i];
        let l = rec.latencies();
        let errors = rec.errors.load(std::sync::atomic::Ordering::Relaxed);
        figures.push(
            Figure::plain(
                "poll_rate",
                &format!("TPP {}: poll/ack loop", tpp.name),
                (l.len() as f64 / secs, "polls/s"),
                "-",
                None,
            )
            .detail(format!("{} ok, {errors} failed, {}", l.len(), spread(&l))),
        );
        let (d, wanted) = delays(&sent, &polled, |n| n % count == *i as u64);
        figures.push(latency(
            "trigger_to_poll",
            format!("TPP {}: trigger → SET polled", tpp.name),
            &d,
            format!("{} of {wanted} events seen", d.len()),
        ));
    }
    for (i, tpp) in tpps.iter().enumerate() {
        let Role::Pushed(mailbox) = &tpp.role else {
            continue;
        };
        // Pushes still on their way get the same grace as the polls.
        let wanted_here = sent.keys().filter(|n| *n % count == i as u64).count();
        let grace = ctx.profile.event_timeout.min(Duration::from_secs(5));
        let receiver = ctx.receiver().map_err(fail)?;
        let got = receiver.wait_for(&mailbox.id, wanted_here, grace).await;
        let mut pushed = HashMap::new();
        for r in &got {
            if let Some(n) = ids.find(&r.body_text()) {
                pushed.entry(n).or_insert(r.at);
            }
        }
        let (d, wanted) = delays(&sent, &pushed, |n| n % count == i as u64);
        figures.push(latency(
            "trigger_to_push",
            format!("TPP {}: trigger → SET pushed", tpp.name),
            &d,
            format!("{} of {wanted} events pushed", d.len()),
        ));
        figures.push(
            Figure::plain(
                "push_receipt_rate",
                &format!("TPP {}: pushes received", tpp.name),
                (got.len() as f64 / bounds.duration.as_secs_f64(), "pushes/s"),
                "-",
                None,
            )
            .detail(format!(
                "{} requests over the {} s of triggers",
                got.len(),
                bounds.duration.as_secs()
            )),
        );
    }
    Ok((figures, stop.reason()))
}
