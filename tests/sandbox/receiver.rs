//! A TPP's callback receiver on 127.0.0.1 for the push tests, and the sandbox config they use.
//! Re-exported by `common`.

use std::time::Duration;

use obevents::sandbox::SandboxConfig;

use crate::common::{LIMIT, obie};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: std::time::Instant,
    pub method: String,
    pub path: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// A TPP's event-notification endpoint on 127.0.0.1: answers each request with the next
/// scripted status (then `default`), echoes `x-fapi-interaction-id`, records everything.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    script: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<u16>>>,
    default: std::sync::Arc<std::sync::atomic::AtomicU16>,
    /// How long each request is held (ms) before it is answered.
    hold_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Receiver {
    /// Starts a receiver; its URL ends in `/open-banking/v3.1/event-notifications`.
    pub async fn start(script: &[u16]) -> Receiver {
        use axum::response::IntoResponse;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let r = Receiver {
            url: format!("http://{addr}/open-banking/v3.1/event-notifications"),
            got: Default::default(),
            script: std::sync::Arc::new(std::sync::Mutex::new(script.iter().copied().collect())),
            default: std::sync::Arc::new(std::sync::atomic::AtomicU16::new(202)),
            hold_ms: Default::default(),
        };
        let inner = r.clone();
        let app =
            axum::Router::new().fallback(move |req: axum::extract::Request| {
                let inner = inner.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 20)
                        .await
                        .unwrap_or_default();
                    let iid = parts.headers.get("x-fapi-interaction-id").cloned();
                    let status =
                        inner.script.lock().unwrap().pop_front().unwrap_or_else(|| {
                            inner.default.load(std::sync::atomic::Ordering::SeqCst)
                        });
                    inner.got.lock().unwrap().push(Received {
                        at: std::time::Instant::now(),
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_string(),
                        headers: parts.headers.clone(),
                        body: body.to_vec(),
                    });
                    let hold = inner.hold_ms.load(std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(hold)).await;
                    let mut resp = axum::http::StatusCode::from_u16(status)
                        .unwrap()
                        .into_response();
                    if let Some(iid) = iid {
                        resp.headers_mut().insert("x-fapi-interaction-id", iid);
                    }
                    resp
                }
            });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    /// What later requests get once the script is used up.
    pub fn answer_from_now_on(&self, status: u16) {
        self.script.lock().unwrap().clear();
        self.default
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    /// Holds every later request this long before answering it.
    pub fn hold(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.hold_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (bounded by [`LIMIT`]) until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_for_within(n, LIMIT).await
    }

    /// [`Receiver::wait_for`] bounded by `limit` instead.
    pub async fn wait_for_within(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the receiver got {} requests, expected {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The sandbox config for push tests: `obie`, retries after the given delays (ms).
pub fn push_config(schedule_ms: &[u64]) -> SandboxConfig {
    let mut c = obie();
    c.push.retry_schedule = schedule_ms
        .iter()
        .map(|&ms| Duration::from_millis(ms))
        .collect();
    c.push.request_timeout = Duration::from_secs(2);
    c
}
