//! Integration tests of the TPP side (`obevents test --tpp`, `obevents tpp receive`): the
//! referee bank judges the reference TPP —
//!
//! - clean, it passes every TPP scenario — push, Yapily-style and Tatra-style receivers (none
//!   blocked, none not applicable);
//! - with each TPP fault switched on, a scenario tagged with a rule the fault breaks fails,
//!   and no scenario fails under any other rule (the detection table and `faults detected:
//!   N/N` are printed);
//! - from the command line, with the reference TPP started by the profile's `[start] command`
//!   and observed through a file: exit 0, reports written, the TPP's process group ended; bad
//!   profiles and a TPP that cannot start exit 2 with one line.
// Tests assert with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use futures::StreamExt;
use obevents::harness::main_job::tpp;
use obevents::harness::runner::{Progress, RunOutcome, Verdict};
use obevents::tpp::TppFault;

/// How many TPP scenarios the embedded suite has.
fn tpp_scenarios() -> usize {
    obevents::harness::features::embedded_tpp()
        .unwrap()
        .iter()
        .map(|f| f.scenarios.len())
        .sum()
}

/// How many scenarios of the embedded TPP feature file `file` there are.
fn scenarios_of(file: &str) -> usize {
    obevents::harness::features::embedded_tpp()
        .unwrap()
        .iter()
        .filter(|f| f.path.as_ref().is_some_and(|p| p.ends_with(file)))
        .map(|f| f.scenarios.len())
        .sum()
}

/// How many push-receiver scenarios (`@tpp-push`) the embedded suite has.
fn push_scenarios() -> usize {
    scenarios_of("tpp_push.feature")
}

/// How many polling-client scenarios (`@tpp-polling`) the embedded suite has.
fn polling_scenarios() -> usize {
    scenarios_of("tpp_polling.feature")
}

/// The security header the tests' reference TPPs configure for Tatra-style webhooks.
const TATRA_AUTH: &str = "Basic b2JldmVudHM6dGVzdA==";
/// The reference TPP's polling flags (its polling client beside its receiver).
const POLL_FLAGS: &str = r#""--events-url", "{events_url}", "--token-url", "{token_url}",
    "--client-id", "{client_id}", "--client-secret", "{client_secret}", "--pace-ms", "400""#;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_obevents")
}

fn describe(o: &RunOutcome) -> String {
    o.scenarios
        .iter()
        .filter(|s| !matches!(s.verdict, Verdict::Passed))
        .map(|s| {
            format!(
                "{} [{}] {:?}: {}",
                s.name,
                s.verdict.label(),
                s.failed_rules,
                s.reason.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_tpp_fault_is_caught_under_the_rule_it_breaks_and_no_other() {
    let clean = tpp::run(Vec::new(), Progress::Quiet).await.unwrap();
    assert_eq!(
        (clean.exit_code(), clean.count(Verdict::Passed)),
        (0, clean.scenarios.len()),
        "the reference TPP must pass every TPP scenario:\n{}",
        describe(&clean)
    );
    assert_eq!(clean.scenarios.len(), tpp_scenarios());

    let mut results: Vec<(TppFault, RunOutcome)> =
        futures::stream::iter(TppFault::ALL.iter().copied())
            .map(|f| async move { (f, tpp::run(vec![f], Progress::Quiet).await.unwrap()) })
            .buffer_unordered(4)
            .collect()
            .await;
    results.sort_by_key(|(f, _)| *f);
    let mut table = String::from("TPP fault                   | breaks            | caught by\n");
    let (mut detected, mut problems) = (0, Vec::new());
    for (fault, o) in &results {
        let own = |r: &String| fault.rules().contains(&r.as_str());
        let catching: Vec<String> = o
            .failed()
            .filter(|s| s.failed_rules.iter().any(own))
            .map(|s| {
                let stem = Path::new(&s.path).file_stem().unwrap_or_default();
                format!("{}:{}", stem.to_string_lossy(), s.line)
            })
            .collect();
        let unrelated: Vec<String> = o
            .failed()
            .filter(|s| !s.failed_rules.iter().all(own))
            .map(|s| format!("{} {:?}", s.name, s.failed_rules))
            .collect();
        if catching.is_empty() || !unrelated.is_empty() || o.exit_code() != 1 {
            problems.push(format!(
                "{fault}: caught by {catching:?}, unrelated failures {unrelated:?}\n{}",
                describe(o)
            ));
        } else {
            detected += 1;
        }
        table.push_str(&format!(
            "{:<27} | {:<17} | {}\n",
            fault.name(),
            fault.rules().join(","),
            if catching.is_empty() {
                "NOT CAUGHT".to_string()
            } else {
                catching.join(" ")
            }
        ));
    }
    println!("{table}");
    println!("faults detected: {detected}/{}", results.len());
    for p in &problems {
        println!("{p}\n");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(results.len() >= 8);
}

/// Without `[observe]` the scenarios that judge what the TPP processed do not apply, and say
/// what they need; the rest still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_observation_the_processing_scenarios_are_not_applicable() {
    let mut profile = tpp::reference_profile();
    profile.observe = None;
    let mut opts = obevents::harness::runner::TppRunOptions::quiet(profile);
    opts.in_process = Some(tpp::in_process(Vec::new()));
    let o = obevents::harness::runner::run_tpp(opts, None)
        .await
        .unwrap();
    let na: Vec<_> = o.with(Verdict::NotApplicable).collect();
    assert_eq!(na.len(), 2, "{}", describe(&o));
    for s in na {
        let reason = s.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("[observe]"), "{}: {reason}", s.name);
    }
    assert_eq!(o.exit_code(), 0, "{}", describe(&o));
}

fn write_profile(dir: &Path, start: &str) -> std::path::PathBuf {
    let p = dir.join("tpp.toml");
    std::fs::write(
        &p,
        format!(
            r#"name = "reference TPP from the command line"

[start]
command = {start}
ready_timeout_ms = 10000

[push]
url = "http://127.0.0.1:{{port}}/event-notifications"
answer_within_ms = 2000

[yapily]
url = "http://127.0.0.1:{{port}}/webhooks/yapily"

[tatra]
url = "http://127.0.0.1:{{port}}/webhooks/tatra"
authorization = "{TATRA_AUTH}"

[polling]
err_codes = "rfc8935"
min_empty_wait_ms = 300
session_timeout_ms = 15000

[observe]
kind = "file"
path = "{{run_dir}}/processed.txt"
"#
        ),
    )
    .unwrap();
    p
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("obevents-tpp-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A `[start] command` running the reference TPP with `extra` arguments.
fn reference_command(extra: &str) -> String {
    format!(
        r#"["{}", "tpp", "receive", "--addr", "127.0.0.1:{{port}}", "--jwks-url", "{{jwks_url}}",
           "--issuer", "{{issuer}}", "--audience", "{{audience}}",
           "--tatra-authorization", "{TATRA_AUTH}", {extra}]"#,
        bin()
    )
}

#[test]
fn the_command_line_referees_a_tpp_it_starts_and_stops_it() {
    let dir = tempdir("cli");
    let start = reference_command(&format!(
        r#""--processed", "{{run_dir}}/processed.txt", {POLL_FLAGS}"#
    ));
    let profile = write_profile(&dir, &start);
    let reports = dir.join("reports");
    let out = Command::new(bin())
        .args(["test", "--tpp"])
        .arg(&profile)
        .arg("--report-dir")
        .arg(&reports)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("0 failed, 0 blocked, 0 not applicable"),
        "{stdout}"
    );
    for f in [
        "report.html",
        "junit.xml",
        "summary.json",
        "cucumber.json",
        "tpp.log",
    ] {
        assert!(reports.join(f).exists(), "{f} missing");
    }
    // The TPP's log names its port; nothing listens there any more.
    let log = std::fs::read_to_string(reports.join("tpp.log")).unwrap();
    let addr = log
        .lines()
        .find_map(|l| l.strip_prefix("listening on http://"))
        .and_then(|l| l.split('/').next())
        .expect("the TPP printed its address")
        .to_string();
    assert!(port_closes(&addr), "the TPP at {addr} outlived the run");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A polling-only profile: `obevents tpp poll` started by the profile's `[start] command` passes
/// every polling scenario — short-polling and long-polling — and the push scenarios are not
/// applicable.
#[test]
fn a_polling_only_profile_referees_the_reference_poller() {
    let dir = tempdir("poll");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles/tpp-poller.toml");
    let text = std::fs::read_to_string(fixture).unwrap().replacen(
        "\"obevents\"",
        &format!("{:?}", bin()),
        1,
    );
    let long = text
        .replacen("\"--pace-ms\"", "\"--long-poll\", \"--pace-ms\"", 1)
        .replacen(
            "min_empty_wait_ms = 500",
            "min_empty_wait_ms = 0\nlong_poll = true",
            1,
        );
    for (name, text) in [("short", text), ("long", long)] {
        let profile = dir.join(format!("{name}.toml"));
        std::fs::write(&profile, text).unwrap();
        let out = Command::new(bin())
            .args(["test", "--tpp"])
            .arg(&profile)
            .arg("--report-dir")
            .arg(dir.join(name))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {stdout}");
        let polling = polling_scenarios();
        assert!(
            stdout.contains(&format!(
                "{polling} passed, 0 failed, 0 blocked, {} not applicable",
                tpp_scenarios() - polling
            )),
            "{name}: {stdout}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The receiver over HTTPS asking for the bank's client certificate: the profile's `ca_cert`
/// and `client_cert`/`client_key` reach it; without the client certificate the preflight
/// stops the run (exit 2) naming the handshake.
#[test]
fn a_receiver_over_https_with_mutual_tls_is_reached_with_the_profiles_certificates() {
    let dir = tempdir("tls");
    let pki = dir.join("pki");
    let made = Command::new(bin())
        .args(["certs", "--client", "referee", "--out"])
        .arg(&pki)
        .output()
        .unwrap();
    assert!(made.status.success());
    let pem = |f: &str| pki.join(f).display().to_string();
    let start = reference_command(&format!(
        r#""--tls-cert", "{}", "--tls-key", "{}", "--client-ca", "{}""#,
        pem("server.pem"),
        pem("server-key.pem"),
        pem("ca.pem")
    ));
    let profile = |client: bool| {
        let p = dir.join(format!("tls-{client}.toml"));
        let cert = if client {
            format!(
                "client_cert = \"{}\"\nclient_key = \"{}\"\n",
                pem("client-referee.pem"),
                pem("client-referee-key.pem")
            )
        } else {
            String::new()
        };
        std::fs::write(
            &p,
            format!(
                "[start]\ncommand = {start}\n\n[push]\nurl = \"https://127.0.0.1:{{port}}/event-notifications\"\nca_cert = \"{}\"\n{cert}",
                pem("ca.pem")
            ),
        )
        .unwrap();
        p
    };
    let run = |p: std::path::PathBuf| {
        Command::new(bin())
            .args(["test", "--tags", "@tpp-push", "--tpp"])
            .arg(p)
            .arg("--report-dir")
            .arg(dir.join("reports"))
            .output()
            .unwrap()
    };
    let out = run(profile(true));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{} passed, 0 failed, 0 blocked",
            push_scenarios() - 2
        )),
        "{stdout}"
    );
    let out = run(profile(false));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("accepts connections but no request"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Whether nothing accepts connections at `addr` any more, within 3 s (a process that was just
/// killed may take a moment to go; one that outlived its run keeps the port open).
fn port_closes(addr: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_err() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TPP that is already running, configured beforehand: the profile fixes the referee's
/// address, issuer and the TPP's client id, so the TPP's JWKS URL, issuer and audience are
/// known before the run.
#[test]
fn a_tpp_already_running_is_refereed_with_a_fixed_referee() {
    let dir = tempdir("outside");
    let (referee, tpp_port) = (free_port(), free_port());
    let processed = dir.join("processed.txt");
    let mut tpp = Command::new(bin())
        .args(["tpp", "receive", "--addr", &format!("127.0.0.1:{tpp_port}")])
        .args(["--jwks-url", &format!("http://127.0.0.1:{referee}/jwks")])
        .args([
            "--issuer",
            "https://referee.obevents.test",
            "--audience",
            "my-tpp",
        ])
        .arg("--processed")
        .arg(&processed)
        .args(["--tatra-authorization", TATRA_AUTH])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let profile = dir.join("outside.toml");
    std::fs::write(
        &profile,
        format!(
            r#"[referee]
addr = "127.0.0.1:{referee}"
issuer = "https://referee.obevents.test"
client_id = "my-tpp"

[push]
url = "http://127.0.0.1:{tpp_port}/event-notifications"

[yapily]
url = "http://127.0.0.1:{tpp_port}/webhooks/yapily"

[tatra]
url = "http://127.0.0.1:{tpp_port}/webhooks/tatra"
authorization = "{TATRA_AUTH}"

[observe]
kind = "file"
path = "processed.txt"
"#
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["test", "--tags", "@tpp-push", "--tpp"])
        .arg(&profile)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    tpp.kill().unwrap();
    tpp.wait().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("{} passed, 0 failed", push_scenarios())),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ctrl-C (SIGINT) during a run ends the TPP's process group and the run, with exit code 2.
#[test]
fn an_interrupted_run_leaves_no_tpp_behind() {
    let dir = tempdir("interrupt");
    // A slow TPP keeps the run going long enough to interrupt it.
    let start = reference_command(r#""--fault", "slow-answer""#);
    let profile = write_profile(&dir, &start);
    let reports = dir.join("reports");
    let mut child = Command::new(bin())
        .args(["test", "--tpp"])
        .arg(&profile)
        .arg("--report-dir")
        .arg(&reports)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) for the TPP to be up: its log names its address.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let addr = loop {
        let log = std::fs::read_to_string(reports.join("tpp.log")).unwrap_or_default();
        if let Some(a) = log
            .lines()
            .find_map(|l| l.strip_prefix("listening on http://"))
            .and_then(|l| l.split('/').next())
        {
            break a.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the TPP never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        port_closes(&addr),
        "the TPP at {addr} outlived the interrupted run"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_tpp_profiles_and_a_tpp_that_cannot_start_exit_2() {
    let dir = tempdir("bad");
    let run = |profile: &Path| {
        Command::new(bin())
            .args(["test", "--tpp"])
            .arg(profile)
            .arg("--report-dir")
            .arg(dir.join("reports"))
            .output()
            .unwrap()
    };
    let typo = dir.join("typo.toml");
    std::fs::write(
        &typo,
        "[push]\nurl = \"http://127.0.0.1:1/x\"\nanswer_within = 5\n",
    )
    .unwrap();
    let out = run(&typo);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("answer_within"), "{err}");

    let dead = write_profile(&dir, r#"["true"]"#);
    let out = run(&dead);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("ended"),
        "{err}"
    );

    let out = Command::new(bin())
        .args(["tpp", "receive", "--list-faults"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for f in TppFault::ALL {
        assert!(listing.contains(f.name()), "{listing}");
    }
    let out = Command::new(bin())
        .args([
            "tpp",
            "receive",
            "--fault",
            "no-such-fault",
            "--jwks-url",
            "x",
            "--issuer",
            "i",
            "--audience",
            "a",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A Tatra-style receiver without a security header: the calls carry no `Authorization`, the
/// two kinds are accepted, and the scenarios about a missing or wrong header are not
/// applicable, naming `[tatra] authorization`; a Tatra-only profile needs no `[push]`.
#[test]
fn a_tatra_receiver_without_a_security_header_is_judged_on_what_applies() {
    let dir = tempdir("tatra-open");
    let profile = dir.join("tatra.toml");
    std::fs::write(
        &profile,
        format!(
            r#"[start]
command = ["{}", "tpp", "receive", "--addr", "127.0.0.1:{{port}}", "--jwks-url", "{{jwks_url}}",
           "--issuer", "{{issuer}}", "--audience", "{{audience}}"]

[tatra]
url = "http://127.0.0.1:{{port}}/webhooks/tatra"
"#,
            bin()
        ),
    )
    .unwrap();
    let reports = dir.join("reports");
    let out = Command::new(bin())
        .args(["test", "--tpp"])
        .arg(&profile)
        .args(["--tags", "@tpp-tatra", "--report-dir"])
        .arg(&reports)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        (
            summary["passed"].as_u64(),
            summary["not_applicable"].as_u64()
        ),
        (Some(2), Some(2)),
        "{stdout}"
    );
    for s in summary["scenarios"].as_array().unwrap() {
        if s["verdict"] == "not-applicable" {
            let reason = s["reason"].as_str().unwrap_or_default();
            assert!(reason.contains("[tatra] authorization"), "{reason}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
