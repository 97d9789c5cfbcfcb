//! The log lines an operator reads (issue 21), from the real binary's stderr: the access log
//! with the interaction id and the client's address (`X-Forwarded-For` believed only from a
//! trusted proxy), one `info` line per push attempt with the destination's host only, and
//! `--log-format json` (every line one JSON object, the event's fields at its top level).

use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use super::common::*;

/// Lines a spawned binary writes to stderr, collected as they come.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// Waits (bounded by [`LIMIT`]) for a line that `matches`; returns it.
    async fn wait(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            if let Some(l) = self.all().into_iter().find(|l| matches(l)) {
                return l;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} line in:\n{}",
                self.all().join("\n")
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Spawns `obevents sandbox` on port 0 with `args` and the log filter `log`, collecting its
/// stderr; returns the child, its lines and its base URL.
async fn spawn_logged(args: &[&str], log: &str) -> (Child, Lines, String, TestDb) {
    let db = TestDb::new().await;
    let path = db.path();
    let mut all = vec!["--addr", "127.0.0.1:0", "--db", &path];
    all.extend_from_slice(args);
    let mut child = super::binary::sandbox_command(&all, log)
        .env_remove("OBEVENTS_LOG_FORMAT")
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
    (child, lines, url, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_interaction_id_forwarded_client_and_one_line_per_push_attempt() {
    let dir = std::env::temp_dir().join(format!("obevents-obs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sandbox.toml");
    std::fs::write(
        &config,
        "trusted_proxies = [\"127.0.0.1\"]\n[metrics]\naddress = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (child, lines, url, _db) =
        spawn_logged(&["--log-format", "json", "--config", config], "info").await;
    // The metrics address is announced.
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
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["interaction_id"], "op-trace-1");
    assert_eq!(access["method"], "GET");
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
    let received = receiver.wait_for(1).await;
    let push = lines
        .wait("push attempt", |l| l.contains("obevents::push"))
        .await;
    let push: Value = serde_json::from_str(&push).expect("a JSON push line");
    assert_eq!(push["message"], "push attempt");
    assert_eq!(push["level"], "INFO");
    assert_eq!(push["client"], tpp.client_id.as_str());
    assert_eq!(push["host"], "127.0.0.1");
    assert_eq!(push["status"], 202);
    assert_eq!(push["outcome"], "delivered");
    assert_eq!(push["attempt"], 1);
    assert_eq!(push["dialect"], "obie");
    // The interaction id the push was sent with, as the receiver saw it.
    assert_eq!(
        push["interaction_id"].as_str(),
        received[0]
            .headers
            .get("x-fapi-interaction-id")
            .and_then(|v| v.to_str().ok())
    );
    assert!(
        push["latency_ms"].is_f64() && push["delivery"].is_string(),
        "{push}"
    );
    let all = lines.all();
    // One line per attempt; the host only, never the callback URL's path.
    assert_eq!(
        all.iter().filter(|l| l.contains("obevents::push")).count(),
        1
    );
    assert!(!all.iter().any(|l| l.contains("event-notifications")));
    // Every line on stderr is one JSON object with a level, a target and a timestamp.
    for l in &all {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string() && v["target"].is_string(),
            "{l}"
        );
    }
    sigkill(child).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_access_log_names_the_peer_and_ignores_forwarded_for_from_untrusted_peers() {
    let (child, lines, url, _db) = spawn_logged(&[], "warn,obevents::access=info").await;
    let r = Resp::of(
        http()
            .get(format!("{url}/readyz"))
            .header("x-forwarded-for", "203.0.113.7"),
    )
    .await;
    r.expect(200);
    let iid = r.header("x-fapi-interaction-id").unwrap().to_string();
    let line = lines.wait("access", |l| l.contains("/readyz")).await;
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        line.contains(&format!("interaction_id=\"{iid}\"")),
        "{line}"
    );
    assert!(line.contains("client_addr=127.0.0.1:"), "{line}");
    assert!(line.contains("status=200"), "{line}");
    assert!(
        !line.contains("203.0.113.7") && !line.contains("proxy"),
        "{line}"
    );
    // Text, not JSON, by default.
    assert!(serde_json::from_str::<Value>(&line).is_err(), "{line}");
    sigkill(child).await;
}
