//! `obevents bench`: measures the sandbox's hot paths, each against a limit measured in the
//! same run, interleaved with it (DESIGN.md §6): the same server's `/healthz` for polls, this
//! process's PS256 signing rate on every core for ingest, a plain POST loop for push, an
//! embedded SQLite sandbox's polls for PostgreSQL's. The sandbox runs in-process on
//! 127.0.0.1:0 with a temporary database file (WAL, as in normal use), or on the PostgreSQL
//! database `--db` names; the held-polls phase runs it as a child process. The load generator
//! shares the machine. With `--profile` (or `--rate` and `--duration` alone, for the embedded
//! sandbox) it benches any bank instead, open-loop (`profile`, `load`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod held;
mod limits;
mod load;
mod poll;
mod profile;
mod push;
pub mod report;

use crate::cli::{BenchArgs, BenchPhase};
use crate::model::EventType;
use crate::sandbox::dialects::obie::events::EventSpec;
use crate::sandbox::domain::ClientId;
use crate::sandbox::{Bank, Sandbox, SandboxConfig};
use report::Report;

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
/// Runs `make()` requests from `connections` workers for `span`; returns successful requests/s.
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

/// The bench sandboxes' config: `obie` with a long-poll hold no wake-up round comes near.
fn bench_config() -> SandboxConfig {
    let mut cfg = SandboxConfig::for_bank(Bank::Obie);
    cfg.long_poll_timeout = Duration::from_secs(30);
    // The ingest row stores more events for its one TPP than the default bound allows; the
    // count is still kept (and its cost measured), only never refused.
    cfg.limits.max_events = None;
    cfg
}

/// `obevents bench`; returns the exit code (2 with one line on stderr when it cannot run, 1
/// when a `--profile` run stopped on an error burst).
pub async fn run_cli(args: BenchArgs) -> u8 {
    match run(args).await {
        Ok(None) => 0,
        Ok(Some(why)) => {
            eprintln!("bench: {why}");
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// The highest `--rate` and longest `--duration` a bench of a bank may ask for: a day of load
/// at most, at a rate one process can schedule.
const MAX_RATE: f64 = 100_000.0;
const MAX_DURATION_SECS: u64 = 86_400;

/// `obevents bench`: the report is printed (and written with `--json`); returns why a
/// `--profile` run stopped early, if it did.
pub async fn run(args: BenchArgs) -> anyhow::Result<Option<String>> {
    let bench_bank = args.profile.is_some() || args.rate.is_some() || args.duration.is_some();
    anyhow::ensure!(
        (1..=3_600).contains(&args.seconds),
        "--seconds must be 1 to 3600"
    );
    anyhow::ensure!(
        (1..=10_000).contains(&args.connections),
        "--connections must be 1 to 10000"
    );
    anyhow::ensure!(
        args.held_polls <= 100_000 && args.wake_rounds <= 100_000,
        "--held-polls and --wake-rounds must be at most 100000"
    );
    poll::store_sizes(&args.store_sizes)?;
    if let Some(path) = &args.json {
        crate::harness::command::output_dir("--json", path).map_err(anyhow::Error::msg)?;
    }
    let bounds = match (args.rate, args.duration) {
        (Some(rate), Some(secs))
            if rate.is_finite()
                && rate > 0.0
                && rate <= MAX_RATE
                && (1..=MAX_DURATION_SECS).contains(&secs) =>
        {
            Some(profile::Bounds {
                rate,
                duration: Duration::from_secs(secs),
                connections: args.connections,
            })
        }
        _ if bench_bank => anyhow::bail!(
            "bench --profile needs --rate (above 0, at most {MAX_RATE} per second) and --duration (1 to {MAX_DURATION_SECS} seconds): the load on a bank must be bounded"
        ),
        _ => None,
    };
    let dir = std::env::temp_dir().join(format!("obevents-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let result = match bounds {
        Some(b) => bench_bank_run(&args, &dir, b).await,
        None => measure(&args, &dir).await.map(|r| (r, None)),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let (report, stopped) = result?;
    if args.markdown {
        print!("{}", report::markdown(&report.figures));
    } else {
        println!("{}", report::table(&report.figures));
    }
    eprintln!(
        "bench: load average {} before, {} after",
        report.load_before, report.load_after
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(stopped)
}

/// `--profile`: the bank the profile describes, or an embedded sandbox through its built-in
/// profile when none is given.
async fn bench_bank_run(
    args: &BenchArgs,
    dir: &std::path::Path,
    bounds: profile::Bounds,
) -> anyhow::Result<(Report, Option<String>)> {
    let load_before = report::load_average();
    let (path, embedded) = match &args.profile {
        Some(p) => (p.clone(), None),
        None => {
            let db = dir.join("profile.db").display().to_string();
            let cfg = bench_config();
            let declaration = crate::sandbox::embedded::declaration(&cfg);
            let sandbox = Sandbox::start(cfg, &db, "127.0.0.1:0".parse()?).await?;
            let toml = crate::harness::profile::sandbox_profile_toml(&sandbox.url(), &declaration);
            let path = dir.join("sandbox-profile.toml");
            std::fs::write(&path, toml)?;
            (path, Some(sandbox))
        }
    };
    let outcome = profile::run(&path, bounds).await;
    if let Some(s) = embedded {
        s.stop().await;
    }
    let (figures, stopped) = outcome?;
    Ok((
        Report {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            engine: args
                .profile
                .as_ref()
                .map_or("embedded sandbox".into(), |p| {
                    format!("profile {}", p.display())
                }),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_before,
            load_after: report::load_average(),
            figures,
        },
        stopped,
    ))
}

/// The PostgreSQL sandbox's polls against the same polls on an embedded SQLite sandbox, in
/// alternating half-second slices.
async fn versus_sqlite(
    http: &reqwest::Client,
    dir: &std::path::Path,
    conns: usize,
    secs: u64,
    empty_poll: impl poll::Poller,
    ten_poll: impl poll::Poller,
) -> anyhow::Result<Vec<report::Figure>> {
    let lite_db = dir.join("compare.db").display().to_string();
    let lite = Sandbox::start(bench_config(), &lite_db, "127.0.0.1:0".parse()?).await?;
    let sq = poll::empty_poller(http, &lite).await?;
    let what = "empty short poll";
    let a = poll::versus_sqlite("pg_empty_poll", what, conns, secs, empty_poll, sq).await;
    let sq = poll::ten_poller(http, &lite).await?;
    let what = "10-SET poll";
    let b = poll::versus_sqlite("pg_ten_set_poll", what, conns, secs, ten_poll, sq).await;
    lite.stop().await;
    Ok(vec![a, b])
}

/// Every phase `--phases` names, in turn; each measure is interleaved with its own limit.
async fn measure(args: &BenchArgs, dir: &std::path::Path) -> anyhow::Result<Report> {
    let load_before = report::load_average();
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
    let engine = sandbox.state.store.engine().to_string();
    eprintln!(
        "bench: sandbox at {}, {engine} db {}, {conns} connections, {secs} s per phase",
        sandbox.url(),
        crate::sandbox::store::redacted(&db)
    );
    let postgres = crate::sandbox::store::is_postgres_url(&db);
    let on = |p: BenchPhase| args.phases.contains(&p);
    let mut figures = Vec::new();
    if on(BenchPhase::Polls) {
        let (polls, empty_poll, ten_poll) = poll::figures(&http, &sandbox, conns, secs).await?;
        figures.extend(polls);
        if postgres {
            figures.push(poll::cross_replica(&http, &sandbox, &db, bench_config()).await?);
            figures.extend(versus_sqlite(&http, dir, conns, secs, empty_poll, ten_poll).await?);
        }
    }
    if on(BenchPhase::Ingest) {
        figures.push(limits::ingest_figure(&http, &sandbox, conns, secs).await?);
    }
    if on(BenchPhase::Latency) {
        let sizes = poll::store_sizes(&args.store_sizes)?;
        figures.extend(poll::latency_figure(&http, &sandbox, &sizes).await?);
    }
    sandbox.stop().await;
    if on(BenchPhase::Push) {
        figures.extend(push::figures(&http, dir).await?);
    }
    if on(BenchPhase::Held) && args.held_polls > 0 {
        figures.extend(held::figures(&http, dir, args.held_polls, args.wake_rounds).await?);
    }
    Ok(Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        engine,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_before,
        load_after: report::load_average(),
        figures,
    })
}
