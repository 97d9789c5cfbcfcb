//! `/readyz` on PostgreSQL (issue 21): ready while the database answers, 503 with the reason
//! while it is unreachable (its connections cut and new ones refused), ready again once it is
//! back, while `/healthz` (liveness) answers throughout. SQLite's database is inside the
//! process and cannot become unreachable; `observability` checks its ready answer.

use std::time::Duration;

use obevents::sandbox::store::testing::TempPg;
use reqwest::Method;

use super::common::*;

/// Polls `/readyz` until it answers `status` (bounded by [`LIMIT`]); returns the body.
async fn wait_ready(bank: &TestBank, status: u16) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let r = Resp::of(bank.request(Method::GET, "/readyz")).await;
        if r.status == status {
            return r.text();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz kept answering {} {}",
            r.status,
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Refuses new connections to `db` and ends the ones it has (the sandbox's pool and listener).
async fn cut_off(db: &TempPg) {
    let name = db.name();
    db.on_server(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = '{name}' AND pid <> pg_backend_pid();"
    ))
    .await
    .expect("cut the database off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_with_the_reason_while_postgres_is_unreachable_and_recovers() {
    let db = temp_pg().await;
    let bank = TestBank::start_db(obie(), &db.url).await;
    assert_eq!(wait_ready(&bank, 200).await, "ready");
    cut_off(&db).await;
    let reason = wait_ready(&bank, 503).await;
    assert!(reason.starts_with("not ready: database"), "{reason}");
    assert!(
        reason.contains("not currently accepting connections"),
        "{reason}"
    );
    Resp::of(bank.request(Method::GET, "/healthz"))
        .await
        .expect(200);
    // The metrics are still served meanwhile (the store-read gauges keep their last value).
    let r = Resp::of(
        bank.request(Method::GET, "/metrics")
            .basic_auth(ADMIN.0, Some(ADMIN.1)),
    )
    .await;
    r.expect(200);
    assert!(r.text().contains("obevents_store_pool_max_connections 16"));
    db.on_server(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db.name()
    ))
    .await
    .expect("let connections in again");
    assert_eq!(wait_ready(&bank, 200).await, "ready");
    // Working again, not only answering the probe.
    let tpp = bank.subscribed_tpp().await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    assert_eq!(tpp.poll_now().await.keys().len(), 1);
    bank.stop().await;
}
