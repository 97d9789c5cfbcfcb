//! The reference TPP's push receiver: an OBIE real-time event-notification endpoint that a
//! TPP can start from. It answers a valid SET 202 with an empty body and the push's
//! `x-fapi-interaction-id` (R-05, RFC 8935 §2.2), a defective one 400 with
//! `{"err", "description"}`, `Content-Type: application/json` and `Content-Language: en`
//! (RFC 8935 §2.3, §2.4), acts on each `jti` once however often it is delivered, and records
//! what it processed — one jti per line — in a file and at `GET /processed` (what the
//! harness's observation reads).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use super::faults::{TppFault, TppFaults};
use super::verify::{self, Expect, Keys, Refusal};

/// What the receiver needs to know.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// The issuer's JWKS URL (the bank's).
    pub jwks_url: String,
    pub expect: Expect,
    /// The path pushes arrive at.
    pub path: String,
    /// The file processed jtis are appended to.
    pub processed: Option<PathBuf>,
    pub faults: TppFaults,
    /// The Yapily-style and Tatra-style webhook receivers' settings.
    pub hooks: super::hooks::HooksConfig,
}

struct Shared {
    cfg: ReceiverConfig,
    keys: Keys,
    seen: Mutex<HashSet<String>>,
    processed: Mutex<Vec<String>>,
}

/// How long the `slow-answer` fault holds every answer.
const SLOW: Duration = Duration::from_millis(3000);

/// The receiver's routes: `POST {path}`, `GET /processed` and the webhook receivers
/// (`tpp::hooks`).
pub fn router(cfg: ReceiverConfig) -> Router {
    let path = cfg.path.clone();
    let hooks = super::hooks::router(cfg.hooks.clone(), cfg.faults.clone(), cfg.jwks_url.clone());
    let shared = Arc::new(Shared {
        keys: Keys::new(cfg.jwks_url.clone()),
        cfg,
        seen: Mutex::new(HashSet::new()),
        processed: Mutex::new(Vec::new()),
    });
    Router::new()
        .route(&path, post(receive))
        .route("/processed", get(processed))
        .with_state(shared)
        .merge(hooks)
}

/// Serves `cfg` on `listener` (over TLS with `tls`) until `stop` is cancelled.
pub fn spawn(
    cfg: ReceiverConfig,
    listener: tokio::net::TcpListener,
    tls: Option<crate::sandbox::tls::TlsConfig>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let app = router(cfg);
    tokio::spawn(async move {
        // Before the first SETs arrive together (see jose::ready), off the async workers;
        // connections wait in the listener's backlog meanwhile.
        match tokio::task::spawn_blocking(crate::jose::ready).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot warm up the JOSE stack: {e}"),
            Err(e) => tracing::warn!("cannot warm up the JOSE stack: {e}"),
        }
        if let Some(tls) = tls {
            return super::tls::serve(listener, tls, app, stop).await;
        }
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!("the reference TPP's receiver stopped: {e}");
        }
    })
}

async fn processed(State(s): State<Arc<Shared>>) -> Response {
    let list = s.processed.lock().map(|l| l.join("\n")).unwrap_or_default();
    ([("content-type", "text/plain; charset=utf-8")], list).into_response()
}

/// Appends `jti` to the processed file `path` (one per line).
pub fn append_processed(path: &std::path::Path, jti: &str) {
    use std::io::Write as _;
    // One write of the whole line: `writeln!` writes the id and the newline separately, and
    // the receivers and the poller append from several threads at once, so two ids could
    // land on one line with an empty one after (an O_APPEND write is never split).
    let line = format!("{jti}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!("cannot record {jti} in {}: {e}", path.display());
    }
}

impl Shared {
    fn has(&self, f: TppFault) -> bool {
        self.cfg.faults.has(f)
    }

    /// Acts on a SET: here, records its jti (the file first, so an observer never sees a jti
    /// the file lacks).
    fn process(&self, jti: &str) {
        if let Some(path) = &self.cfg.processed {
            append_processed(path, jti);
        }
        if let Ok(mut l) = self.processed.lock() {
            l.push(jti.to_string());
        }
    }

    /// Whether `jti` is new (always, under `processes-duplicate`).
    fn first_time(&self, jti: &str) -> bool {
        let new = self
            .seen
            .lock()
            .map(|mut s| s.insert(jti.to_string()))
            .unwrap_or(true);
        new || self.has(TppFault::ProcessesDuplicate)
    }
}

async fn receive(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if s.has(TppFault::SlowAnswer) {
        tokio::time::sleep(SLOW).await;
    }
    let interaction = headers
        .get("x-fapi-interaction-id")
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or(HeaderValue::from_static("obevents"))
        });
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let checked = verify::check(&s.keys, &s.cfg.expect, &s.cfg.faults, content_type, &body).await;
    let mut resp = match checked {
        Ok(jti) => {
            if s.first_time(&jti) {
                s.process(&jti);
            }
            tracing::info!("accepted {jti}");
            let status = if s.has(TppFault::Answers200) {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            status.into_response()
        }
        Err(r) => {
            if s.has(TppFault::ProcessesRefused)
                && let Some(jti) = &r.jti
            {
                s.process(jti);
            }
            tracing::info!(
                "refused {}: {} ({})",
                r.jti.as_deref().unwrap_or("?"),
                r.err,
                r.description
            );
            refusal(&s, r)
        }
    };
    if !s.has(TppFault::NoInteractionId) {
        resp.headers_mut()
            .insert("x-fapi-interaction-id", interaction);
    }
    resp
}

/// The RFC 8935 §2.3 error answer for `r` (as the faults bend it).
fn refusal(s: &Shared, r: Refusal) -> Response {
    let status = if s.has(TppFault::Answers500) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = if s.has(TppFault::ErrorWithoutErr) {
        serde_json::json!({ "message": r.description })
    } else if s.has(TppFault::UnregisteredErr) {
        let home_made = match r.err {
            "invalid_key" => "signature_mismatch",
            "invalid_issuer" => "unknown_bank",
            "invalid_audience" => "not_for_us",
            _ => "bad_set",
        };
        serde_json::json!({ "err": home_made, "description": r.description })
    } else {
        serde_json::json!({ "err": r.err, "description": r.description })
    };
    let mut resp = (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response();
    if !s.has(TppFault::NoContentLanguage) {
        resp.headers_mut()
            .insert("content-language", HeaderValue::from_static("en"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::append_processed;

    /// The receivers and the poller append from several threads at once: every line stays one
    /// whole id.
    #[test]
    fn ids_appended_from_many_threads_at_once_stay_one_per_line() {
        let dir = std::env::temp_dir().join(format!("obevents-append-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("processed.txt");
        let _ = std::fs::remove_file(&path);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..300 {
                        append_processed(&path, &format!("{t}-{i:04}-{}", "x".repeat(40)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8 * 300);
        let mut seen = std::collections::HashSet::new();
        for l in &lines {
            assert_eq!(
                l.len(),
                2 + 5 + 40,
                "a line holds more or less than one id: {l:?}"
            );
            assert!(seen.insert(*l), "{l} twice");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
