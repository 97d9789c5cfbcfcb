//! Pushing a SET to the TPP's receiver the way a bank does (R-04: `POST`, the compact SET as
//! the body, an `x-fapi-interaction-id`, `Accept: application/json` per RFC 8935 §2.1) and
//! keeping the exchange as evidence with the time the answer took.

use std::time::Duration;

use reqwest::Method;

use super::sets::Crafted;
use crate::harness::client::{self, Exchange, Request};
use crate::harness::profile::tpp::PushReceiver;

/// The TPP's receiver as this run reaches it.
#[derive(Debug, Clone)]
pub struct PushTarget {
    pub url: String,
    pub answer_within: Duration,
    http: reqwest::Client,
}

impl PushTarget {
    /// The receiver of `push` at `url` (placeholders filled in), with its TLS settings. Pushes
    /// give up 10 s after the declared answer time.
    pub fn new(push: &PushReceiver, url: String) -> Result<PushTarget, String> {
        let mut b = reqwest::Client::builder()
            .timeout(push.answer_within + Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &push.identity_pem {
            let id = reqwest::Identity::from_pem(pem)
                .map_err(|e| format!("TPP profile field push.client_cert: {e}"))?;
            b = b.identity(id);
        }
        if let Some(pem) = &push.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("TPP profile field push.ca_cert: {e}"))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        let http = b
            .build()
            .map_err(|e| format!("cannot build the push client: {e}"))?;
        Ok(PushTarget {
            url,
            answer_within: push.answer_within,
            http,
        })
    }

    /// Pushes `set` once; the exchange records what was sent and answered.
    pub async fn push(&self, set: &Crafted) -> Exchange {
        let req = Request::new(Method::POST, self.url.clone())
            .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
            .header("accept", "application/json")
            .header("accept-language", "en")
            .raw(set.content_type, set.body.clone().into_bytes());
        client::send(&self.http, req).await
    }

    /// Whether the receiver answers HTTP(S) at all (any status: a GET on a push endpoint may
    /// well be 405): a TLS or certificate problem shows here, before any scenario.
    pub async fn answers(&self) -> Result<(), String> {
        self.http
            .get(&self.url)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::harness::client::describe(&e))
    }

    /// Whether something accepts TCP connections at the receiver's host and port.
    pub async fn reachable(&self) -> Result<(), String> {
        let u = url::Url::parse(&self.url).map_err(|e| format!("{}: {e}", self.url))?;
        let host = u.host_str().unwrap_or("127.0.0.1").to_string();
        let port = u.port_or_known_default().unwrap_or(80);
        tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map(|_| ())
            .map_err(|e| format!("{host}:{port}: {e}"))
    }
}
