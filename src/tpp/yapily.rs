//! What the reference TPP checks before it accepts a Yapily-style notification: a
//! `yapily-signature` header holding a compact JWS (JWD-01), PS256 only (JWD-02), a `kid` of
//! the sender's JWKS — fetched once, refreshed once on an unknown `kid` (JWD-03) — a signature
//! that verifies (JWD-04), `iat`/`exp` fresh within a minute's skew (JWD-05), `enc` SHA256 and a
//! `digest` equal to the SHA-256 of the exact body bytes (JWD-06), a `jti` never seen before
//! (JWD-07), and a body that is an event object for this application with an `id`. Faults skip
//! exactly the check they name.

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::Value;

use super::faults::{TppFault, TppFaults};
use super::verify::Keys;
use crate::jose;
use crate::sandbox::dialects::yapily::wire::digest_hex;

/// Clock skew allowed on `iat` and `exp`.
const SKEW_SECS: i64 = 60;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The signature jtis seen so far (a replay is refused).
#[derive(Debug, Default)]
pub struct SeenJtis(Mutex<HashSet<String>>);

impl SeenJtis {
    /// Whether `jti` is new; remembers it.
    fn first(&self, jti: &str) -> bool {
        self.0
            .lock()
            .map(|mut s| s.insert(jti.to_string()))
            .unwrap_or(false)
    }
}

/// Checks a notification; the event's `id` when it is accepted, else why not.
pub async fn check(
    keys: &Keys,
    seen: &SeenJtis,
    application_id: &str,
    faults: &TppFaults,
    signature: Option<&str>,
    body: &[u8],
) -> Result<String, String> {
    let signature = signature.ok_or("no yapily-signature header")?;
    let jws = jose::decode_compact(signature.trim())
        .map_err(|e| format!("the yapily-signature is not a compact JWS: {e}"))?;
    verify_signature(keys, faults, &jws).await?;
    let claims = jws
        .payload_json()
        .map_err(|e| format!("the signature's claims are not JSON: {e}"))?;
    fresh(faults, &claims)?;
    if claims["enc"].as_str() != Some("SHA256") {
        return Err(format!("enc {} is not SHA256", claims["enc"]));
    }
    let digest = claims["digest"].as_str().unwrap_or_default();
    if !faults.has(TppFault::YapilyIgnoresDigest) && digest != digest_hex(body) {
        return Err("the digest is not the SHA-256 of the body".into());
    }
    let jti = claims["jti"].as_str().filter(|j| !j.is_empty());
    let jti = jti.ok_or("the signature has no jti")?;
    if !seen.first(jti) && !faults.has(TppFault::YapilyAcceptsReplay) {
        return Err(format!("jti {jti} was used before (a replay)"));
    }
    event_id(application_id, body)
}

/// The algorithm and the signature by a key of the sender's JWKS.
async fn verify_signature(
    keys: &Keys,
    faults: &TppFaults,
    jws: &jose::DecodedJws,
) -> Result<(), String> {
    match jws.alg().unwrap_or_default() {
        "PS256" => {}
        "none" if faults.has(TppFault::YapilyAcceptsAlgNone) => return Ok(()),
        other => {
            return Err(format!(
                "alg {other:?} is not accepted: the sender signs PS256"
            ));
        }
    }
    let kid = jws.kid().unwrap_or_default();
    match keys.holding(kid, true).await? {
        Some(set) => {
            jose::verify(jws, &set).map_err(|e| format!("the signature does not verify: {e}"))
        }
        None if faults.has(TppFault::YapilyAcceptsUnknownKey) => Ok(()),
        None => Err(format!("kid {kid:?} is not a key of the sender's JWKS")),
    }
}

/// `iat` not in the future, `exp` not passed (JWD-05).
fn fresh(faults: &TppFaults, claims: &Value) -> Result<(), String> {
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return Err("the signature lacks a numeric iat or exp".into());
    };
    let now = now();
    if iat > now + SKEW_SECS {
        return Err("the signature's iat is in the future".into());
    }
    if exp < now - SKEW_SECS && !faults.has(TppFault::YapilyIgnoresExpiry) {
        return Err("the signature has expired".into());
    }
    Ok(())
}

/// The event object's `id`, if it is for `application_id`.
fn event_id(application_id: &str, body: &[u8]) -> Result<String, String> {
    let event: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    if event["applicationId"].as_str() != Some(application_id) {
        return Err(format!(
            "the event is for application {}, not {application_id}",
            event["applicationId"]
        ));
    }
    event["id"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| "the event object has no id".into())
}
