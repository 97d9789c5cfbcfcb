//! What the reference TPP checks before it accepts a pushed SET (RFC 8935 §2, OBIE J-06): the
//! media type, the compact JWS, the algorithm (PS256 only: never `none`, never HS256), the OB
//! header (`crit`, OB `iat` in the past), the signature by the issuer's key (its JWKS fetched
//! once, refreshed once on an unknown `kid`), and the claims (`iss`, `aud`, `iat`, `jti`,
//! `events`). A failure is a [`Refusal`] with its RFC 8935 error code. Faults skip exactly the
//! check they name.

use std::time::Duration;

use josekit::jwk::JwkSet;
use serde_json::Value;

use super::faults::{TppFault, TppFaults};
use crate::jose::{self, DecodedJws};

/// Clock skew allowed on `iat`.
const SKEW_SECS: i64 = 60;

/// Why a SET is refused: the RFC 8935 §2.4 code and a description.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub err: &'static str,
    pub description: String,
    /// The SET's `jti`, when the payload could be read (what the `processes-refused` fault
    /// records).
    pub jti: Option<String>,
}

fn refuse<T>(err: &'static str, description: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        err,
        description: description.into(),
        jti: None,
    })
}

/// What a SET must say to be for this TPP.
#[derive(Debug, Clone)]
pub struct Expect {
    pub issuer: String,
    pub audience: String,
}

/// The issuer's JWKS, fetched on first use and refreshed at most once per unknown `kid`.
#[derive(Debug)]
pub struct Keys {
    url: String,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<Option<JwkSet>>,
}

impl Keys {
    pub fn new(url: String) -> Keys {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Keys {
            url,
            http,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let resp = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("cannot fetch the JWKS {}: {e}", self.url))?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("cannot read the JWKS {}: {e}", self.url))?;
        jose::parse_jwks(&bytes).map_err(|e| format!("the JWKS {}: {e}", self.url))
    }

    /// The set holding `kid`, refreshing the cache once if it does not (unless `refresh` is
    /// off and there is a cache); `None` if no key has it.
    pub async fn holding(&self, kid: &str, refresh: bool) -> Result<Option<JwkSet>, String> {
        let mut cache = self.cache.lock().await;
        if let Some(set) = cache.as_ref()
            && (!set.get(kid).is_empty() || !refresh)
        {
            return Ok((!set.get(kid).is_empty()).then(|| set.clone()));
        }
        let fresh = self.fetch().await?;
        let found = !fresh.get(kid).is_empty();
        *cache = Some(fresh.clone());
        Ok(found.then_some(fresh))
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The media types a SET may be pushed as: OBIE's and RFC 8935's.
const MEDIA_TYPES: [&str; 3] = [
    "application/jwt",
    "application/secevent+jwt",
    "application/jose",
];

/// Checks a pushed SET; its `jti` when it is accepted.
pub async fn check(
    keys: &Keys,
    expect: &Expect,
    faults: &TppFaults,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<String, Refusal> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !faults.has(TppFault::AcceptsAnyContentType) && !MEDIA_TYPES.contains(&media.as_str()) {
        return refuse(
            "invalid_request",
            format!("Content-Type {media:?} is not application/jwt or application/secevent+jwt"),
        );
    }
    let text = std::str::from_utf8(body).unwrap_or_default().trim();
    let jws = match jose::decode_compact(text) {
        Ok(j) => j,
        Err(e) => return refuse("invalid_request", format!("not a compact JWS: {e}")),
    };
    let claims = jws.payload_json().ok();
    let jti = claims
        .as_ref()
        .and_then(|c| c["jti"].as_str())
        .map(String::from);
    let checked = check_jws(keys, expect, faults, &jws, claims).await;
    checked.map_err(|mut r| {
        r.jti = jti;
        r
    })
}

async fn check_jws(
    keys: &Keys,
    expect: &Expect,
    faults: &TppFaults,
    jws: &DecodedJws,
    claims: Option<Value>,
) -> Result<String, Refusal> {
    header(faults, jws)?;
    signature(keys, faults, jws).await?;
    let Some(claims) = claims else {
        return refuse("invalid_request", "the payload is not a JSON object");
    };
    self::claims(expect, faults, &claims)
}

/// The OB header rules (J-05, J-06), as the faults allow.
fn header(faults: &TppFaults, jws: &DecodedJws) -> Result<(), Refusal> {
    let problems: Vec<String> = jose::ob_header_problems(&jws.header, now(), SKEW_SECS, false)
        .into_iter()
        .filter(|p| !(faults.has(TppFault::IgnoresCrit) && p.contains("crit")))
        .filter(|p| !(faults.has(TppFault::IgnoresIat) && p.contains("in the future")))
        .collect();
    match problems.first() {
        Some(p) => refuse("invalid_request", format!("JOSE header: {p}")),
        None => Ok(()),
    }
}

/// The algorithm and the signature by a key of the issuer's JWKS.
async fn signature(keys: &Keys, faults: &TppFaults, jws: &DecodedJws) -> Result<(), Refusal> {
    let alg = jws.alg().unwrap_or_default();
    match alg {
        "PS256" => {}
        "none" if faults.has(TppFault::AcceptsAlgNone) => return Ok(()),
        "HS256" if faults.has(TppFault::AcceptsHs256) => return hs256(keys, jws).await,
        other => {
            return refuse(
                "invalid_key",
                format!("alg {other:?} is not accepted: the issuer signs PS256"),
            );
        }
    }
    let kid = jws.kid().unwrap_or_default();
    let refresh = !faults.has(TppFault::JwksNeverRefreshed);
    let set = match keys.holding(kid, refresh).await {
        Ok(Some(set)) => set,
        Ok(None) if faults.has(TppFault::AcceptsUnknownKid) => return Ok(()),
        Ok(None) => {
            return refuse(
                "invalid_key",
                format!("kid {kid:?} is not a key of the issuer's JWKS"),
            );
        }
        Err(e) => return refuse("invalid_key", e),
    };
    match jose::verify(jws, &set) {
        Ok(()) => Ok(()),
        Err(_) if faults.has(TppFault::AcceptsBadSignature) => Ok(()),
        Err(e) => refuse("invalid_key", format!("the signature does not verify: {e}")),
    }
}

/// The `accepts-hs256` fault: HMAC keyed with the PEM of the issuer's key (any kid).
async fn hs256(keys: &Keys, jws: &DecodedJws) -> Result<(), Refusal> {
    let kid = jws.kid().unwrap_or_default();
    let set = match keys.holding(kid, true).await {
        Ok(Some(set)) => set,
        _ => return refuse("invalid_key", format!("kid {kid:?} is unknown")),
    };
    let Some(jwk) = set.get(kid).first().copied() else {
        return refuse("invalid_key", "no key");
    };
    let pem = jose::rsa_public_pem(jwk).map_err(|e| Refusal {
        err: "invalid_key",
        description: e.to_string(),
        jti: None,
    })?;
    jose::verify_hs256(jws, pem.as_bytes()).map_err(|e| Refusal {
        err: "invalid_key",
        description: e.to_string(),
        jti: None,
    })
}

/// The claims: issuer, audience, issue time, jti, events.
fn claims(expect: &Expect, faults: &TppFaults, c: &Value) -> Result<String, Refusal> {
    if !faults.has(TppFault::IgnoresIss) && c["iss"].as_str() != Some(expect.issuer.as_str()) {
        return refuse(
            "invalid_issuer",
            format!("iss {} is not the issuer this TPP accepts", c["iss"]),
        );
    }
    let aud_ok = match &c["aud"] {
        Value::String(a) => *a == expect.audience,
        Value::Array(list) => list
            .iter()
            .any(|a| a.as_str() == Some(expect.audience.as_str())),
        _ => false,
    };
    if !faults.has(TppFault::IgnoresAud) && !aud_ok {
        return refuse(
            "invalid_audience",
            format!("aud {} does not name this TPP", c["aud"]),
        );
    }
    match c["iat"].as_i64() {
        Some(iat) if iat > now() + SKEW_SECS && !faults.has(TppFault::IgnoresIat) => {
            return refuse("invalid_request", "iat is in the future");
        }
        Some(_) => {}
        None => return refuse("invalid_request", "iat is missing or not a number"),
    }
    if !c["events"].is_object() {
        return refuse("invalid_request", "events is missing or not an object");
    }
    match c["jti"].as_str() {
        Some(j) if !j.is_empty() => Ok(j.to_string()),
        _ => refuse("invalid_request", "jti is missing"),
    }
}
