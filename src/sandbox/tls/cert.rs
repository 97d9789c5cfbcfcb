//! The client certificate of a connection, as the server hands it to every request of that
//! connection: its RFC 8705 thumbprint (`x5t#S256`, what certificate-bound tokens carry), its
//! subject DN, and whether the client CA vouches for it. Also the subject-DN comparison of
//! `tls_client_auth` (RFC 8705 §2.1.2), which needs no LDAP library for the names banks use.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate a client presented and proved it holds the key of.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCert {
    pub der: Vec<u8>,
    /// base64url(SHA-256(DER)): the `x5t#S256` of RFC 8705 §3.1.
    pub thumbprint: String,
    /// It chains to the configured client CA.
    pub ca_verified: bool,
}

impl ClientCert {
    pub fn new(der: Vec<u8>, ca_verified: bool) -> ClientCert {
        let thumbprint = crate::jose::b64(&Sha256::digest(&der));
        ClientCert {
            der,
            thumbprint,
            ca_verified,
        }
    }

    /// Does the subject of this certificate equal `registered` (an RFC 4514 string)?
    pub fn subject_matches(&self, registered: &str) -> bool {
        match (parse_dn(registered), subject_attributes(&self.der)) {
            (Some(mut want), Some(mut have)) => {
                want.sort();
                have.sort();
                want == have
            }
            _ => false,
        }
    }
}

/// The client certificate of the request's connection, if any (absent on plain HTTP).
#[derive(Debug, Clone, Default)]
pub struct PeerCert(pub Option<Arc<ClientCert>>);

impl<S: Send + Sync> FromRequestParts<S> for PeerCert {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<PeerCert>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Is `der` an X.509 certificate at all?
pub fn parses(der: &CertificateDer<'_>) -> bool {
    X509Certificate::from_der(der.as_ref()).is_ok()
}

/// Attribute type names of RFC 4514 §3 and those X.509 subjects of banks and TPPs use, with
/// their OIDs (OBIE certificates carry `organizationIdentifier`).
const NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("ORGANIZATIONIDENTIFIER", "2.5.4.97"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
];

fn oid_of(name: &str) -> Option<String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper.chars().all(|c| c.is_ascii_digit() || c == '.') && !upper.is_empty() {
        return Some(upper);
    }
    NAMES
        .iter()
        .find(|(n, _)| *n == upper)
        .map(|(_, oid)| (*oid).to_string())
}

/// `(OID, value)` pairs of an RFC 4514 string, values unescaped and compared
/// case-insensitively (caseIgnoreMatch, as for the string attributes above). Order is not
/// significant in the comparison, so either RDN order a TPP writes matches.
pub fn parse_dn(dn: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = dn.chars();
    let mut parts = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                current.push(chars.next()?);
            }
            ',' | '+' | ';' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    for part in parts {
        let (name, value) = part.split_once('=')?;
        out.push((oid_of(name)?, normalise(&unescape(value.trim())?)));
    }
    Some(out).filter(|v| !v.is_empty())
}

/// RFC 4514 §2.4 escapes: `\,` and friends, and `\XX` hex pairs (UTF-8 bytes).
fn unescape(v: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let raw = v.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            let next = *raw.get(i + 1)?;
            let hex = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    bytes.push(b);
                    i += 3;
                }
                None => {
                    bytes.push(next);
                    i += 2;
                }
            }
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

fn normalise(v: &str) -> String {
    v.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `(OID, value)` pairs of a certificate's subject; `None` if it does not parse or holds a
/// value that is not a string.
fn subject_attributes(der: &[u8]) -> Option<Vec<(String, String)>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut out = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        for atv in rdn.iter() {
            let value = atv.as_str().ok()?;
            out.push((atv.attr_type().to_id_string(), normalise(value)));
        }
    }
    Some(out)
}

/// The subject DN of a certificate as an RFC 4514 string (last RDN first), what a TPP
/// registers as `tls_client_auth_subject_dn`.
pub fn subject_dn(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let mut atvs = Vec::new();
        for atv in rdn.iter() {
            let oid = atv.attr_type().to_id_string();
            let name = NAMES
                .iter()
                .find(|(_, o)| *o == oid)
                .map_or(oid.clone(), |(n, _)| (*n).to_string());
            atvs.push(format!("{name}={}", escape(atv.as_str().ok()?)));
        }
        rdns.push(atvs.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// The certificate's public key as a JWK (RSA, or EC P-256) with the certificate in `x5c`:
/// how a `self_signed_tls_client_auth` client registers it (RFC 8705 §2.2.2).
pub fn certificate_jwk(der: &[u8]) -> Option<Value> {
    use x509_parser::public_key::PublicKey;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let spki = cert.public_key();
    let b64 = crate::jose::b64;
    let mut jwk = match spki.parsed().ok()? {
        PublicKey::RSA(rsa) => {
            let trim = |b: &[u8]| b64(&b[b.iter().take_while(|x| **x == 0).count()..]);
            json!({ "kty": "RSA", "n": trim(rsa.modulus), "e": trim(rsa.exponent) })
        }
        PublicKey::EC(point) => {
            let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
            let xy = point.data().strip_prefix(&[4])?;
            if curve.to_id_string() != "1.2.840.10045.3.1.7" || xy.len() != 64 {
                return None;
            }
            let (x, y) = xy.split_at(32);
            json!({ "kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y) })
        }
        _ => return None,
    };
    jwk["use"] = json!("sig");
    jwk["x5c"] = json!([STANDARD.encode(der)]);
    Some(jwk)
}

fn escape(v: &str) -> String {
    let mut out = String::new();
    for (i, c) in v.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == v.chars().count() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_strings_parse_in_any_order_and_case() {
        let a = parse_dn("CN=tpp one,O=Acme\\, Ltd,C=GB").unwrap();
        let mut b = parse_dn("c=gb, o=acme\\2C ltd ,  2.5.4.3 = TPP  One").unwrap();
        let mut a2 = a.clone();
        a2.sort();
        b.sort();
        assert_eq!(a2, b);
        assert_eq!(a[1], ("2.5.4.10".to_string(), "acme, ltd".to_string()));
        assert!(parse_dn("no equals sign").is_none());
        assert!(parse_dn("XYZ=unknown type").is_none());
        assert!(parse_dn("").is_none());
    }

    #[test]
    fn a_generated_certificate_matches_its_own_subject() {
        let pki = super::super::dev::DevPki::generate().unwrap();
        let id = pki.client("obevents test, TPP").unwrap();
        let cert = ClientCert::new(id.cert_der.clone(), true);
        let dn = subject_dn(&cert.der).unwrap();
        assert!(dn.contains("CN=obevents test\\, TPP"), "{dn}");
        assert!(cert.subject_matches(&dn));
        assert!(!cert.subject_matches("CN=someone else,O=obevents"));
        assert_eq!(cert.thumbprint.len(), 43);
    }
}
