//! Store domain tests, each run on SQLite and on PostgreSQL (when a test server is set; see
//! `testing`): polling order and scope, invariants held by the database under concurrency,
//! triggers committed whole, and delivery rows.

use super::testing::{TempPg, server_or_skip};
use super::*;
use crate::sandbox::domain::{
    DeliveryState, Dialect, DueDelivery, INTERRUPTED, NewDelivery, RetryOutcome,
};

/// A client id from a literal.
pub(super) fn cid(s: &str) -> ClientId {
    ClientId::from(s)
}

/// A claim at `now` with leases until `until`, for up to `n` deliveries, every URL with room
/// for all of them.
pub(super) fn claims(now: Timestamp, until: Timestamp, n: usize) -> claim::Claim {
    claim::Claim {
        now,
        lease: std::time::Duration::from_millis(
            u64::try_from(until.millis_since(now)).unwrap_or(0),
        ),
        limit: n,
        room: Default::default(),
        default_room: n,
    }
}

/// A time from a literal of unix milliseconds.
pub(super) fn ms(n: i64) -> Timestamp {
    Timestamp::from_millis(n)
}

/// A registered (not seeded) client created at `created_secs`.
pub(super) fn client(id: &str, created_secs: i64) -> Client {
    Client {
        client_id: cid(id),
        secret_hash: "h".into(),
        client_name: format!("name {id}"),
        scopes: vec!["accounts".into()],
        jwks: None,
        created_at: Timestamp::from_secs(created_secs),
        seeded: false,
        auth_method: "client_secret_basic".into(),
        tls_subject_dn: None,
    }
}

/// A SQLite file path of one test, removed (with its WAL files) when this is dropped.
pub(super) struct TempSqlite(pub String);

impl TempSqlite {
    pub(super) fn new() -> TempSqlite {
        let file = format!("obevents-store-{}", uuid::Uuid::new_v4());
        TempSqlite(
            std::env::temp_dir()
                .join(file)
                .to_string_lossy()
                .to_string(),
        )
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0));
        }
    }
}

fn event(client: &str, jti: &str) -> NewEvent {
    NewEvent {
        event_id: jti.into(),
        jti: jti.into(),
        client_id: client.into(),
        event_type: "t".into(),
        resource_id: "r".into(),
        resource_type: "x".into(),
        resource_links: Vec::new(),
        txn: Some(format!("txn-{jti}")),
        toe: Timestamp::from_secs(0),
        details: Default::default(),
        token: Some(format!("token-{jti}")),
        poll: true,
        created_at: Timestamp::from_secs(0),
        deliveries: Vec::new(),
    }
}

async fn poll(store: &Store, client: &str, ack: &[String], limit: usize) -> PollBatch {
    store
        .poll(&PollOps {
            client_id: &cid(client),
            scope_acks: true,
            ack,
            set_errs: &[],
            drop_errored: false,
            scope_select: true,
            limit,
        })
        .await
        .unwrap()
}

fn jtis(b: &PollBatch) -> Vec<&str> {
    b.sets.iter().map(|s| s.0.as_str()).collect()
}

/// Runs `body` against a fresh SQLite store and, when available, a fresh PostgreSQL one.
macro_rules! on_both_engines {
    ($name:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $body(Store::open(":memory:").await.unwrap()).await;
            if let Some(server) = server_or_skip(stringify!($name)) {
                let db = TempPg::create(&server).await.unwrap();
                $body(Store::open(&db.url).await.unwrap()).await;
            }
        }
    };
}

async fn poll_is_oldest_first_scoped_and_acks_first(store: Store) {
    for i in 0..3 {
        store
            .insert_events(&[event("a", &format!("a{i}"))])
            .await
            .unwrap();
    }
    store.insert_events(&[event("b", "b0")]).await.unwrap();
    let b = poll(&store, "a", &[], 2).await;
    assert_eq!(jtis(&b), ["a0", "a1"]);
    assert!(b.more_available);
    let b = poll(&store, "a", &["a0".into(), "a1".into(), "b0".into()], 10).await;
    assert_eq!(jtis(&b), ["a2"]);
    assert!(!b.more_available);
    // b's event was not touched by a's ack.
    assert_eq!(poll(&store, "b", &[], 10).await.sets.len(), 1);
    assert_eq!(
        store
            .unknown_jtis(&cid("a"), &["a0".into(), "zz".into()])
            .await
            .unwrap(),
        vec!["zz".to_string()]
    );
    // Acknowledge-only answers with moreAvailable and returns nothing.
    let b = poll(&store, "a", &["a2".into()], 0).await;
    assert!(b.sets.is_empty() && !b.more_available);
}
on_both_engines!(
    poll_order_scope_and_acks,
    poll_is_oldest_first_scoped_and_acks_first
);

/// A TPP found with nothing awaiting (which SQLite then answers from memory) still gets what
/// any later trigger queues for it, by either write path, and after its own acks emptied it.
async fn an_empty_queue_sees_every_later_event(store: Store) {
    assert!(poll(&store, "q", &[], 10).await.sets.is_empty());
    assert!(poll(&store, "q", &[], 0).await.sets.is_empty());
    store.insert_events(&[event("q", "q0")]).await.unwrap();
    assert_eq!(jtis(&poll(&store, "q", &[], 10).await), ["q0"]);
    // Acked empty, then fed through the group commit's path.
    assert!(poll(&store, "q", &["q0".into()], 10).await.sets.is_empty());
    assert!(poll(&store, "q", &[], 10).await.sets.is_empty());
    let write = Write::Trigger {
        change: None,
        events: vec![event("q", "q1")].into(),
    };
    let done = store.apply_writes(&[write]).await.unwrap();
    assert!(matches!(done[..], [Ok(true)]));
    let b = poll(&store, "q", &[], 0).await;
    assert!(b.more_available, "an acknowledge-only poll sees q1 waiting");
    assert_eq!(jtis(&poll(&store, "q", &[], 10).await), ["q1"]);
    // Another TPP's event and a leaking (unscoped) select are not answered from memory.
    assert!(poll(&store, "q", &["q1".into()], 10).await.sets.is_empty());
    store.insert_events(&[event("r", "r0")]).await.unwrap();
    assert!(poll(&store, "q", &[], 10).await.sets.is_empty());
    let leak = PollOps {
        client_id: &cid("q"),
        scope_acks: true,
        ack: &[],
        set_errs: &[],
        drop_errored: false,
        scope_select: false,
        limit: 10,
    };
    let leaked = store.poll(&leak).await.unwrap();
    assert_eq!(jtis(&leaked), ["r0"]);
}
on_both_engines!(
    empty_queue_sees_later_events,
    an_empty_queue_sees_every_later_event
);

fn sub(id: &str, client: &str) -> Subscription {
    Subscription {
        id: id.into(),
        client_id: client.into(),
        version: "3.1".into(),
        callback_url: None,
        event_types: None,
        created_at: Timestamp::from_secs(1),
    }
}

async fn one_subscription_per_client_held_by_the_database(store: Store) {
    // ES-03 under concurrency: 50 pairs of simultaneous inserts, exactly one wins each pair.
    let mut tasks = Vec::new();
    for pair in 0..50 {
        for n in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .insert_subscription(&sub(&format!("s{pair}-{n}"), &format!("c{pair}")), false)
                    .await
                    .unwrap()
            }));
        }
    }
    let mut inserted = 0;
    for t in tasks {
        inserted += usize::from(t.await.unwrap());
    }
    assert_eq!(inserted, 50);
    for pair in 0..50 {
        assert_eq!(
            store
                .subscriptions_of(&cid(&format!("c{pair}")))
                .await
                .unwrap()
                .len(),
            1
        );
    }
    // The subscription-no-409 fault admits a second row; the index still holds the first.
    assert!(
        store
            .insert_subscription(&sub("x2", "c0"), true)
            .await
            .unwrap()
    );
    assert_eq!(store.subscriptions_of(&cid("c0")).await.unwrap().len(), 2);
    // Deleting frees the slot.
    for s in store.subscriptions_of(&cid("c1")).await.unwrap() {
        assert!(store.delete_subscription(&s.id, true).await.unwrap());
    }
    assert!(
        store
            .insert_subscription(&sub("again", "c1"), false)
            .await
            .unwrap()
    );
    // Callback URLs: the same rule (CB-03).
    let cb = |id: &str| CallbackUrl {
        id: id.into(),
        client_id: "c9".into(),
        url: "https://x/v3.1/event-notifications".into(),
        version: "3.1".into(),
        created_at: Timestamp::from_secs(1),
    };
    assert!(store.insert_callback_url(&cb("u1"), false).await.unwrap());
    assert!(!store.insert_callback_url(&cb("u2"), false).await.unwrap());
}
on_both_engines!(
    one_subscription_per_client,
    one_subscription_per_client_held_by_the_database
);

async fn keys_are_created_once_under_concurrency(store: Store) {
    let mut tasks = Vec::new();
    for n in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .meta_get_or_insert("k", move || format!("v{n}"))
                .await
                .unwrap()
        }));
    }
    let mut values = std::collections::BTreeSet::new();
    for t in tasks {
        values.insert(t.await.unwrap());
    }
    assert_eq!(values.len(), 1, "{values:?}");
}
on_both_engines!(meta_created_once, keys_are_created_once_under_concurrency);

fn consent(id: &str) -> Consent {
    Consent {
        consent_id: id.into(),
        client_id: "a".into(),
        status: ConsentStatus::Authorised,
        permissions: vec!["ReadAccountsBasic".into()],
        expiration: None,
        transaction_from: None,
        transaction_to: None,
        // 2026-01-01T00:00:00Z, as the consents table spells it.
        created_at: Timestamp::from_secs(1_767_225_600),
        status_updated_at: Timestamp::from_secs(1_767_225_600),
    }
}

async fn a_trigger_commits_whole_or_not_at_all(store: Store) {
    store.insert_consent(&consent("c1")).await.unwrap();
    let revoke = ConsentStatusChange {
        consent_id: "c1".into(),
        from: ConsentStatus::Authorised,
        status: ConsentStatus::Revoked,
        at: Timestamp::from_secs(1_767_312_000),
    };
    // The second event repeats the first one's key: the whole trigger must roll back.
    let bad = [event("a", "e1"), event("a", "e1")];
    assert!(store.commit_trigger(Some(&revoke), &bad).await.is_err());
    let c = store
        .consent(&ConsentId::from("c1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.status, ConsentStatus::Authorised);
    assert!(poll(&store, "a", &[], 10).await.sets.is_empty());
    // A good one stores both.
    assert!(
        store
            .commit_trigger(Some(&revoke), &[event("a", "e1")])
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .consent(&ConsentId::from("c1"))
            .await
            .unwrap()
            .unwrap()
            .status,
        ConsentStatus::Revoked
    );
    assert_eq!(jtis(&poll(&store, "a", &[], 10).await), ["e1"]);
}
on_both_engines!(trigger_atomicity, a_trigger_commits_whole_or_not_at_all);

fn with_delivery(client: &str, jti: &str, id: &str) -> NewEvent {
    let mut e = event(client, jti);
    e.deliveries.push(NewDelivery {
        id: id.into(),
        format: Dialect::Obie,
        url: URL.into(),
        next_attempt_at: ms(1_000),
    });
    e
}

fn attempt(n: i64, status: Option<i64>) -> Attempt {
    Attempt {
        attempt: n,
        started_at: ms(1_000 * n),
        latency_ms: 3,
        status_code: status,
        error: status.is_none().then(|| "connection refused".into()),
        interaction_id: Some(format!("i{n}")),
        response_excerpt: None,
        note: None,
        in_flight: false,
    }
}

/// One delivery walked through every state in order (pending, claimed, retried, delivered,
/// failed, retried by hand); long because each step depends on the one before it.
async fn deliveries_move_through_their_states(store: Store) {
    store
        .insert_events(&[
            with_delivery("a", "p1", "d1"),
            with_delivery("a", "p2", "d2"),
        ])
        .await
        .unwrap();
    assert!(
        store
            .claim_due(&claims(ms(999), ms(2_000), 10))
            .await
            .unwrap()
            .started
            .is_empty()
    );
    let due = store
        .claim_due(&claims(ms(1_000), ms(2_000), 10))
        .await
        .unwrap()
        .started;
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].token.as_deref(), Some("token-p1"));
    // Claimed: not due again until the lease runs out.
    assert!(
        store
            .claim_due(&claims(ms(1_500), ms(3_000), 10))
            .await
            .unwrap()
            .started
            .is_empty()
    );
    // d1: a 503, then retried and accepted: the SET leaves the polling queue.
    store
        .record_attempt(
            &DeliveryId::from("d1"),
            &attempt(1, Some(503)),
            AttemptVerdict::RetryAt(ms(5_000)),
        )
        .await
        .unwrap();
    assert_eq!(store.next_due().await.unwrap(), Some(ms(2_000)));
    assert_eq!(
        store
            .claim_due(&claims(ms(4_999), ms(6_000), 10))
            .await
            .unwrap()
            .started
            .len(),
        1
    );
    store
        .record_attempt(
            &DeliveryId::from("d1"),
            &attempt(2, Some(202)),
            AttemptVerdict::Delivered,
        )
        .await
        .unwrap();
    // d2: its first attempt outlived its lease (the claim at 4,999 took it again and started
    // attempt 2); attempt 2 fails for good: its SET stays awaiting for polling (R-09).
    store
        .record_attempt(
            &DeliveryId::from("d2"),
            &attempt(2, None),
            AttemptVerdict::Failed,
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_due(&claims(ms(i64::MAX - 1), ms(i64::MAX), 10))
            .await
            .unwrap()
            .started
            .is_empty()
    );
    assert_eq!(store.next_due().await.unwrap(), None);
    assert_eq!(jtis(&poll(&store, "a", &[], 10).await), ["p2"]);
    let records = store.deliveries_of(&cid("a"), 10).await.unwrap();
    let d1 = records.iter().find(|d| d.id == "d1").unwrap();
    assert_eq!(d1.state, DeliveryState::Delivered);
    assert_eq!(
        d1.attempts
            .iter()
            .map(|a| a.status_code)
            .collect::<Vec<_>>(),
        [Some(202), Some(503)]
    );
    let d2 = records.iter().find(|d| d.id == "d2").unwrap();
    assert_eq!(d2.state, DeliveryState::Failed);
    assert_eq!(d2.attempts[0].error.as_deref(), Some("connection refused"));
    // A retry on demand makes it due again; only for its own client.
    assert_eq!(
        store
            .retry_delivery(Some(&cid("b")), &DeliveryId::from("d2"), ms(7_000))
            .await
            .unwrap(),
        RetryOutcome::Unknown
    );
    assert_eq!(
        store
            .retry_delivery(Some(&cid("a")), &DeliveryId::from("d1"), ms(7_000))
            .await
            .unwrap(),
        RetryOutcome::Delivered
    );
    // The operator (no client named) reaches any client's delivery.
    assert_eq!(
        store
            .retry_delivery(None, &DeliveryId::from("d1"), ms(7_000))
            .await
            .unwrap(),
        RetryOutcome::Delivered
    );
    assert_eq!(
        store
            .retry_delivery(None, &DeliveryId::from("nope"), ms(7_000))
            .await
            .unwrap(),
        RetryOutcome::Unknown
    );
    assert_eq!(
        store
            .retry_delivery(Some(&cid("a")), &DeliveryId::from("d2"), ms(7_000))
            .await
            .unwrap(),
        RetryOutcome::Due
    );
    assert_eq!(
        store
            .claim_due(&claims(ms(7_000), ms(8_000), 10))
            .await
            .unwrap()
            .started[0]
            .id,
        "d2"
    );
    // Claimed, its attempt 3 is in flight: no retry on demand until it ends.
    assert_eq!(
        store
            .retry_delivery(Some(&cid("a")), &DeliveryId::from("d2"), ms(7_500))
            .await
            .unwrap(),
        RetryOutcome::InFlight
    );
    // Cancelling stops it (the subscription went away); attempt 3's lease ran out, so the
    // claim in there starts attempt 4 first.
    cancel_by_deleting_a_subscription(&store).await;
    // An attempt that was in flight when it was cancelled does not bring it back.
    store
        .record_attempt(
            &DeliveryId::from("d2"),
            &attempt(4, Some(503)),
            AttemptVerdict::RetryAt(ms(10_000)),
        )
        .await
        .unwrap();
    let d2 = store.deliveries_of(&cid("a"), 10).await.unwrap();
    let d2 = d2.iter().find(|d| d.id == "d2").unwrap();
    assert_eq!(d2.state, DeliveryState::Cancelled);
    assert!(
        store
            .claim_due(&claims(ms(i64::MAX - 1), ms(i64::MAX), 10))
            .await
            .unwrap()
            .started
            .is_empty()
    );
    // Resetting a client's events takes their deliveries with them.
    store.reset_events(&cid("a")).await.unwrap();
    assert!(store.deliveries_of(&cid("a"), 10).await.unwrap().is_empty());
}
on_both_engines!(deliveries, deliveries_move_through_their_states);

/// How many attempts a's first delivery shows.
async fn attempts_shown(store: &Store) -> usize {
    store.deliveries_of(&cid("a"), 10).await.unwrap()[0]
        .attempts
        .len()
}

/// A claim starts the attempt it takes, before anything is sent: while it is in flight no
/// retry is accepted and no claim takes the delivery again; its outcome completes the same
/// row; one left in flight by a dead process is marked interrupted when its lease has run out
/// and a claim starts the next.
async fn claims_start_attempts(store: Store) {
    store
        .insert_events(&[with_delivery("a", "x1", "d1")])
        .await
        .unwrap();
    let d1 = DeliveryId::from("d1");
    let due = store
        .claim_due(&claims(ms(1_000), ms(6_000), 10))
        .await
        .unwrap()
        .started;
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].attempt, due[0].started_at), (1, ms(1_000)));
    assert_eq!(
        store
            .retry_delivery(Some(&cid("a")), &d1, ms(1_500))
            .await
            .unwrap(),
        RetryOutcome::InFlight
    );
    let shown = store.deliveries_of(&cid("a"), 10).await.unwrap();
    let first = &shown[0].attempts[0];
    assert!(first.in_flight, "{first:?}");
    assert_eq!(
        first.interaction_id.as_deref(),
        Some(&*due[0].interaction_id)
    );
    // Within the lease: not claimed again.
    assert!(
        store
            .claim_due(&claims(ms(5_999), ms(10_999), 10))
            .await
            .unwrap()
            .started
            .is_empty()
    );
    // The process died; the lease ran out; the next claim marks the first interrupted.
    let again = store
        .claim_due(&claims(ms(9_000), ms(14_000), 10))
        .await
        .unwrap()
        .started;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
    assert_ne!(again[0].interaction_id, due[0].interaction_id);
    let shown = store.deliveries_of(&cid("a"), 10).await.unwrap();
    assert_eq!(shown[0].attempts[1].error.as_deref(), Some(INTERRUPTED));
    // Attempt 1's own outcome comes back late: kept on its row, it neither moves the delivery
    // (still leased by attempt 2) nor lowers its count, so the next number stays free.
    store
        .record_attempt(
            &d1,
            &attempt(1, Some(503)),
            AttemptVerdict::RetryAt(ms(9_500)),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_due(&claims(ms(9_600), ms(14_600), 10))
            .await
            .unwrap()
            .started
            .is_empty()
    );
    store
        .record_attempt(
            &d1,
            &attempt(2, Some(503)),
            AttemptVerdict::RetryAt(ms(20_000)),
        )
        .await
        .unwrap();
    let shown = store.deliveries_of(&cid("a"), 10).await.unwrap();
    let attempts = &shown[0].attempts;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(
        (attempts[0].status_code, attempts[0].in_flight),
        (Some(503), false)
    );
    assert_eq!(attempts[1].status_code, Some(503));
    assert!(!attempts[1].in_flight);
    assert_eq!(
        store
            .retry_delivery(Some(&cid("a")), &d1, ms(10_000))
            .await
            .unwrap(),
        RetryOutcome::Due
    );
    let third = store
        .claim_due(&claims(ms(10_000), ms(15_000), 10))
        .await
        .unwrap()
        .started;
    assert_eq!(third[0].attempt, 3);
    store
        .record_attempt(&d1, &attempt(3, Some(202)), AttemptVerdict::Delivered)
        .await
        .unwrap();
    assert!(
        store
            .claim_due(&claims(ms(30_000), ms(35_000), 10))
            .await
            .unwrap()
            .started
            .is_empty()
    );
    assert_eq!(attempts_shown(&store).await, 3);
}

on_both_engines!(claims_start, claims_start_attempts);

/// A claim takes no more deliveries to one URL than the URL's room (what the worker may
/// still hold for it), oldest first, and leaves the rest due for the next claim.
async fn claims_keep_each_urls_room(store: Store) {
    let to = |jti: &str, id: &str, url: &str| {
        let mut e = with_delivery("a", jti, id);
        e.deliveries[0].url = url.into();
        e
    };
    store
        .insert_events(&[
            to("x1", "d1", "https://one.example/hook"),
            to("x2", "d2", "https://one.example/hook"),
            to("x3", "d3", "https://one.example/hook"),
            to("x4", "d4", "https://two.example/hook"),
            to("x5", "d5", "https://three.example/hook"),
        ])
        .await
        .unwrap();
    let mut claim = claims(ms(1_000), ms(6_000), 10);
    claim.default_room = 2;
    claim.room.insert("https://three.example/hook".into(), 0);
    let ids = |due: Vec<DueDelivery>| -> Vec<String> {
        let mut ids: Vec<String> = due.into_iter().map(|d| d.id.to_string()).collect();
        ids.sort();
        ids
    };
    let first = store.claim_due(&claim).await.unwrap().started;
    assert_eq!(ids(first), ["d1", "d2", "d4"]);
    claim.room.clear();
    assert_eq!(
        ids(store.claim_due(&claim).await.unwrap().started),
        ["d3", "d5"]
    );
}

on_both_engines!(claims_room, claims_keep_each_urls_room);

/// One URL's backlog filling a claim's window (its room taken, other URLs' rows past the
/// window unseen) makes the claim say so; the next claim, with that URL full, reaches the
/// row behind it.
async fn claims_cut_short_by_one_urls_backlog(store: Store) {
    let (busy, quiet) = ("https://busy.example/hook", "https://quiet.example/hook");
    let to = |n: usize, url: &str, due: i64| {
        let mut e = with_delivery("a", &format!("x{n}"), &format!("d{n}"));
        e.deliveries[0].url = url.into();
        e.deliveries[0].next_attempt_at = ms(due);
        e
    };
    let mut events: Vec<NewEvent> = (0..8).map(|n| to(n, busy, 1_000)).collect();
    events.push(to(8, quiet, 1_001));
    store.insert_events(&events).await.unwrap();
    let mut claim = claims(ms(2_000), ms(7_000), 2);
    claim.default_room = 1;
    assert_eq!(claim.window(), 8);
    let first = store.claim_due(&claim).await.unwrap();
    assert_eq!(first.started.len(), 1);
    assert_eq!(first.started[0].url, busy);
    assert!(first.cut_short, "the busy URL's rows filled the window");
    assert_eq!(first.next_due, Some(ms(1_000)), "the rows it left are due");
    claim.room.insert(busy.into(), 0);
    let next = store.claim_due(&claim).await.unwrap();
    let ids: Vec<String> = next.started.iter().map(|d| d.id.to_string()).collect();
    assert_eq!(ids, ["d8"]);
    assert!(!next.cut_short, "every due row it could take was seen");
    let rest = store
        .claim_due(&claims(ms(2_000), ms(7_000), 10))
        .await
        .unwrap();
    assert_eq!(rest.started.len(), 7);
    assert_eq!(
        rest.next_due,
        Some(ms(7_000)),
        "all leased: due when the leases end"
    );
}

on_both_engines!(claims_cut_short, claims_cut_short_by_one_urls_backlog);

/// SQLite, held by one process only, reclaims at start what a previous process left in flight.
#[tokio::test]
async fn sqlite_reclaims_its_own_leases_at_start() {
    let store = Store::open(":memory:").await.unwrap();
    store
        .insert_events(&[with_delivery("a", "x1", "d1")])
        .await
        .unwrap();
    let due = store
        .claim_due(&claims(ms(1_000), ms(6_000), 10))
        .await
        .unwrap()
        .started;
    assert_eq!(due.len(), 1);
    assert_eq!(store.reclaim_leases(ms(5_000)).await.unwrap(), 1);
    assert_eq!(store.next_due().await.unwrap(), Some(ms(5_000)));
    let shown = store.deliveries_of(&cid("a"), 10).await.unwrap();
    assert_eq!(shown[0].attempts[0].error.as_deref(), Some(INTERRUPTED));
}

/// Stops a's pending delivery to `URL` the way the API does: a's subscription with that
/// CallbackUrl goes away (b's going away leaves it alone).
async fn cancel_by_deleting_a_subscription(store: &Store) {
    for client in ["b", "a"] {
        let s = Subscription {
            callback_url: Some(URL.into()),
            ..sub(&format!("sub-{client}"), client)
        };
        assert!(store.insert_subscription(&s, false).await.unwrap());
        assert!(store.delete_subscription(&s.id, true).await.unwrap());
        let pending = store
            .claim_due(&claims(ms(9_000), ms(9_000), 10))
            .await
            .unwrap()
            .started;
        assert_eq!(pending.len(), usize::from(client == "b"), "after {client}");
    }
}

const URL: &str = "https://tpp.example/v3.1/event-notifications";

fn ysub(id: &str, client: &str, t: &str) -> crate::sandbox::domain::YapilySubscription {
    crate::sandbox::domain::YapilySubscription {
        id: id.into(),
        client_id: client.into(),
        event_type_id: t.into(),
        url: format!("https://{client}.example/hook"),
        created_at: ms(1),
        deleted: false,
    }
}

/// YA-03 held by the database: one live subscription per application and type.
async fn yapily_subscriptions_one_per_type(store: Store) {
    let t = "payment.status.completed";
    assert!(
        store
            .insert_yapily_subscription(&ysub("1", "a", t), false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_yapily_subscription(&ysub("2", "a", t), false)
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_yapily_subscription(&ysub("3", "a", "consent.revoked"), false)
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_yapily_subscription(&ysub("4", "b", t), false)
            .await
            .unwrap()
    );
    // The duplicate fault admits a second row.
    assert!(
        store
            .insert_yapily_subscription(&ysub("5", "b", t), true)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .yapily_subscriptions_of(&cid("a"), false)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .foreign_yapily_url(&cid("a"))
            .await
            .unwrap()
            .as_deref(),
        Some("https://b.example/hook")
    );
    // A kept (fault) deletion hides the row from the API but frees the slot.
    assert!(
        store
            .delete_yapily_subscription(&cid("a"), t, true)
            .await
            .unwrap()
    );
    let live = store
        .yapily_subscriptions_of(&cid("a"), false)
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    let all = store
        .yapily_subscriptions_of(&cid("a"), true)
        .await
        .unwrap();
    assert!(all.iter().any(|s| s.deleted && s.event_type_id == t));
    assert!(
        store
            .insert_yapily_subscription(&ysub("6", "a", t), false)
            .await
            .unwrap()
    );
    // A real deletion removes it.
    assert!(
        store
            .delete_yapily_subscription(&cid("a"), t, false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_yapily_subscription(&cid("a"), t, false)
            .await
            .unwrap()
    );
}
on_both_engines!(yapily_subscriptions, yapily_subscriptions_one_per_type);

#[tokio::test]
async fn sqlite_data_survives_reopen_and_newer_databases_are_refused() {
    let file = TempSqlite::new();
    let path = &file.0;
    {
        let store = Store::open(path).await.unwrap();
        store.insert_events(&[event("a", "x")]).await.unwrap();
        store.meta_get_or_insert("k", || "v1".into()).await.unwrap();
    }
    {
        let store = Store::open(path).await.unwrap();
        assert_eq!(
            store.meta_get_or_insert("k", || "v2".into()).await.unwrap(),
            "v1"
        );
        assert_eq!(poll(&store, "a", &[], 5).await.sets.len(), 1);
    }
    {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)",
            [],
        )
        .unwrap();
    }
    let err = Store::open(path).await.unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer obevents"), "{err}");
}

#[tokio::test]
async fn postgres_refuses_a_newer_database() {
    let Some(server) = server_or_skip("postgres_refuses_a_newer_database") else {
        return;
    };
    let db = TempPg::create(&server).await.unwrap();
    let store = Store::open(&db.url).await.unwrap();
    if let Store::Postgres(p) = &store {
        p.conn()
            .await
            .unwrap()
            .execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)",
                &[],
            )
            .await
            .unwrap();
    }
    drop(store);
    let err = Store::open(&db.url).await.unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
}

mod group;
mod migrations;
mod polling;
mod portal;
mod referee_runs;
mod retention;
mod tatra;
mod tpp_faults;
mod transactions;
mod units;
