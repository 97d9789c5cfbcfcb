//! What an operator watches the sandbox with (issue 21): `/readyz` beside the `/healthz`
//! liveness probe and `/metrics` (behind the admin credential and its failure budget, or on an
//! address of its own) with bounded labels, every family listed in the README. The log lines
//! are in `operator_logs`; PostgreSQL's readiness while the database is unreachable is in
//! `readiness_pg` (that binary only).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

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
    let unmatched = r#"obevents_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}"#;
    // Counted as a rise: another test's client may reach this port (reused after a receiver
    // of its own closed) with a GET of its own.
    let unmatched_before = sample(&scrape(&bank).await, unmatched).unwrap_or(0.0);
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
    let rise = sample(&text, unmatched).unwrap_or(0.0) - unmatched_before;
    assert!(
        rise >= 1.0,
        "the unknown path was not counted as unmatched:\n{text}"
    );
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
        ("obevents_push_requests_in_flight", 0.0),
        ("obevents_push_claimed_waiting", 0.0),
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

/// A callback receiver on 127.0.0.1 that answers 202 only once `release` is notified
/// (each request waits at most [`LIMIT`]); its URL.
async fn held_receiver(release: std::sync::Arc<tokio::sync::Notify>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/open-banking/v3.1/event-notifications",
        listener.local_addr().unwrap()
    );
    let app = axum::Router::new().fallback(move || {
        let release = release.clone();
        async move {
            let _ = tokio::time::timeout(LIMIT, release.notified()).await;
            axum::http::StatusCode::ACCEPTED
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_push_workers_requests_out_and_deliveries_claimed_waiting() {
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let url = held_receiver(release.clone()).await;
    let mut cfg = push_config(&[50]);
    cfg.push.request_timeout = Duration::from_secs(5);
    // One request at a time to the URL: the worker holds one more claimed behind it.
    cfg.push.per_destination = 1;
    let bank = TestBank::start(cfg).await;
    let tpp = bank.tpp().await;
    tpp.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": url}}))
        .await;
    for n in 1..=3 {
        bank.inject_update(&tpp.client_id, &format!("pay-{n}"))
            .await;
    }
    wait_sample(&bank, "obevents_push_requests_in_flight", 1.0).await;
    wait_sample(&bank, "obevents_push_claimed_waiting", 1.0).await;
    // Answered one by one, all three go: nothing out, nothing waiting.
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        release.notify_waiters();
        let text = scrape(&bank).await;
        let delivered =
            r#"obevents_push_attempts_total{dialect="obie",outcome="delivered",answer="2xx"}"#;
        if sample(&text, delivered) == Some(3.0)
            && sample(&text, "obevents_push_requests_in_flight") == Some(0.0)
            && sample(&text, "obevents_push_claimed_waiting") == Some(0.0)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the three pushes did not all end:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// GET a sandbox helper with the admin credential `password`.
async fn helper_as_admin(bank: &TestBank, password: &str) -> Resp {
    Resp::of(
        bank.request(Method::GET, "/sandbox/events?clientId=nobody")
            .basic_auth(ADMIN.0, Some(password)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_share_the_admin_credentials_failure_budget() {
    let bank = TestBank::start(obie()).await;
    // Wrong admin passwords at /metrics count against the admin credential's one budget...
    for _ in 0..10 {
        Resp::of(
            bank.request(Method::GET, "/metrics")
                .basic_auth(ADMIN.0, Some("guess")),
        )
        .await
        .assert_401_basic();
    }
    // ...so it is locked out, the right password included, here and on the helpers alike.
    let r = Resp::of(
        bank.request(Method::GET, "/metrics")
            .basic_auth(ADMIN.0, Some(ADMIN.1)),
    )
    .await;
    r.expect(429);
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    assert!(
        r.text()
            .starts_with("too many failed admin authentications")
    );
    assert!(!r.text().contains("obevents_"), "no metrics while locked");
    helper_as_admin(&bank, ADMIN.1).await.expect(429);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockouts_are_counted_once_per_credential() {
    let mut cfg = obie();
    cfg.observe.metrics_address = Some("127.0.0.1:0".parse().unwrap());
    let bank = TestBank::start(cfg).await;
    let metrics = format!("http://{}/metrics", bank.metrics_addr().unwrap());
    let scrape_apart = || async { Resp::of(http().get(&metrics)).await.text() };
    // Twelve wrong admin passwords on a helper: ten to lock, two refused while locked.
    for _ in 0..12 {
        let r = helper_as_admin(&bank, "guess").await;
        assert!(r.status == 401 || r.status == 429, "{}", r.status);
    }
    let text = scrape_apart().await;
    let admin = r#"obevents_auth_lockouts_total{credential="admin"}"#;
    assert_eq!(sample(&text, admin), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"obevents_auth_lockouts_total{credential="client"}"#
        ),
        None,
        "{text}"
    );
    bank.stop().await;
}

/// The README's metric table: name → (type, label names), from the rows under "Metrics".
fn readme_metrics() -> BTreeMap<String, (String, BTreeSet<String>, bool)> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("#### Metrics\n")
        .nth(1)
        .expect("a Metrics section")
        .split("\n#")
        .next()
        .unwrap();
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `obevents_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        // Label names are the backticked words outside parentheses (those list values).
        let mut outside = String::new();
        let mut depth = 0;
        for c in cells[3].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 => outside.push(c),
                _ => {}
            }
        }
        let labels = outside
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect();
        let pg_only = cells[4].starts_with("PostgreSQL only");
        rows.insert(name, (cells[2].to_string(), labels, pg_only));
    }
    rows
}

/// What a scrape exposes: family → (type, label names seen on its samples).
fn exposed_metrics(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut families = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.insert(name.to_string(), (kind.to_string(), BTreeSet::new()));
        }
    }
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, labels) = match l.split_once('{') {
            Some((n, rest)) => (n, rest.rsplit_once('}').unwrap().0),
            None => (l.split_once(' ').unwrap().0, ""),
        };
        let family = ["_bucket", "_sum", "_count", ""]
            .iter()
            .find_map(|s| {
                let f = name.strip_suffix(s)?;
                families.contains_key(f).then_some(f)
            })
            .unwrap_or_else(|| panic!("{name} belongs to no # TYPE family"));
        let names = &mut families.get_mut(family).unwrap().1;
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let label = pair.split_once('=').unwrap().0;
            if label != "le" {
                names.insert(label.to_string());
            }
        }
    }
    families
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_lists_every_metric_with_its_type_and_labels() {
    let receiver = Receiver::start(&[]).await;
    let mut cfg = push_config(&[50]);
    cfg.long_poll_timeout = Duration::from_millis(200);
    cfg.observe.metrics_address = Some("127.0.0.1:0".parse().unwrap());
    let bank = TestBank::start(cfg).await;
    // Something in every family: a request, an event pushed, polls short and long, a lockout.
    let pushed = bank.tpp().await;
    pushed
        .subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    bank.inject_update(&pushed.client_id, "pay-1").await;
    receiver.wait_for(1).await;
    let poller = bank.subscribed_tpp().await;
    poller.poll_now().await;
    poller.poll_ok(json!({"maxEvents": 5})).await;
    for _ in 0..10 {
        helper_as_admin(&bank, "guess").await.assert_401_basic();
    }
    let url = format!("http://{}/metrics", bank.metrics_addr().unwrap());
    let deadline = tokio::time::Instant::now() + LIMIT;
    let exposed = loop {
        let text = Resp::of(http().get(&url)).await.text();
        // The attempt is counted just after the receiver answered it.
        if text.contains("obevents_push_attempt_duration_seconds_count") {
            break exposed_metrics(&text);
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let pg = crate::ENGINE == Engine::Postgres;
    let documented: BTreeMap<String, (String, BTreeSet<String>)> = readme_metrics()
        .into_iter()
        .filter(|(_, (_, _, pg_only))| pg || !pg_only)
        .map(|(name, (kind, labels, _))| (name, (kind, labels)))
        .collect();
    assert!(documented.len() >= 8, "{documented:?}");
    // The README writes counters with the `_total` their samples carry.
    let exposed: BTreeMap<String, (String, BTreeSet<String>)> = exposed
        .into_iter()
        .map(|(name, (kind, labels))| {
            let name = if kind == "counter" && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name
            };
            (name, (kind, labels))
        })
        .collect();
    assert_eq!(documented, exposed);
    bank.stop().await;
}
