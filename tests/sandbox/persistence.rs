//! Durability across restarts on the same database file (in-process stop/start, and SIGKILL of
//! the real binary), and the `obevents sandbox` command line.

use std::process::Stdio;

use serde_json::json;
use tokio::process::Command;

use super::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_obevents");

/// What a first run leaves behind, to check after the restart.
struct Before {
    kid: String,
    client_id: String,
    client_secret: String,
    subscription_id: String,
    consent_id: String,
    consent: serde_json::Value,
    acked: String,
    awaiting: String,
}

/// Register, subscribe, revoke a consent (one SET), inject a second SET, ack the first.
async fn first_run(bank: &TestBank) -> Before {
    let tpp = bank.tpp().await;
    let subscription_id = tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let consent_id = tpp.authorised_consent().await;
    tpp.revoke(&consent_id).await.expect(204);
    let awaiting = bank.inject_update(&tpp.client_id, "pay-1").await;
    let polled = tpp.poll_now().await;
    assert_eq!(polled.sets.len(), 2);
    let acked = polled.sets[0].0.clone();
    assert_ne!(acked, awaiting);
    let r = tpp
        .poll_ok(json!({"returnImmediately": true, "maxEvents": 0, "ack": [acked]}))
        .await;
    assert!(r.sets.is_empty());
    let consent = tpp
        .get(&format!("/aisp/account-access-consents/{consent_id}"))
        .await;
    consent.expect(200);
    let consent = consent.json()["Data"].clone();
    Before {
        kid: bank.kid().await,
        client_id: tpp.client_id,
        client_secret: tpp.client_secret,
        subscription_id,
        consent_id,
        consent,
        acked,
        awaiting,
    }
}

/// After the restart: same key, client, subscription, consent state and SET states.
async fn check_after_restart(bank: &TestBank, before: &Before) {
    assert_eq!(bank.kid().await, before.kid, "the signing key changed");
    let token = bank
        .token(&before.client_id, &before.client_secret, None)
        .await;
    let tpp = Tpp {
        client_id: before.client_id.clone(),
        client_secret: before.client_secret.clone(),
        token,
        url: bank.url.clone(),
        http: bank.http.clone(),
    };
    let subs = tpp.subscriptions().await;
    assert_eq!(subs.len(), 1);
    assert_eq!(
        subs[0]["EventSubscriptionId"],
        before.subscription_id.as_str()
    );
    let consent = tpp
        .get(&format!(
            "/aisp/account-access-consents/{}",
            before.consent_id
        ))
        .await;
    consent.expect(200);
    assert_eq!(consent.json()["Data"], before.consent);
    // The acked SET stays acked; the awaiting one is still served and still verifies.
    let polled = tpp.poll_now().await;
    assert_eq!(polled.keys(), [before.awaiting.as_str()]);
    let set = open_set(polled.token(&before.awaiting), &bank.jwks().await);
    assert_eq!(set.claims["jti"], before.awaiting.as_str());
    let stored = bank.stored_events(&before.client_id).await;
    let acked = stored
        .iter()
        .find(|e| e["jti"] == before.acked.as_str())
        .expect("the acked SET is still stored");
    assert_eq!(acked["state"], "acknowledged");
    // New work goes on.
    let jti = bank.inject_update(&before.client_id, "pay-2").await;
    let polled = tpp
        .poll_ok(json!({"returnImmediately": true, "ack": [before.awaiting]}))
        .await;
    assert_eq!(polled.keys(), [jti.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_database_keeps_key_clients_subscriptions_and_sets() {
    let db = TempDb::new();
    let bank = TestBank::start_db(obie(), &db.path()).await;
    let before = first_run(&bank).await;
    bank.stop().await;
    let bank = TestBank::start_db(obie(), &db.path()).await;
    check_after_restart(&bank, &before).await;
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_binary_loses_no_accepted_event() {
    let db = TempDb::new();
    let (child, url) = spawn_sandbox(&db.path()).await;
    let before = first_run(&TestBank::at(&url)).await;
    sigkill(child).await;
    let (child, url) = spawn_sandbox(&db.path()).await;
    check_after_restart(&TestBank::at(&url), &before).await;
    sigkill(child).await;
}

// ---- command line -----------------------------------------------------------------------------

/// Runs the binary to completion (bounded), returning exit code, stdout and stderr.
pub async fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        LIMIT,
        Command::new(BIN)
            .args(args)
            .env("OBEVENTS_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("obevents did not exit")
    .expect("run obevents");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn non_empty_lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_unknown_flag_exits_2_with_one_line() {
    let (code, stdout, stderr) = run_cli(&[
        "sandbox",
        "--bogus",
        "--addr",
        "127.0.0.1:0",
        "--db",
        ":memory:",
    ])
    .await;
    assert_eq!(code, 2, "stderr: {stderr}");
    let lines = non_empty_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr:?}");
    assert!(lines[0].contains("--bogus"), "{stderr:?}");
    assert!(stdout.is_empty(), "{stdout:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_list_faults_lists_every_fault() {
    let (code, stdout, stderr) = run_cli(&["sandbox", "--list-faults"]).await;
    assert_eq!(code, 0, "stderr: {stderr}");
    let faults: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(faults.len() >= 25, "{stdout}");
    for name in [
        "subscription-no-409",
        "unknown-id-404",
        "no-interaction-id",
        "set-rs256",
    ] {
        assert!(faults.contains(&name), "{name} missing from {stdout}");
    }
    // Each line names the rules it violates.
    assert!(stdout.contains("ES-03"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_config_with_an_unknown_key_exits_2_naming_it() {
    let file =
        TempDb(std::env::temp_dir().join(format!("obevents-test-{}.toml", uuid::Uuid::new_v4())));
    std::fs::write(&file.0, "bank = \"obie\"\nlong_poll_timout_ms = 500\n").unwrap();
    let path = file.path();
    let (code, _, stderr) = run_cli(&[
        "sandbox",
        "--config",
        &path,
        "--addr",
        "127.0.0.1:0",
        "--db",
        ":memory:",
    ])
    .await;
    assert_eq!(code, 2, "stderr: {stderr}");
    let lines = non_empty_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr:?}");
    assert!(lines[0].contains("long_poll_timout_ms"), "{stderr:?}");
    // An unknown fault name in the flags is refused the same way.
    let (code, _, stderr) =
        run_cli(&["sandbox", "--fault", "no-such-fault", "--db", ":memory:"]).await;
    assert_eq!(code, 2);
    assert_eq!(non_empty_lines(&stderr).len(), 1, "{stderr:?}");
}

// ---- operator comforts ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sandbox_on_a_locked_database_fails_at_once_with_one_line() {
    let db = TempDb::new();
    let (child, _) = spawn_sandbox(&db.path()).await;
    let started = std::time::Instant::now();
    let (code, _, stderr) =
        run_cli(&["sandbox", "--addr", "127.0.0.1:0", "--db", &db.path()]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "waited for the lock"
    );
    let lines = non_empty_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("in use by another obevents sandbox"),
        "{stderr}"
    );
    sigkill(child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_addresses_and_an_access_log_without_secrets() {
    let mut child =
        super::binary::sandbox_command(&["--addr", "localhost:0", "--db", ":memory:"], "info")
            .spawn()
            .expect("spawn obevents");
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(LIMIT, async {
        while let Some(line) = out.next_line().await.expect("stdout") {
            if let Some(u) = line.strip_prefix("listening on ") {
                return u.to_string();
            }
        }
        panic!("no listening line");
    })
    .await
    .expect("listening in time");
    let bank = TestBank::at(&url);
    let tpp = bank.subscribed_tpp().await;
    tpp.poll_now().await;
    // Access tokens: integer iat and exp, no private duplicates of registered claims.
    let payload = tpp.token.split('.').nth(1).expect("JWT");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    assert!(claims["iat"].is_i64() && claims["exp"].is_i64(), "{claims}");
    assert!(claims.get("iat_s").is_none(), "{claims}");
    child.start_kill().expect("kill");
    let output = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("exit")
        .expect("output");
    let log = String::from_utf8_lossy(&output.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("path=\"/open-banking/v3.1/events\""))
        .unwrap_or_else(|| panic!("no access log line for the poll:\n{log}"));
    assert!(line.contains("status=200"), "{line}");
    assert!(line.contains(&tpp.client_id), "{line}");
    assert!(!log.contains(&tpp.token), "a token was logged");
    assert!(!log.contains(&tpp.client_secret), "a secret was logged");
}
