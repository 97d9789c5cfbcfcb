//! `/readyz` on PostgreSQL (issue 21): ready while the database answers, 503 with the reason
//! while it is unreachable — its connections cut and new ones refused by the server, or the
//! network path to it silently dropped (a proxy that stops forwarding) — ready again once it
//! is back, while `/healthz` (liveness) answers throughout. The shared PostgreSQL server is
//! never stopped. SQLite's database is inside the process and cannot become unreachable;
//! `observability` checks its ready answer.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use obevents::sandbox::store::testing::TempPg;
use reqwest::Method;

use super::common::*;

/// Polls `/readyz` until it answers `status` (bounded by [`LIMIT`]); returns the body.
async fn wait_ready(bank: &TestBank, status: u16) -> String {
    wait_answer(bank, status, "").await
}

/// Polls `/readyz` until it answers `status` with a body containing `says` (bounded by
/// [`LIMIT`]); returns the body.
async fn wait_answer(bank: &TestBank, status: u16, says: &str) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let r = Resp::of(bank.request(Method::GET, "/readyz")).await;
        if r.status == status && r.text().contains(says) {
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
    // The first failure may be a pooled connection the server just ended; once the pool has
    // to reconnect, the reason is the server's refusal.
    let reason = wait_ready(&bank, 503).await;
    assert!(reason.starts_with("not ready: database"), "{reason}");
    let reason = wait_answer(&bank, 503, "not currently accepting connections").await;
    assert!(reason.starts_with("not ready: database"), "{reason}");
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

/// A TCP proxy in front of the PostgreSQL server that can be cut: while cut, its connections
/// are closed and new ones are accepted but never answered (a dead network path, not a
/// refusal); once open again, it forwards as before.
struct CuttableProxy {
    addr: SocketAddr,
    open: watch::Sender<bool>,
}

impl CuttableProxy {
    async fn start(upstream: String) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (open, _) = watch::channel(true);
        let gate = open.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, upstream.clone(), gate.subscribe()));
            }
        });
        CuttableProxy { addr, open }
    }

    fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }
}

/// Forwards `client` to `upstream` while the gate is open; holds it unanswered while it is cut.
async fn forward(mut client: TcpStream, upstream: String, mut gate: watch::Receiver<bool>) {
    if gate.wait_for(|open| *open).await.is_err() {
        return;
    }
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = gate.wait_for(|open| !*open) => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_within_its_bound_while_the_path_to_postgres_is_dead() {
    let db = temp_pg().await;
    // postgres://user:pass@HOST:PORT/name → the same through the proxy.
    let (head, rest) = db.url.split_once('@').unwrap();
    let (upstream, name) = rest.split_once('/').unwrap();
    let proxy = CuttableProxy::start(upstream.to_string()).await;
    let via_proxy = format!("{head}@{}/{name}", proxy.addr);
    let bank = TestBank::start_db(obie(), &via_proxy).await;
    assert_eq!(wait_ready(&bank, 200).await, "ready");
    proxy.set_open(false);
    // Pooled connections fail first; then new ones hang and the probe's own bound answers.
    let reason = wait_answer(&bank, 503, "did not answer within 2 s").await;
    assert_eq!(reason, "not ready: the database did not answer within 2 s");
    Resp::of(bank.request(Method::GET, "/healthz"))
        .await
        .expect(200);
    proxy.set_open(true);
    assert_eq!(wait_ready(&bank, 200).await, "ready");
    let tpp = bank.subscribed_tpp().await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    assert_eq!(tpp.poll_now().await.keys().len(), 1);
    bank.stop().await;
}
