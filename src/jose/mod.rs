//! JOSE for both halves of the product: the bank's signing key and JWKS, compact SETs (J-01..J-05),
//! detached `x-jws-signature` values (G-14), and the verification the harness and the sandbox run
//! on what they receive (J-06). Pure functions over injected keys: no I/O, no clock reads except
//! where a caller passes the time in.
//!
//! The JWS framing (base64url segments, the signing input, `crit`) is done here rather than through
//! josekit's serializers because OB's private `crit` header names and the unencoded-payload (`b64`)
//! variant of v3.1.2 need exact control; josekit supplies the keys and the RSA/EC primitives.

mod confusion;
mod ready;

pub use confusion::{rsa_public_pem, sign_compact_hs256, verify_hs256};
pub use ready::ready;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::{ES256, JwsSigner, JwsVerifier, PS256, RS256};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::set::{OB_IAT, OB_ISS, OB_TAN};

/// Errors of key handling and signature verification. The message is meant for people: the
/// harness prints it as evidence and the sandbox maps it to `UK.OBIE.Signature.*`.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum JoseError {
    #[error("malformed JWS: {0}")]
    Malformed(String),
    #[error("JOSE header: {0}")]
    Header(String),
    #[error("no key with kid {0:?} in the JWKS")]
    UnknownKid(String),
    #[error("unsupported alg {0:?}")]
    UnsupportedAlg(String),
    #[error("signature does not verify: {0}")]
    BadSignature(String),
    #[error("key: {0}")]
    Key(String),
}

fn key_err(e: impl std::fmt::Display) -> JoseError {
    JoseError::Key(e.to_string())
}

/// base64url without padding, as every JWS segment is encoded.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a base64url segment; tolerates padding some implementations leave in.
pub fn b64_decode(s: &str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| JoseError::Malformed(format!("segment is not base64url: {e}")))
}

/// JWS algorithms this product signs or verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    PS256,
    RS256,
    ES256,
    None,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::PS256 => "PS256",
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::None => "none",
        }
    }
    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "PS256" => Some(Alg::PS256),
            "RS256" => Some(Alg::RS256),
            "ES256" => Some(Alg::ES256),
            "none" => Some(Alg::None),
            _ => None,
        }
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA or EC public key: used as `kid`.
pub fn thumbprint(jwk: &Jwk) -> Result<String, JoseError> {
    let p = |k: &str| -> Result<String, JoseError> {
        match jwk.parameter(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(JoseError::Key(format!("JWK lacks {k}"))),
        }
    };
    // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
    let canonical = match jwk.key_type() {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, p("e")?, p("n")?),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            p("crv")?,
            p("x")?,
            p("y")?
        ),
        other => {
            return Err(JoseError::Key(format!(
                "kty {other} has no thumbprint here"
            )));
        }
    };
    Ok(b64(&Sha256::digest(canonical.as_bytes())))
}

/// An RSA signing key (2048 bits) usable for PS256 and RS256, identified by its thumbprint.
pub struct SigningKey {
    kid: String,
    private: Jwk,
    public: Jwk,
    ps256: Box<dyn JwsSigner>,
    rs256: Box<dyn JwsSigner>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

/// Whose key [`SigningKey::for_process`] hands out: each role has its own, so a TPP never
/// signs with its bank's key and an unpublished key is never one a JWKS holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// A bank's SET signing key, for a database that has none yet.
    Bank,
    /// A TPP's request-signing key the harness makes when its profile names none.
    Client,
    /// A key nobody publishes (the foreign-key faults and checks).
    Unpublished,
}

/// The private JWK made for each [`KeyRole`] in this process, once made.
static PROCESS_KEYS: [std::sync::Mutex<Option<Jwk>>; 3] = [
    std::sync::Mutex::new(None),
    std::sync::Mutex::new(None),
    std::sync::Mutex::new(None),
];

/// The private JWK of `role` for this process, generated on first use (see
/// [`SigningKey::for_process`]). Does not wait for [`ready`]: the warm-up itself uses it.
fn process_jwk(role: KeyRole) -> Result<Jwk, JoseError> {
    let slot = &PROCESS_KEYS[role as usize];
    let mut made = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(jwk) = made.as_ref() {
        return Ok(jwk.clone());
    }
    let jwk = Jwk::generate_rsa_key(2048).map_err(key_err)?;
    *made = Some(jwk.clone());
    Ok(jwk)
}

impl SigningKey {
    /// A fresh 2048-bit RSA key.
    pub fn generate() -> Result<Self, JoseError> {
        ready()?;
        let jwk = Jwk::generate_rsa_key(2048).map_err(key_err)?;
        Self::from_private_jwk(jwk)
    }

    /// The 2048-bit RSA key of `role` for this process: generated on first use, the same key
    /// after. Generating one costs a tenth to a third of a second of a core, varying with the
    /// prime search; a process that starts a dozen sandboxes and harness runs (the main job)
    /// spent most of its CPU on them. A bank still keeps the key its database first stored,
    /// so one process's banks share a key only when their databases are new together.
    pub fn for_process(role: KeyRole) -> Result<Self, JoseError> {
        ready()?;
        Self::from_private_jwk(process_jwk(role)?)
    }

    /// Loads a key from its private JWK JSON (as [`SigningKey::to_private_json`] writes it).
    pub fn from_private_json(json: &str) -> Result<Self, JoseError> {
        Self::from_private_jwk(Jwk::from_bytes(json.as_bytes()).map_err(key_err)?)
    }

    /// Loads a private key from PEM (PKCS#8 or PKCS#1), e.g. a harness request-signing key.
    pub fn from_pem(pem: &str) -> Result<Self, JoseError> {
        ready()?;
        let pair = josekit::jwk::alg::rsa::RsaKeyPair::from_pem(pem.as_bytes()).map_err(key_err)?;
        Self::from_private_jwk(pair.to_jwk_private_key())
    }

    fn from_private_jwk(mut private: Jwk) -> Result<Self, JoseError> {
        ready()?;
        if private.key_type() != "RSA" {
            return Err(JoseError::Key("signing keys must be RSA".into()));
        }
        private.set_parameter("alg", None).map_err(key_err)?;
        private.set_parameter("kid", None).map_err(key_err)?;
        let mut public = private.to_public_key().map_err(key_err)?;
        let kid = thumbprint(&public)?;
        public.set_key_id(kid.clone());
        public.set_key_use("sig");
        public.set_algorithm("PS256");
        let ps256 = Box::new(PS256.signer_from_jwk(&private).map_err(key_err)?);
        let rs256 = Box::new(RS256.signer_from_jwk(&private).map_err(key_err)?);
        Ok(Self {
            kid,
            private,
            public,
            ps256,
            rs256,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK as published in a JWKS (`kid`, `use: sig`, `alg: PS256`).
    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// The private JWK as JSON, for persisting.
    pub fn to_private_json(&self) -> String {
        self.private.to_string()
    }

    /// Raw signature over `input`. `Alg::None` yields an empty signature (used only by faults).
    pub fn sign(&self, alg: Alg, input: &[u8]) -> Result<Vec<u8>, JoseError> {
        match alg {
            Alg::PS256 => self.ps256.sign(input).map_err(key_err),
            Alg::RS256 => self.rs256.sign(input).map_err(key_err),
            Alg::None => Ok(Vec::new()),
            Alg::ES256 => Err(JoseError::UnsupportedAlg("ES256 with an RSA key".into())),
        }
    }
}

/// Settings for the OB private header members (J-05).
#[derive(Debug, Clone)]
pub struct ObHeader {
    /// `http://openbanking.org.uk/iss`: the signer's id at the trust anchor.
    pub iss: String,
    /// `http://openbanking.org.uk/tan`: the trust anchor.
    pub tan: String,
}

/// Builds the JOSE header OB prescribes for SETs and message signatures (J-02..J-05):
/// `alg`, `kid`, the three OB members and a `crit` naming exactly those three.
/// `b64_false` adds the v3.1.2 unencoded-payload marker (`b64: false`, listed in `crit`).
pub fn ob_header(
    alg: Alg,
    kid: &str,
    ob: &ObHeader,
    iat: i64,
    b64_false: bool,
) -> Map<String, Value> {
    let mut h = Map::new();
    h.insert("alg".into(), Value::String(alg.name().into()));
    if alg != Alg::None {
        h.insert("kid".into(), Value::String(kid.into()));
    }
    let mut crit = Vec::new();
    if b64_false {
        h.insert("b64".into(), Value::Bool(false));
        crit.push(Value::String("b64".into()));
    }
    h.insert(OB_IAT.into(), Value::from(iat));
    h.insert(OB_ISS.into(), Value::String(ob.iss.clone()));
    h.insert(OB_TAN.into(), Value::String(ob.tan.clone()));
    crit.extend([OB_IAT, OB_ISS, OB_TAN].map(|s| Value::String(s.into())));
    h.insert("crit".into(), Value::Array(crit));
    h
}

/// A compact JWS with the payload embedded (how a SET travels, J-01).
pub fn sign_compact(
    key: &SigningKey,
    header: &Map<String, Value>,
    payload: &[u8],
) -> Result<String, JoseError> {
    let alg = header_alg(header)?;
    let input = format!("{}.{}", b64(&header_bytes(header)), b64(payload));
    let sig = key.sign(alg, input.as_bytes())?;
    Ok(format!("{input}.{}", b64(&sig)))
}

/// A detached JWS over `body` (`header..signature`, RFC 7515 App. F). With `b64: false` in the
/// header the body itself, not its base64url form, is signed (RFC 7797), as v3.1.2 required.
pub fn sign_detached(
    key: &SigningKey,
    header: &Map<String, Value>,
    body: &[u8],
) -> Result<String, JoseError> {
    let alg = header_alg(header)?;
    let h = b64(&header_bytes(header));
    let input = signing_input(&h, body, is_unencoded(header));
    let sig = key.sign(alg, &input)?;
    Ok(format!("{h}..{}", b64(&sig)))
}

fn header_bytes(header: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(header).unwrap_or_default()
}

fn header_alg(header: &Map<String, Value>) -> Result<Alg, JoseError> {
    let name = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Alg::parse(name).ok_or_else(|| JoseError::UnsupportedAlg(name.into()))
}

fn is_unencoded(header: &Map<String, Value>) -> bool {
    header.get("b64") == Some(&Value::Bool(false))
}

fn signing_input(header_b64: &str, payload: &[u8], unencoded: bool) -> Vec<u8> {
    let mut input = Vec::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 2);
    input.extend_from_slice(header_b64.as_bytes());
    input.push(b'.');
    if unencoded {
        input.extend_from_slice(payload);
    } else {
        input.extend_from_slice(b64(payload).as_bytes());
    }
    input
}

/// A compact JWS taken apart, before any trust decision.
#[derive(Debug, Clone)]
pub struct DecodedJws {
    pub header: Map<String, Value>,
    /// The payload bytes (decoded for embedded payloads; the given body for detached ones).
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    signing_input: Vec<u8>,
}

impl DecodedJws {
    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }
    /// The payload parsed as JSON.
    pub fn payload_json(&self) -> Result<Value, JoseError> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| JoseError::Malformed(format!("payload is not JSON: {e}")))
    }
}

fn parse_header(seg: &str) -> Result<Map<String, Value>, JoseError> {
    let bytes = b64_decode(seg)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(JoseError::Malformed(
            "JOSE header is not a JSON object".into(),
        )),
        Err(e) => Err(JoseError::Malformed(format!(
            "JOSE header is not JSON: {e}"
        ))),
    }
}

/// Splits a compact JWS with an embedded payload (a SET).
pub fn decode_compact(token: &str) -> Result<DecodedJws, JoseError> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(JoseError::Malformed(format!(
            "a compact JWS has 3 dot-separated parts, this has {}",
            parts.len()
        )));
    }
    let header = parse_header(parts[0])?;
    let payload = b64_decode(parts[1])?;
    let signature = b64_decode(parts[2])?;
    let signing_input = format!("{}.{}", parts[0], parts[1]).into_bytes();
    Ok(DecodedJws {
        header,
        payload,
        signature,
        signing_input,
    })
}

/// Splits a detached JWS (`header..signature`) and binds it to the body it signs.
pub fn decode_detached(jws: &str, body: &[u8]) -> Result<DecodedJws, JoseError> {
    let parts: Vec<&str> = jws.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(JoseError::Malformed(format!(
            "a detached JWS has 3 dot-separated parts, this has {}",
            parts.len()
        )));
    }
    if !parts[1].is_empty() {
        return Err(JoseError::Malformed(
            "the payload part of a detached JWS must be empty".into(),
        ));
    }
    let header = parse_header(parts[0])?;
    let signature = b64_decode(parts[2])?;
    let signing_input = signing_input(parts[0], body, is_unencoded(&header));
    Ok(DecodedJws {
        header,
        payload: body.to_vec(),
        signature,
        signing_input,
    })
}

/// Verifies `jws` with the key its `kid` names in `jwks`. `alg: none` never verifies.
pub fn verify(jws: &DecodedJws, jwks: &JwkSet) -> Result<(), JoseError> {
    let alg_name = jws
        .alg()
        .ok_or_else(|| JoseError::Header("alg is missing".into()))?;
    let alg = Alg::parse(alg_name).ok_or_else(|| JoseError::UnsupportedAlg(alg_name.into()))?;
    if alg == Alg::None {
        return Err(JoseError::BadSignature(
            "alg none is an unsigned token".into(),
        ));
    }
    let kid = jws
        .kid()
        .ok_or_else(|| JoseError::Header("kid is missing".into()))?;
    let keys = jwks.get(kid);
    let jwk = keys
        .first()
        .ok_or_else(|| JoseError::UnknownKid(kid.into()))?;
    verify_with(alg, jwk, &jws.signing_input, &jws.signature)
}

fn verify_with(alg: Alg, jwk: &Jwk, input: &[u8], sig: &[u8]) -> Result<(), JoseError> {
    ready()?;
    // The key's own `alg`, if any, must agree; josekit refuses a mismatch, so drop it and compare here.
    if let Some(key_alg) = jwk.algorithm()
        && key_alg != alg.name()
    {
        return Err(JoseError::BadSignature(format!(
            "the JWK is for {key_alg} but the JWS says {}",
            alg.name()
        )));
    }
    let mut jwk = jwk.clone();
    let _ = jwk.set_parameter("alg", None);
    let verifier: Box<dyn JwsVerifier> = match alg {
        Alg::PS256 => Box::new(PS256.verifier_from_jwk(&jwk).map_err(key_err)?),
        Alg::RS256 => Box::new(RS256.verifier_from_jwk(&jwk).map_err(key_err)?),
        Alg::ES256 => Box::new(ES256.verifier_from_jwk(&jwk).map_err(key_err)?),
        Alg::None => return Err(JoseError::BadSignature("alg none".into())),
    };
    verifier
        .verify(input, sig)
        .map_err(|e| JoseError::BadSignature(e.to_string()))
}

/// Checks the OB header rules a verifier applies (J-05, J-06) and returns every breach found:
/// the three OB members are present with the right types, `crit` names exactly them (plus `b64`
/// when `b64_allowed`), the OB `iat` is not in the future, `typ`/`cty` have allowed values.
pub fn ob_header_problems(
    header: &Map<String, Value>,
    now: i64,
    skew: i64,
    b64_allowed: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    match header.get(OB_IAT) {
        Some(Value::Number(n)) => {
            if n.as_f64().is_some_and(|v| v > (now + skew) as f64) {
                problems.push(format!("J-05: {OB_IAT} is in the future"));
            }
        }
        Some(_) => problems.push(format!("J-05: {OB_IAT} is not a JSON number")),
        None => problems.push(format!("J-05: header lacks {OB_IAT}")),
    }
    for name in [OB_ISS, OB_TAN] {
        match header.get(name) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => problems.push(format!("J-05: {name} is not a non-empty string")),
            None => problems.push(format!("J-05: header lacks {name}")),
        }
    }
    match header.get("crit") {
        Some(Value::Array(items)) => {
            let mut names: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            if names.len() != items.len() {
                problems.push("J-05: crit holds a non-string".into());
            }
            names.retain(|n| !(b64_allowed && *n == "b64"));
            names.sort_unstable();
            let mut want = vec![OB_IAT, OB_ISS, OB_TAN];
            want.sort_unstable();
            if names != want {
                problems.push(format!(
                    "J-05: crit must name exactly {want:?}, it names {names:?}"
                ));
            }
        }
        Some(_) => problems.push("J-05: crit is not an array".into()),
        None => problems.push("J-05: header lacks crit".into()),
    }
    if let Some(typ) = header.get("typ") {
        let ok = typ.as_str().is_some_and(|t| {
            t.eq_ignore_ascii_case("JOSE")
                || t.eq_ignore_ascii_case("secevent+jwt")
                || t.eq_ignore_ascii_case("application/secevent+jwt")
        });
        if !ok {
            problems.push(format!("J-04: typ {typ} is neither JOSE nor secevent+jwt"));
        }
    }
    if let Some(cty) = header.get("cty") {
        let ok = cty.as_str().is_some_and(|c| {
            c.eq_ignore_ascii_case("json") || c.eq_ignore_ascii_case("application/json")
        });
        if !ok {
            problems.push(format!(
                "J-04: cty {cty} is neither json nor application/json"
            ));
        }
    }
    problems
}

/// A JWKS document (`{"keys":[…]}`) holding the given public keys.
pub fn jwks_json(keys: &[&Jwk]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| Value::Object(k.as_ref().clone()))
        .collect();
    serde_json::json!({ "keys": keys })
}

/// Parses a JWKS document.
pub fn parse_jwks(bytes: &[u8]) -> Result<JwkSet, JoseError> {
    JwkSet::from_bytes(bytes).map_err(|e| JoseError::Key(format!("not a JWKS: {e}")))
}

/// Parses a JWKS a client registers and checks that every key is a usable public key for an
/// algorithm this product verifies (RSA for PS256/RS256, EC P-256 for ES256), so a typo is
/// refused at registration, not discovered at the first signature.
pub fn parse_client_jwks(bytes: &[u8]) -> Result<JwkSet, JoseError> {
    ready()?;
    let set = parse_jwks(bytes)?;
    if set.keys().is_empty() {
        return Err(JoseError::Key("the JWKS has no keys".into()));
    }
    for jwk in set.keys() {
        let mut k = jwk.clone();
        let _ = k.set_parameter("alg", None);
        let kid = jwk.key_id().unwrap_or("(no kid)").to_string();
        let ok = match jwk.key_type() {
            "RSA" => PS256.verifier_from_jwk(&k).is_ok(),
            "EC" => ES256.verifier_from_jwk(&k).is_ok(),
            _ => false,
        };
        if !ok {
            return Err(JoseError::Key(format!(
                "key {kid} is not a usable RSA or EC P-256 public key"
            )));
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ob() -> ObHeader {
        ObHeader {
            iss: "org-1".into(),
            tan: "openbanking.org.uk".into(),
        }
    }

    #[test]
    fn compact_roundtrip_and_tamper() {
        let key = SigningKey::generate().unwrap();
        let jwks = parse_jwks(jwks_json(&[key.public_jwk()]).to_string().as_bytes()).unwrap();
        let header = ob_header(Alg::PS256, key.kid(), &ob(), 1_700_000_000, false);
        let token = sign_compact(&key, &header, br#"{"jti":"a"}"#).unwrap();
        let decoded = decode_compact(&token).unwrap();
        verify(&decoded, &jwks).unwrap();
        assert!(ob_header_problems(&decoded.header, 1_700_000_100, 60, false).is_empty());

        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        parts[1] = b64(br#"{"jti":"b"}"#);
        let tampered = decode_compact(&parts.join(".")).unwrap();
        assert!(matches!(
            verify(&tampered, &jwks),
            Err(JoseError::BadSignature(_))
        ));
    }

    #[test]
    fn rs256_is_not_accepted_as_ps256_key_alg() {
        let key = SigningKey::generate().unwrap();
        let jwks = parse_jwks(jwks_json(&[key.public_jwk()]).to_string().as_bytes()).unwrap();
        let header = ob_header(Alg::RS256, key.kid(), &ob(), 1, false);
        let token = sign_compact(&key, &header, b"{}").unwrap();
        assert!(verify(&decode_compact(&token).unwrap(), &jwks).is_err());
    }

    #[test]
    fn detached_both_encodings() {
        let key = SigningKey::generate().unwrap();
        let jwks = parse_jwks(jwks_json(&[key.public_jwk()]).to_string().as_bytes()).unwrap();
        for unencoded in [false, true] {
            let header = ob_header(Alg::PS256, key.kid(), &ob(), 1, unencoded);
            let body = br#"{"Data":{"Version":"3.1"}}"#;
            let jws = sign_detached(&key, &header, body).unwrap();
            assert!(jws.contains(".."));
            verify(&decode_detached(&jws, body).unwrap(), &jwks).unwrap();
            assert!(verify(&decode_detached(&jws, b"{}").unwrap(), &jwks).is_err());
        }
    }

    #[test]
    fn unknown_kid_and_none() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let jwks = parse_jwks(jwks_json(&[key.public_jwk()]).to_string().as_bytes()).unwrap();
        let token = sign_compact(
            &other,
            &ob_header(Alg::PS256, other.kid(), &ob(), 1, false),
            b"{}",
        )
        .unwrap();
        assert!(matches!(
            verify(&decode_compact(&token).unwrap(), &jwks),
            Err(JoseError::UnknownKid(_))
        ));
        let none = sign_compact(&key, &ob_header(Alg::None, "", &ob(), 1, false), b"{}").unwrap();
        assert!(verify(&decode_compact(&none).unwrap(), &jwks).is_err());
    }

    #[test]
    fn each_role_has_one_key_per_process_and_roles_differ() {
        let kid = |r: KeyRole| SigningKey::for_process(r).unwrap().kid().to_string();
        let bank = kid(KeyRole::Bank);
        assert_eq!(kid(KeyRole::Bank), bank);
        let client = kid(KeyRole::Client);
        let unpublished = kid(KeyRole::Unpublished);
        assert_ne!(bank, client);
        assert_ne!(bank, unpublished);
        assert_ne!(client, unpublished);
        assert_eq!(kid(KeyRole::Unpublished), unpublished);
    }

    #[test]
    fn key_persists_with_same_kid() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_private_json(&key.to_private_json()).unwrap();
        assert_eq!(key.kid(), again.kid());
    }

    #[test]
    fn header_rules_flag_extra_crit_and_future_iat() {
        let mut h = ob_header(Alg::PS256, "k", &ob(), 2_000, false);
        assert!(
            ob_header_problems(&h, 1_000, 60, false)
                .iter()
                .any(|p| p.contains("future"))
        );
        h.insert(
            "crit".into(),
            serde_json::json!(["b64", OB_IAT, OB_ISS, OB_TAN]),
        );
        assert!(!ob_header_problems(&h, 3_000, 60, false).is_empty());
        assert!(ob_header_problems(&h, 3_000, 60, true).is_empty());
    }
}
