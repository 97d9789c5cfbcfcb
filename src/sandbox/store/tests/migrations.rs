//! Databases migrated by the release before the engines shared their migration numbers still
//! open: a PostgreSQL one (which recorded `tatra` as version 4) is renumbered, not migrated
//! twice, and a SQLite one at version 5 opens as it is.

use tokio_postgres::NoTls;

use super::*;
use crate::sandbox::domain::TatraSettings;
use crate::sandbox::store::migrations::{self, Migration};

/// PostgreSQL's migrations as the previous release numbered them (their SQL is unchanged).
const OLD_POSTGRES: [(i64, &str); 4] = [
    (1, "initial"),
    (2, "client_auth_method"),
    (3, "yapily_subscriptions"),
    (4, "tatra"),
];

fn named(list: &'static [Migration], name: &str) -> &'static Migration {
    list.iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no migration {name}"))
}

fn tatra_settings() -> TatraSettings {
    TatraSettings {
        client_id: "a".into(),
        enabled: true,
        url: Some("https://a.example/hook".into()),
        security_header: String::new(),
        active_from: Some(ms(1)),
    }
}

/// Builds the database the previous release left after its first `upto` migrations, with a
/// Tatra settings row once its `tatra` migration is in.
async fn old_postgres_database(url: &str, upto: usize) {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    let driver = tokio::spawn(conn);
    client.batch_execute(migrations::TABLE_SQL).await.unwrap();
    for (version, name) in OLD_POSTGRES.into_iter().take(upto) {
        client
            .batch_execute(named(migrations::POSTGRES, name).sql)
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)",
                &[&version, &name],
            )
            .await
            .unwrap();
    }
    if upto == OLD_POSTGRES.len() {
        client
            .execute(
                "INSERT INTO tatra_webhook_settings (client_id, enabled, url, updated_at)
                 VALUES ('a', TRUE, 'https://a.example/hook', 0)",
                &[],
            )
            .await
            .unwrap();
    }
    drop(client);
    let _ = driver.await;
}

async fn recorded_postgres(store: &Store) -> Vec<(i64, String)> {
    let Store::Postgres(p) = store else {
        panic!("a PostgreSQL store");
    };
    p.conn()
        .await
        .unwrap()
        .query(
            "SELECT version, name FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn current(list: &[Migration]) -> Vec<(i64, String)> {
    list.iter()
        .map(|m| (m.version, m.name.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_postgres_database_is_renumbered_not_migrated_twice() {
    let Some(server) = server_or_skip("an_old_postgres_database_is_renumbered_not_migrated_twice")
    else {
        return;
    };
    for upto in [1, 2, 4] {
        let db = TempPg::create(&server).await.unwrap();
        old_postgres_database(&db.url, upto).await;
        // Applying `tatra` again would fail: its tables exist.
        let store = Store::open(&db.url).await.unwrap();
        assert_eq!(
            recorded_postgres(&store).await,
            current(migrations::POSTGRES)
        );
        if upto == OLD_POSTGRES.len() {
            let kept = store.tatra_settings(&cid("a")).await.unwrap().unwrap();
            assert_eq!(kept.url, tatra_settings().url);
        }
        store.put_tatra_settings(&tatra_settings()).await.unwrap();
        drop(store);
        // Opening again changes nothing.
        let store = Store::open(&db.url).await.unwrap();
        assert_eq!(
            recorded_postgres(&store).await,
            current(migrations::POSTGRES)
        );
    }
}

#[tokio::test]
async fn an_old_sqlite_database_at_version_5_opens() {
    let file = TempSqlite::new();
    let path = &file.0;
    {
        // What the previous release left: its five migrations recorded, user_version 5.
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(migrations::TABLE_SQL).unwrap();
        for m in migrations::SQLITE {
            conn.execute_batch(m.sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, 0)",
                rusqlite::params![m.version, m.name],
            )
            .unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute(
            "INSERT INTO tatra_webhook_settings (client_id, enabled, url, updated_at)
             VALUES ('a', 1, 'https://a.example/hook', 0)",
            [],
        )
        .unwrap();
    }
    let store = Store::open(path).await.unwrap();
    let kept = store.tatra_settings(&cid("a")).await.unwrap().unwrap();
    assert_eq!(kept.url, tatra_settings().url);
    drop(store);
    let conn = rusqlite::Connection::open(path).unwrap();
    let recorded: Vec<(i64, String)> = conn
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(recorded, current(migrations::SQLITE));
}
