//! Upgrading in place: a SQLite database written by release 0.1 (`fixtures/db/release-0.1.db`,
//! made with the 0.1 binary; what it holds is in `release-0.1.json`) opens, is migrated, and
//! keeps its clients, subscriptions, callback URLs, events with their ack state, and the
//! signing key's `kid`.

use serde_json::{Value, json};

use super::common::*;

fn fixture() -> (Value, TempDb) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/db/");
    let facts: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}release-0.1.json")).expect("fixture facts"),
    )
    .expect("fixture facts are JSON");
    let db = TempDb::new();
    std::fs::copy(format!("{dir}release-0.1.db"), &db.0).expect("copy the fixture");
    (facts, db)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

async fn tpp(bank: &TestBank, facts: &Value) -> Tpp {
    let id = facts["client_id"].as_str().expect("id");
    let secret = facts["client_secret"].as_str().expect("secret");
    Tpp {
        client_id: id.into(),
        client_secret: secret.into(),
        token: bank.token(id, secret, None).await,
        url: bank.url.clone(),
        http: bank.http.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_0_1_database_is_migrated_in_place_and_keeps_everything() {
    let (facts, db) = fixture();
    let bank = TestBank::start_db(obie(), &db.path()).await;
    assert_eq!(bank.kid().await, facts["kid"].as_str().expect("kid"));
    let a = tpp(&bank, &facts["tpp_a"]).await;
    let b = tpp(&bank, &facts["tpp_b"]).await;

    // Subscriptions (A has two: the second was made under the subscription-no-409 fault).
    let subs: Vec<String> = a
        .subscriptions()
        .await
        .iter()
        .map(|s| s["EventSubscriptionId"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(subs, strs(&facts["tpp_a"]["subscriptions"]));
    let cbs = b.callback_urls().await;
    assert_eq!(cbs[0]["CallbackUrlId"], facts["tpp_b"]["callback_url"]);
    // ES-03 now comes from the database's unique index, on migrated rows too.
    b.post("/event-subscriptions", &json!({"Data": {"Version": "3.1"}}))
        .await
        .ob_error(409, "UK.OBIE.Rules.ResourceAlreadyExists", None);

    // Events: acknowledged ones stay acknowledged, errored ones keep their error.
    let awaiting = strs(&facts["awaiting_a"]);
    let polled = a.poll_now().await;
    let mut keys: Vec<String> = polled.keys().into_iter().map(String::from).collect();
    keys.sort();
    let mut expected = awaiting.clone();
    expected.sort();
    assert_eq!(keys, expected);
    let stored = bank.stored_events(&a.client_id).await;
    let errored = stored
        .iter()
        .find(|e| {
            facts["errored_a"]
                .get(e["jti"].as_str().unwrap_or_default())
                .is_some()
        })
        .expect("the errored SET");
    assert_eq!(errored["err"], "jwtIss");
    let acked = strs(&facts["acknowledged_a"]);
    assert!(
        stored
            .iter()
            .any(|e| e["jti"] == acked[0].as_str() && e["state"] == "acknowledged")
    );
    assert_eq!(b.poll_now().await.keys(), strs(&facts["awaiting_b"]));
    // The SETs still verify with the kept key.
    let jwks = bank.jwks().await;
    for key in polled.keys() {
        open_set(polled.token(key), &jwks);
    }
    // New events go into the migrated table after the old ones.
    let new = bank.inject_update(&a.client_id, "after-upgrade").await;
    let r = a
        .poll_ok(json!({"returnImmediately": true, "ack": awaiting, "maxEvents": 10}))
        .await;
    assert_eq!(r.keys(), [new.as_str()]);
    bank.stop().await;

    // The schema version is recorded (and user_version follows it, so 0.1 refuses the file).
    let conn = rusqlite::Connection::open(&db.0).expect("open");
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let latest =
        obevents::sandbox::store::migrations::latest(obevents::sandbox::store::migrations::SQLITE);
    assert_eq!(versions, (1..=latest).collect::<Vec<_>>());
    let user_version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(user_version, latest);
    // Migration 7 counted the events already stored to their TPPs (the bound of stored
    // events reads these counts), and the events stored since were counted on top.
    let mismatched: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM (SELECT client_id, COUNT(*) AS n FROM events GROUP BY client_id) e
             LEFT JOIN tpp_event_counts c USING (client_id) WHERE c.stored IS NOT e.n",
            [],
            |r| r.get(0),
        )
        .expect("counts");
    assert_eq!(mismatched, 0);
    let counted: i64 = conn
        .query_row("SELECT SUM(stored) FROM tpp_event_counts", [], |r| r.get(0))
        .expect("sum");
    assert!(counted > 1, "{counted}");
}
