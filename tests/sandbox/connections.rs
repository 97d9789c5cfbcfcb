//! Bounded connections: half-sent headers, silent and idle kept-alive connections are closed
//! within the configured timeouts, connections over the cap are answered 503 at once, and
//! `/healthz` keeps answering while hundreds of idle connections are open.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::common::*;

/// A header timeout well apart from the idle timeout, so a test can tell which one closed a
/// connection.
fn limited() -> obevents::sandbox::SandboxConfig {
    let mut c = obie();
    c.server.header_read_timeout = Duration::from_millis(300);
    c.server.idle_timeout = Duration::from_millis(2_000);
    c.long_poll_timeout = Duration::from_millis(500);
    c
}

fn addr(bank: &TestBank) -> String {
    bank.url.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection; returns what it sent and how long it took.
async fn until_closed(s: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(LIMIT, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, started.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection stayed open for {LIMIT:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_half_sent_and_idle_connections_are_closed() {
    let bank = TestBank::start(limited()).await;
    let a = addr(&bank);
    // Silent: connects and sends nothing; the header timeout closes it, not the idle one.
    let mut silent = TcpStream::connect(&a).await.expect("connect");
    let (_, took) = until_closed(&mut silent).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1_500),
        "a silent connection closed after {took:?} (header timeout 300 ms)"
    );
    // Half-sent headers: closed by the header timeout too.
    let mut half = TcpStream::connect(&a).await.expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let (_, took) = until_closed(&mut half).await;
    assert!(took < Duration::from_millis(1_500), "{took:?}");
    // Kept alive after a full request, then quiet: the idle timeout, not the header one.
    let mut idle = TcpStream::connect(&a).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let (got, took) = until_closed(&mut idle).await;
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{got:?}"
    );
    assert!(
        took >= Duration::from_millis(1_800) && took < Duration::from_secs(4),
        "a kept-alive idle connection closed after {took:?} (idle timeout 2 s)"
    );
    // Kept alive, then a second head trickled in: the header timeout from its first byte.
    let mut slow = TcpStream::connect(&a).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(LIMIT, slow.read(&mut buf))
        .await
        .expect("answer")
        .expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    slow.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("write");
    let (_, took) = until_closed(&mut slow).await;
    assert!(took < Duration::from_millis(1_500), "{took:?}");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_long_poll_is_not_cut_as_idle() {
    let mut c = limited();
    c.long_poll_timeout = Duration::from_millis(1_500);
    c.server.idle_timeout = Duration::from_millis(500);
    let bank = TestBank::start(c).await;
    let tpp = bank.subscribed_tpp().await;
    let started = Instant::now();
    let r = tpp
        .poll(serde_json::json!({"returnImmediately": false}))
        .await;
    r.expect(200);
    assert!(
        started.elapsed() >= Duration::from_millis(1_400),
        "answered early"
    );
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_answered_503_at_once() {
    let mut c = obie();
    c.server.max_connections = 3;
    let bank = TestBank::start(c).await;
    let a = addr(&bank);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&a).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = TcpStream::connect(&a).await.expect("connect");
    let (got, took) = until_closed(&mut over).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("retry-after: 1") && text.contains("UK.OBIE.UnexpectedError"),
        "{text}"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Resp::of(bank.request(reqwest::Method::GET, "/healthz"))
        .await
        .expect(200);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_hundreds_of_idle_connections_are_open() {
    let bank = TestBank::start(obie()).await;
    let a = addr(&bank);
    let mut idle = Vec::new();
    for i in 0..400 {
        let mut s = TcpStream::connect(&a).await.expect("connect");
        if i % 2 == 0 {
            s.write_all(b"POST /open-banking/v3.1/events HTTP/1.1\r\n")
                .await
                .expect("write");
        }
        idle.push(s);
    }
    for _ in 0..20 {
        Resp::of(bank.request(reqwest::Method::GET, "/healthz"))
            .await
            .expect(200);
    }
    drop(idle);
    bank.stop().await;
}

/// A request refused before its body was read (no token: 401) does not cost the client its
/// connection or its answer: with bodies up to the limit the rest is read and the connection
/// kept; above it the answer says `Connection: close` and the client still gets it, never a
/// reset, as long as what it still sends fits the lingering close's budget (8 MiB). Real clients (reqwest) send the bodies, one after another on one pooled connection
/// and concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_with_bodies_are_answered_without_resets() {
    let bank = TestBank::start(obie()).await;
    let url = bank.api_url("/event-subscriptions");
    let client = http();
    let limit = obie().body_limit;
    // What the lingering close reads after refusing an oversized body (`edge_io`): beyond
    // it the server stops reading, as bounded work demands.
    let linger_budget = 8 * 1024 * 1024;
    for size in [
        10,
        64 * 1024,
        1024 * 1024,
        limit,
        limit + 512 * 1024,
        8 * limit,
    ] {
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .body(vec![b' '; size])
            .send()
            .await;
        let r = match sent {
            Ok(r) => r,
            // Past the budget a client still writing may meet the close before it reads
            // the answer (seen under load in CI); within it, never.
            Err(e) if size > limit + linger_budget && e.is_request() => continue,
            Err(e) => panic!("{size} bytes: {e:?}"),
        };
        assert_eq!(r.status(), 401, "{size} bytes");
        let close = r
            .headers()
            .get("connection")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        assert_eq!(close, size > limit, "{size} bytes: Connection: close");
    }
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(vec![b' '; 512 * 1024])
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("no reset"), 401);
    }
    // The pooled connections still serve.
    let r = Resp::of(bank.request(reqwest::Method::GET, "/healthz")).await;
    r.expect(200);
    bank.stop().await;
}

/// After a refused request whose body arrived whole, the same connection carries the next
/// request; a body that does not arrive in time gets `Connection: close`, then the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_is_drained_or_the_answer_says_close() {
    let bank = TestBank::start(obie()).await;
    let a = addr(&bank);
    let body = r#"{"Data":{"Version":"3.1"}}"#;
    let req = format!(
        "POST {API}/event-subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut s = TcpStream::connect(&a).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    let (got, _) = until_closed(&mut s).await;
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 401"), "{text}");
    let first = text.split("http/1.1 200").next().unwrap_or_default();
    assert!(!first.contains("connection: close"), "{text}");
    assert!(
        text.contains("http/1.1 200 ok"),
        "second request answered: {text}"
    );
    // Announced 1000 bytes, sent 10: answered after the drain window, saying close.
    let mut s = TcpStream::connect(&a).await.expect("connect");
    s.write_all(
        format!("POST {API}/event-subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n0123456789").as_bytes(),
    )
    .await
    .expect("write");
    let (got, _) = until_closed(&mut s).await;
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 401"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    bank.stop().await;
}

/// A client that writes its whole (oversized) body before reading still finds the answer:
/// the server reads and discards what it sends after answering instead of resetting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_writing_past_the_answer_still_reads_it() {
    let bank = TestBank::start(obie()).await;
    let size = 4 * obie().body_limit;
    let mut s = TcpStream::connect(&addr(&bank)).await.expect("connect");
    let head = format!(
        "POST {API}/event-subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    );
    let mut wire = head.into_bytes();
    wire.resize(wire.len() + size, b' ');
    // Writes everything first (as a blocking client would), whatever the server does.
    let _ = tokio::time::timeout(LIMIT, s.write_all(&wire)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(LIMIT, s.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("read failed after {} bytes: {e}", got.len()),
            Err(_) => panic!("no close within {LIMIT:?}"),
        }
    }
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 401"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    bank.stop().await;
}
