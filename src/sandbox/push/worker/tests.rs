//! The push worker's tests: backlogs, claims ahead, slow and silent TPPs, stopping.

use std::time::{Duration, Instant};

use super::answer_note;
use crate::sandbox::domain::{Dialect, NewDelivery, NewEvent, Timestamp};
use crate::sandbox::{Bank, Sandbox, SandboxConfig};

/// A receiver on 127.0.0.1 that answers 202 after `hold`; its base URL, and a channel
/// that gets a message per request received.
async fn receiver(hold: Duration) -> (String, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(move || {
        let tx = tx.clone();
        async move {
            let _ = tx.send(());
            tokio::time::sleep(hold).await;
            axum::http::StatusCode::ACCEPTED
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, rx)
}

fn event(n: usize, client: &str, url: &str, due: Timestamp) -> NewEvent {
    NewEvent {
        event_id: format!("e{n}").into(),
        jti: format!("e{n}"),
        client_id: client.into(),
        event_type: "urn:uk:org:openbanking:events:resource-update".into(),
        resource_id: format!("r{n}"),
        resource_type: "domestic-payment".into(),
        resource_links: Vec::new(),
        txn: None,
        toe: Timestamp::now(),
        details: Default::default(),
        token: Some("e30.e30.c2ln".into()),
        poll: false,
        created_at: Timestamp::now(),
        deliveries: vec![NewDelivery {
            id: format!("d{n}").into(),
            format: Dialect::Obie,
            url: url.into(),
            next_attempt_at: due,
        }],
    }
}

/// A slow TPP's backlog, longer than one claim reads, does not hold back a delivery to
/// another TPP due just after it: the claim that fills the slow URL's room is cut
/// short and the worker claims again at once, rather than when the slow attempts end or
/// its idle wait (a second) runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_urls_backlog_does_not_hold_back_another_urls_delivery() {
    let (slow, _slow_seen) = receiver(Duration::from_secs(3)).await;
    let (quick, mut quick_seen) = receiver(Duration::ZERO).await;
    let mut cfg = SandboxConfig::for_bank(Bank::Obie);
    cfg.push.request_timeout = Duration::from_secs(5);
    let sandbox = Sandbox::start(cfg, ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // Let the worker find nothing and settle into its idle wait, so the wake below is the
    // only one it gets (a wake sent while it is busy is kept and would end a later wait).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = Timestamp::now();
    let backlog = 600;
    let mut events: Vec<NewEvent> = (0..backlog)
        .map(|n| event(n, "slow-tpp", &format!("{slow}/hook"), now))
        .collect();
    let later = now.saturating_add(Duration::from_millis(1));
    events.push(event(backlog, "quick-tpp", &format!("{quick}/hook"), later));
    sandbox.state.store.insert_events(&events).await.unwrap();
    let started = Instant::now();
    sandbox.state.push_wake.notify_one();
    let got = tokio::time::timeout(Duration::from_secs(10), quick_seen.recv()).await;
    let took = started.elapsed();
    sandbox.stop().await;
    assert!(matches!(got, Ok(Some(()))), "the quick TPP got nothing");
    assert!(
        took < Duration::from_millis(700),
        "the quick TPP's delivery waited {took:?} behind the slow TPP's backlog"
    );
}

/// A sandbox whose worker sends one request at a time to a URL, each bounded by
/// `timeout`, with `n` deliveries from `client` to `base`'s `/hook` due now and the
/// worker woken.
async fn one_lane(timeout: Duration, client: &str, base: &str, n: usize) -> Sandbox {
    let mut cfg = SandboxConfig::for_bank(Bank::Obie);
    cfg.push.request_timeout = timeout;
    cfg.push.per_destination = 1;
    let sandbox = Sandbox::start(cfg, ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let now = Timestamp::now();
    let events: Vec<NewEvent> = (0..n)
        .map(|i| event(i, client, &format!("{base}/hook"), now))
        .collect();
    sandbox.state.store.insert_events(&events).await.unwrap();
    sandbox.state.push_wake.notify_one();
    sandbox
}

/// [`one_lane`] to a receiver that answers after 400 ms, with six deliveries of `slow-tpp`,
/// once the first request has arrived.
async fn slow_lane_sending() -> Sandbox {
    let (slow, mut seen) = receiver(Duration::from_millis(400)).await;
    let sandbox = one_lane(Duration::from_secs(5), "slow-tpp", &slow, 6).await;
    let first = tokio::time::timeout(Duration::from_secs(5), seen.recv()).await;
    assert!(matches!(first, Ok(Some(()))), "nothing was sent");
    sandbox
}

/// A slow URL's deliveries are claimed one round of its lanes ahead, not more: with one
/// lane, one is sent and one waits in the worker (both attempts on record, in flight). The
/// waiting one's `startedAt` shows its claim while it waits and, with its outcome, when
/// it was sent: after the first one's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_urls_deliveries_wait_one_round_ahead_and_start_when_sent() {
    let sandbox = slow_lane_sending().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = "slow-tpp".into();
    let store = &sandbox.state.store;
    let claimed: Vec<(String, Timestamp)> = store
        .deliveries_of(&client, 10)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|d| {
            let a = d.attempts.first().filter(|a| a.in_flight)?;
            Some((d.id.to_string(), a.started_at))
        })
        .collect();
    assert_eq!(claimed.len(), 2, "one sent, one waiting: {claimed:?}");
    // Both answered: the second was sent after the first's answer.
    let deadline = Instant::now() + Duration::from_secs(5);
    let sent = loop {
        let shown = store.deliveries_of(&client, 10).await.unwrap();
        let done: Vec<Timestamp> = claimed
            .iter()
            .filter_map(|(id, _)| {
                let d = shown.iter().find(|d| d.id.as_str() == id)?;
                let a = d.attempts.first().filter(|a| !a.in_flight)?;
                Some(a.started_at)
            })
            .collect();
        if done.len() == 2 {
            break done;
        }
        assert!(Instant::now() < deadline, "the two attempts did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    sandbox.stop().await;
    let (first_sent, second_sent) = (sent[0].min(sent[1]), sent[0].max(sent[1]));
    let claimed_at = claimed.iter().map(|(_, at)| *at).max().unwrap();
    assert!(
        second_sent.millis_since(first_sent) >= 350,
        "sent at {first_sent:?} and {second_sent:?}"
    );
    assert!(
        second_sent.millis_since(claimed_at) >= 350,
        "claimed at {claimed_at:?}, its start still says {second_sent:?}"
    );
}

/// A stopping worker hands back what it claimed and has not sent: with one lane to a slow
/// URL, one delivery is out and one waits claimed; after the stop, only the one sent has an
/// attempt on record, and the waiting one is due again with the never-claimed ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_worker_hands_back_the_deliveries_it_did_not_send() {
    let sandbox = slow_lane_sending().await;
    let store = sandbox.state.store.clone();
    let client = "slow-tpp".into();
    let deadline = Instant::now() + Duration::from_secs(5);
    // One sent, one claimed behind it (both attempts on record, in flight).
    loop {
        let shown = store.deliveries_of(&client, 10).await.unwrap();
        if shown.iter().filter(|d| !d.attempts.is_empty()).count() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the second claim never showed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sandbox.stop().await;
    let shown = store.deliveries_of(&client, 10).await.unwrap();
    let tried: Vec<&str> = shown
        .iter()
        .filter(|d| !d.attempts.is_empty())
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(
        tried.len(),
        1,
        "only the delivery sent has an attempt: {tried:?}"
    );
    let due = store.due_count(Timestamp::now()).await.unwrap();
    assert_eq!(
        due, 5,
        "the one handed back and the four never claimed are due"
    );
}

/// A TPP that never answers holds its lane for a whole request timeout: the delivery
/// claimed behind it still goes out after that wait (the lease allows for it), rather than
/// being left to its lease and shown as interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_waiting_behind_a_timed_out_attempt_is_still_sent() {
    let (hanging, mut seen) = receiver(Duration::from_secs(30)).await;
    let sandbox = one_lane(Duration::from_millis(500), "hanging-tpp", &hanging, 2).await;
    for n in 1..=2 {
        let got = tokio::time::timeout(Duration::from_secs(5), seen.recv()).await;
        assert!(matches!(got, Ok(Some(()))), "request {n} was not sent");
    }
    sandbox.stop().await;
}

#[test]
fn notes_on_the_tpps_answer() {
    assert_eq!(answer_note(202, Some("i"), "i"), None);
    assert!(answer_note(200, Some("i"), "i").unwrap().contains("202"));
    assert!(
        answer_note(202, None, "i")
            .unwrap()
            .contains("x-fapi-interaction-id")
    );
    assert_eq!(answer_note(503, None, "i"), None);
}

#[test]
fn a_name_that_does_not_resolve_is_retried_and_a_refused_destination_is_not() {
    use super::super::guard::Blocked;
    let unresolved = super::not_sent(Blocked::Unresolved(
        "tpp.example.org does not resolve".into(),
    ));
    assert!(matches!(unresolved, super::Outcome::Connection(_)));
    assert!(unresolved.retryable());
    let refused = super::not_sent(Blocked::Refused("non-public address".into()));
    assert!(matches!(refused, super::Outcome::Refused(_)));
    assert!(!refused.retryable());
}
