//! The recipes refereed as TPPs (`obevents test --tpp`): each recipe's receiver is started by
//! the profile under `examples/tpp/profiles/` written from the README — the Python and Node push
//! receivers, the Yapily-style and the Tatra-style receiver — and must pass every scenario that
//! applies to it: none failed, none blocked; only the scenarios that need what the profile does
//! not declare (an `[observe]` source, another receiver) are not applicable.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{Recipe, node, python, root, runnable};

/// A whole TPP run: the referee, the recipe's start, every scenario.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Runs `obevents test --tpp PROFILE` from `cwd` with the recipe's environment; its summary.
async fn referee(r: &Recipe, profile: &str, cwd: &Path) -> Value {
    let profile = root().join("examples/tpp/profiles").join(profile);
    let reports = std::env::temp_dir().join(format!(
        "obevents-recipe-tpp-{}-{}",
        profile.file_stem().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&reports);
    let out = tokio::time::timeout(
        RUN_LIMIT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_obevents"))
            .args(["test", "--tpp"])
            .arg(&profile)
            .arg("--report-dir")
            .arg(&reports)
            .current_dir(cwd)
            .envs(r.env.iter().map(|(k, v)| (*k, v.as_str())))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{}: the TPP run took over {RUN_LIMIT:?}", profile.display()))
    .expect("run obevents");
    let summary = std::fs::read_to_string(reports.join("summary.json")).unwrap_or_else(|e| {
        panic!(
            "{}: no summary ({e}); exit {:?}\n{}\n{}",
            profile.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let summary: Value = serde_json::from_str(&summary).unwrap();
    let _ = std::fs::remove_dir_all(&reports);
    assert_eq!(out.status.code(), Some(0), "{}", not_passed(&summary));
    summary
}

/// The scenarios that did not pass, one line each.
pub(super) fn not_passed(summary: &Value) -> String {
    summary["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["verdict"] != "passed")
        .map(|s| format!("{} [{}]: {}", s["name"], s["verdict"], s["reason"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every scenario of `area` (a feature file stem) passed; the others are not applicable.
fn passes(summary: &Value, area: &str, at_least: usize) {
    let scenarios = summary["scenarios"].as_array().unwrap();
    let mine = |s: &&Value| s["feature"].as_str().unwrap_or("").contains(area);
    let passed = scenarios
        .iter()
        .filter(mine)
        .filter(|s| s["verdict"] == "passed")
        .count();
    assert!(
        passed >= at_least,
        "{area}: {passed} passed\n{}",
        not_passed(summary)
    );
    for s in scenarios {
        let verdict = s["verdict"].as_str().unwrap_or("");
        let ok = verdict == "passed" || verdict == "not-applicable";
        assert!(ok, "{}\n{}", s["name"], not_passed(summary));
    }
    assert_eq!(summary["failed"], 0, "{}", not_passed(summary));
    assert_eq!(summary["blocked"], 0, "{}", not_passed(summary));
}

/// The four recipes one after another (see `recipes_pyjwt_jwcrypto_and_jose`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipes_pass_every_applicable_tpp_scenario() {
    if let Some(r) = runnable(python("pyjwt")).await {
        let s = referee(&r, "python-push.toml", &root()).await;
        passes(&s, "tpp_push", 15);
        let s = referee(&r, "python-yapily.toml", &root()).await;
        passes(&s, "tpp_yapily", 7);
        let s = referee(&r, "python-tatra.toml", &root()).await;
        passes(&s, "tpp_tatra", 4);
    }
    if let Some(r) = runnable(node()).await {
        let cwd = r.dir.clone();
        let s = referee(&r, "js-push.toml", &cwd).await;
        passes(&s, "tpp_push", 15);
    }
}
