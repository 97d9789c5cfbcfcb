//! The poll phases of `obevents bench`: short polls (empty, and returning 10 SETs) measured
//! interleaved with the same server's `/healthz` (their limit); on PostgreSQL the same polls
//! against an embedded SQLite sandbox (the reference) and the cross-replica wake-up; and the
//! poll latency against the number of stored SETs.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::FutureExt;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use super::report::{Figure, Limit};
use super::{Client, interleaved, percentile, raise_updates, register};
use crate::model::EventType;
use crate::sandbox::Sandbox;
use crate::sandbox::dialects::obie::events::EventSpec;
use crate::sandbox::domain::{ClientId, EventId, NewEvent, Timestamp};

/// A poll measurer: one request, whether it succeeded.
pub trait Poller:
    Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync + Clone + 'static
{
}
impl<F: Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync + Clone + 'static> Poller
    for F
{
}

/// A short poll's request made ready once: its JSON body and bearer header are built before
/// the load starts, as a load generator does, so the client's share of the two cores is not
/// spent rebuilding them on every request (the server still parses both every time).
#[derive(Clone)]
struct ShortPoll {
    h: reqwest::Client,
    url: String,
    auth: HeaderValue,
    body: &'static str,
}

impl ShortPoll {
    fn new(
        h: &reqwest::Client,
        base: &str,
        token: &str,
        body: &'static str,
    ) -> anyhow::Result<Self> {
        Ok(ShortPoll {
            h: h.clone(),
            url: format!("{base}/open-banking/v3.1/events"),
            auth: HeaderValue::try_from(format!("Bearer {token}"))?,
            body,
        })
    }

    fn send(&self) -> impl Future<Output = reqwest::Result<reqwest::Response>> + use<> {
        self.h
            .post(&self.url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(self.body)
            .send()
    }
}

/// A short poll of a fresh subscribed TPP with nothing queued; the closure says whether the
/// answer was a 200.
pub async fn empty_poller(
    http: &reqwest::Client,
    sandbox: &Sandbox,
) -> anyhow::Result<impl Poller> {
    let base = sandbox.url();
    let tpp = register(http, &base).await?;
    let poll = ShortPoll::new(http, &base, &tpp.token, r#"{"returnImmediately":true}"#)?;
    Ok(move || {
        let sent = poll.send();
        async move { sent.await.is_ok_and(|r| r.status() == 200) }.boxed()
    })
}

/// A short poll of a fresh TPP with 10 SETs queued and never acknowledged, so every poll
/// returns all 10 (checked once here; then only the answer's size is, so the load generator's
/// JSON parsing does not eat the shared CPU).
pub async fn ten_poller(http: &reqwest::Client, sandbox: &Sandbox) -> anyhow::Result<impl Poller> {
    let base = sandbox.url();
    let tpp = register(http, &base).await?;
    raise_updates(sandbox, &tpp.id, "bench", 10).await?;
    let poll = ShortPoll::new(
        http,
        &base,
        &tpp.token,
        r#"{"returnImmediately":true,"maxEvents":10}"#,
    )?;
    let sample = poll.send().await?.bytes().await?;
    let parsed: Value = serde_json::from_slice(&sample)?;
    anyhow::ensure!(
        parsed["sets"].as_object().is_some_and(|m| m.len() == 10),
        "the 10-SET poll returned {parsed}"
    );
    let min_len = sample.len();
    Ok(move || {
        let sent = poll.send();
        async move {
            match sent.await {
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

fn req_s(name: &str, v: f64) -> Limit {
    Limit {
        name: name.into(),
        value: v,
        unit: "req/s".into(),
    }
}

/// The poll phases, each interleaved with the same server's `/healthz`: an empty short poll
/// (>= 80 % of it) and a poll returning 10 stored SETs (>= 50 %). Returns both pollers too.
pub async fn figures(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    conns: usize,
    secs: u64,
) -> anyhow::Result<(Vec<Figure>, impl Poller, impl Poller)> {
    let h = http.clone();
    let health_url = format!("{}/healthz", sandbox.url());
    let healthz = move || {
        let (h, url) = (h.clone(), health_url.clone());
        async move { h.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
    };
    let empty_poll = empty_poller(http, sandbox).await?;
    let (health_a, empty) = interleaved(conns, secs, healthz.clone(), empty_poll.clone()).await;
    let ten_poll = ten_poller(http, sandbox).await?;
    let (health_b, ten) = interleaved(conns, secs, healthz, ten_poll.clone()).await;
    let figures = vec![
        Figure::ratio(
            "empty_poll",
            "POST /events, empty short poll",
            (empty, "req/s"),
            req_s("GET /healthz", health_a),
            0.8,
        ),
        Figure::ratio(
            "ten_set_poll",
            "POST /events returning 10 SETs",
            (ten, "req/s"),
            req_s("GET /healthz", health_b),
            0.5,
        ),
    ];
    Ok((figures, empty_poll, ten_poll))
}

/// One poll measured on PostgreSQL and on SQLite in alternating slices (>= 50 % of SQLite's).
pub async fn versus_sqlite<A, FA, B, FB>(
    id: &'static str,
    what: &str,
    conns: usize,
    secs: u64,
    pg: A,
    sq: B,
) -> Figure
where
    A: Fn() -> FA + Send + Sync + Clone + 'static,
    FA: Future<Output = bool> + Send,
    B: Fn() -> FB + Send + Sync + Clone + 'static,
    FB: Future<Output = bool> + Send,
{
    let (sqlite_rate, pg_rate) = interleaved(conns, secs, sq, pg).await;
    Figure::ratio(
        id,
        &format!("PostgreSQL {what}"),
        (pg_rate, "req/s"),
        req_s(&format!("SQLite {what}"), sqlite_rate),
        0.5,
    )
}

/// Cross-replica wake-up (PostgreSQL only): a second replica on the same database raises the
/// events, so the poll held on the first is woken through LISTEN/NOTIFY (p99 < 20 ms).
pub async fn cross_replica(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    db: &str,
    cfg: crate::sandbox::SandboxConfig,
) -> anyhow::Result<Figure> {
    let base = sandbox.url();
    let waiter = register(http, &base).await?;
    let other = Sandbox::start(cfg, db, "127.0.0.1:0".parse()?).await?;
    let wake = wake_rounds(http, &base, &other, &waiter, 400).await;
    other.stop().await;
    let wake = wake?;
    let p99 = percentile(&wake, 0.99);
    Ok(Figure::plain(
        "cross_replica_wake",
        "cross-replica wake-up p99 (event raised on replica B → poll held on A answered)",
        (p99, "ms"),
        "p99 < 20 ms",
        Some(p99 < 20.0),
    )
    .detail(format!(
        "p50 {:.2} ms, {} rounds",
        percentile(&wake, 0.5),
        wake.len()
    )))
}

/// Poll latency against the number of stored SETs (other TPPs' rows inflate the table), at
/// `--store-sizes`: comma-separated counts of stored events, each at most 10,000,000 (the
/// store is filled to each in turn); empty for none. Anything else is refused.
pub fn store_sizes(text: &str) -> anyhow::Result<Vec<usize>> {
    const MAX: usize = 10_000_000;
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(n) if n <= MAX => Ok(n),
            _ => anyhow::bail!("--store-sizes: {s:?} is not a count of events from 0 to {MAX}"),
        })
        .collect()
}

/// each of `sizes` (see [`store_sizes`]); no row without sizes.
pub async fn latency_figure(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    sizes: &[usize],
) -> anyhow::Result<Option<Figure>> {
    let sizes = sizes.to_vec();
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
    Ok(Some(
        Figure::plain(
            "poll_latency_vs_store",
            "poll latency p50 (10 SETs) at the largest store size",
            (last.1, "ms"),
            "flat: <= 1.5 x the smallest store's + 0.2 ms",
            Some(flat),
        )
        .detail(detail.join("; ")),
    ))
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
