//! Aggregated polling, `POST /events` (obie-rules §4 AP-04..AP-17; RFC 8936 §2 R8936-*), and
//! long polling (AP-08, R8936-08/09).

use std::time::{Duration, Instant};

use serde_json::json;

use super::common::*;

/// A bank with one subscribed TPP and `n` resource-updates queued for it (oldest first).
async fn queued(n: usize) -> (TestBank, Tpp, Vec<String>) {
    queued_with(obie(), n).await
}

async fn queued_with(
    cfg: obevents::sandbox::SandboxConfig,
    n: usize,
) -> (TestBank, Tpp, Vec<String>) {
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    let mut jtis = Vec::new();
    for i in 0..n {
        jtis.push(
            bank.inject_update(&tpp.client_id, &format!("pay-{i}"))
                .await,
        );
    }
    (bank, tpp, jtis)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap05_poll_only_returns_awaiting_sets_oldest_first_and_keeps_them() {
    let (_bank, tpp, jtis) = queued(3).await;
    let first = tpp.poll_now().await;
    assert_eq!(first.keys(), strs(&jtis));
    assert_eq!(first.more_available, Some(false));
    // Not acknowledged, so served again.
    let again = tpp.poll_now().await;
    assert_eq!(again.keys(), strs(&jtis));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap06_empty_queue_is_200_with_empty_sets() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    let r = tpp.poll(json!({"returnImmediately": true})).await;
    r.expect(200);
    r.assert_json_type();
    assert_eq!(r.json(), json!({"sets": {}, "moreAvailable": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap14_ack_only_with_max_events_zero() {
    let (_bank, tpp, jtis) = queued(2).await;
    let r = tpp
        .poll_ok(json!({"maxEvents": 0, "returnImmediately": true, "ack": [jtis[0]]}))
        .await;
    assert!(r.sets.is_empty(), "{:?}", r.keys());
    // One SET is still awaiting.
    assert_eq!(r.more_available, Some(true));
    assert_eq!(tpp.poll_now().await.keys(), [jtis[1].as_str()]);
    // Acking the last one leaves nothing awaiting.
    let r = tpp.poll_ok(json!({"maxEvents": 0, "ack": [jtis[1]]})).await;
    assert!(r.sets.is_empty());
    assert_eq!(r.more_available, Some(false));
    assert!(tpp.poll_now().await.sets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8936_24_poll_and_ack_in_one_request_never_returns_the_acked_jti() {
    let (_bank, tpp, jtis) = queued(3).await;
    let r = tpp
        .poll_ok(json!({"returnImmediately": true, "ack": [jtis[0], jtis[2]]}))
        .await;
    assert_eq!(r.keys(), [jtis[1].as_str()]);
    assert_eq!(r.more_available, Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap10_set_errs_are_recorded_and_the_set_stays_awaiting() {
    let (bank, tpp, jtis) = queued(2).await;
    let r = tpp
        .poll_ok(json!({
            "returnImmediately": true,
            "ack": [jtis[1]],
            "setErrs": {jtis[0].clone(): {"err": "jwtIss", "description": "Issuer is invalid or could not be verified"}},
        }))
        .await;
    // D-APP: an errored SET is still awaiting, so it is redelivered.
    assert_eq!(r.keys(), [jtis[0].as_str()]);
    let stored = bank.stored_events(&tpp.client_id).await;
    let errored = stored
        .iter()
        .find(|e| e["jti"] == jtis[0].as_str())
        .expect("stored");
    assert_eq!(errored["err"], "jwtIss");
    assert_eq!(
        errored["errDescription"],
        "Issuer is invalid or could not be verified"
    );
    assert_eq!(errored["state"], "awaiting");
    assert_eq!(tpp.poll_now().await.keys(), [jtis[0].as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap07_ap12_max_events_and_more_available_are_exact() {
    let (_bank, tpp, jtis) = queued(3).await;
    let r = tpp
        .poll_ok(json!({"returnImmediately": true, "maxEvents": 2}))
        .await;
    assert_eq!(r.keys(), strs(&jtis[..2]));
    assert_eq!(r.more_available, Some(true));
    let r = tpp
        .poll_ok(json!({"returnImmediately": true, "maxEvents": 3}))
        .await;
    assert_eq!(r.keys(), strs(&jtis));
    assert_eq!(r.more_available, Some(false));
    let r = tpp
        .poll_ok(json!({"returnImmediately": true, "maxEvents": 10}))
        .await;
    assert_eq!(r.keys(), strs(&jtis));
    assert_eq!(r.more_available, Some(false));
    let r = tpp
        .poll_ok(json!({"returnImmediately": true, "maxEvents": 1, "ack": [jtis[0]]}))
        .await;
    assert_eq!(r.keys(), [jtis[1].as_str()]);
    assert_eq!(r.more_available, Some(true));
    let r = tpp
        .poll_ok(json!({"returnImmediately": true, "maxEvents": 1, "ack": [jtis[1]]}))
        .await;
    assert_eq!(r.keys(), [jtis[2].as_str()]);
    assert_eq!(r.more_available, Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap07_server_cap_limits_every_batch() {
    let mut cfg = obie();
    cfg.max_events_cap = 2;
    let (_bank, tpp, jtis) = queued_with(cfg, 3).await;
    for body in [
        json!({"returnImmediately": true}),
        json!({"returnImmediately": true, "maxEvents": 50}),
    ] {
        let r = tpp.poll_ok(body).await;
        assert_eq!(r.keys(), strs(&jtis[..2]));
        assert_eq!(r.more_available, Some(true));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap11_unknown_jti_in_ack_or_set_errs_is_ignored() {
    let (_bank, tpp, jtis) = queued(1).await;
    let r = tpp
        .poll_ok(json!({
            "returnImmediately": true,
            "ack": ["never-issued"],
            "setErrs": {"also-never-issued": {"err": "jwtAud", "description": "d"}},
        }))
        .await;
    assert_eq!(r.keys(), strs(&jtis));
    // Acking twice is harmless too.
    tpp.poll_ok(json!({"returnImmediately": true, "ack": [jtis[0]]}))
        .await;
    let r = tpp
        .poll_ok(json!({"returnImmediately": true, "ack": [jtis[0]]}))
        .await;
    assert!(r.sets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap04_bad_members_are_400_field_invalid_with_path() {
    let (_bank, tpp, jtis) = queued(1).await;
    let long_err = "e".repeat(41);
    let cases = [
        (json!({"maxEvents": -1}), "maxEvents".to_string()),
        (json!({"maxEvents": 2.5}), "maxEvents".into()),
        (json!({"maxEvents": "5"}), "maxEvents".into()),
        (json!({"maxEvents": null}), "maxEvents".into()),
        (
            json!({"returnImmediately": "true"}),
            "returnImmediately".into(),
        ),
        (json!({"setErrs": []}), "setErrs".into()),
        (json!({"ack": "j"}), "ack".into()),
        (json!({"ack": [1]}), "ack[0]".into()),
        (
            json!({"setErrs": {jtis[0].clone(): {"err": long_err, "description": "d"}}}),
            format!("setErrs.{}.err", jtis[0]),
        ),
        (
            json!({"setErrs": {jtis[0].clone(): {"err": "jwtIss"}}}),
            format!("setErrs.{}.description", jtis[0]),
        ),
    ];
    for (body, path) in cases {
        let r = tpp.poll(body.clone()).await;
        let code = if path.ends_with(".description") {
            "UK.OBIE.Field.Missing"
        } else {
            "UK.OBIE.Field.Invalid"
        };
        r.ob_error(400, code, Some(&path));
    }
    // Nothing was applied by the refused requests: the SET is still there, with no error.
    assert_eq!(tpp.poll_now().await.keys(), strs(&jtis));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap04_unknown_member_is_field_unexpected() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    tpp.poll(json!({"returnImmediately": true, "acks": ["x"]}))
        .await
        .ob_error(400, "UK.OBIE.Field.Unexpected", Some("acks"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap17_tpps_never_see_or_release_each_others_sets() {
    let bank = TestBank::start(obie()).await;
    let a = bank.subscribed_tpp().await;
    let b = bank.subscribed_tpp().await;
    let ja = bank.inject_update(&a.client_id, "pay-a").await;
    let jb = bank.inject_update(&b.client_id, "pay-b").await;
    assert_eq!(b.poll_now().await.keys(), [jb.as_str()]);
    // B acks A's jti and reports an error on it: nothing happens to A's SET.
    let r = b
        .poll_ok(json!({
            "returnImmediately": true,
            "ack": [ja],
            "setErrs": {ja.clone(): {"err": "jwtIss", "description": "not mine"}},
        }))
        .await;
    assert_eq!(r.keys(), [jb.as_str()]);
    assert_eq!(a.poll_now().await.keys(), [ja.as_str()]);
    let stored = bank.stored_events(&a.client_id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["state"], "awaiting");
    assert!(stored[0].get("err").is_none(), "{}", stored[0]);
}

// ---- long polling ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8936_09_long_poll_is_held_until_the_timeout_then_empty() {
    let mut cfg = obie();
    cfg.long_poll_timeout = Duration::from_millis(400);
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    for body in [json!({"returnImmediately": false}), json!({})] {
        let started = Instant::now();
        let r = tpp.poll(body.clone()).await;
        let held = started.elapsed();
        r.expect(200);
        assert_eq!(
            r.json(),
            json!({"sets": {}, "moreAvailable": false}),
            "{body}"
        );
        assert!(
            held >= Duration::from_millis(320),
            "{body} answered after {held:?}"
        );
        assert!(held < Duration::from_secs(3), "{body} held {held:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8936_08_held_poll_is_answered_when_an_event_arrives() {
    let mut cfg = obie();
    cfg.long_poll_timeout = Duration::from_secs(5);
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    let poller = tpp.clone();
    let poll = tokio::spawn(async move {
        let r = poller.poll_ok(json!({"returnImmediately": false})).await;
        (r, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!poll.is_finished(), "the poll was not held");
    let injected = Instant::now();
    let jti = bank.inject_update(&tpp.client_id, "pay-1").await;
    let (r, answered) = tokio::time::timeout(LIMIT, poll)
        .await
        .expect("poll timed out")
        .expect("poll task");
    let latency = answered.saturating_duration_since(injected);
    assert!(
        latency < Duration::from_millis(300),
        "answered {latency:?} after the event"
    );
    assert_eq!(r.keys(), [jti.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8936_08_other_tpps_events_do_not_answer_a_held_poll() {
    let mut cfg = obie();
    cfg.long_poll_timeout = Duration::from_millis(400);
    let bank = TestBank::start(cfg).await;
    let a = bank.subscribed_tpp().await;
    let b = bank.subscribed_tpp().await;
    let poller = a.clone();
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let r = poller.poll_ok(json!({})).await;
        (r, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    bank.inject_update(&b.client_id, "pay-b").await;
    let (r, held) = tokio::time::timeout(LIMIT, poll).await.unwrap().unwrap();
    assert!(r.sets.is_empty());
    assert!(held >= Duration::from_millis(320), "held {held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap14_ack_only_long_poll_is_answered_at_once() {
    let mut cfg = obie();
    cfg.long_poll_timeout = Duration::from_secs(5);
    let (bank, tpp, jtis) = queued_with(cfg, 1).await;
    let started = Instant::now();
    let r = tpp
        .poll_ok(json!({"returnImmediately": false, "maxEvents": 0, "ack": [jtis[0]]}))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(r.sets.is_empty());
    assert_eq!(r.more_available, Some(false));
    // With a SET awaiting, a long poll returns it at once too.
    let j = bank.inject_update(&tpp.client_id, "p").await;
    let started = Instant::now();
    let r = tpp.poll_ok(json!({"returnImmediately": false})).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(r.keys(), [j.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8936_09_stopping_the_sandbox_answers_held_polls_at_once() {
    let mut cfg = obie();
    cfg.long_poll_timeout = Duration::from_secs(3);
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    let poller = tpp.clone();
    let poll = tokio::spawn(async move { poller.poll(json!({})).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!poll.is_finished(), "the poll was not held");
    let started = Instant::now();
    bank.stop().await;
    let took = started.elapsed();
    let r = tokio::time::timeout(LIMIT, poll).await.unwrap().unwrap();
    // A held poll is answered as a timed-out one (200, empty) instead of keeping the sandbox
    // (and Ctrl-C of `obevents sandbox`) waiting for the full long-poll timeout.
    r.expect(200);
    assert_eq!(r.json(), json!({"sets": {}, "moreAvailable": false}));
    assert!(
        took < Duration::from_secs(1),
        "stop() waited {took:?} for a held long poll"
    );
}

/// AP-09 under concurrency: once an acknowledging poll has been answered, no poll that starts
/// afterwards — from any concurrent poller of the same TPP — serves that SET again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap09_concurrent_pollers_never_see_a_set_after_its_ack_was_answered() {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    for i in 0..60 {
        bank.inject_update(&tpp.client_id, &format!("c{i}")).await;
    }
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut pollers = Vec::new();
    for _ in 0..3 {
        let (tpp, acked) = (tpp.clone(), Arc::clone(&acked));
        pollers.push(tokio::spawn(async move {
            let mut pending: Vec<String> = Vec::new();
            for _ in 0..200 {
                // What was acknowledged (and answered) before this request started.
                let before: HashSet<String> = acked.lock().unwrap().clone();
                let r = tpp
                    .poll_ok(json!({"returnImmediately": true, "maxEvents": 5, "ack": pending}))
                    .await;
                acked.lock().unwrap().extend(pending.drain(..));
                let keys: Vec<String> = r.keys().into_iter().map(String::from).collect();
                for k in &keys {
                    assert!(!before.contains(k), "{k} served after its ack was answered");
                }
                if keys.is_empty() && acked.lock().unwrap().len() == 60 {
                    break;
                }
                pending = keys;
            }
        }));
    }
    for p in pollers {
        p.await.expect("poller");
    }
    assert_eq!(acked.lock().unwrap().len(), 60);
    bank.stop().await;
}
