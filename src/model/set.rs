//! The claims of an OBIE event notification (`OBEventNotification2`, N-02..N-07) and the OB
//! names of the JOSE header members a SET carries (J-05).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// OB private JOSE header: issued-at of the signature (J-05).
pub const OB_IAT: &str = "http://openbanking.org.uk/iat";
/// OB private JOSE header: the signer's identity at the trust anchor (J-05).
pub const OB_ISS: &str = "http://openbanking.org.uk/iss";
/// OB private JOSE header: the trust anchor domain (J-05).
pub const OB_TAN: &str = "http://openbanking.org.uk/tan";
/// Subject member names (N-04).
pub const RID: &str = "http://openbanking.org.uk/rid";
pub const RTY: &str = "http://openbanking.org.uk/rty";
pub const RLK: &str = "http://openbanking.org.uk/rlk";
pub const SUBJECT_TYPE: &str = "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty";

/// The claims set of a SET as the sandbox issues it. `events` stays a JSON map because its
/// members are keyed by event URN and the harness must see exactly what was sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetClaims {
    pub iss: String,
    pub iat: i64,
    pub jti: String,
    pub aud: String,
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
    pub toe: i64,
    pub events: Value,
}

/// `OBEventSubject1` (N-04) as a JSON object.
pub fn subject(resource_id: &str, resource_type: &str, links: &[(String, String)]) -> Value {
    let rlk: Vec<Value> = links
        .iter()
        .map(|(version, link)| serde_json::json!({"version": version, "link": link}))
        .collect();
    let mut m = Map::new();
    m.insert("subject_type".into(), Value::String(SUBJECT_TYPE.into()));
    m.insert(RID.into(), Value::String(resource_id.into()));
    m.insert(RTY.into(), Value::String(resource_type.into()));
    m.insert(RLK.into(), Value::Array(rlk));
    Value::Object(m)
}
