//! The Referee page (issue 23, "the TPP-side verdicts of the last referee run for this
//! client"): `obevents test --tpp` with a `[publish]` section sends the run's summary to the
//! sandbox a TPP practises against, and the TPP's portal shows it — as the real command line
//! does it, against the reference TPP. Also `PUT`/`GET`/`DELETE /sandbox/referee-run` and their
//! refusals, isolation between TPPs, escaping of what a TPP published, and forgetting a run.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, Resp, TestBank};
use crate::web::{Portal, tpp_portal};

/// A `test --tpp` run of the reference TPP may take this long (it is a few seconds).
const RUN_LIMIT: Duration = Duration::from_secs(120);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_obevents")
}

/// A TPP profile that starts the reference TPP (with `extra` arguments, e.g. its faults) and
/// publishes the run as client `id`.
fn profile(sandbox: &str, id: &str, secret_var: &str, extra: &str) -> String {
    format!(
        r#"name = "reference TPP, published"

[start]
command = ["{bin}", "tpp", "receive", "--addr", "127.0.0.1:{{port}}", "--jwks-url", "{{jwks_url}}",
           "--issuer", "{{issuer}}", "--audience", "{{audience}}", "--processed", "{{run_dir}}/processed.txt"{extra}]

[push]
url = "http://127.0.0.1:{{port}}/event-notifications"
answer_within_ms = 2000

[observe]
kind = "file"
path = "{{run_dir}}/processed.txt"

[publish]
url = "{sandbox}"
client_id = "{id}"
client_secret_env = "{secret_var}"
"#,
        bin = bin(),
    )
}

/// Runs `obevents test --tpp` on the reference TPP (with `faults` switched on), publishing to
/// `bank` as `t`; the run's summary.json and its standard output. The exit code must be 0
/// (no fault) or 1 (a scenario failed).
pub async fn run_published(bank: &TestBank, t: &common::Tpp, faults: &[&str]) -> (Value, String) {
    let dir = std::env::temp_dir().join(format!(
        "obevents-portal-referee-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tpp.toml");
    let var = "OBEVENTS_TEST_PUBLISH_SECRET";
    let extra: String = faults
        .iter()
        .map(|f| format!(r#", "--fault", "{f}""#))
        .collect();
    std::fs::write(&path, profile(&bank.url, &t.client_id, var, &extra)).unwrap();
    let out = tokio::time::timeout(
        RUN_LIMIT,
        tokio::process::Command::new(bin())
            .args(["test", "--tpp"])
            .arg(&path)
            .arg("--report-dir")
            .arg(dir.join("reports"))
            .env(var, &t.client_secret)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the referee run took too long")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(if faults.is_empty() { 0 } else { 1 }),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("reports/summary.json")).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (summary, stdout)
}

/// A hand-made summary of one scenario with `name`, `verdict` and `reason`.
fn one(name: &str, verdict: &str, reason: &str) -> Value {
    let count = |v: &str| u64::from(v == verdict);
    json!({
        "mode": "tpp", "profile": "hand-made", "target": "TPP receiver http://127.0.0.1:1/x",
        "duration_ms": 1200,
        "passed": count("passed"), "failed": count("failed"), "blocked": count("blocked"),
        "not_applicable": count("not-applicable"),
        "scenarios": [{ "feature": "features/tpp_push.feature", "line": 7, "name": name,
            "verdict": verdict, "rules": ["R8935-05"], "failed_rules": ["R8935-05"],
            "reason": reason }],
        "findings": [{ "key": { "kind": "tpp-push:accepts-bad-signature", "endpoint": "POST /x" },
            "rules": ["R8935-05"], "message": reason, "occurrences": 2,
            "scenarios": ["features/tpp_push.feature:7 x"] }],
    })
}

async fn put(t: &common::Tpp, body: &Value) -> Resp {
    Resp::of(t.request(Method::PUT, "/sandbox/referee-run").json(body)).await
}

/// The refusal's first error: `(Path, Message)`.
fn first_error(r: &Resp) -> (String, String) {
    let v = r.json();
    let e = &v["Errors"][0];
    (
        e["Path"].as_str().unwrap_or_default().to_string(),
        e["Message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_published_referee_run_shows_on_the_tpps_referee_page() {
    let bank = TestBank::start(common::obie()).await;
    let (a, b) = (bank.tpp().await, bank.tpp().await);
    let pa = tpp_portal(&bank.url, &a.client_id, &a.client_secret).await;
    let page_a = Portal::tpp(&a.client_id, "/referee");

    // Before any run: the page says how, the helper answers 404 in the OBIE shape.
    let before = pa.get(&page_a).await;
    assert_eq!(before.status, 200);
    assert!(
        before.body.contains(r#"id="no-referee-run""#),
        "{}",
        before.body
    );
    assert!(before.body.contains(">Referee</a>"), "a tab in the frame");
    let r = Resp::of(a.request(Method::GET, "/sandbox/referee-run")).await;
    r.expect(404);
    assert!(
        r.json()["Errors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("[publish]")
    );

    // The real command line, against the reference TPP, publishing as A.
    let (summary, stdout) = run_published(&bank, &a, &[]).await;
    let link = format!("{}/portal/tpps/{}/referee", bank.url, a.client_id);
    assert!(stdout.contains(&format!("published: {link}")), "{stdout}");
    let passed = summary["passed"].as_u64().unwrap();
    assert!(passed > 0 && summary["failed"] == 0, "{summary}");
    let got = Resp::of(a.request(Method::GET, "/sandbox/referee-run")).await;
    got.expect(200);
    let run = &got.json()["run"];
    assert_eq!(run["passed"], summary["passed"]);
    assert_eq!(run["mode"], "tpp");
    assert_eq!(
        run["scenarios"].as_array().unwrap().len(),
        summary["scenarios"].as_array().unwrap().len()
    );
    let page = pa.get(&page_a).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Every applicable scenario passed"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(
            r#"<p id="referee-counts">{passed} passed · 0 failed"#
        )),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches(r#"<tr class="scenario">"#).count() as u64,
        { summary["scenarios"].as_array().unwrap().len() as u64 }
    );

    // B sees none of it, by API or by editing the id; the operator sees A's.
    Resp::of(b.request(Method::GET, "/sandbox/referee-run"))
        .await
        .expect(404);
    let pb = tpp_portal(&bank.url, &b.client_id, &b.client_secret).await;
    assert_eq!(pb.get(&page_a).await.status, 404);
    let mut op = Portal::new(&bank.url);
    assert_eq!(op.sign_in_operator().await.status, 303);
    assert!(
        op.get(&page_a)
            .await
            .body
            .contains("Every applicable scenario passed")
    );

    // What B publishes is shown escaped, failures first.
    let hostile = r#"<script>window.__xss=1</script>"><img src=x onerror=alert(1)>"#;
    let answered = put(&b, &one(hostile, "failed", hostile)).await;
    answered.expect(200);
    // The PUT says when the run was received as a later GET does (kept to the second).
    let read = Resp::of(b.request(Method::GET, "/sandbox/referee-run")).await;
    assert_eq!(answered.json()["receivedAt"], read.json()["receivedAt"]);
    assert_eq!(answered.json()["receivedAt"].as_i64().unwrap() % 1000, 0);
    let page_b = pb.get(&Portal::tpp(&b.client_id, "/referee")).await;
    assert!(
        page_b.body.contains("1 failed, 0 blocked"),
        "{}",
        page_b.body
    );
    assert!(!page_b.body.contains("<script>window"), "{}", page_b.body);
    assert!(!page_b.body.contains("<img src=x"), "{}", page_b.body);
    assert!(
        page_b.body.contains("&#60;script&#62;window.__xss=1&#60;"),
        "{}",
        page_b.body
    );
    assert!(page_b.body.contains("tpp-push:accepts-bad-signature"));

    // Forget: the portal's form needs the CSRF token; the API's DELETE answers 204, then 404.
    let forget = Portal::tpp(&b.client_id, "/referee/forget");
    assert_eq!(pb.post(&forget, &[("csrf", "forged")]).await.status, 403);
    assert_eq!(pa.post(&forget, &[]).await.status, 404, "not A's to forget");
    let r = pb.post(&forget, &[]).await;
    assert_eq!(r.status, 303);
    Resp::of(b.request(Method::GET, "/sandbox/referee-run"))
        .await
        .expect(404);
    Resp::of(a.request(Method::DELETE, "/sandbox/referee-run"))
        .await
        .expect(204);
    Resp::of(a.request(Method::DELETE, "/sandbox/referee-run"))
        .await
        .expect(404);
    bank.stop().await;
}

#[tokio::test]
async fn a_summary_that_does_not_add_up_is_refused_naming_the_member() {
    let bank = TestBank::start(common::obie()).await;
    let t = bank.tpp().await;
    let good = one("a scenario", "passed", "");
    let mut cases: Vec<(Value, &str, &str)> = Vec::new();
    let mut bank_run = good.clone();
    bank_run["mode"] = json!("bank");
    cases.push((bank_run, "mode", "only TPP referee runs"));
    let mut wrong_count = good.clone();
    wrong_count["passed"] = json!(3);
    cases.push((wrong_count, "passed", "passed is 3 but 1"));
    let mut bad_verdict = good.clone();
    bad_verdict["scenarios"][0]["verdict"] = json!("great");
    cases.push((bad_verdict, "scenarios[0].verdict", "unknown variant"));
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("target");
    cases.push((missing, "body", "target"));
    let mut long = good.clone();
    long["scenarios"][0]["name"] = json!("x".repeat(4001));
    cases.push((long, "scenarios[0].name", "at most 4000"));
    cases.push((json!([1, 2]), "body", "JSON object"));
    for (body, path, words) in cases {
        let r = put(&t, &body).await;
        r.expect(400);
        let (p, m) = first_error(&r);
        assert_eq!(p, path, "{m}");
        assert!(m.contains(words), "{path}: {m}");
    }
    // Not JSON, no token, too large: the API's own answers; nothing was kept.
    let r = Resp::of(
        t.request(Method::PUT, "/sandbox/referee-run")
            .header("Content-Type", "text/plain")
            .body("passed"),
    )
    .await;
    r.expect(415);
    let r = Resp::of(
        bank.request(Method::PUT, "/sandbox/referee-run")
            .json(&good),
    )
    .await;
    r.expect(401);
    let mut huge = good.clone();
    huge["padding"] = json!("y".repeat(600 * 1024));
    put(&t, &huge).await.expect(413);
    Resp::of(t.request(Method::GET, "/sandbox/referee-run"))
        .await
        .expect(404);
    // Members the sandbox does not show are dropped, the rest kept.
    let mut extra = good.clone();
    extra["rules"] = json!([{ "id": "R-05", "verdict": "passed" }]);
    extra["future_member"] = json!(true);
    let r = put(&t, &extra).await;
    r.expect(200);
    let kept = &r.json()["run"];
    assert!(kept.get("rules").is_none() && kept.get("future_member").is_none());
    assert_eq!(kept["scenarios"][0]["name"], "a scenario");
    bank.stop().await;
}
