//! Ingest and its limit, measured in the same run in alternating slices: this process's PS256
//! signing rate on every core, with the sandbox's own key and the crate's own signer over a
//! real SET's signing input.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::report::{Figure, Limit};
use crate::jose::Alg;
use crate::model::EventType;
use crate::sandbox::Sandbox;
use crate::sandbox::dialects::obie::events::EventSpec;
use crate::sandbox::domain::ClientId;

/// What one signature covers: a SET's `header.payload` as the sandbox builds it.
pub fn signing_input(sandbox: &Sandbox) -> anyhow::Result<Vec<u8>> {
    let sample = crate::sandbox::dialects::obie::set::build(
        &sandbox.state,
        &sandbox.state.cfg.faults,
        &EventSpec {
            client_id: ClientId::from("bench-signing"),
            event_type: EventType::ResourceUpdate,
            resource_id: "bench".into(),
            resource_type: "account-access-consent".into(),
            reason: None,
            txn: None,
        },
    )?;
    let token = sample.token.unwrap_or_default();
    let input = token.rsplit_once('.').map(|(i, _)| i).unwrap_or_default();
    anyhow::ensure!(!input.is_empty(), "the sample SET is not a compact JWS");
    Ok(input.as_bytes().to_vec())
}

/// PS256 signatures per second over `span`, one OS thread per core, all signing `input` with
/// the sandbox's key.
pub async fn signing_rate(sandbox: &Sandbox, input: &Arc<Vec<u8>>, span: Duration) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + span;
    let mut handles = Vec::new();
    for _ in 0..cores {
        let (state, input, done) = (sandbox.state.clone(), input.clone(), done.clone());
        handles.push(tokio::task::spawn_blocking(move || {
            while Instant::now() < deadline {
                if state.key.sign(Alg::PS256, &input).is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Ingest (HTTP trigger → signed PS256 SET stored durably → 201) from `conns` workers,
/// alternating half-second slices with the signing limit: >= 60 % of it.
pub async fn ingest_figure(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    conns: usize,
    secs: u64,
) -> anyhow::Result<Figure> {
    let base = sandbox.url();
    let tpp = super::register(http, &base).await?;
    let input = Arc::new(signing_input(sandbox)?);
    let (h, url, id, token) = (
        http.clone(),
        format!("{base}/sandbox/events"),
        tpp.id.clone(),
        tpp.token.clone(),
    );
    let counter = Arc::new(AtomicU64::new(0));
    let ingest = move || {
        let (h, url, id, token) = (h.clone(), url.clone(), id.clone(), token.clone());
        let n = counter.fetch_add(1, Ordering::Relaxed);
        async move {
            h.post(&url)
                .bearer_auth(&token)
                .json(&json!({"clientId": id, "eventType": "resource-update", "resourceId": format!("r{n}"), "resourceType": "account-access-consent"}))
                .send()
                .await
                .is_ok_and(|r| r.status() == 201)
        }
    };
    let slices = (secs * 2).max(2);
    let slice = Duration::from_millis(500);
    let (mut events, mut signs) = (0.0, 0.0);
    for _ in 0..slices {
        events += super::throughput_for(conns, slice, ingest.clone()).await;
        signs += signing_rate(sandbox, &input, slice).await;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limit = Limit {
        name: format!("PS256 signing on {cores} cores"),
        value: signs / slices as f64,
        unit: "signs/s".into(),
    };
    Ok(Figure::ratio(
        "ingest",
        "event ingest (HTTP trigger → signed SET stored durably → 201)",
        (events / slices as f64, "events/s"),
        limit,
        0.6,
    ))
}
