//! `obevents bench --profile`: against the embedded sandbox through its built-in profile (with
//! push, through the harness receiver), against the independent OBIE bank of `obie_bank`, and
//! its refusal without bounds; and `bench --phases held`. The example Python bank of
//! `examples/bank/python/` is benched through its profile by the `recipes` test binary
//! (`tests/recipes/python_bank.rs`), which has its interpreter and libraries. Short durations;
//! only counts and shapes are asserted, never a time.

use std::time::Duration;

use serde_json::Value;

use super::{obevents, obie_bank, temp_dir};
use obevents::harness::profile::sandbox_profile_toml;
use obevents::sandbox::embedded::declaration;
use obevents::sandbox::{Bank, Sandbox, SandboxConfig};

/// Runs `bench` with `args` (bounded); returns its exit code, stderr and the `--json` report.
async fn bench(args: &[&str], json: &std::path::Path) -> (i32, String, Value) {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_obevents"))
            .args(["--log", "warn", "bench"])
            .args(args)
            .arg("--json")
            .arg(json)
            .output(),
    )
    .await
    .expect("bench finished within 120 s")
    .expect("bench ran");
    let report = std::fs::read_to_string(json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
    )
}

/// The figure with `id` and measure starting with `tpp`'s prefix.
fn figure<'a>(report: &'a Value, id: &str, tpp: &str) -> &'a Value {
    report["figures"]
        .as_array()
        .and_then(|f| {
            f.iter().find(|x| {
                x["id"] == id && x["measure"].as_str().is_some_and(|m| m.starts_with(tpp))
            })
        })
        .unwrap_or_else(|| panic!("no figure {id} of {tpp} in {report:#}"))
}

/// "N of M events …" of a latency figure's detail: (N, M).
fn seen_of(f: &Value) -> (u64, u64) {
    let detail = f["detail"].as_str().unwrap_or_default();
    let words: Vec<&str> = detail.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "of").expect("N of M");
    (
        words[at - 1].parse().expect("N"),
        words[at + 1].parse().expect("M"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_profile_runs_against_the_embedded_sandbox_with_polls_and_pushes() {
    let dir = temp_dir("bench-profile");
    let cfg = SandboxConfig::for_bank(Bank::Obie);
    let decl = declaration(&cfg);
    let db = dir.join("s.db").display().to_string();
    let sandbox = Sandbox::start(cfg, &db, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let profile = dir.join("sandbox.toml");
    std::fs::write(&profile, sandbox_profile_toml(&sandbox.url(), &decl)).unwrap();
    let args = [
        "--profile",
        profile.to_str().unwrap(),
        "--rate",
        "40",
        "--duration",
        "1",
    ];
    let (code, stderr, report) = bench(&args, &dir.join("r.json")).await;
    sandbox.stop().await;
    assert_eq!(code, 0, "{stderr}");
    let polled = seen_of(figure(&report, "trigger_to_poll", "TPP A"));
    let pushed = seen_of(figure(&report, "trigger_to_push", "TPP B"));
    // 40 triggers in 1 s, alternating A and B; each one polled or pushed.
    assert!(polled.1 >= 10 && polled.0 == polled.1, "{polled:?}");
    assert!(pushed.1 >= 10 && pushed.0 == pushed.1, "{pushed:?}");
    assert!(figure(&report, "poll_rate", "TPP A")["value"].as_f64() > Some(0.0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_profile_runs_against_an_independent_bank() {
    let dir = temp_dir("bench-independent");
    let url = obie_bank::start(None).await;
    let profile = dir.join("bank.toml");
    std::fs::write(&profile, obie_bank::profile_text(&url)).unwrap();
    let args = [
        "--profile",
        profile.to_str().unwrap(),
        "--rate",
        "40",
        "--duration",
        "1",
    ];
    let (code, stderr, report) = bench(&args, &dir.join("r.json")).await;
    assert_eq!(code, 0, "{stderr}");
    // The bank does not push: both TPPs poll, and every triggered event is polled.
    for tpp in ["TPP A", "TPP B"] {
        let (seen, wanted) = seen_of(figure(&report, "trigger_to_poll", tpp));
        assert!(wanted >= 10 && seen == wanted, "{tpp}: {seen} of {wanted}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_profile_refuses_to_run_without_rate_and_duration() {
    for args in [
        vec!["bench", "--profile", "bank.toml"],
        vec!["bench", "--profile", "bank.toml", "--rate", "10"],
        vec!["bench", "--duration", "5"],
    ] {
        let out = obevents().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--rate") && stderr.contains("--duration"),
            "{stderr}"
        );
    }
}

/// `bench --phases held`: the held-poll phase alone (its child sandbox holding a few polls),
/// its two figures, with the trigger's own answer time beside the wake-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_held_phase_alone_gives_wake_up_and_memory() {
    let dir = temp_dir("bench-held");
    let json = dir.join("held.json");
    let args = [
        "--phases",
        "held",
        "--held-polls",
        "20",
        "--wake-rounds",
        "3",
    ];
    let (code, stderr, report) = bench(&args, &json).await;
    assert_eq!(code, 0, "{stderr}");
    let figures = report["figures"].as_array().expect("figures");
    let ids: Vec<&str> = figures.iter().filter_map(|f| f["id"].as_str()).collect();
    assert_eq!(ids, ["long_poll_wake", "held_poll_memory"], "{report:#}");
    let detail = figures[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("20 held;"), "{detail}");
    assert!(detail.contains("the trigger's own answer"), "{detail}");
    let _ = std::fs::remove_dir_all(&dir);
}
