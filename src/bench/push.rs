//! Push phases of `obevents bench`, on an embedded SQLite sandbox of their own with a short
//! retry schedule: deliveries per second to a local receiver (the stored SET is sent as is, so
//! no signing is on this path), and how far retries land from their schedule.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Row, percentile, register, row};
use crate::model::EventType;
use crate::sandbox::dialects::obie::events::EventSpec;
use crate::sandbox::domain::{
    ClientId, DeliveryId, Dialect, EventId, NewDelivery, NewEvent, Timestamp,
};
use crate::sandbox::{Bank, Sandbox, SandboxConfig};

/// Deliveries in the throughput phase, spread over this many TPPs (the worker sends at most a
/// few at once to one URL, as to a real TPP).
const DELIVERIES: usize = 5_000;
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
pub async fn rows(http: &reqwest::Client, dir: &std::path::Path) -> anyhow::Result<Vec<Row>> {
    let mut cfg = SandboxConfig::for_bank(Bank::Obie);
    cfg.push.retry_schedule = SCHEDULE_MS
        .iter()
        .map(|&ms| Duration::from_millis(ms))
        .collect();
    cfg.push.request_timeout = Duration::from_secs(5);
    let db = dir.join("push.db").display().to_string();
    let sandbox = Sandbox::start(cfg, &db, "127.0.0.1:0".parse()?).await?;
    let rows = vec![
        throughput_row(http, &sandbox).await?,
        retry_timing_row(http, &sandbox).await?,
    ];
    sandbox.stop().await;
    Ok(rows)
}

/// Throughput: many stored deliveries, one signed SET reused (signing is not on this path).
async fn throughput_row(http: &reqwest::Client, sandbox: &Sandbox) -> anyhow::Result<Row> {
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
    let now = Timestamp::now();
    let events: Vec<NewEvent> = (0..DELIVERIES)
        .map(|n| {
            let (client, cb) = &clients[n % TPPS];
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
        .collect();
    let started = Instant::now();
    sandbox.state.store.insert_events(&events).await?;
    sandbox.state.push_wake.notify_one();
    drained(sandbox, Duration::from_secs(120)).await?;
    let secs = started.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed) as usize;
    anyhow::ensure!(got >= DELIVERIES, "the receiver got {got} of {DELIVERIES}");
    let rate = DELIVERIES as f64 / secs;
    Ok(row(
        "push deliveries to a local receiver (202, attempt recorded)",
        format!("{rate:.0} deliveries/s ({DELIVERIES} to {TPPS} TPPs)"),
        ">= 2,000 /s",
        rate >= 2_000.0,
    ))
}

/// Retry timing: every attempt answered 503, so each delivery runs its whole schedule; the
/// error is how far each retry started from when its delay said.
async fn retry_timing_row(http: &reqwest::Client, sandbox: &Sandbox) -> anyhow::Result<Row> {
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
    Ok(row(
        "push retry timing error |actual - scheduled| (100–400 ms delays)",
        format!(
            "p50 {:.0} ms, p99 {p99:.0} ms over {} retries",
            percentile(&errors, 0.5),
            errors.len()
        ),
        "p99 within 10 % of the delay (>= 10 ms)",
        p99 <= 10.0,
    ))
}
