//! The `yapily-signature` header of a Yapily-style webhook (webhook-dialects.md §1, JWD-01..07):
//! a compact JWS whose claims carry `digest` (SHA-256 of the exact body bytes, upper-case hex),
//! `enc: "SHA256"`, `iat`, `exp` and a `jti`, signed with a key of the sender's JWKS by `kid`.
//! Each problem is a line that starts with the rule it breaks.

use josekit::jwk::JwkSet;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jose;

/// The header name.
pub const HEADER: &str = "yapily-signature";
/// The lifetime the seed shows (`exp − iat` = 301 s); a longer one is accepted up to this.
pub const MAX_LIFETIME_SECS: i64 = 600;

/// SHA-256 of `body` as upper-case hex, the form the `digest` claim takes.
pub fn digest(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// JSON Schema of the common event object (`schemas/yapily/event.json`).
const EVENT_SCHEMA: &str = include_str!("../../../schemas/yapily/event.json");

/// Where `body` departs from the common event object (not JSON, a missing or mistyped field);
/// each line names the JSON pointer. Empty when it conforms.
pub fn event_problems(body: &[u8]) -> Vec<String> {
    static VALIDATOR: std::sync::OnceLock<Result<jsonschema::Validator, String>> =
        std::sync::OnceLock::new();
    let validator = match VALIDATOR.get_or_init(|| crate::harness::schema::compile(EVENT_SCHEMA)) {
        Ok(v) => v,
        Err(e) => return vec![format!("the event schema does not compile: {e}")],
    };
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return vec![format!("the body is not JSON: {e}")],
    };
    validator
        .iter_errors(&value)
        .take(20)
        .map(|e| format!("{} at {:?}", e, e.instance_path().to_string()))
        .collect()
}

/// What a receiver learns from a valid signature.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signed {
    pub jti: Option<String>,
    pub iat: Option<i64>,
}

/// Checks `header` (the `yapily-signature` value, if any) against `body` and the sender's
/// `jwks` at unix time `now` with `skew` seconds of tolerance. Returns what was read and every
/// problem found.
pub fn check(
    header: Option<&str>,
    body: &[u8],
    jwks: Option<&JwkSet>,
    now: i64,
    skew: i64,
) -> (Signed, Vec<String>) {
    let mut signed = Signed::default();
    let Some(token) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return (
            signed,
            vec![format!("JWD-01: the webhook carries no {HEADER} header")],
        );
    };
    let jws = match jose::decode_compact(token) {
        Ok(j) => j,
        Err(e) => {
            return (
                signed,
                vec![format!("JWD-01: {HEADER} is not a compact JWS: {e}")],
            );
        }
    };
    let mut problems = signing_problems(&jws, jwks);
    let claims = match jws.payload_json() {
        Ok(Value::Object(m)) => m,
        _ => {
            problems.push(format!(
                "JWD-06: the claims of {HEADER} are not a JSON object"
            ));
            return (signed, problems);
        }
    };
    problems.extend(digest_problems(&claims, body));
    let iat = claims.get("iat").and_then(Value::as_i64);
    let exp = claims.get("exp").and_then(Value::as_i64);
    problems.extend(lifetime_problems(iat, exp, now, skew));
    signed.iat = iat;
    signed.jti = claims.get("jti").and_then(Value::as_str).map(String::from);
    if signed.jti.as_deref().is_none_or(str::is_empty) {
        problems.push("JWD-07: the signature has no jti to detect replays by".to_string());
    }
    (signed, problems)
}

/// How the signature is made: a public-key algorithm (JWD-02), a key from the JWKS only
/// (JWD-03), and verified with it when the JWKS is known (JWD-03, JWD-04).
fn signing_problems(jws: &jose::DecodedJws, jwks: Option<&JwkSet>) -> Vec<String> {
    let mut problems = Vec::new();
    match jws.alg() {
        None | Some("none") => problems.push(format!(
            "JWD-02: {HEADER} is unsigned (alg {:?})",
            jws.alg()
        )),
        Some(a) if a.starts_with("HS") => problems.push(format!(
            "JWD-02: {HEADER} uses {a}, a shared-secret algorithm, where the sender publishes public keys"
        )),
        Some(_) => {}
    }
    if jws.header.contains_key("jwk") || jws.header.contains_key("x5u") {
        problems.push(format!(
            "JWD-03: {HEADER} names its own key (jwk/x5u in the header); only the JWKS is trusted"
        ));
    }
    if let Some(jwks) = jwks
        && !matches!(jws.alg(), None | Some("none"))
    {
        match jose::verify(jws, jwks) {
            Ok(()) => {}
            Err(jose::JoseError::UnknownKid(kid)) => problems.push(format!(
                "JWD-03: kid {kid:?} of {HEADER} names no key in the sender's JWKS"
            )),
            Err(e) => problems.push(format!("JWD-04: {HEADER} does not verify: {e}")),
        }
    }
    problems
}

/// `digest` is the upper-case hex SHA-256 of the body received, `enc` says so (JWD-06).
fn digest_problems(claims: &serde_json::Map<String, Value>, body: &[u8]) -> Vec<String> {
    let mut problems = Vec::new();
    let want = digest(body);
    match claims.get("digest").and_then(Value::as_str) {
        Some(d) if d == want => {}
        Some(d) if d.eq_ignore_ascii_case(&want) => problems.push(format!(
            "JWD-06: digest {d} is the body's SHA-256 but not in upper-case hex"
        )),
        Some(d) => problems.push(format!(
            "JWD-06: digest {d} is not the SHA-256 of the body received ({want})"
        )),
        None => problems.push("JWD-06: the signature has no digest claim".to_string()),
    }
    if claims.get("enc").and_then(Value::as_str) != Some("SHA256") {
        problems.push(format!(
            "JWD-06: enc is {:?}, expected \"SHA256\"",
            claims.get("enc")
        ));
    }
    problems
}

/// `iat` and `exp` bound a short lifetime around `now` (JWD-05).
fn lifetime_problems(iat: Option<i64>, exp: Option<i64>, now: i64, skew: i64) -> Vec<String> {
    let (Some(iat), Some(exp)) = (iat, exp) else {
        return vec!["JWD-05: the signature lacks an integer iat or exp".to_string()];
    };
    let mut problems = Vec::new();
    if iat > now + skew {
        problems.push(format!("JWD-05: iat {iat} is in the future (now {now})"));
    }
    if exp + skew < now {
        problems.push(format!("JWD-05: exp {exp} has passed (now {now})"));
    }
    if exp <= iat || exp - iat > MAX_LIFETIME_SECS {
        problems.push(format!(
            "JWD-05: exp − iat is {} s; a webhook signature lives a few minutes (300 s in the \
             sender's example)",
            exp - iat
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_example_conforms_and_a_body_without_id_does_not() {
        let example = json!({
            "id": "2124343e-7b92-4da8-8424-52c6a7e3a56d", "eventType": "PAYMENT_STATUS_COMPLETED",
            "applicationId": "d60ebb6f", "organisationId": "41a3c16b", "institutionId": "mock-sandbox",
            "eventPayload": {}, "objectId": "PDC_35c0ab52", "created": "2022-05-11T13:57:07.638Z",
            "url": "https://webhook.example/x", "notificationStatus": "DELIVERED"
        });
        assert!(event_problems(example.to_string().as_bytes()).is_empty());
        let mut no_id = example.clone();
        no_id.as_object_mut().unwrap().remove("id");
        let p = event_problems(no_id.to_string().as_bytes());
        assert!(p.len() == 1 && p[0].contains("id"), "{p:?}");
        assert!(!event_problems(b"not json").is_empty());
    }
    use crate::jose::{Alg, SigningKey};
    use serde_json::json;

    fn sign(key: &SigningKey, alg: Alg, claims: &Value) -> String {
        let header = json!({"alg": alg.name(), "kid": key.kid()});
        let header = header.as_object().unwrap().clone();
        jose::sign_compact(key, &header, &serde_json::to_vec(claims).unwrap()).unwrap()
    }

    fn claims(body: &[u8], iat: i64) -> Value {
        json!({"digest": digest(body), "enc": "SHA256", "iat": iat, "exp": iat + 300, "jti": "j1"})
    }

    #[test]
    fn a_good_signature_has_no_problems_and_each_defect_names_its_rule() {
        let key = SigningKey::generate().unwrap();
        let jwks: JwkSet =
            jose::parse_jwks(jose::jwks_json(&[key.public_jwk()]).to_string().as_bytes()).unwrap();
        let body = br#"{"id":"e1","eventType":"PAYMENT_STATUS_COMPLETED"}"#;
        let now = 1_800_000_000;
        let good = sign(&key, Alg::PS256, &claims(body, now));
        let (s, p) = check(Some(&good), body, Some(&jwks), now, 60);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(s.jti.as_deref(), Some("j1"));

        let rule = |h: Option<&str>, b: &[u8]| check(h, b, Some(&jwks), now, 60).1;
        assert!(rule(None, body)[0].starts_with("JWD-01"));
        let reserialised = br#"{"id": "e1", "eventType": "PAYMENT_STATUS_COMPLETED"}"#;
        assert!(rule(Some(&good), reserialised)[0].starts_with("JWD-06"));
        let other = SigningKey::generate().unwrap();
        let foreign = sign(&other, Alg::PS256, &claims(body, now));
        assert!(rule(Some(&foreign), body)[0].starts_with("JWD-03"));
        let expired = sign(&key, Alg::PS256, &claims(body, now - 1_000));
        assert!(rule(Some(&expired), body)[0].starts_with("JWD-05"));
        let payload = jose::b64(claims(body, now).to_string().as_bytes());
        let none = format!("{}.{payload}.", jose::b64(br#"{"alg":"none"}"#));
        assert!(rule(Some(&none), body)[0].starts_with("JWD-02"));
    }
}
