//! Long polls held by the thousand: the sandbox runs as a child process of its own (this same
//! binary, `obevents sandbox`), so its memory is read apart from the load generator's
//! (`VmRSS` of `/proc/PID/status`) and the two ends of 10,000 connections do not share one
//! process's file-descriptor limit. With the polls held, rounds of one more TPP's long poll are
//! woken by an event raised over HTTP: the wake-up time with that many polls waiting.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::report::Figure;
use super::{Client, percentile, register};

const ADMIN: (&str, &str) = ("bench", "bench-admin-secret");

/// The child sandbox; killed when dropped.
struct Child {
    process: tokio::process::Child,
    base: String,
}

async fn start(dir: &std::path::Path) -> anyhow::Result<Child> {
    let config = dir.join("held.toml");
    std::fs::write(
        &config,
        format!(
            "long_poll_timeout_ms = 120000\n[admin]\nusername = \"{}\"\npassword = \"{}\"\n",
            ADMIN.0, ADMIN.1
        ),
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let process = tokio::process::Command::new(std::env::current_exe()?)
        .args(["--log", "warn", "sandbox", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(dir.join("held.db"))
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let child = Child { process, base };
    let deadline = Instant::now() + Duration::from_secs(30);
    let http = reqwest::Client::new();
    loop {
        let up = http.get(format!("{}/healthz", child.base)).send().await;
        if up.is_ok_and(|r| r.status() == 200) {
            return Ok(child);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the child sandbox did not answer /healthz within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Child {
    /// Resident memory of the child, in KiB.
    fn rss_kib(&self) -> anyhow::Result<f64> {
        let pid = self
            .process
            .id()
            .ok_or_else(|| anyhow::anyhow!("the child sandbox exited"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no VmRSS for the child sandbox"))
    }

    /// The `long_polls_held` gauge of the child's `/metrics`.
    async fn held(&self, http: &reqwest::Client) -> anyhow::Result<u64> {
        let text = http
            .get(format!("{}/metrics", self.base))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|n| n.ends_with("long_polls_held"))
            })
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64)
    }
}

/// Opens `n` long polls of `tpp` as raw HTTP/1.1 requests and keeps their connections.
async fn hold(base: &str, tpp: &Client, n: usize) -> anyhow::Result<Vec<TcpStream>> {
    let addr = base.trim_start_matches("http://").to_string();
    let body = r#"{"returnImmediately":false,"maxEvents":10}"#;
    let request = format!(
        "POST /open-banking/v3.1/events HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\naccept: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        tpp.token,
        body.len()
    );
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(&addr).await?;
        s.write_all(request.as_bytes()).await?;
        streams.push(s);
    }
    Ok(streams)
}

/// How many of `streams` were answered (a held poll is not).
fn answered(streams: &[TcpStream]) -> usize {
    let mut buf = [0u8; 64];
    streams
        .iter()
        .filter(|s| !matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock))
        .count()
}

/// Waits until the child holds `n` polls (bounded), returning how many it holds.
async fn settle(child: &Child, http: &reqwest::Client, n: u64) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = child.held(http).await?;
        if held >= n || Instant::now() >= deadline {
            return Ok(held);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rounds of: hold `waiter`'s long poll, raise one event for it with the HTTP trigger, time
/// from sending the trigger to the poll's answer, and to the trigger's own answer; acknowledge.
/// Both sorted, in ms.
async fn wake_rounds(
    http: &reqwest::Client,
    base: &str,
    waiter: &Client,
    rounds: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let url = format!("{base}/open-banking/v3.1/events");
    let (mut wake, mut trigger) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let (h, u, token) = (http.clone(), url.clone(), waiter.token.clone());
        let poll = tokio::spawn(async move {
            let r = h
                .post(&u)
                .bearer_auth(&token)
                .json(&json!({"returnImmediately": false}))
                .send()
                .await;
            let at = Instant::now();
            let body = match r {
                Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            (at, body)
        });
        tokio::time::sleep(Duration::from_millis(15)).await;
        let raised = Instant::now();
        let r = http
            .post(format!("{base}/sandbox/events"))
            .bearer_auth(&waiter.token)
            .json(&json!({"clientId": waiter.id, "eventType": "resource-update", "resourceId": format!("wake-{i}"), "resourceType": "account-access-consent"}))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "the trigger answered {}", r.status());
        trigger.push(raised.elapsed().as_secs_f64() * 1000.0);
        let (at, body) = tokio::time::timeout(Duration::from_secs(10), poll).await??;
        let sets = body["sets"].as_object().cloned().unwrap_or_default();
        anyhow::ensure!(
            !sets.is_empty(),
            "the held poll was answered without the event"
        );
        wake.push(at.saturating_duration_since(raised).as_secs_f64() * 1000.0);
        let ack: Vec<&String> = sets.keys().collect();
        http.post(&url)
            .bearer_auth(&waiter.token)
            .json(&json!({"returnImmediately": true, "maxEvents": 0, "ack": ack}))
            .send()
            .await?;
    }
    wake.sort_by(f64::total_cmp);
    trigger.sort_by(f64::total_cmp);
    Ok((wake, trigger))
}

/// The wake-up and memory figures with `n` long polls held.
pub async fn figures(
    http: &reqwest::Client,
    dir: &std::path::Path,
    n: usize,
    rounds: usize,
) -> anyhow::Result<Vec<Figure>> {
    let child = start(dir).await?;
    let holder = register(http, &child.base).await?;
    let waiter = register(http, &child.base).await?;
    // Warm the child's paths (tokens, statements) before its memory is read.
    wake_rounds(http, &child.base, &waiter, 5).await?;
    let before = child.rss_kib()?;
    let streams = hold(&child.base, &holder, n).await?;
    let held = settle(&child, http, n as u64).await?;
    let after = child.rss_kib()?;
    let early = answered(&streams);
    anyhow::ensure!(
        early == 0 && held >= n as u64,
        "of {n} long polls, {held} are held and {early} were answered"
    );
    let (wake, trigger) = wake_rounds(http, &child.base, &waiter, rounds).await?;
    drop(streams);
    drop(child);
    let per_poll = (after - before).max(0.0) / n as f64;
    let p99 = percentile(&wake, 0.99);
    Ok(vec![
        Figure::plain(
            "long_poll_wake",
            "long-poll wake-up p99 with the polls held (HTTP trigger sent → held poll answered)",
            (p99, "ms"),
            "p99 < 5 ms",
            Some(p99 < 5.0),
        )
        .detail(format!(
            "{n} held; p50 {:.2} ms, {} rounds; the trigger's own answer p50 {:.2} ms, p99 {:.2} ms",
            percentile(&wake, 0.5),
            wake.len(),
            percentile(&trigger, 0.5),
            percentile(&trigger, 0.99)
        )),
        Figure::plain(
            "held_poll_memory",
            "memory per held long poll (the sandbox's RSS growth / polls held)",
            (per_poll, "KiB"),
            "<= 25 KiB",
            Some(per_poll <= 25.0),
        )
        .detail(format!("{n} held; RSS {before:.0} → {after:.0} KiB")),
    ])
}
