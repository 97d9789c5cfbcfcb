//! The SETs the referee bank pushes to a TPP: a valid one — the OBIE SET the sandbox itself
//! would send (`OBEventNotification2`, PS256 with the OB header, J-01..J-05), issued as the
//! referee's issuer for the TPP's client id — and each deliberate defect a recipient must
//! refuse (RFC 8935 §2, J-06, RFC 8725 §3.1). Every SET has a fresh `jti`.

use serde_json::{Map, Value, json};

use crate::jose::{self, Alg, ObHeader, SigningKey};
use crate::model::set::{OB_IAT, subject};

/// What is wrong with a SET the referee makes up (`Valid`: nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    Valid,
    /// Valid, with a claim and an event member no recipient knows (R8417-19).
    UnknownClaims,
    /// Signed by the issuer's key, then the signature bytes changed.
    BadSignature,
    /// Signed by a key the issuer's JWKS does not hold, under a `kid` it does not list.
    UnknownKid,
    /// `alg: none` and an empty signature.
    AlgNone,
    /// HS256 keyed with the issuer's public key (PEM): the algorithm-confusion forgery.
    Hs256PublicKey,
    /// `aud` names nobody the TPP is.
    WrongAud,
    /// `aud` is another TPP's client id at the same bank.
    OtherTpp,
    /// `iss` (claim and OB header) is another issuer's.
    WrongIss,
    /// `iat` (claim and OB header) an hour ahead.
    IatFuture,
    /// `crit` names only the OB `iat`, not `iss` and `tan`.
    CritLacksOb,
    /// The body is not a compact JWS at all.
    NotJws,
    /// A valid SET sent as `text/plain`.
    TextPlain,
}

/// A SET ready to push.
#[derive(Debug, Clone)]
pub struct Crafted {
    pub jti: String,
    pub body: String,
    pub content_type: &'static str,
    pub defect: Defect,
}

/// What the referee signs with and for whom.
pub struct SetMaker {
    pub key: SigningKey,
    /// A key the referee never publishes.
    pub foreign: SigningKey,
    pub ob: ObHeader,
    pub issuer: String,
    /// The TPP's client id at the referee: the `aud` of SETs meant for it.
    pub audience: String,
    /// Another TPP's client id at the referee.
    pub other_audience: String,
    /// The referee's base URL (for the resource links).
    pub base_url: String,
}

impl std::fmt::Debug for SetMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetMaker")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The media type of a pushed SET: OBIE's.
pub const SET_MEDIA_TYPE: &str = "application/jwt";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl SetMaker {
    /// A fresh SET with `defect`.
    pub fn make(&self, defect: Defect) -> Result<Crafted, String> {
        let jti = uuid::Uuid::new_v4().to_string();
        let body = self
            .body(&jti, defect)
            .map_err(|e| format!("cannot sign a SET: {e}"))?;
        Ok(Crafted {
            jti,
            body,
            content_type: if defect == Defect::TextPlain {
                "text/plain"
            } else {
                SET_MEDIA_TYPE
            },
            defect,
        })
    }

    /// A fresh valid SET signed (PS256, OB header) by `key` under its own `kid` — a key the
    /// referee has just published (key rotation).
    pub fn signed_by(&self, key: &SigningKey) -> Result<Crafted, String> {
        let jti = uuid::Uuid::new_v4().to_string();
        let iat = now();
        let payload =
            serde_json::to_vec(&self.claims(&jti, Defect::Valid, iat)).unwrap_or_default();
        let header = jose::ob_header(Alg::PS256, key.kid(), &self.ob, iat, false);
        let body = jose::sign_compact(key, &header, &payload)
            .map_err(|e| format!("cannot sign a SET: {e}"))?;
        Ok(Crafted {
            jti,
            body,
            content_type: SET_MEDIA_TYPE,
            defect: Defect::Valid,
        })
    }

    fn claims(&self, jti: &str, defect: Defect, iat: i64) -> Value {
        let rid = uuid::Uuid::new_v4().to_string();
        let link = format!(
            "{}/open-banking/v3.1/aisp/account-access-consents/{rid}",
            self.base_url
        );
        let subject = subject(
            &rid,
            "account-access-consent",
            &[("v3.1".into(), link.clone())],
        );
        let mut event = json!({ "subject": subject });
        let mut claims = json!({
            "iss": if defect == Defect::WrongIss { "https://not-the-bank.obevents.invalid" } else { self.issuer.as_str() },
            "iat": iat,
            "jti": jti,
            "aud": match defect {
                Defect::WrongAud => "https://someone-else.obevents.invalid",
                Defect::OtherTpp => self.other_audience.as_str(),
                _ => self.audience.as_str(),
            },
            "sub": link,
            "txn": jti,
            "toe": iat,
        });
        if defect == Defect::UnknownClaims {
            claims["x-obevents-unknown"] = json!({"nested": [1, 2]});
            event["x-obevents-unknown-member"] = json!("ignore me");
        }
        claims["events"] = json!({ "urn:uk:org:openbanking:events:resource-update": event });
        claims
    }

    fn body(&self, jti: &str, defect: Defect) -> Result<String, jose::JoseError> {
        if defect == Defect::NotJws {
            return Ok(format!(
                "{{\"jti\":\"{jti}\",\"note\":\"a JSON document, not a compact JWS\"}}"
            ));
        }
        let iat = if defect == Defect::IatFuture {
            now() + 3600
        } else {
            now()
        };
        let payload = serde_json::to_vec(&self.claims(jti, defect, iat)).unwrap_or_default();
        let mut ob = self.ob.clone();
        if defect == Defect::WrongIss {
            ob.iss = "0015800001041RNotTheBank".into();
        }
        let alg = if defect == Defect::AlgNone {
            Alg::None
        } else {
            Alg::PS256
        };
        let (key, kid) = if defect == Defect::UnknownKid {
            (&self.foreign, format!("unknown-{}", self.foreign.kid()))
        } else {
            (&self.key, self.key.kid().to_string())
        };
        let mut header = jose::ob_header(alg, &kid, &ob, iat, false);
        match defect {
            Defect::CritLacksOb => {
                header.insert("crit".into(), json!([OB_IAT]));
            }
            Defect::Hs256PublicKey => return self.hs256(header, &payload),
            _ => {}
        }
        let token = jose::sign_compact(key, &header, &payload)?;
        Ok(if defect == Defect::BadSignature {
            tamper(&token)
        } else {
            token
        })
    }

    fn hs256(
        &self,
        mut header: Map<String, Value>,
        payload: &[u8],
    ) -> Result<String, jose::JoseError> {
        header.insert("alg".into(), json!("HS256"));
        let secret = jose::rsa_public_pem(self.key.public_jwk())?;
        jose::sign_compact_hs256(secret.as_bytes(), &header, payload)
    }
}

/// `token` with its signature's first bytes flipped (still valid base64url).
fn tamper(token: &str) -> String {
    let Some((input, sig)) = token.rsplit_once('.') else {
        return token.to_string();
    };
    let mut bytes = jose::b64_decode(sig).unwrap_or_default();
    for b in bytes.iter_mut().take(8) {
        *b ^= 0x5a;
    }
    format!("{input}.{}", jose::b64(&bytes))
}
