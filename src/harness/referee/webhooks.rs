//! The Yapily-style and Tatra-style webhooks the referee bank sends a TPP's receivers
//! (`[yapily]`, `[tatra]` in the TPP profile), rendered and signed by the sandbox's own dialect
//! code (`sandbox::dialects::yapily::wire`, `…::tatra::wire`) so the referee sends exactly what
//! the sandbox sends — and each deliberate defect a receiver must refuse: for Yapily a tampered
//! body (digest mismatch, JWD-06), a signature by a key the sender never published (JWD-03), an
//! expired signature (JWD-05), a reused `jti` (JWD-07), no signature (JWD-01), `alg: none`
//! (JWD-02); for Tatra a missing or wrong `Authorization` (TB-13).

use std::time::Duration;

use reqwest::Method;

use super::sets::SetMaker;
use crate::harness::client::{self, Exchange, Request};
use crate::harness::profile::tpp::{HookReceiver, Vars};
use crate::jose::Alg;
use crate::sandbox::embedded::webhooks as wire;

/// What is wrong with a Yapily-style webhook the referee sends (`Valid`: nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YapilyDefect {
    Valid,
    /// The body changed after it was signed: the digest is not the body's.
    TamperedBody,
    /// Signed by a key the sender's JWKS does not hold, under a `kid` it does not list.
    UnknownKey,
    /// `exp` passed five minutes ago.
    Expired,
    /// A new event whose signature carries a `jti` an earlier webhook used.
    ReusedJti,
    /// No `yapily-signature` header.
    NoSignature,
    /// `alg: none` and an empty signature.
    AlgNone,
}

/// The two kinds of Tatra-style webhook (TB-06, TB-07).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TatraKind {
    TransactionEvent,
    AccountEvent,
}

/// The `Authorization` a Tatra-style webhook carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TatraAuth {
    /// The security header the TPP configured (none when it configured none).
    Configured,
    Missing,
    /// Another value of the right form.
    Wrong,
}

/// A webhook ready to send, with what identifies it.
#[derive(Debug, Clone)]
pub struct Hook {
    /// What it is, for messages ("a Yapily webhook with a tampered body").
    pub what: String,
    /// The event's id (Yapily `id`, Tatra `consentId`).
    pub event_id: String,
    /// The signature's `jti` (Yapily).
    pub jti: Option<String>,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// A TPP's webhook receiver as this run reaches it.
#[derive(Debug, Clone)]
pub struct HookTarget {
    pub url: String,
    pub answer_within: Duration,
    http: reqwest::Client,
}

/// An HTTP(S) client for a TPP's receiver: its TLS settings (`section` names the profile's
/// section in errors), giving up 10 s after the declared answer time.
pub fn receiver_client(
    section: &str,
    ca_pem: Option<&[u8]>,
    identity_pem: Option<&[u8]>,
    answer_within: Duration,
) -> Result<reqwest::Client, String> {
    let b = reqwest::Client::builder()
        .timeout(answer_within + Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    let b = super::tls::with_pems(b, section, ca_pem, identity_pem)?;
    b.build()
        .map_err(|e| format!("cannot build the {section} client: {e}"))
}

/// A receiver the run waits for before any scenario: its URL and client.
#[derive(Debug, Clone)]
pub struct Probe {
    pub url: String,
    pub http: reqwest::Client,
}

impl Probe {
    /// Whether the receiver answers HTTP(S) at all (any status: a GET on a webhook endpoint
    /// may well be 405): a TLS or certificate problem shows here, before any scenario.
    pub async fn answers(&self) -> Result<(), String> {
        self.http
            .get(&self.url)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| client::describe(&e))
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

impl HookTarget {
    /// The receiver of `r` (its URL rendered with `vars`) for the profile's `section`.
    pub fn new(r: &HookReceiver, vars: &Vars, section: &str) -> Result<HookTarget, String> {
        Ok(HookTarget {
            url: vars.render(&r.url),
            answer_within: r.answer_within,
            http: receiver_client(
                section,
                r.ca_pem.as_deref(),
                r.identity_pem.as_deref(),
                r.answer_within,
            )?,
        })
    }

    pub fn probe(&self) -> Probe {
        Probe {
            url: self.url.clone(),
            http: self.http.clone(),
        }
    }

    /// Sends `hook` once (`POST`, JSON); the exchange records what was sent and answered.
    pub async fn send(&self, hook: &Hook) -> Exchange {
        let mut req = Request::new(Method::POST, self.url.clone());
        for (k, v) in &hook.headers {
            req.set_header(k, Some(v.clone()));
        }
        client::send(&self.http, req.raw("application/json", hook.body.clone())).await
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A Yapily-style notification (`payment.status.completed`, the common event object for the
/// TPP's application, YA-07) to `url`, signed by the referee as `defect` says; `reuse_jti` is
/// the `jti` a [`YapilyDefect::ReusedJti`] signature carries.
pub fn yapily(
    sets: &SetMaker,
    url: &str,
    defect: YapilyDefect,
    reuse_jti: Option<&str>,
) -> Result<Hook, String> {
    let (event_id, signed) = wire::yapily_event(&sets.audience, &sets.ob.iss, url)?;
    let digest = wire::yapily_digest(signed.as_bytes());
    let jti = match (defect, reuse_jti) {
        (YapilyDefect::ReusedJti, Some(j)) => j.to_string(),
        (YapilyDefect::ReusedJti, None) => return Err("no jti to reuse (harness bug)".into()),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let iat = match defect {
        YapilyDefect::Expired => now() - 2 * wire::SIGNATURE_LIFETIME_S,
        _ => now(),
    };
    let (key, kid, alg) = match defect {
        YapilyDefect::UnknownKey => (
            &sets.foreign,
            format!("unknown-{}", sets.foreign.kid()),
            Alg::PS256,
        ),
        YapilyDefect::AlgNone => (&sets.key, String::new(), Alg::None),
        _ => (&sets.key, sets.key.kid().to_string(), Alg::PS256),
    };
    let signature = wire::yapily_signature(key, &kid, alg, &digest, iat, &jti)?;
    let body = if defect == YapilyDefect::TamperedBody {
        // Same shape, one value changed after signing: a payment that "completed" now "failed".
        signed.replacen("\"COMPLETED\"", "\"FAILED\"", 1)
    } else {
        signed
    };
    let mut headers = Vec::new();
    if defect != YapilyDefect::NoSignature {
        headers.push((wire::YAPILY_SIGNATURE_HEADER.to_string(), signature));
    }
    Ok(Hook {
        what: format!("a Yapily webhook ({defect:?})"),
        event_id,
        jti: Some(jti),
        body: body.into_bytes(),
        headers,
    })
}

/// The `Authorization` a wrong Tatra call carries: well-formed, not the configured one.
fn wrong_authorization(configured: Option<&str>) -> String {
    let wrong = "Basic b2JldmVudHM6bm90LXRoZS1zZWNyZXQ=";
    if configured == Some(wrong) {
        "Basic b2JldmVudHM6YWxzby1ub3QtaXQ=".into()
    } else {
        wrong.into()
    }
}

/// What the TPP's `[tatra]` section says the calls carry.
#[derive(Debug, Clone, Copy, Default)]
pub struct TatraSide<'a> {
    /// The security header it configured.
    pub authorization: Option<&'a str>,
    /// The consent the webhooks are about (else a fresh one each).
    pub consent_id: Option<&'a str>,
}

/// A Tatra-style webhook of `kind` (the sandbox's body: TB-06 or TB-07..TB-09) for the TPP's
/// application, carrying the `Authorization` `auth` says.
pub fn tatra(
    sets: &SetMaker,
    kind: TatraKind,
    auth: TatraAuth,
    side: TatraSide<'_>,
) -> Result<Hook, String> {
    let configured = side.authorization;
    let consent = side
        .consent_id
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), String::from);
    let account = uuid::Uuid::new_v4().to_string();
    let body = match kind {
        TatraKind::TransactionEvent => wire::tatra_transaction_event(&consent, &account)?,
        TatraKind::AccountEvent => wire::tatra_account_event(&sets.audience, &consent, &account)?,
    };
    let mut headers = Vec::new();
    match (auth, configured) {
        (TatraAuth::Configured, Some(v)) => headers.push(("authorization".into(), v.into())),
        (TatraAuth::Configured, None) | (TatraAuth::Missing, _) => {}
        (TatraAuth::Wrong, c) => headers.push(("authorization".into(), wrong_authorization(c))),
    }
    Ok(Hook {
        what: format!("a Tatra {kind:?} ({auth:?} Authorization)"),
        event_id: consent,
        jti: None,
        body: body.into_bytes(),
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{ObHeader, SigningKey};
    use serde_json::Value;

    fn maker() -> SetMaker {
        SetMaker {
            key: SigningKey::generate().unwrap(),
            foreign: SigningKey::generate().unwrap(),
            ob: ObHeader {
                iss: "0015800001041RObev".into(),
                tan: "openbanking.org.uk".into(),
            },
            issuer: "http://referee".into(),
            audience: "tpp-1".into(),
            other_audience: "tpp-2".into(),
            base_url: "http://referee".into(),
        }
    }

    fn claims(hook: &Hook) -> (Value, Value) {
        let (_, sig) = hook
            .headers
            .iter()
            .find(|(k, _)| k == wire::YAPILY_SIGNATURE_HEADER)
            .unwrap();
        let jws = crate::jose::decode_compact(sig).unwrap();
        (
            Value::Object(jws.header.clone()),
            jws.payload_json().unwrap(),
        )
    }

    /// Each Yapily defect bends exactly what it names: the valid webhook's digest is its body's
    /// and its `kid` the referee's; the others differ in that one point.
    #[test]
    fn yapily_defects_bend_one_thing_each() {
        let m = maker();
        let valid = yapily(&m, "http://tpp/y", YapilyDefect::Valid, None).unwrap();
        let (h, c) = claims(&valid);
        assert_eq!(c["digest"], wire::yapily_digest(&valid.body));
        assert_eq!(h["kid"], m.key.kid());
        let body: Value = serde_json::from_slice(&valid.body).unwrap();
        assert_eq!(body["applicationId"], "tpp-1");
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);

        let tampered = yapily(&m, "http://tpp/y", YapilyDefect::TamperedBody, None).unwrap();
        assert_ne!(
            claims(&tampered).1["digest"],
            wire::yapily_digest(&tampered.body)
        );
        let unknown = yapily(&m, "http://tpp/y", YapilyDefect::UnknownKey, None).unwrap();
        assert_ne!(claims(&unknown).0["kid"], m.key.kid());
        let expired = yapily(&m, "http://tpp/y", YapilyDefect::Expired, None).unwrap();
        assert!(claims(&expired).1["exp"].as_i64().unwrap() < now() - 200);
        let first = valid.jti.clone().unwrap();
        let again = yapily(&m, "http://tpp/y", YapilyDefect::ReusedJti, Some(&first)).unwrap();
        assert_eq!(claims(&again).1["jti"], first.as_str());
        assert_ne!(again.event_id, valid.event_id);
        let none = yapily(&m, "http://tpp/y", YapilyDefect::NoSignature, None).unwrap();
        assert!(none.headers.is_empty());
        let alg_none = yapily(&m, "http://tpp/y", YapilyDefect::AlgNone, None).unwrap();
        assert_eq!(claims(&alg_none).0["alg"], "none");
    }

    #[test]
    fn tatra_calls_carry_the_authorization_asked_for() {
        let m = maker();
        let conf = Some("Basic dXNlcjpwYXNzd29yZA==");
        let side = |a| TatraSide {
            authorization: a,
            consent_id: Some("consent-1"),
        };
        let auth = |h: &Hook| {
            h.headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.clone())
        };
        let tx = tatra(
            &m,
            TatraKind::TransactionEvent,
            TatraAuth::Configured,
            side(conf),
        )
        .unwrap();
        assert_eq!(auth(&tx).as_deref(), conf);
        let body: Value = serde_json::from_slice(&tx.body).unwrap();
        assert_eq!(body["transactionEvent"]["eventType"], "NEW");
        assert_eq!(body["transactionEvent"]["consentId"], "consent-1");
        let acc = tatra(&m, TatraKind::AccountEvent, TatraAuth::Missing, side(conf)).unwrap();
        assert_eq!(auth(&acc), None);
        let body: Value = serde_json::from_slice(&acc.body).unwrap();
        assert_eq!(body["accountEvent"]["bankCode"], "SLSP");
        let wrong = tatra(
            &m,
            TatraKind::TransactionEvent,
            TatraAuth::Wrong,
            side(conf),
        )
        .unwrap();
        assert!(auth(&wrong).is_some_and(|a| Some(a.as_str()) != conf));
        let unset = tatra(
            &m,
            TatraKind::TransactionEvent,
            TatraAuth::Configured,
            TatraSide::default(),
        )
        .unwrap();
        assert_eq!(auth(&unset), None);
    }
}
