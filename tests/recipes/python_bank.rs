//! The example Python bank of `examples/bank/python/` (README "The example Python bank") under
//! the two commands that take its profile, `examples/bank/python/bank.toml`, with the base URL
//! of a bank started on a free port: `obevents bench --profile` (every triggered event polled by
//! TPP A and pushed to TPP B) and `obevents test --profile` (the conformance suite: every
//! scenario passed or not applicable, none failed or blocked, no finding) — once as the profile
//! stands, once with the bank given a TPP key (`--tpp-jwks`) and the profile declaring
//! `request_signatures = "required"` with that key in `[request_signing]`. Each command gets a
//! fresh bank, killed afterwards; every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::under_tpp::not_passed;
use super::{LIMIT, Recipe, python, root, runnable};

/// One `obevents` run against the bank: the bench's few seconds, or the whole suite.
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// The bank's process (killed on drop), its URL and where its log goes.
struct PyBank {
    child: Child,
    url: String,
    log: PathBuf,
}

impl PyBank {
    /// Starts `bank.py --port 0 ARGS` and reads the URL from its one line of output.
    async fn start(r: &Recipe, dir: &Path, args: &[&str]) -> PyBank {
        let log = dir.join("bank.log");
        let mut child = Command::new(r.program)
            .arg(root().join("examples/bank/python/bank.py"))
            .args(["--port", "0"])
            .args(args)
            .current_dir(root())
            .envs(r.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the bank's log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the example bank");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .expect("the bank did not say where it listens in time")
            .expect("read the bank's output")
            .unwrap_or_else(|| panic!("the bank exited: {}", tail(&log)));
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        PyBank { child, url, log }
    }

    /// Stops the bank with SIGTERM (its clean exit) within [`LIMIT`].
    async fn stop(mut self) {
        let pid = self.child.id().expect("the bank is running");
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .expect("the bank did not stop in time after SIGTERM")
            .expect("wait for the bank");
        assert!(status.success(), "{status}: {}", tail(&self.log));
    }

    /// A copy of `bank.toml` in `dir` pointing at this bank, then changed by `edit`.
    fn profile(&self, dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
        let text = std::fs::read_to_string(root().join("examples/bank/python/bank.toml"))
            .expect("read bank.toml");
        let default = "base_url = \"http://127.0.0.1:8090\"";
        assert!(text.contains(default), "bank.toml names no {default}");
        let path = dir.join("bank.toml");
        let text = edit(text.replace(default, &format!("base_url = \"{}\"", self.url)));
        std::fs::write(&path, text).expect("write the profile");
        path
    }
}

/// The last lines of the bank's log, for a failure message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Runs `obevents ARGS` within [`RUN_LIMIT`]: its exit code and stderr.
async fn obevents(args: &[&str]) -> (Option<i32>, String) {
    let out = tokio::time::timeout(
        RUN_LIMIT,
        Command::new(env!("CARGO_BIN_EXE_obevents"))
            .args(["--log", "warn"])
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("obevents {args:?} took over {RUN_LIMIT:?}"))
    .expect("run obevents");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("obevents-pybank-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a temporary directory");
    d
}

/// "N of M" in the detail of the figure `id` of `tpp`: (N, M).
fn seen(report: &Value, id: &str, tpp: &str) -> (u64, u64) {
    let figure = report["figures"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == id && f["measure"].as_str().is_some_and(|m| m.starts_with(tpp)))
        .unwrap_or_else(|| panic!("no figure {id} of {tpp} in {report:#}"));
    let detail = figure["detail"].as_str().unwrap_or_default();
    let words: Vec<&str> = detail.split_whitespace().collect();
    let of = words.iter().position(|w| *w == "of").expect("N of M");
    (
        words[of - 1].parse().expect("N"),
        words[of + 1].parse().expect("M"),
    )
}

/// `bench --profile`: 40 triggers in 1 s alternating A (polls) and B (pushed), each seen.
async fn bench(r: &Recipe) {
    let dir = temp_dir("bench");
    let bank = PyBank::start(r, &dir, &[]).await;
    let profile = bank.profile(&dir, |t| t);
    let json = dir.join("bench.json");
    let args = [
        "bench",
        "--profile",
        profile.to_str().unwrap(),
        "--rate",
        "40",
        "--duration",
        "1",
        "--json",
        json.to_str().unwrap(),
    ];
    let (code, stderr) = obevents(&args).await;
    assert_eq!(code, Some(0), "{stderr}\n{}", tail(&bank.log));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the --json report"))
            .expect("JSON");
    let polled = seen(&report, "trigger_to_poll", "TPP A");
    let pushed = seen(&report, "trigger_to_push", "TPP B");
    assert!(polled.1 >= 10 && polled.0 == polled.1, "polled {polled:?}");
    assert!(pushed.1 >= 10 && pushed.0 == pushed.1, "pushed {pushed:?}");
    bank.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes a TPP signing key into `dir`: `tpp.key` (PKCS#8 PEM) and `tpp.jwks.json` (its public
/// key, kid `tpp-signing`).
async fn tpp_key(r: &Recipe, dir: &Path) {
    const MAKE_KEY: &str = "import json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
open(sys.argv[1], 'wb').write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
jwk.update(kid='tpp-signing', use='sig', alg='PS256')
json.dump({'keys': [jwk]}, open(sys.argv[2], 'w'))";
    let out = tokio::time::timeout(
        LIMIT,
        Command::new(r.program)
            .args(["-c", MAKE_KEY])
            .arg(dir.join("tpp.key"))
            .arg(dir.join("tpp.jwks.json"))
            .envs(r.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output(),
    )
    .await
    .expect("the key was made in time")
    .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The profile with request signatures required and signed with `tpp.key`.
fn signing_required(text: String) -> String {
    let ignored = "request_signatures = \"ignored\"";
    assert!(text.contains(ignored), "bank.toml declares no {ignored}");
    text.replace(ignored, "request_signatures = \"required\"")
        + "\n[request_signing]\nprivate_key = \"tpp.key\"\nkey_id = \"tpp-signing\"\n\
           iss = \"0015800001041RETPP\"\ntan = \"openbanking.org.uk\"\n"
}

/// `test --profile`: the suite (with `signing`, against a bank that requires request
/// signatures); its summary.
async fn conformance(r: &Recipe, signing: bool) -> Value {
    let dir = temp_dir(if signing { "test-signed" } else { "test" });
    let bank = if signing {
        tpp_key(r, &dir).await;
        let jwks = dir.join("tpp.jwks.json");
        PyBank::start(r, &dir, &["--tpp-jwks", jwks.to_str().unwrap()]).await
    } else {
        PyBank::start(r, &dir, &[]).await
    };
    let profile = bank.profile(&dir, if signing { signing_required } else { |t| t });
    let reports = dir.join("reports");
    let args = [
        "test",
        "--profile",
        profile.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    let (code, stderr) = obevents(&args).await;
    let summary: Value = std::fs::read_to_string(reports.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("no summary; exit {code:?}\n{stderr}\n{}", tail(&bank.log)));
    assert_eq!(
        code,
        Some(0),
        "{}\nfindings: {}\n{}",
        not_passed(&summary),
        summary["findings"],
        tail(&bank.log)
    );
    bank.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    summary
}

/// Every scenario passed or not applicable, none failed or blocked, no finding, and the main
/// areas ran; `signed` scenarios of message signing passed.
fn clean(summary: &Value, signed: usize) {
    let scenarios = summary["scenarios"].as_array().expect("scenarios");
    for s in scenarios {
        let verdict = s["verdict"].as_str().unwrap_or_default();
        assert!(
            verdict == "passed" || verdict == "not-applicable",
            "{}\n{}",
            s["name"],
            not_passed(summary)
        );
    }
    assert_eq!(summary["failed"], 0, "{}", not_passed(summary));
    assert_eq!(summary["blocked"], 0, "{}", not_passed(summary));
    assert_eq!(summary["findings"], serde_json::json!([]), "findings");
    let passed = |area: &str| {
        scenarios
            .iter()
            .filter(|s| s["feature"].as_str().unwrap_or("").contains(area))
            .filter(|s| s["verdict"] == "passed")
            .count()
    };
    // Polling, long polls, subscriptions, SETs, isolation and push all ran.
    for area in [
        "polling",
        "long_polling",
        "subscriptions",
        "sets",
        "isolation",
        "realtime",
        "common",
    ] {
        assert!(passed(area) >= 3, "{area}: only {} passed", passed(area));
    }
    assert_eq!(passed("message_signing"), signed, "{}", not_passed(summary));
}

/// The bench and then the suite twice, one after the other in one runtime (see
/// `recipes_pyjwt_jwcrypto_and_jose`), each against a fresh bank.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_python_bank_under_bench_and_the_conformance_suite() {
    let mut r = python("pyjwt");
    r.name = "pyjwt (example bank)";
    // The bank signs with PyJWT's RSA-PSS, which needs `cryptography` (pyjwt[crypto]).
    r.probe = vec!["-c", "import cryptography, jwt.algorithms"];
    let Some(r) = runnable(r).await else {
        return;
    };
    bench(&r).await;
    // Unsigned: only the response signatures are judged.
    clean(&conformance(&r, false).await, 1);
    // Required and verified: the three request-signing scenarios too.
    clean(&conformance(&r, true).await, 4);
}
