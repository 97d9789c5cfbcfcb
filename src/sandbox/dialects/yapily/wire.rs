//! The Yapily wire format: the common event object (rendered once, when the event is raised)
//! and the `yapily-signature` header (signed per attempt, so every attempt has its own `jti`
//! and a fresh `iat`/`exp`). The signature faults bend the header here and nowhere else.

use reqwest::header::{CONTENT_TYPE, HeaderName};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::jose::{self, Alg, SigningKey};
use crate::sandbox::domain::DueDelivery;
use crate::sandbox::domain::Wire;
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::state::AppState;

/// The `institutionId` of every event: the sandbox stands for one institution.
pub const INSTITUTION_ID: &str = "obevents-sandbox";

/// How long a signature is valid: `exp` = `iat` + this many seconds (the seed's ≈ 5 minutes).
pub const SIGNATURE_LIFETIME_S: i64 = 300;

/// The header carrying the signature JWT.
pub const SIGNATURE_HEADER: &str = "yapily-signature";

/// The common event object (YA-07), field names as the seed's Event table spells them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventObject<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    pub event_type: String,
    pub application_id: &'a str,
    pub organisation_id: &'a str,
    pub institution_id: &'a str,
    pub event_payload: &'a Value,
    pub object_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_token: Option<&'a str>,
    pub created: String,
    pub url: &'a str,
    pub notification_status: &'a str,
}

impl EventObject<'_> {
    /// Compact JSON: the exact bytes every attempt sends and the digest covers.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Now as ISO 8601 in UTC with milliseconds (`2022-05-11T13:57:07.638Z`).
pub fn iso_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// JWD-06 as the seed spells it: SHA-256, upper-case hex.
pub fn digest_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The request of one attempt: the stored event object as JSON with a fresh signature.
/// `faults` are those in effect for the delivery's application.
pub fn render(state: &AppState, faults: &Faults, d: &DueDelivery) -> Result<Wire, String> {
    let body = d
        .token
        .as_deref()
        .ok_or_else(|| "the event has no stored event object".to_string())?
        .as_bytes()
        .to_vec();
    let mut headers = vec![(CONTENT_TYPE, "application/json".to_string())];
    if !faults.has(Fault::YapilyNoSignature) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        headers.push((
            HeaderName::from_static(SIGNATURE_HEADER),
            signature(state, faults, &body, now)?,
        ));
    }
    Ok(Wire {
        url: d.url.clone(),
        headers,
        body,
    })
}

/// The `yapily-signature` JWT over `body` (JWD-01..JWD-06), as the faults allow.
fn signature(state: &AppState, faults: &Faults, body: &[u8], now: i64) -> Result<String, String> {
    let digested = if faults.has(Fault::YapilyDigestReserialised) {
        let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())?
    } else {
        body.to_vec()
    };
    let mut digest = digest_hex(&digested);
    if faults.has(Fault::YapilyWrongDigest) {
        // The digest of the body with one more byte: well-formed, but not this body's.
        digest = digest_hex(&[&digested[..], b" "].concat());
    }
    let iat = if faults.has(Fault::YapilyExpired) {
        now - 2 * SIGNATURE_LIFETIME_S
    } else {
        now
    };
    let alg = if faults.has(Fault::YapilyAlgNone) {
        Alg::None
    } else {
        Alg::PS256
    };
    let key = if faults.has(Fault::YapilyForeignKey) {
        state.foreign_key().map_err(|e| e.to_string())?
    } else {
        &state.key
    };
    let jti = uuid::Uuid::new_v4().to_string();
    signature_jwt(key, key.kid(), alg, &digest, iat, &jti).map_err(|e| e.to_string())
}

/// A `yapily-signature` JWT: `{digest, enc: "SHA256", iat, exp = iat + lifetime, jti}` signed
/// by `key` under `kid` (no `kid` with `alg: none`). The harness's referee signs the webhooks
/// it sends a TPP with it too.
pub fn signature_jwt(
    key: &SigningKey,
    kid: &str,
    alg: Alg,
    digest: &str,
    iat: i64,
    jti: &str,
) -> Result<String, jose::JoseError> {
    let claims = json!({
        "digest": digest,
        "enc": "SHA256",
        "iat": iat,
        "exp": iat + SIGNATURE_LIFETIME_S,
        "jti": jti,
    });
    let payload = serde_json::to_vec(&claims).unwrap_or_default();
    let mut header = Map::new();
    header.insert("alg".into(), json!(alg.name()));
    header.insert("typ".into(), json!("JWT"));
    if alg != Alg::None {
        header.insert("kid".into(), json!(kid));
    }
    jose::sign_compact(key, &header, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_upper_case_hex_sha256() {
        assert_eq!(
            digest_hex(b""),
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
    }

    #[test]
    fn iso_now_has_milliseconds() {
        let s = iso_now();
        assert_eq!(s.len(), 24, "{s}");
        assert!(s.ends_with('Z'));
    }
}
