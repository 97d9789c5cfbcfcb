//! `obevents bench`: measures the sandbox's hot paths against the targets of DESIGN.md §6 and
//! prints them as a table (throughput as ratios of the same server's trivial `/healthz`, since
//! absolute figures depend on the machine). The sandbox runs in-process on 127.0.0.1:0 with a
//! temporary database file (WAL, as in normal use), or on the PostgreSQL database `--db` names
//! (then a second in-process replica measures the cross-replica wake-up); the load generator
//! shares the machine.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tabled::settings::Style;
use tabled::{Table, Tabled};

mod push;

use crate::cli::BenchArgs;
use crate::model::EventType;
use crate::sandbox::dialects::obie::events::EventSpec;
use crate::sandbox::domain::{ClientId, EventId, NewEvent, Timestamp};
use crate::sandbox::{Bank, Sandbox, SandboxConfig};

#[derive(Tabled)]
struct Row {
    measure: String,
    result: String,
    target: String,
    verdict: String,
}

/// A TPP of the bench sandbox with its token.
struct Client {
    id: String,
    token: String,
}

async fn register(http: &reqwest::Client, base: &str) -> anyhow::Result<Client> {
    let reg: Value = http
        .post(format!("{base}/register"))
        .json(&json!({"client_name": "bench", "scope": "accounts eventpolling"}))
        .send()
        .await?
        .json()
        .await?;
    let id = reg["client_id"].as_str().unwrap_or_default().to_string();
    let secret = reg["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let tok: Value = http
        .post(format!("{base}/token"))
        .basic_auth(&id, Some(&secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await?
        .json()
        .await?;
    let token = tok["access_token"].as_str().unwrap_or_default().to_string();
    let sub = http
        .post(format!("{base}/open-banking/v3.1/event-subscriptions"))
        .bearer_auth(&token)
        .json(&json!({"Data": {"Version": "3.1"}}))
        .send()
        .await?;
    anyhow::ensure!(
        sub.status() == 201,
        "cannot subscribe the bench client: {}",
        sub.status()
    );
    Ok(Client { id, token })
}

/// Raises `n` resource-update events for `client_id` in-process (signed and stored as usual).
async fn raise_updates(
    sandbox: &Sandbox,
    client_id: &str,
    prefix: &str,
    n: usize,
) -> anyhow::Result<()> {
    for i in 0..n {
        crate::sandbox::dialects::obie::events::raise(
            &sandbox.state,
            None,
            EventSpec {
                client_id: ClientId::from(client_id),
                event_type: EventType::ResourceUpdate,
                resource_id: format!("{prefix}-{i}"),
                resource_type: "account-access-consent".into(),
                reason: None,
                txn: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// Runs `make()` requests from `connections` workers for `secs`; returns successful requests/s.
async fn throughput<F, Fut>(connections: usize, secs: u64, make: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    throughput_for(connections, Duration::from_secs(secs), make).await
}

async fn throughput_for<F, Fut>(connections: usize, span: Duration, make: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let make = Arc::new(make);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + span;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let make = make.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if make().await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Throughput of `a` and `b` measured in alternating half-second slices over `secs` each, so
/// that drift in the machine's speed (other load, CPU frequency) hits both the same way.
async fn interleaved<A, FA, B, FB>(connections: usize, secs: u64, a: A, b: B) -> (f64, f64)
where
    A: Fn() -> FA + Send + Sync + Clone + 'static,
    FA: std::future::Future<Output = bool> + Send,
    B: Fn() -> FB + Send + Sync + Clone + 'static,
    FB: std::future::Future<Output = bool> + Send,
{
    let slices = (secs * 2).max(2);
    let (mut ra, mut rb) = (0.0, 0.0);
    for _ in 0..slices {
        ra += throughput_for(connections, Duration::from_millis(500), a.clone()).await;
        rb += throughput_for(connections, Duration::from_millis(500), b.clone()).await;
    }
    (ra / slices as f64, rb / slices as f64)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn row(measure: &str, result: String, target: &str, ok: bool) -> Row {
    Row {
        measure: measure.into(),
        result,
        target: target.into(),
        verdict: if ok { "met" } else { "MISSED" }.into(),
    }
}

/// The bench sandboxes' config: `obie` with a long-poll hold no wake-up round comes near.
fn bench_config() -> SandboxConfig {
    let mut cfg = SandboxConfig::for_bank(Bank::Obie);
    cfg.long_poll_timeout = Duration::from_secs(30);
    cfg
}

/// A table row for wake-up times (sorted, ms) against a p99 target.
fn wake_row(measure: &str, wake: &[f64], p99_target_ms: f64) -> Row {
    let p99 = percentile(wake, 0.99);
    row(
        measure,
        format!(
            "p50 {:.2} ms, p99 {p99:.2} ms ({} rounds)",
            percentile(wake, 0.5),
            wake.len()
        ),
        &format!("p99 < {p99_target_ms} ms"),
        p99 < p99_target_ms,
    )
}

/// One poll measured on PostgreSQL and on SQLite in alternating slices, as a table row.
async fn versus_sqlite<A, FA, B, FB>(what: &str, conns: usize, secs: u64, pg: A, sq: B) -> Row
where
    A: Fn() -> FA + Send + Sync + Clone + 'static,
    FA: Future<Output = bool> + Send,
    B: Fn() -> FB + Send + Sync + Clone + 'static,
    FB: Future<Output = bool> + Send,
{
    let (sqlite_rate, pg_rate) = interleaved(conns, secs, sq, pg).await;
    let r = pg_rate / sqlite_rate;
    row(
        &format!("PostgreSQL vs SQLite, {what} (interleaved)"),
        format!(
            "{pg_rate:.0} vs {sqlite_rate:.0} req/s = {:.0} % of SQLite",
            r * 100.0
        ),
        ">= 50 % of SQLite",
        r >= 0.5,
    )
}

/// A poll measurer: one request, whether it succeeded.
trait Poller:
    Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync + Clone + 'static
{
}
impl<F: Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync + Clone + 'static> Poller
    for F
{
}

/// A short poll of a fresh subscribed TPP with nothing queued; the closure says whether the
/// answer was a 200.
async fn empty_poller(http: &reqwest::Client, sandbox: &Sandbox) -> anyhow::Result<impl Poller> {
    let base = sandbox.url();
    let tpp = register(http, &base).await?;
    let (h, url, token) = (
        http.clone(),
        format!("{base}/open-banking/v3.1/events"),
        tpp.token,
    );
    Ok(move || {
        let (h, url, token) = (h.clone(), url.clone(), token.clone());
        async move {
            h.post(&url)
                .bearer_auth(&token)
                .json(&json!({"returnImmediately": true}))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        }
        .boxed()
    })
}

/// A short poll of a fresh TPP with 10 SETs queued and never acknowledged, so every poll
/// returns all 10 (checked once here; then only the answer's size is, so the load generator's
/// JSON parsing does not eat the shared CPU).
async fn ten_poller(http: &reqwest::Client, sandbox: &Sandbox) -> anyhow::Result<impl Poller> {
    let base = sandbox.url();
    let tpp = register(http, &base).await?;
    raise_updates(sandbox, &tpp.id, "bench", 10).await?;
    let (h, url, token) = (
        http.clone(),
        format!("{base}/open-banking/v3.1/events"),
        tpp.token,
    );
    let sample = h
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"returnImmediately": true, "maxEvents": 10}))
        .send()
        .await?
        .bytes()
        .await?;
    let parsed: Value = serde_json::from_slice(&sample)?;
    anyhow::ensure!(
        parsed["sets"].as_object().is_some_and(|m| m.len() == 10),
        "the 10-SET poll returned {parsed}"
    );
    let min_len = sample.len();
    Ok(move || {
        let (h, url, token) = (h.clone(), url.clone(), token.clone());
        async move {
            match h
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"returnImmediately": true, "maxEvents": 10}))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => r.bytes().await.is_ok_and(|b| b.len() >= min_len),
                _ => false,
            }
        }
        .boxed()
    })
}

/// Rounds of: hold a long poll of `waiter` on `base`, raise an event for it through `raiser`
/// (the same sandbox or another replica), time until the poll is answered, acknowledge.
/// Returns the wake-up times in milliseconds, sorted.
async fn wake_rounds(
    http: &reqwest::Client,
    base: &str,
    raiser: &Sandbox,
    waiter: &Client,
    rounds: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut wake = Vec::new();
    for i in 0..rounds {
        let (h, url, token) = (
            http.clone(),
            format!("{base}/open-banking/v3.1/events"),
            waiter.token.clone(),
        );
        let poll = tokio::spawn(async move {
            let r = h
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"returnImmediately": false}))
                .send()
                .await;
            let at = Instant::now();
            let body: Value = match r {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            (at, body)
        });
        // Let the poll reach the server and start waiting.
        tokio::time::sleep(Duration::from_millis(15)).await;
        let raised = Instant::now();
        let outcome = crate::sandbox::dialects::obie::events::raise(
            &raiser.state,
            None,
            EventSpec {
                client_id: ClientId::from(waiter.id.as_str()),
                event_type: EventType::ResourceUpdate,
                resource_id: format!("wake-{i}"),
                resource_type: "account-access-consent".into(),
                reason: None,
                txn: None,
            },
        )
        .await?;
        let (answered, body) = tokio::time::timeout(Duration::from_secs(10), poll).await??;
        anyhow::ensure!(
            body["sets"].as_object().is_some_and(|m| !m.is_empty()),
            "the held poll was answered without the event"
        );
        wake.push(answered.saturating_duration_since(raised).as_secs_f64() * 1000.0);
        // Acknowledge so the next round starts empty.
        if let Some(jti) = outcome.jti {
            http.post(format!("{base}/open-banking/v3.1/events"))
                .bearer_auth(&waiter.token)
                .json(&json!({"returnImmediately": true, "maxEvents": 0, "ack": [jti]}))
                .send()
                .await?;
        }
    }
    wake.sort_by(f64::total_cmp);
    Ok(wake)
}

/// `obevents bench`; returns the exit code (2 with one line on stderr when it cannot run).
pub async fn run_cli(args: BenchArgs) -> u8 {
    match run(args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// `obevents bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("obevents-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| dir.join("bench.db").display().to_string());
    let sandbox = Sandbox::start(bench_config(), &db, "127.0.0.1:0".parse()?).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections * 2)
        .build()?;
    let secs = args.seconds.max(1);
    let conns = args.connections.max(1);
    eprintln!(
        "bench: sandbox at {}, {} db {}, {conns} connections, {secs} s per phase",
        sandbox.url(),
        sandbox.state.store.engine(),
        crate::sandbox::store::redacted(&db)
    );
    let postgres = crate::sandbox::store::is_postgres_url(&db);
    let (mut rows, empty_poll, ten_poll) = poll_rows(&http, &sandbox, conns, secs).await?;
    rows.extend(wake_rows(&http, &sandbox, postgres.then_some(db.as_str())).await?);
    // PostgreSQL against SQLite in the same run: the same polls on an embedded sandbox,
    // alternating half-second slices with this one's (DESIGN.md §6: >= 50 % of SQLite's rate).
    if postgres {
        let lite_db = dir.join("compare.db").display().to_string();
        let lite = Sandbox::start(bench_config(), &lite_db, "127.0.0.1:0".parse()?).await?;
        let sq = empty_poller(&http, &lite).await?;
        rows.push(versus_sqlite("empty short poll", conns, secs, empty_poll, sq).await);
        let sq = ten_poller(&http, &lite).await?;
        rows.push(versus_sqlite("10-SET poll", conns, secs, ten_poll, sq).await);
        lite.stop().await;
    }
    rows.push(ingest_row(&http, &sandbox.url(), conns, secs).await?);
    rows.extend(latency_row(&http, &sandbox, &args.store_sizes).await?);
    sandbox.stop().await;
    rows.extend(push::rows(&http, &dir).await?);
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", Table::new(&rows).with(Style::rounded()));
    Ok(())
}

/// The poll phases, each measured interleaved with the same server's trivial route: an empty
/// short poll, and a poll returning 10 stored SETs. Returns the rows and both pollers.
async fn poll_rows(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    conns: usize,
    secs: u64,
) -> anyhow::Result<(Vec<Row>, impl Poller, impl Poller)> {
    let h = http.clone();
    let health_url = format!("{}/healthz", sandbox.url());
    let healthz = move || {
        let (h, url) = (h.clone(), health_url.clone());
        async move { h.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
    };
    let empty_poll = empty_poller(http, sandbox).await?;
    let (base_a, poll_empty) = interleaved(conns, secs, healthz.clone(), empty_poll.clone()).await;
    let r = poll_empty / base_a;
    let mut rows = vec![
        row(
            "GET /healthz (baseline, interleaved)",
            format!("{base_a:.0} req/s"),
            "-",
            true,
        ),
        row(
            "POST /events, empty short poll",
            format!("{poll_empty:.0} req/s = {:.0} % of healthz", r * 100.0),
            ">= 60 % of healthz",
            r >= 0.6,
        ),
    ];
    // A poll that returns 10 stored SETs (never acknowledged, so every poll returns them).
    let ten_poll = ten_poller(http, sandbox).await?;
    let (base_b, poll_ten) = interleaved(conns, secs, healthz, ten_poll.clone()).await;
    let r = poll_ten / base_b;
    rows.push(row(
        "POST /events returning 10 SETs",
        format!(
            "{poll_ten:.0} req/s = {:.0} % of healthz ({base_b:.0})",
            r * 100.0
        ),
        ">= 40 % of healthz",
        r >= 0.4,
    ));
    Ok((rows, empty_poll, ten_poll))
}

/// Long-poll wake-up: from the moment an event is raised (so including signing and storing
/// it) to the held poll's answer. Measured before the ingest phase fills the WAL. With
/// PostgreSQL (`postgres_db`), a second replica on the same database raises the events too, so
/// the held poll is woken through LISTEN/NOTIFY.
async fn wake_rows(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    postgres_db: Option<&str>,
) -> anyhow::Result<Vec<Row>> {
    let base = sandbox.url();
    let waiter = register(http, &base).await?;
    let wake = wake_rounds(http, &base, sandbox, &waiter, 400).await?;
    let mut rows = vec![wake_row(
        "long-poll wake-up (event raised → held poll answered)",
        &wake,
        5.0,
    )];
    if let Some(db) = postgres_db {
        let other = Sandbox::start(bench_config(), db, "127.0.0.1:0".parse()?).await?;
        let wake = wake_rounds(http, &base, &other, &waiter, 400).await?;
        other.stop().await;
        rows.push(wake_row(
            "cross-replica wake-up (event raised on replica B → poll held on A)",
            &wake,
            20.0,
        ));
    }
    Ok(rows)
}

/// Ingest: trigger → signed PS256 SET stored durably, over HTTP.
async fn ingest_row(
    http: &reqwest::Client,
    base: &str,
    conns: usize,
    secs: u64,
) -> anyhow::Result<Row> {
    let ingest_client = register(http, base).await?;
    let (h, url, id, token) = (
        http.clone(),
        format!("{base}/sandbox/events"),
        ingest_client.id.clone(),
        ingest_client.token.clone(),
    );
    let counter = Arc::new(AtomicU64::new(0));
    let ingest = throughput(conns, secs, move || {
        let (h, url, id, token, counter) = (
            h.clone(),
            url.clone(),
            id.clone(),
            token.clone(),
            counter.clone(),
        );
        async move {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            h.post(&url)
                .bearer_auth(&token)
                .json(&json!({"clientId": id, "eventType": "resource-update", "resourceId": format!("r{n}"), "resourceType": "account-access-consent"}))
                .send()
                .await
                .is_ok_and(|r| r.status() == 201)
        }
    })
    .await;
    Ok(row(
        "event ingest (HTTP trigger → signed SET stored)",
        format!("{ingest:.0} events/s"),
        ">= 2,000 events/s",
        ingest >= 2000.0,
    ))
}

/// Poll latency against the number of stored SETs (other TPPs' rows inflate the table), at
/// each of `store_sizes` (comma-separated); no row without sizes.
async fn latency_row(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    store_sizes: &str,
) -> anyhow::Result<Option<Row>> {
    let sizes: Vec<usize> = store_sizes
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let probe = register(http, &sandbox.url()).await?;
    raise_updates(sandbox, &probe.id, "probe", 10).await?;
    let mut stored = 0usize;
    let mut latencies = Vec::new();
    for size in sizes {
        if size > stored {
            fill_store(sandbox, stored, size).await?;
            stored = size;
        }
        let samples = poll_latencies(http, &sandbox.url(), &probe, 300).await?;
        latencies.push((size, percentile(&samples, 0.5)));
    }
    let (Some(first), Some(last)) = (latencies.first(), latencies.last()) else {
        return Ok(None);
    };
    let detail: Vec<String> = latencies
        .iter()
        .map(|(n, ms)| format!("{n} stored: {ms:.2} ms"))
        .collect();
    let flat = last.1 <= first.1 * 1.5 + 0.2;
    Ok(Some(row(
        "poll latency (p50, 10 SETs) vs stored SETs",
        detail.join("; "),
        "flat (O(batch))",
        flat,
    )))
}

/// Stores filler SETs `from..to` for other TPPs, straight into the store.
async fn fill_store(sandbox: &Sandbox, from: usize, to: usize) -> anyhow::Result<()> {
    let filler: Vec<NewEvent> = (from..to)
        .map(|n| NewEvent {
            event_id: EventId::from(format!("filler-{n}")),
            jti: format!("filler-{n}"),
            client_id: ClientId::from(format!("filler-client-{}", n % 1000)),
            event_type: EventType::ResourceUpdate.urn().into(),
            resource_id: format!("f{n}"),
            resource_type: "account-access-consent".into(),
            resource_links: Vec::new(),
            txn: None,
            toe: Timestamp::from_secs(0),
            details: Default::default(),
            token: Some("filler".into()),
            poll: true,
            created_at: Timestamp::from_secs(0),
            deliveries: Vec::new(),
        })
        .collect();
    sandbox.state.store.insert_events(&filler).await?;
    Ok(())
}

/// `n` short polls of 10 SETs by `probe`, one at a time; their latencies in ms, sorted.
async fn poll_latencies(
    http: &reqwest::Client,
    base: &str,
    probe: &Client,
    n: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let r = http
            .post(format!("{base}/open-banking/v3.1/events"))
            .bearer_auth(&probe.token)
            .json(&json!({"returnImmediately": true, "maxEvents": 10}))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "probe poll failed: {}", r.status());
        let _ = r.bytes().await?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}
