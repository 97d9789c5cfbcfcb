//! Every time column keeps the unit it has always had, now that records carry [`Timestamp`]s:
//! seconds for clients, subscriptions, callback urls and events, RFC 3339 seconds for consents,
//! milliseconds for deliveries, attempts, Yapily and Tatra rows. Checked on the stored values
//! themselves (read past the store), so a database of an earlier release reads the same and
//! needs no migration; and the records read back as the times they were written with.

use tokio_postgres::NoTls;

use super::*;
use crate::sandbox::domain::{
    TatraAccount, TatraConsent, TatraSettings, TatraTask, TatraTaskBank, YapilySubscription,
};

/// 2023-11-14T22:13:20.123Z: a time with milliseconds, so a seconds column shows it drops them.
const T: i64 = 1_700_000_000_123;
const SECS: &str = "1700000000";
const MILLIS: &str = "1700000000123";

/// Writes one record of each kind, every time `T`, through the store.
async fn write_all(store: &Store) {
    let t = ms(T);
    store
        .upsert_client(&Client {
            client_id: cid("c"),
            secret_hash: "h".into(),
            client_name: "n".into(),
            scopes: vec!["accounts".into()],
            jwks: None,
            created_at: t,
            seeded: false,
            auth_method: "client_secret_basic".into(),
            tls_subject_dn: None,
        })
        .await
        .unwrap();
    let s = Subscription {
        created_at: t,
        ..sub("s", "c")
    };
    assert!(store.insert_subscription(&s, false).await.unwrap());
    let cb = CallbackUrl {
        id: "u".into(),
        client_id: cid("c"),
        url: "https://c.example/cb".into(),
        version: "3.1".into(),
        created_at: t,
    };
    assert!(store.insert_callback_url(&cb, false).await.unwrap());
    store
        .insert_consent(&Consent {
            created_at: t,
            status_updated_at: t,
            ..consent("k")
        })
        .await
        .unwrap();
    let mut e = event("c", "e");
    (e.toe, e.created_at) = (t, t);
    e.deliveries = NewDelivery::to_each(Dialect::Obie, ["https://c.example/cb".into()], t);
    let delivery = e.deliveries[0].id.clone();
    store.insert_events(&[e]).await.unwrap();
    let attempt = Attempt {
        started_at: t,
        ..attempt(1, Some(503))
    };
    store
        .record_attempt(&delivery, &attempt, AttemptVerdict::RetryAt(t))
        .await
        .unwrap();
    let y = YapilySubscription {
        created_at: t,
        ..ysub("y", "c", "consent.revoked")
    };
    assert!(store.insert_yapily_subscription(&y, false).await.unwrap());
    store
        .put_tatra_settings(&TatraSettings {
            client_id: cid("c"),
            enabled: true,
            url: Some("https://c.example/t".into()),
            security_header: String::new(),
            active_from: Some(t),
        })
        .await
        .unwrap();
    store
        .insert_tatra_consent(&TatraConsent {
            id: "tc".into(),
            client_id: cid("c"),
            accounts: vec![TatraAccount {
                account_id: "a".into(),
                bank_code: "SLSP".into(),
                iban: "SK00".into(),
            }],
            created_at: t,
        })
        .await
        .unwrap();
    store.insert_tatra_task(&task(t)).await.unwrap();
}

fn task(t: Timestamp) -> TatraTask {
    TatraTask {
        id: "tt".into(),
        client_id: cid("c"),
        consent_id: "tc".into(),
        banks: vec![TatraTaskBank {
            bank_code: "SLSP".into(),
            finish_at: t,
        }],
        created_at: t,
    }
}

/// Each stored value as text, and what every release has stored there.
fn expected() -> Vec<(&'static str, String)> {
    let e = |sql: &'static str, v: &str| (sql, v.to_string());
    vec![
        e("SELECT CAST(created_at AS TEXT) FROM clients", SECS),
        e(
            "SELECT CAST(created_at AS TEXT) FROM event_subscriptions",
            SECS,
        ),
        e("SELECT CAST(created_at AS TEXT) FROM callback_urls", SECS),
        e("SELECT created_at FROM consents", "2023-11-14T22:13:20Z"),
        e(
            "SELECT status_updated_at FROM consents",
            "2023-11-14T22:13:20Z",
        ),
        e("SELECT CAST(toe AS TEXT) FROM events", SECS),
        e("SELECT CAST(created_at AS TEXT) FROM events", SECS),
        e(
            "SELECT CAST(next_attempt_at AS TEXT) FROM deliveries",
            MILLIS,
        ),
        e(
            "SELECT CAST(started_at AS TEXT) FROM delivery_attempts",
            MILLIS,
        ),
        e(
            "SELECT CAST(created_at AS TEXT) FROM yapily_subscriptions",
            MILLIS,
        ),
        e(
            "SELECT CAST(active_from AS TEXT) FROM tatra_webhook_settings",
            MILLIS,
        ),
        e(
            "SELECT CAST(created_at AS TEXT) FROM tatra_consents",
            MILLIS,
        ),
        e(
            "SELECT CAST(created_at AS TEXT) FROM tatra_refresh_tasks",
            MILLIS,
        ),
        e(
            "SELECT banks FROM tatra_refresh_tasks",
            &format!(r#"[{{"bankCode":"SLSP","finishAt":{MILLIS}}}]"#),
        ),
    ]
}

/// Reads the records back through the store: seconds columns give whole seconds, the others
/// the time as written.
async fn read_all(store: &Store) {
    let secs = Timestamp::from_secs(T / 1000);
    let c = cid("c");
    assert_eq!(store.client(&c).await.unwrap().unwrap().created_at, secs);
    assert_eq!(
        store.subscriptions_of(&c).await.unwrap()[0].created_at,
        secs
    );
    assert_eq!(
        store.callback_urls_of(&c).await.unwrap()[0].created_at,
        secs
    );
    let k = store.consent(&"k".into()).await.unwrap().unwrap();
    assert_eq!((k.created_at, k.status_updated_at), (secs, secs));
    assert_eq!(store.events_of(&c, 1).await.unwrap()[0].created_at, secs);
    let d = &store.deliveries_of(&c, 1).await.unwrap()[0];
    assert_eq!(d.next_attempt_at, Some(ms(T)));
    assert_eq!(d.attempts[0].started_at, ms(T));
    let y = store.yapily_subscriptions_of(&c, false).await.unwrap();
    assert_eq!(y[0].created_at, ms(T));
    let s = store.tatra_settings(&c).await.unwrap().unwrap();
    assert_eq!(s.active_from, Some(ms(T)));
    let tc = store
        .tatra_consent(&c, &"tc".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tc.created_at, ms(T));
    let tt = store.tatra_task(&c, &"tt".into()).await.unwrap();
    assert_eq!(tt, Some(task(ms(T))));
}

#[tokio::test]
async fn sqlite_columns_keep_their_units() {
    let file = TempSqlite::new();
    let path = &file.0;
    {
        let store = Store::open(path).await.unwrap();
        write_all(&store).await;
        read_all(&store).await;
    }
    {
        // The store holds the file's lock while open; read the file once it is closed.
        let conn = rusqlite::Connection::open(path).unwrap();
        for (sql, want) in expected() {
            let got: String = conn.query_row(sql, [], |r| r.get(0)).unwrap();
            assert_eq!(got, want, "{sql}");
        }
    }
    read_all(&Store::open(path).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_columns_keep_their_units() {
    let Some(server) = server_or_skip("postgres_columns_keep_their_units") else {
        return;
    };
    let db = TempPg::create(&server).await.unwrap();
    let store = Store::open(&db.url).await.unwrap();
    write_all(&store).await;
    read_all(&store).await;
    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    let driver = tokio::spawn(conn);
    for (sql, want) in expected() {
        let got: String = client.query_one(sql, &[]).await.unwrap().get(0);
        assert_eq!(got, want, "{sql}");
    }
    drop(client);
    let _ = driver.await;
}
