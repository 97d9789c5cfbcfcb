//! Push phases of `obevents bench`, on an embedded SQLite sandbox of their own with a short
//! retry schedule: deliveries per second to a local receiver (the stored SET is sent as is, so
//! no signing is on this path), measured in rounds interleaved with its limit — a plain POST
//! loop of the same SET from a client built like the push worker's, as many at once as the
//! worker sends, to the same kind of receiver — and how far retries land from their schedule.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::report::{Figure, Limit};
use super::{percentile, register, throughput_for};
use crate::model::EventType;
use crate::sandbox::dialects::obie::events::EventSpec;
use crate::sandbox::domain::{
    ClientId, DeliveryId, Dialect, EventId, NewDelivery, NewEvent, Timestamp,
};
use crate::sandbox::{Bank, Sandbox, SandboxConfig};

/// Deliveries in each round of the throughput phase, spread over this many TPPs (the worker
/// sends at most a few at once to one URL, as to a real TPP).
const DELIVERIES: usize = 1_250;
const ROUNDS: usize = 4;
const TPPS: usize = 16;
/// Deliveries retried in the timing phase, and their schedule.
const RETRIED: usize = 100;
const SCHEDULE_MS: [u64; 3] = [100, 200, 400];

/// A receiver on 127.0.0.1 answering every POST with `status`, counting them.
async fn receiver(status: u16) -> anyhow::Result<(String, Arc<AtomicU64>)> {
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    let code = axum::http::StatusCode::from_u16(status)?;
    let app = axum::Router::new().fallback(move || {
        let seen = Arc::clone(&seen);
        async move {
            seen.fetch_add(1, Ordering::Relaxed);
            code.into_response()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, count))
}

/// A TPP subscribed with `callback` as its CallbackUrl; returns its client id.
async fn subscribed(
    http: &reqwest::Client,
    base: &str,
    callback: &str,
) -> anyhow::Result<ClientId> {
    let tpp = register(http, base).await?;
    // `register` subscribed it for polling; move that subscription to the callback.
    let subs: serde_json::Value = http
        .get(format!("{base}/open-banking/v3.1/event-subscriptions"))
        .bearer_auth(&tpp.token)
        .send()
        .await?
        .json()
        .await?;
    let id = subs["Data"]["EventSubscription"][0]["EventSubscriptionId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = http
        .put(format!("{base}/open-banking/v3.1/event-subscriptions/{id}"))
        .bearer_auth(&tpp.token)
        .json(&serde_json::json!({"Data": {"EventSubscriptionId": id, "Version": "3.1", "CallbackUrl": callback}}))
        .send()
        .await?;
    anyhow::ensure!(
        r.status() == 200,
        "cannot set the CallbackUrl: {}",
        r.status()
    );
    Ok(ClientId::from(tpp.id))
}

/// Waits until no delivery is pending (every attempt recorded), bounded.
async fn drained(sandbox: &Sandbox, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while sandbox.state.store.next_due().await?.is_some() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "deliveries did not finish in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The push rows: delivery throughput to a local receiver, and how closely retries keep their
/// schedule. Runs its own sandbox (database in `dir`) with a short retry schedule.
pub async fn figures(http: &reqwest::Client, dir: &std::path::Path) -> anyhow::Result<Vec<Figure>> {
    let mut cfg = SandboxConfig::for_bank(Bank::Obie);
    cfg.push.retry_schedule = SCHEDULE_MS
        .iter()
        .map(|&ms| Duration::from_millis(ms))
        .collect();
    cfg.push.request_timeout = Duration::from_secs(5);
    let db = dir.join("push.db").display().to_string();
    let sandbox = Sandbox::start(cfg, &db, "127.0.0.1:0".parse()?).await?;
    let figures = vec![
        throughput_figure(http, &sandbox).await?,
        retry_timing_figure(http, &sandbox).await?,
    ];
    sandbox.stop().await;
    Ok(figures)
}

/// The push limit: plain POSTs of `body` per second from a client built as the push worker
/// builds its own, with as many requests at once as the worker sends (`urls` round robin).
async fn post_loop(
    cfg: &crate::sandbox::config::PushConfig,
    urls: &[String],
    body: &str,
    span: Duration,
) -> anyhow::Result<f64> {
    let client = crate::sandbox::push::worker::client_builder(cfg).build()?;
    let workers = cfg.concurrency.min(urls.len() * cfg.per_destination).max(1);
    let next = Arc::new(AtomicU64::new(0));
    let (urls, body) = (Arc::new(urls.to_vec()), Arc::new(body.to_string()));
    Ok(throughput_for(workers, span, move || {
        let (client, urls, body) = (client.clone(), urls.clone(), body.clone());
        let n = next.fetch_add(1, Ordering::Relaxed) as usize;
        async move {
            client
                .post(&urls[n % urls.len()])
                .header("content-type", "application/jwt")
                .body(body.as_str().to_owned())
                .send()
                .await
                .is_ok_and(|r| r.status() == 202)
        }
    })
    .await)
}

/// What the worker's gauges showed over a round, sampled every millisecond: how many of its
/// slots were sending, and how often nothing claimed was waiting to be sent (the worker then
/// sends only what it has out, until a claim comes back).
#[derive(Debug, Default, Clone, Copy)]
struct Slots {
    samples: u64,
    sending: u64,
    nothing_waiting: u64,
}

impl Slots {
    fn add(&mut self, other: Slots) {
        self.samples += other.samples;
        self.sending += other.sending;
        self.nothing_waiting += other.nothing_waiting;
    }

    /// "on average N of its M slots sending, nothing claimed waiting in P % of samples".
    fn describe(&self, slots: usize) -> String {
        let n = self.samples.max(1) as f64;
        format!(
            "the worker: on average {:.0} of its {slots} slots sending, nothing claimed waiting in {:.0} % of samples",
            self.sending as f64 / n,
            100.0 * self.nothing_waiting as f64 / n
        )
    }
}

/// Samples the push worker's gauges (`Metrics::push_worker`) until `stop` is cancelled.
async fn sample_slots(
    state: crate::sandbox::state::AppState,
    stop: tokio_util::sync::CancellationToken,
) -> Slots {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seen = Slots::default();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return seen,
            _ = tick.tick() => {
                let (sending, waiting) = state.metrics.push_worker();
                seen.samples += 1;
                seen.sending += u64::try_from(sending).unwrap_or(0);
                seen.nothing_waiting += u64::from(waiting == 0);
            }
        }
    }
}

/// `DELIVERIES` stored deliveries of copies of `sample` to `clients`, numbered from `from`.
fn deliveries(sample: &NewEvent, clients: &[(ClientId, String)], from: usize) -> Vec<NewEvent> {
    let now = Timestamp::now();
    (from..from + DELIVERIES)
        .map(|n| {
            let (client, cb) = &clients[n % clients.len()];
            let mut e = sample.clone();
            e.event_id = EventId::from(format!("push-{n}"));
            e.jti = e.event_id.to_string();
            e.client_id = client.clone();
            e.deliveries = vec![NewDelivery {
                id: DeliveryId::from(format!("d-{n}")),
                format: Dialect::Obie,
                url: cb.clone(),
                next_attempt_at: now,
            }];
            e
        })
        .collect()
}

/// Throughput: rounds of many stored deliveries (one signed SET reused: signing is not on
/// this path), each drained with every attempt recorded, then half a second of the POST loop.
async fn throughput_figure(http: &reqwest::Client, sandbox: &Sandbox) -> anyhow::Result<Figure> {
    let base = sandbox.url();
    let (ok_base, received) = receiver(202).await?;
    let mut clients = Vec::new();
    for i in 0..TPPS {
        let cb = format!("{ok_base}/tpp{i}/open-banking/v3.1/event-notifications");
        clients.push((subscribed(http, &base, &cb).await?, cb));
    }
    let sample = crate::sandbox::dialects::obie::set::build(
        &sandbox.state,
        &sandbox.state.cfg.faults,
        &EventSpec {
            client_id: clients[0].0.clone(),
            event_type: EventType::ResourceUpdate,
            resource_id: "bench".into(),
            resource_type: "domestic-payment".into(),
            reason: None,
            txn: None,
        },
    )?;
    let token = sample.token.clone().unwrap_or_default();
    let urls: Vec<String> = clients.iter().map(|(_, cb)| cb.clone()).collect();
    let (mut push_secs, mut limit_sum) = (0.0, 0.0);
    let mut slots = Slots::default();
    for round in 0..ROUNDS {
        let events = deliveries(&sample, &clients, round * DELIVERIES);
        let before = received.load(Ordering::Relaxed) as usize;
        // Timed from when the deliveries are stored: storing 1,250 events in one transaction
        // is ingest's work, not push's.
        sandbox.state.store.insert_events(&events).await?;
        let started = Instant::now();
        let stop = tokio_util::sync::CancellationToken::new();
        let sampler = tokio::spawn(sample_slots(sandbox.state.clone(), stop.clone()));
        sandbox.state.push_wake.notify_one();
        let done = drained(sandbox, Duration::from_secs(120)).await;
        push_secs += started.elapsed().as_secs_f64();
        stop.cancel();
        slots.add(sampler.await?);
        done?;
        let got = received.load(Ordering::Relaxed) as usize - before;
        anyhow::ensure!(got >= DELIVERIES, "the receiver got {got} of {DELIVERIES}");
        let span = Duration::from_millis(500);
        limit_sum += post_loop(&sandbox.state.cfg.push, &urls, &token, span).await?;
    }
    let rate = (ROUNDS * DELIVERIES) as f64 / push_secs;
    let limit = Limit {
        name: "plain POST loop".into(),
        value: limit_sum / ROUNDS as f64,
        unit: "req/s".into(),
    };
    Ok(Figure::ratio(
        "push",
        "push deliveries to a local receiver (202, every attempt recorded)",
        (rate, "deliveries/s"),
        limit,
        0.5,
    )
    .detail(format!(
        "{} to {TPPS} TPPs; {}",
        ROUNDS * DELIVERIES,
        slots.describe(sandbox.state.cfg.push.concurrency)
    )))
}

/// Retry timing: every attempt answered 503, so each delivery runs its whole schedule; the
/// error is how far each retry started from when its delay said.
async fn retry_timing_figure(http: &reqwest::Client, sandbox: &Sandbox) -> anyhow::Result<Figure> {
    let (down_base, _) = receiver(503).await?;
    let cb = format!("{down_base}/open-banking/v3.1/event-notifications");
    let client = subscribed(http, &sandbox.url(), &cb).await?;
    for n in 0..RETRIED {
        crate::sandbox::dialects::obie::events::raise(
            &sandbox.state,
            None,
            EventSpec {
                client_id: client.clone(),
                event_type: EventType::ResourceUpdate,
                resource_id: format!("retry-{n}"),
                resource_type: "domestic-payment".into(),
                reason: None,
                txn: None,
            },
        )
        .await?;
    }
    drained(sandbox, Duration::from_secs(60)).await?;
    let mut errors = Vec::new();
    for d in sandbox.state.store.deliveries_of(&client, RETRIED).await? {
        let mut attempts = d.attempts.clone();
        attempts.sort_by_key(|a| a.attempt);
        for pair in attempts.windows(2) {
            let delay = SCHEDULE_MS[(pair[0].attempt - 1) as usize] as i64;
            let scheduled = pair[0].started_at.as_millis() + pair[0].latency_ms + delay;
            errors.push((pair[1].started_at.as_millis() - scheduled).abs() as f64);
        }
    }
    anyhow::ensure!(
        errors.len() == RETRIED * SCHEDULE_MS.len(),
        "expected {} retries, recorded {}",
        RETRIED * SCHEDULE_MS.len(),
        errors.len()
    );
    errors.sort_by(f64::total_cmp);
    let p99 = percentile(&errors, 0.99);
    Ok(Figure::plain(
        "push_retry_timing",
        "push retry timing error p99, |actual - scheduled| (100–400 ms delays)",
        (p99, "ms"),
        "p99 within 10 % of the delay (<= 10 ms)",
        Some(p99 <= 10.0),
    )
    .detail(format!(
        "p50 {:.0} ms over {} retries",
        percentile(&errors, 0.5),
        errors.len()
    )))
}
