//! The harness's callback receiver for real-time push (R-02..R-05, RFC 8935): one HTTP server per
//! run, with a mailbox per scenario and TPP so every delivery is attributed exactly. A mailbox's
//! URL is `{public_url}/{mailbox}/v3.1/event-notifications` (ES-05's suffix), it answers from a
//! script (e.g. 503 twice, then 202; or an answer held past the bank's timeout) and records every
//! request with its arrival time. Requests for unknown mailboxes are kept as strays. With a
//! certificate and key from the profile it serves HTTPS, since real banks require https
//! callbacks.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

/// The path every mailbox URL ends with (ES-05, R-03).
pub const SUFFIX: &str = "/v3.1/event-notifications";
/// Largest push body kept: a SET is a few kilobytes.
const BODY_LIMIT: usize = 256 * 1024;
/// Requests kept per mailbox and as strays: a bank retrying forever cannot grow memory.
const KEEP: usize = 200;

/// What the receiver answers to one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// This status at once (202 plays back `x-fapi-interaction-id`, R-05).
    Status(u16),
    /// Nothing until this long has passed, then 202: longer than the bank's request timeout.
    Hold(Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived (run clock).
    pub at: Instant,
    /// When it arrived (wall clock), for the report.
    pub wall: std::time::SystemTime,
    pub method: String,
    /// The path and query as sent.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub answered: Answer,
    /// Addressed to someone other than the mailbox's TPP: answered 202 outside the script.
    pub misdirected: bool,
}

impl Received {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Debug, Default)]
struct Mailbox {
    /// Whom the mailbox's pushes are for (a SET's `aud`, an event's `applicationId`): a push
    /// addressed to anyone else is answered 202 without using up the script, so a misdirected
    /// push cannot steal a scripted answer.
    aud: Option<String>,
    script: VecDeque<Answer>,
    /// Answer once the script is used up.
    then: Option<Answer>,
    received: Vec<Received>,
}

#[derive(Debug, Default)]
struct Shared {
    boxes: Mutex<HashMap<String, Mailbox>>,
    strays: Mutex<Vec<Received>>,
    arrived: tokio::sync::Notify,
    /// Requests kept per mailbox when more than [`KEEP`] are wanted (`bench --profile` counts
    /// every push of its bounded run); 0: `KEEP`.
    keep: std::sync::atomic::AtomicUsize,
}

/// A running receiver; stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    public_url: String,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Receiver {
    /// Keeps up to `n` requests per mailbox (never fewer than the default 200).
    pub fn keep_up_to(&self, n: usize) {
        self.shared
            .keep
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Listens on `listen`, over HTTPS with `tls` (certificate chain and key, PEM); mailbox
    /// URLs start with `public_url`, or `http(s)://{bound address}`.
    pub async fn start(
        listen: SocketAddr,
        public_url: Option<&str>,
        tls: Option<(&[u8], &[u8])>,
    ) -> Result<Receiver, String> {
        let acceptor = tls.map(|(c, k)| acceptor(c, k)).transpose()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("push.receiver_listen {listen}: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("push.receiver_listen {listen}: {e}"))?;
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(receive)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(shared.clone());
        let stop = CancellationToken::new();
        let until = stop.clone();
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        match acceptor {
            None => {
                tokio::spawn(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async move { until.cancelled().await })
                        .await;
                    if let Err(e) = served {
                        tracing::warn!(error = %e, "the push receiver stopped");
                    }
                });
            }
            Some(acceptor) => {
                tokio::spawn(serve_tls(listener, acceptor, app, until));
            }
        }
        let public_url = public_url
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("{scheme}://{bound}"));
        Ok(Receiver {
            public_url,
            shared,
            stop,
        })
    }

    fn boxes(&self) -> MutexGuard<'_, HashMap<String, Mailbox>> {
        self.shared
            .boxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new mailbox of the TPP whose SETs carry `aud`, answering 202 to everything; returns
    /// `(id, URL to register)`.
    pub fn open(&self, aud: Option<&str>) -> (String, String) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mailbox = Mailbox {
            aud: aud.map(String::from),
            ..Default::default()
        };
        self.boxes().insert(id.clone(), mailbox);
        let url = format!("{}/{id}{SUFFIX}", self.public_url);
        (id, url)
    }

    /// Answers `script` in order to the next pushes of mailbox `id`, then `then` to every other.
    pub fn script(&self, id: &str, script: Vec<Answer>, then: Answer) {
        if let Some(b) = self.boxes().get_mut(id) {
            b.script = script.into();
            b.then = Some(then);
        }
    }

    /// Everything mailbox `id` received so far, oldest first.
    pub fn received(&self, id: &str) -> Vec<Received> {
        self.boxes()
            .get(id)
            .map(|b| b.received.clone())
            .unwrap_or_default()
    }

    /// Waits until mailbox `id` holds at least `n` requests or `timeout` passes; returns what it
    /// holds then.
    pub async fn wait_for(&self, id: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so an arrival in between is not missed.
            let arrived = self.shared.arrived.notified();
            let got = self.received(id);
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.received(id);
            }
        }
    }

    /// Requests that named no mailbox of this run.
    pub fn strays(&self) -> Vec<Received> {
        self.shared
            .strays
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

/// A TLS acceptor for the certificate chain and key in `cert` and `key` (PEM).
fn acceptor(cert: &[u8], key: &[u8]) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("push.receiver_tls_cert: {e}"))?;
    if chain.is_empty() {
        return Err("push.receiver_tls_cert: no certificate in the file".into());
    }
    let key =
        PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("push.receiver_tls_key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("receiver TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("push.receiver_tls_cert/key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TLS connections until `stop`, each handshake bounded, each served with `app`.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
    stop: CancellationToken,
) {
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let (acceptor, app, stop) = (acceptor.clone(), app.clone(), stop.clone());
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
            let Ok(Ok(tls)) = handshake.await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .into_owned();
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// Every request the receiver gets: recorded in its mailbox (or as a stray) and answered as
/// the mailbox's script says.
async fn receive(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let record = Received {
        at: Instant::now(),
        wall: std::time::SystemTime::now(),
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| uri.path().to_string()),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect(),
        body: body.to_vec(),
        answered: Answer::Status(404),
        misdirected: false,
    };
    let mailbox = uri.path().trim_start_matches('/').split('/').next();
    let answer = shared.file(mailbox.unwrap_or(""), record);
    shared.arrived.notify_waiters();
    let status = match answer {
        None => return StatusCode::NOT_FOUND.into_response(),
        Some(Answer::Status(s)) => s,
        Some(Answer::Hold(d)) => {
            tokio::time::sleep(d).await;
            202
        }
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
    let mut response = code.into_response();
    if let Some(i) = headers.get("x-fapi-interaction-id").cloned() {
        response.headers_mut().insert("x-fapi-interaction-id", i);
    }
    response
}

impl Shared {
    /// Files `record` in mailbox `id` and returns the answer it gets: the next of the script
    /// (202 for a push addressed to someone else); `None` for a mailbox that does not exist
    /// (the record is kept as a stray).
    fn file(&self, id: &str, mut record: Received) -> Option<Answer> {
        let mut boxes = self
            .boxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(b) = boxes.get_mut(id) else {
            let mut strays = self
                .strays
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if strays.len() < KEEP {
                strays.push(record);
            }
            return None;
        };
        let misdirected = matches!(
            (addressee(&record.body), &b.aud),
            (Some(to), Some(owner)) if &to != owner
        );
        let answer = if misdirected {
            Answer::Status(202)
        } else {
            b.script
                .pop_front()
                .or(b.then)
                .unwrap_or(Answer::Status(202))
        };
        record.answered = answer;
        record.misdirected = misdirected;
        let keep = KEEP.max(self.keep.load(std::sync::atomic::Ordering::Relaxed));
        if b.received.len() < keep {
            b.received.push(record);
        }
        Some(answer)
    }
}

/// Whom a push is addressed to, read without verifying anything: the `aud` of a compact JWT
/// body (first of an array), or the `applicationId` of a JSON event object (Yapily-style).
fn addressee(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.starts_with('{') {
        let event: serde_json::Value = serde_json::from_str(text).ok()?;
        return event.get("applicationId")?.as_str().map(String::from);
    }
    let payload = text.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&crate::jose::b64_decode(payload).ok()?).ok()?;
    match claims.get("aud")? {
        serde_json::Value::String(a) => Some(a.clone()),
        serde_json::Value::Array(a) => a.first()?.as_str().map(String::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mailboxes_answer_their_script_and_record_every_request() {
        let r = Receiver::start("127.0.0.1:0".parse().unwrap(), None, None)
            .await
            .unwrap();
        let (id, url) = r.open(None);
        assert!(url.ends_with(SUFFIX));
        r.script(&id, vec![Answer::Status(503)], Answer::Status(202));
        let http = reqwest::Client::new();
        let first = http.post(&url).body("a").send().await.unwrap();
        assert_eq!(first.status(), 503);
        let second = http
            .post(&url)
            .header("x-fapi-interaction-id", "i-1")
            .body("b")
            .send()
            .await
            .unwrap();
        assert_eq!(second.status(), 202);
        assert_eq!(second.headers()["x-fapi-interaction-id"], "i-1");
        let got = r.wait_for(&id, 2, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].body_text(), "b");
        assert_eq!(got[0].answered, Answer::Status(503));
        let stray = url.replace(&id, "nobody");
        assert_eq!(http.post(stray).send().await.unwrap().status(), 404);
        assert_eq!(r.strays().len(), 1);
    }

    #[tokio::test]
    async fn with_a_certificate_it_serves_https() {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let (pem, key) = (cert.cert.pem(), cert.signing_key.serialize_pem());
        let r = Receiver::start(
            "127.0.0.1:0".parse().unwrap(),
            None,
            Some((pem.as_bytes(), key.as_bytes())),
        )
        .await
        .unwrap();
        let (id, url) = r.open(None);
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        let answer = http.post(&url).body("x").send().await.unwrap();
        assert_eq!(answer.status(), 202);
        assert_eq!(r.wait_for(&id, 1, Duration::from_secs(5)).await.len(), 1);
        assert!(
            Receiver::start("127.0.0.1:0".parse().unwrap(), None, Some((b"x", b"y")))
                .await
                .is_err()
        );
    }
}
