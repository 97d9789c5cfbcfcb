//! What an algorithm-confusion attack needs (RFC 8725 §2.1, §3.1): an RSA public key in the
//! PEM form a careless verifier feeds to HMAC, and HS256 signing and verification keyed with
//! it. The referee bank forges such a SET to prove a TPP refuses it; the reference TPP's
//! `accepts-hs256` fault verifies one the careless way. Nothing else signs or verifies HS256.

use josekit::jwk::Jwk;
use josekit::jws::{HS256, JwsSigner, JwsVerifier};
use serde_json::{Map, Value};

use super::{DecodedJws, JoseError, b64, b64_decode, key_err};

/// A DER length.
fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER of the unsigned big-endian `bytes`.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    der(0x02, &content)
}

/// The `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) PEM of an RSA public JWK.
pub fn rsa_public_pem(jwk: &Jwk) -> Result<String, JoseError> {
    let part = |k: &str| -> Result<Vec<u8>, JoseError> {
        match jwk.parameter(k) {
            Some(Value::String(s)) => b64_decode(s),
            _ => Err(JoseError::Key(format!("RSA JWK lacks {k}"))),
        }
    };
    let rsa_key = der(
        0x30,
        &[der_uint(&part("n")?), der_uint(&part("e")?)].concat(),
    );
    // rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters.
    let algorithm = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0u8];
    bit_string.extend(rsa_key);
    let spki = der(0x30, &[algorithm.to_vec(), der(0x03, &bit_string)].concat());
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, spki);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    Ok(format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    ))
}

/// A compact JWS with `header` (whose `alg` should say HS256) signed HMAC-SHA256 with `secret`.
pub fn sign_compact_hs256(
    secret: &[u8],
    header: &Map<String, Value>,
    payload: &[u8],
) -> Result<String, JoseError> {
    super::ready()?;
    let signer = HS256.signer_from_bytes(secret).map_err(key_err)?;
    let head = serde_json::to_vec(header).unwrap_or_default();
    let input = format!("{}.{}", b64(&head), b64(payload));
    let sig = signer.sign(input.as_bytes()).map_err(key_err)?;
    Ok(format!("{input}.{}", b64(&sig)))
}

/// Verifies an HS256 `jws` with `secret`.
pub fn verify_hs256(jws: &DecodedJws, secret: &[u8]) -> Result<(), JoseError> {
    super::ready()?;
    let verifier = HS256.verifier_from_bytes(secret).map_err(key_err)?;
    verifier
        .verify(&jws.signing_input, &jws.signature)
        .map_err(|e| JoseError::BadSignature(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hs256_token_keyed_with_the_public_pem_round_trips() {
        let key = super::super::SigningKey::generate().unwrap();
        let pem = rsa_public_pem(key.public_jwk()).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
        let mut h = Map::new();
        h.insert("alg".into(), Value::String("HS256".into()));
        let token = sign_compact_hs256(pem.as_bytes(), &h, b"{}").unwrap();
        let jws = super::super::decode_compact(&token).unwrap();
        verify_hs256(&jws, pem.as_bytes()).unwrap();
        assert!(verify_hs256(&jws, b"another secret").is_err());
    }
}
