//! Several `obevents sandbox` processes on one PostgreSQL database behave as one sandbox:
//! tokens and keys are shared, resources and events are visible everywhere, the one-subscription
//! rule holds across replicas, long polls are woken by events raised on another replica, and a
//! replica killed under load loses nothing it accepted, and a TPP's own faults chosen on one
//! replica apply on the others.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::common::*;

/// Two replicas (real binaries) on one fresh database; the database outlives both.
async fn two_replicas() -> (
    TestDb,
    (tokio::process::Child, String),
    (tokio::process::Child, String),
) {
    let db = TestDb::new().await;
    let a = spawn_sandbox(&db.path()).await;
    let b = spawn_sandbox(&db.path()).await;
    (db, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_tokens_keys_resources_and_events() {
    let (_db, (ca, ua), (cb, ub)) = two_replicas().await;
    let (a, b) = (TestBank::at(&ua), TestBank::at(&ub));
    assert_eq!(
        a.kid().await,
        b.kid().await,
        "replicas sign with different keys"
    );
    // Registered and tokened on A, used on B.
    let tpp_a = a.tpp().await;
    let tpp_b = Tpp {
        url: b.url.clone(),
        ..tpp_a.clone()
    };
    let id = tpp_a.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let subs = tpp_b.subscriptions().await;
    assert_eq!(subs[0]["EventSubscriptionId"], id.as_str());
    // Events raised on each, polled and acknowledged alternately through both.
    let on_a = a.inject_update(&tpp_a.client_id, "pay-a").await;
    let on_b = b.inject_update(&tpp_a.client_id, "pay-b").await;
    let polled = tpp_b.poll_now().await;
    assert_eq!(polled.keys(), [on_a.as_str(), on_b.as_str()]);
    let r = tpp_a
        .poll_ok(json!({"returnImmediately": true, "ack": [on_a]}))
        .await;
    assert_eq!(r.keys(), [on_b.as_str()]);
    let r = tpp_b
        .poll_ok(json!({"returnImmediately": true, "ack": [on_b]}))
        .await;
    assert!(r.sets.is_empty());
    assert!(tpp_a.poll_now().await.sets.is_empty());
    sigkill(ca).await;
    sigkill(cb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_subscription_posts_across_replicas_get_one_201_and_one_409() {
    let (_db, (ca, ua), (cb, ub)) = two_replicas().await;
    let (a, b) = (TestBank::at(&ua), TestBank::at(&ub));
    let mut pairs = Vec::new();
    for _ in 0..50 {
        let on_a = a.tpp().await;
        let on_b = Tpp {
            url: b.url.clone(),
            ..on_a.clone()
        };
        pairs.push((on_a, on_b));
    }
    let body = json!({"Data": {"Version": "3.1"}});
    let tasks: Vec<_> = pairs
        .into_iter()
        .map(|(x, y)| {
            let body = body.clone();
            tokio::spawn(async move {
                let (r1, r2) = tokio::join!(
                    x.post("/event-subscriptions", &body),
                    y.post("/event-subscriptions", &body)
                );
                let mut statuses = [r1.status, r2.status];
                statuses.sort_unstable();
                (statuses, x.subscriptions().await.len())
            })
        })
        .collect();
    for t in tasks {
        let (statuses, stored) = t.await.expect("task");
        assert_eq!(statuses, [201, 409]);
        assert_eq!(stored, 1);
    }
    sigkill(ca).await;
    sigkill(cb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_held_on_one_replica_is_woken_by_an_event_raised_on_the_other() {
    let (_db, (ca, ua), (cb, ub)) = two_replicas().await;
    let (a, b) = (TestBank::at(&ua), TestBank::at(&ub));
    let tpp = a.subscribed_tpp().await;
    for round in 0..5 {
        let held = {
            let tpp = tpp.clone();
            // The binary holds a poll for 30 s: only a cross-replica wake-up answers it sooner.
            tokio::spawn(async move {
                let started = Instant::now();
                let r = tpp.poll_ok(json!({"returnImmediately": false})).await;
                (r, started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let jti = b
            .inject_update(&tpp.client_id, &format!("pay-{round}"))
            .await;
        let (polled, waited) = tokio::time::timeout(LIMIT, held)
            .await
            .expect("the held poll was not woken")
            .expect("task");
        assert_eq!(polled.keys(), [jti.as_str()]);
        assert!(waited < Duration::from_secs(5), "woken after {waited:?}");
        let r = tpp
            .poll_ok(json!({"returnImmediately": true, "maxEvents": 0, "ack": [jti]}))
            .await;
        assert!(r.sets.is_empty());
    }
    sigkill(ca).await;
    sigkill(cb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_one_replica_under_load_loses_no_accepted_event() {
    let (_db, (ca, ua), (cb, ub)) = two_replicas().await;
    let (a, b) = (TestBank::at(&ua), TestBank::at(&ub));
    let tpp = a.subscribed_tpp().await;
    let tpp_b = Tpp {
        url: b.url.clone(),
        ..tpp.clone()
    };
    // Four writers, two per replica, each injecting until told to stop.
    let stop = tokio_util::sync::CancellationToken::new();
    let mut writers = Vec::new();
    for (n, url) in [&ua, &ub, &ua, &ub].into_iter().enumerate() {
        let bank = TestBank::at(url);
        let client_id = tpp.client_id.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for i in 0..2_000 {
                if stop.is_cancelled() {
                    break;
                }
                let body = json!({"clientId": client_id, "eventType": "resource-update",
                    "resourceId": format!("w{n}-{i}"), "resourceType": "domestic-payment"});
                let sent = helper_auth(
                    bank.request(Method::POST, "/sandbox/events"),
                    Some(&client_id),
                )
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
                // Only an answered 201 is an accepted event; a refused or cut connection is not.
                let Ok(r) = sent else { continue };
                if r.status().as_u16() != 201 {
                    continue;
                }
                if let Ok(j) = r.json::<serde_json::Value>().await
                    && let Some(jti) = j["jti"].as_str()
                {
                    accepted.push(jti.to_string());
                }
            }
            accepted
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    sigkill(ca).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    let mut accepted = BTreeSet::new();
    for w in writers {
        accepted.extend(w.await.expect("writer"));
    }
    assert!(accepted.len() > 20, "too little load: {}", accepted.len());
    // Drain everything through the surviving replica.
    let mut served = BTreeSet::new();
    let deadline = Instant::now() + LIMIT;
    let mut ack: Vec<String> = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "draining took too long");
        let r = tpp_b
            .poll_ok(json!({"returnImmediately": true, "maxEvents": 500, "ack": ack}))
            .await;
        if r.sets.is_empty() {
            break;
        }
        ack = r.keys().into_iter().map(String::from).collect();
        served.extend(ack.iter().cloned());
    }
    let lost: Vec<_> = accepted.difference(&served).collect();
    assert!(
        lost.is_empty(),
        "{} accepted events lost: {lost:?}",
        lost.len()
    );
    sigkill(cb).await;
}

/// The acceptance run of issue 8: the whole embedded suite against replica A while every
/// event is triggered through replica B (same database, same configured issuer, as behind a
/// load balancer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_on_one_replica_with_events_triggered_through_another() {
    use obevents::harness::profile::{Profile, sandbox_profile_toml};
    use obevents::harness::runner::{self, FeatureSource, Progress, RunOptions, Verdict};
    use obevents::sandbox::Sandbox;
    use obevents::sandbox::embedded::declaration;

    const ISSUER: &str = "https://sandbox.example";
    let db = TestDb::new().await;
    let mut cfg = obie();
    cfg.long_poll_timeout = Duration::from_millis(600);
    cfg.issuer = Some(ISSUER.into());
    let start = |cfg| {
        let db = db.path();
        async move {
            Sandbox::start(cfg, &db, "127.0.0.1:0".parse().expect("addr"))
                .await
                .expect("replica starts")
        }
    };
    let a = start(cfg.clone()).await;
    let b = start(cfg.clone()).await;
    let mut declared = declaration(&cfg);
    declared.push = None;
    let toml = sandbox_profile_toml(&a.url(), &declared);
    let split = toml
        .replace(
            "url = \"/sandbox/events\"",
            &format!("url = \"{}/sandbox/events\"", b.url()),
        )
        .replace("issuer = \"{base_url}\"", &format!("issuer = \"{ISSUER}\""));
    assert_eq!(
        split.matches(&b.url()).count(),
        1,
        "trigger not moved:\n{split}"
    );
    assert!(split.contains(ISSUER), "issuer not set:\n{split}");
    let path =
        std::env::temp_dir().join(format!("obevents-replicas-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, split).expect("write profile");
    let profile = Profile::load(&path, None).expect("profile");
    let _ = std::fs::remove_file(&path);
    let opts = RunOptions {
        profile,
        features: FeatureSource::Embedded,
        tags: None,
        concurrency: None,
        fail_fast: false,
        progress: Progress::Quiet,
        tpp: None,
        shard: None,
    };
    let outcome = tokio::time::timeout(Duration::from_secs(120), runner::run(opts, None))
        .await
        .expect("the run finished within 120 s")
        .expect("the run started");
    a.stop().await;
    b.stop().await;
    let failed: Vec<String> = outcome
        .failed()
        .map(|s| {
            format!(
                "{} [{}]: {}",
                s.name,
                s.rules.join(" "),
                s.reason.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "failed on replicas:\n{}",
        failed.join("\n")
    );
    assert!(
        outcome.count(Verdict::Passed) > 50,
        "too few scenarios passed"
    );
}

/// Issue 22 item 8: a TPP's own faults live in the database, so a choice made through one
/// replica applies on another once that replica's short cache of the TPP's set runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tpps_own_faults_chosen_on_one_replica_apply_on_the_other() {
    let db = TestDb::new().await;
    let a = TestBank::start_db(obie(), &db.path()).await;
    let b = TestBank::start_db(obie(), &db.path()).await;
    let tpp_a = a.subscribed_tpp().await;
    let tpp_b = tpp_a.at(&b.url);
    for i in 0..2 {
        a.inject_update(&tpp_a.client_id, &format!("pay-{i}")).await;
    }
    let one = json!({"returnImmediately": true, "maxEvents": 1});
    // B has read (and cached) the TPP's set: no faults.
    assert_eq!(tpp_b.poll_ok(one.clone()).await.more_available, Some(true));
    Resp::of(
        tpp_a
            .request(Method::PUT, "/sandbox/faults")
            .header("content-type", "application/json")
            .body(r#"{"faults": ["more-available-omitted"]}"#),
    )
    .await
    .expect(200);
    assert_eq!(tpp_a.poll_ok(one.clone()).await.more_available, None);
    let deadline = Instant::now() + LIMIT;
    while tpp_b.poll_ok(one.clone()).await.more_available.is_some() {
        assert!(
            Instant::now() < deadline,
            "replica B never applied the choice"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.stop().await;
    b.stop().await;
}
