//! What an operator watches the sandbox with (issue 21): `/readyz` beside the `/healthz`
//! liveness probe, `/metrics` (behind the admin credential, or on an address of its own) with
//! bounded labels, and the log lines (access log with interaction id and client address, one
//! line per push attempt, `--log-format json`). PostgreSQL's readiness while the database is
//! unreachable is in `readiness_pg` (that binary only).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::common::*;

/// `GET /metrics` on `base` with the admin credential; asserts 200 and returns the text.
async fn scrape(bank: &TestBank) -> String {
    let r = Resp::of(
        bank.request(Method::GET, "/metrics")
            .basic_auth(ADMIN.0, Some(ADMIN.1)),
    )
    .await;
    r.expect(200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    r.text()
}

/// The value of the sample `name` (exactly as written, labels included), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

/// Scrapes until `name` has `value` (bounded by [`LIMIT`]): gauges and counters moved by
/// background work (the push worker) get there a little after the request that caused them.
async fn wait_sample(bank: &TestBank, name: &str, value: f64) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let text = scrape(bank).await;
        if sample(&text, name) == Some(value) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never became {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_ready_while_the_store_answers_and_healthz_stays_liveness() {
    let bank = TestBank::start(obie()).await;
    let r = Resp::of(bank.request(Method::GET, "/readyz")).await;
    r.expect(200);
    assert_eq!(r.text(), "ready");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = Resp::of(bank.request(Method::GET, "/healthz")).await;
    r.expect(200);
    assert_eq!(r.text(), "ok");
    // Both are public and documented; /metrics is documented behind the admin credential.
    let doc = Resp::of(bank.request(Method::GET, "/openapi.json"))
        .await
        .json();
    let public = &doc["paths"]["/healthz"]["get"]["security"];
    assert_eq!(&doc["paths"]["/readyz"]["get"]["security"], public);
    assert_eq!(
        doc["paths"]["/metrics"]["get"]["security"],
        json!([{ "AdminBasic": [] }])
    );
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_admin_credential_and_label_requests_by_route_template() {
    let bank = TestBank::start(obie()).await;
    // No credential, a wrong one, a TPP's bearer token: 401 with a Basic challenge, no body.
    let tpp = bank.tpp().await;
    for rb in [
        bank.request(Method::GET, "/metrics"),
        bank.request(Method::GET, "/metrics")
            .basic_auth(ADMIN.0, Some("wrong")),
        tpp.request(Method::GET, "/metrics"),
    ] {
        let r = Resp::of(rb).await;
        r.expect(401);
        assert!(r.text().is_empty());
        assert!(
            r.header("www-authenticate")
                .is_some_and(|c| c.starts_with("Basic ")),
            "{:?}",
            r.header("www-authenticate")
        );
    }
    tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let consent = tpp.consent().await;
    tpp.get(&format!("/aisp/account-access-consents/{consent}"))
        .await
        .expect(200);
    tpp.poll_now().await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    assert_eq!(tpp.poll_now().await.keys().len(), 1);
    Resp::of(bank.request(Method::GET, "/no/such/path/4711"))
        .await
        .expect(404);
    let text = scrape(&bank).await;
    let route = "/open-banking/v3.1/aisp/account-access-consents/{ConsentId}";
    let get_consent = format!(
        r#"obevents_http_request_duration_seconds_count{{method="GET",route="{route}",status="200"}}"#
    );
    assert_eq!(sample(&text, &get_consent), Some(1.0), "{text}");
    // Raw paths never become labels: not the consent id, not the unknown path.
    assert!(!text.contains(&consent) && !text.contains("4711"), "{text}");
    let unmatched = r#"obevents_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}"#;
    assert_eq!(sample(&text, unmatched), Some(1.0), "{text}");
    let bucket = format!(
        r#"obevents_http_request_duration_seconds_bucket{{method="GET",route="{route}",status="200",le="+Inf"}}"#
    );
    assert_eq!(sample(&text, &bucket), Some(1.0), "{text}");
    for (name, value) in [
        (r#"obevents_polls_total{mode="short",result="empty"}"#, 1.0),
        (r#"obevents_polls_total{mode="short",result="sets"}"#, 1.0),
        (
            r#"obevents_events_raised_total{dialect="obie",event_type="urn:uk:org:openbanking:events:resource-update"}"#,
            1.0,
        ),
        ("obevents_long_polls_held", 0.0),
        ("obevents_push_due_deliveries", 0.0),
    ] {
        assert_eq!(sample(&text, name), Some(value), "{name} in\n{text}");
    }
    let pooled = text.contains("obevents_store_pool_max_connections 16");
    assert_eq!(pooled, crate::ENGINE == Engine::Postgres, "{text}");
    // OpenMetrics when the scraper asks for it, as Prometheus does.
    let r = Resp::of(
        bank.request(Method::GET, "/metrics")
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .header(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
            ),
    )
    .await;
    r.expect(200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text"))
    );
    assert!(r.text().ends_with("# EOF\n"));
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_held_long_polls_lockouts_and_push_attempts() {
    let receiver = Receiver::start(&[503]).await;
    let mut cfg = push_config(&[50]);
    cfg.long_poll_timeout = Duration::from_secs(5);
    let bank = TestBank::start(cfg).await;
    // A held long poll is counted while it waits and uncounted once answered.
    let tpp = bank.subscribed_tpp().await;
    let held = {
        let tpp = tpp.clone();
        tokio::spawn(async move { tpp.poll_ok(json!({"maxEvents": 5})).await })
    };
    wait_sample(&bank, "obevents_long_polls_held", 1.0).await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    let polled = tokio::time::timeout(LIMIT, held).await.unwrap().unwrap();
    assert_eq!(polled.keys().len(), 1);
    let text = wait_sample(&bank, "obevents_long_polls_held", 0.0).await;
    let long = r#"obevents_polls_total{mode="long",result="sets"}"#;
    assert_eq!(sample(&text, long), Some(1.0), "{text}");
    // Ten wrong secrets lock the client id out: one lockout.
    for _ in 0..10 {
        bank.token_basic(
            &tpp.client_id,
            "wrong",
            &[("grant_type", "client_credentials")],
        )
        .await
        .expect(401);
    }
    let lockouts = r#"obevents_auth_lockouts_total{credential="client"}"#;
    wait_sample(&bank, lockouts, 1.0).await;
    // A push answered 503, then 202: one retry and one delivered attempt, both timed.
    let pushed = bank.tpp().await;
    pushed
        .subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    bank.inject_update(&pushed.client_id, "pay-2").await;
    receiver.wait_for(2).await;
    let delivered =
        r#"obevents_push_attempts_total{dialect="obie",outcome="delivered",answer="2xx"}"#;
    let text = wait_sample(&bank, delivered, 1.0).await;
    let retry = r#"obevents_push_attempts_total{dialect="obie",outcome="retry",answer="5xx"}"#;
    assert_eq!(sample(&text, retry), Some(1.0), "{text}");
    let timed = r#"obevents_push_attempt_duration_seconds_count{dialect="obie"}"#;
    assert_eq!(sample(&text, timed), Some(2.0), "{text}");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_address_serves_them_apart_without_authentication() {
    let mut cfg = obie();
    cfg.observe.metrics_address = Some("127.0.0.1:0".parse().unwrap());
    let bank = TestBank::start(cfg).await;
    let addr = bank.metrics_addr().expect("a metrics address");
    let http = http();
    let r = Resp::of(http.get(format!("http://{addr}/metrics"))).await;
    r.expect(200);
    assert!(
        r.text().contains("# TYPE obevents_polls_total counter"),
        "{}",
        r.text()
    );
    // Only /metrics there; and no /metrics (nor its description) on the main port.
    Resp::of(http.get(format!("http://{addr}/healthz")))
        .await
        .expect(404);
    Resp::of(
        bank.request(Method::GET, "/metrics")
            .basic_auth(ADMIN.0, Some(ADMIN.1)),
    )
    .await
    .expect(404);
    let doc = Resp::of(bank.request(Method::GET, "/openapi.json"))
        .await
        .json();
    assert!(doc["paths"].get("/metrics").is_none());
    assert!(doc["paths"].get("/readyz").is_some());
    bank.stop().await;
}

/// Lines a spawned binary writes to stderr, collected as they come.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// Waits (bounded by [`LIMIT`]) for a line that `matches`; returns it.
    async fn wait(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            if let Some(l) = self.0.lock().unwrap().iter().find(|l| matches(l)) {
                return l.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} line in:\n{}",
                self.0.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_interaction_id_forwarded_client_and_one_line_per_push_attempt() {
    let db = TestDb::new().await;
    let dir = std::env::temp_dir().join(format!("obevents-obs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sandbox.toml");
    std::fs::write(
        &config,
        "trusted_proxies = [\"127.0.0.1\"]\n[metrics]\naddress = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_obevents"))
        .args(["sandbox", "--addr", "127.0.0.1:0", "--db", &db.path()])
        .args(["--log-format", "json", "--config"])
        .arg(&config)
        .env("OBEVENTS_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn obevents");
    let lines = Lines::default();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(l)) = err.next_line().await {
            sink.0.lock().unwrap().push(l);
        }
    });
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(LIMIT, async {
        while let Some(l) = out.next_line().await.unwrap() {
            if let Some(u) = l.strip_prefix("listening on ") {
                return u.to_string();
            }
        }
        panic!("no listening line");
    })
    .await
    .expect("listening in time");
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    // Every stderr line is one JSON object; the metrics address is announced.
    let announced = lines.wait("metrics", |l| l.contains("/metrics")).await;
    let announced: Value = serde_json::from_str(&announced).expect("a JSON log line");
    let metrics_url = announced["message"]
        .as_str()
        .unwrap()
        .split(' ')
        .nth(2)
        .unwrap();
    Resp::of(http().get(metrics_url)).await.expect(200);

    let bank = TestBank::at(&url);
    let receiver = Receiver::start(&[]).await;
    let tpp = bank.tpp().await;
    tpp.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    let consent = tpp.consent().await;
    let r = Resp::of(
        tpp.api(
            Method::GET,
            &format!("/aisp/account-access-consents/{consent}"),
        )
        .header("x-fapi-interaction-id", "op-trace-1")
        .header("x-forwarded-for", "198.51.100.9, 203.0.113.7"),
    )
    .await;
    r.expect(200);
    let access = lines.wait("access", |l| l.contains("op-trace-1")).await;
    let access: Value = serde_json::from_str(&access).expect("a JSON access line");
    assert_eq!(access["target"], "obevents::access");
    assert_eq!(access["interaction_id"], "op-trace-1");
    assert_eq!(access["status"], 200);
    assert_eq!(access["client"], tpp.client_id.as_str());
    // The peer (127.0.0.1) is a trusted proxy: the nearest forwarded address is the client.
    assert_eq!(access["client_addr"], "203.0.113.7");
    assert!(access["proxy"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(access["latency_ms"].is_f64(), "{access}");
    assert_eq!(
        access["path"],
        format!("{API}/aisp/account-access-consents/{consent}")
    );

    bank.inject_update(&tpp.client_id, "pay-1").await;
    receiver.wait_for(1).await;
    let push = lines
        .wait("push attempt", |l| l.contains("obevents::push"))
        .await;
    let push: Value = serde_json::from_str(&push).expect("a JSON push line");
    assert_eq!(push["message"], "push attempt");
    assert_eq!(push["client"], tpp.client_id.as_str());
    assert_eq!(push["host"], "127.0.0.1");
    assert_eq!(push["status"], 202);
    assert_eq!(push["outcome"], "delivered");
    assert_eq!(push["attempt"], 1);
    assert!(
        push["latency_ms"].is_f64() && push["delivery"].is_string(),
        "{push}"
    );
    // The host only: never the callback URL's path.
    assert!(
        !lines
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("event-notifications"))
    );
    sigkill(child).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_access_log_names_the_peer_and_ignores_forwarded_for_from_untrusted_peers() {
    let db = TestDb::new().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_obevents"))
        .args(["sandbox", "--addr", "127.0.0.1:0", "--db", &db.path()])
        .env("OBEVENTS_LOG", "warn,obevents::access=info")
        .env_remove("OBEVENTS_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn obevents");
    let lines = Lines::default();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(l)) = err.next_line().await {
            sink.0.lock().unwrap().push(l);
        }
    });
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(LIMIT, async {
        while let Some(l) = out.next_line().await.unwrap() {
            if let Some(u) = l.strip_prefix("listening on ") {
                return u.to_string();
            }
        }
        panic!("no listening line");
    })
    .await
    .expect("listening in time");
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    let r = Resp::of(
        http()
            .get(format!("{url}/readyz"))
            .header("x-forwarded-for", "203.0.113.7"),
    )
    .await;
    r.expect(200);
    let iid = r.header("x-fapi-interaction-id").unwrap().to_string();
    let line = lines.wait("access", |l| l.contains("/readyz")).await;
    assert!(
        line.contains(&format!("interaction_id=\"{iid}\"")),
        "{line}"
    );
    assert!(line.contains("client_addr=127.0.0.1:"), "{line}");
    assert!(
        !line.contains("203.0.113.7") && !line.contains("proxy"),
        "{line}"
    );
    sigkill(child).await;
}
