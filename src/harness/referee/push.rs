//! Pushing a SET to the TPP's receiver the way a bank does (R-04: `POST`, the compact SET as
//! the body, an `x-fapi-interaction-id` and the bank's `x-fapi-financial-id`, `Accept:
//! application/json` per RFC 8935 §2.1, plus the profile's extra headers) and keeping the
//! exchange as evidence with the time the answer took.

use std::time::Duration;

use reqwest::Method;

use super::sets::Crafted;
use crate::harness::client::{self, Exchange, Request};
use crate::harness::profile::tpp::{PushReceiver, Vars};

/// The TPP's receiver as this run reaches it.
#[derive(Debug, Clone)]
pub struct PushTarget {
    pub url: String,
    pub answer_within: Duration,
    /// The bank's id at the trust anchor (`x-fapi-financial-id`, R-04).
    financial_id: String,
    /// The profile's extra headers, placeholders filled in.
    headers: Vec<(String, String)>,
    http: reqwest::Client,
}

impl PushTarget {
    /// The receiver of `push` (its URL and headers rendered with `vars`), with its TLS
    /// settings, for the bank `financial_id`. Pushes give up 10 s after the declared answer
    /// time.
    pub fn new(
        push: &PushReceiver,
        vars: &Vars,
        financial_id: String,
    ) -> Result<PushTarget, String> {
        let b = reqwest::Client::builder()
            .timeout(push.answer_within + Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        let b = super::tls::with_pems(
            b,
            "push",
            push.ca_pem.as_deref(),
            push.identity_pem.as_deref(),
        )?;
        let http = b
            .build()
            .map_err(|e| format!("cannot build the push client: {e}"))?;
        Ok(PushTarget {
            url: vars.render(&push.url),
            answer_within: push.answer_within,
            financial_id,
            headers: push
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), vars.render(v)))
                .collect(),
            http,
        })
    }

    /// Pushes `set` once; the exchange records what was sent and answered.
    pub async fn push(&self, set: &Crafted) -> Exchange {
        let mut req = Request::new(Method::POST, self.url.clone())
            .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
            .header("x-fapi-financial-id", self.financial_id.clone())
            .header("accept", "application/json")
            .header("accept-language", "en");
        for (k, v) in &self.headers {
            req.set_header(k, Some(v.clone()));
        }
        client::send(
            &self.http,
            req.raw(set.content_type, set.body.clone().into_bytes()),
        )
        .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::referee::sets::{Crafted, Defect};
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A push carries what a bank sends and the profile's extra headers, rendered.
    #[tokio::test]
    async fn a_push_carries_the_bank_headers_and_the_profiles_own() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hook"))
            .and(header("content-type", "application/jwt"))
            .and(header("accept", "application/json"))
            .and(header("x-fapi-financial-id", "0015800001041RObev"))
            .and(header("authorization", "Bearer tpp-1"))
            .respond_with(ResponseTemplate::new(202))
            .expect(1)
            .mount(&server)
            .await;
        let receiver = PushReceiver {
            url: format!("{}/hook", server.uri()),
            ca_pem: None,
            identity_pem: None,
            answer_within: Duration::from_secs(1),
            headers: vec![("Authorization".into(), "Bearer {client_id}".into())],
        };
        let vars = Vars(vec![("client_id", "tpp-1".into())]);
        let target = PushTarget::new(&receiver, &vars, "0015800001041RObev".into()).unwrap();
        let set = Crafted {
            jti: "j".into(),
            body: "a.b.c".into(),
            content_type: "application/jwt",
            defect: Defect::Valid,
        };
        let ex = target.push(&set).await;
        assert_eq!(ex.status(), 202, "{}", ex.summary());
        assert!(ex.request_header("x-fapi-interaction-id").is_some());
    }
}
