//! Verification of poll answers and of every SET in them (issue 4 §5): response schema
//! (AP-05), `sets` keys (AP-13), compact JWS framing (N-01, J-01), signature through the
//! target's JWKS by `kid` (J-03, J-06), `alg` (J-02), OB header rules (J-04, J-05), claims
//! against OBEventNotification2 (N-02..N-07, R8417-*), and jti consistency across the run
//! (R8417-08). Each problem is a line that starts with the rule ID it breaks.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::context::RunContext;
use super::profile::Conformance;
use crate::jose::{self, DecodedJws, JoseError};
use crate::model::EventType;
use crate::model::bank::SpecVersion;
use crate::model::set::{OB_ISS, OB_TAN, RTY};

/// One SET of a poll answer, decoded (whether or not it verified).
#[derive(Debug, Clone)]
pub struct CheckedSet {
    pub key: String,
    pub token: String,
    pub header: Value,
    pub claims: Value,
    pub problems: Vec<String>,
}

impl CheckedSet {
    /// The event-type URNs in `events`.
    pub fn event_types(&self) -> Vec<String> {
        self.claims
            .get("events")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The subject of the first known event in `events`.
    pub fn subject(&self) -> Option<&Value> {
        let events = self.claims.get("events")?.as_object()?;
        events.values().find_map(|e| e.get("subject"))
    }
}

/// Result of checking one poll answer.
#[derive(Debug, Clone, Default)]
pub struct PollCheck {
    pub sets: Vec<CheckedSet>,
    pub more_available: Option<bool>,
    pub problems: Vec<String>,
}

/// Finds a duplicated member name anywhere in a JSON document (R8417-03): serde_json keeps the
/// last of duplicates silently, so this walks the raw text.
pub fn duplicate_member(raw: &[u8]) -> Option<String> {
    struct Walk<'a>(&'a mut Option<String>, String);
    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(k) = map.next_key::<String>()? {
                let path = format!("{}/{k}", self.1);
                if !seen.insert(k) && self.0.is_none() {
                    *self.0 = Some(path.clone());
                }
                map.next_value_seed(Walk(self.0, path))?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while seq
                .next_element_seed(Walk(self.0, format!("{}/{i}", self.1)))?
                .is_some()
            {
                i += 1;
            }
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let mut found = None;
    let mut d = serde_json::Deserializer::from_slice(raw);
    let _ = Walk(&mut found, String::new()).deserialize(&mut d);
    found
}

fn is_absolute_uri(s: &str) -> bool {
    url::Url::parse(s).is_ok()
}

impl RunContext {
    /// Checks one SET taken from `sets[key]` for a TPP whose SETs should carry `aud`: its
    /// framing, header, signature and claims, in that order.
    pub async fn check_set(&self, key: &str, token: &str, aud: &str) -> CheckedSet {
        let mut out = CheckedSet {
            key: key.into(),
            token: token.into(),
            header: Value::Null,
            claims: Value::Null,
            problems: Vec::new(),
        };
        let decoded = match jose::decode_compact(token) {
            Ok(d) => d,
            Err(e) => {
                out.problems.push(format!(
                    "N-01/J-01: the SET under {key} is not a compact JWS: {e}"
                ));
                return out;
            }
        };
        out.header = Value::Object(decoded.header.clone());
        out.problems.extend(self.header_problems(&decoded));
        out.problems.extend(self.signature_problem(&decoded).await);
        // Claims (N-02..N-07, R8417-*).
        if let Some(path) = duplicate_member(&decoded.payload) {
            out.problems
                .push(format!("R8417-03: the claims repeat the member {path}"));
        }
        let claims = match decoded.payload_json() {
            Ok(v) => v,
            Err(e) => {
                out.problems.push(format!("N-02: {e}"));
                return out;
            }
        };
        out.claims = claims.clone();
        if !claims.is_object() {
            out.problems
                .push("N-02: the claims set is not a JSON object".into());
            return out;
        }
        out.problems.extend(self.claims_problems(&claims, key, aud));
        out
    }

    /// The JOSE header (J-02, J-04..J-06; R8417-14 for an RFC 8936 transmitter).
    fn header_problems(&self, decoded: &DecodedJws) -> Vec<String> {
        let mut p = Vec::new();
        let obie = self.profile.conformance == Conformance::Obie;
        let header = Value::Object(decoded.header.clone());
        if obie {
            for problem in self.schemas.problems("OBSetJoseHeader", &header) {
                p.push(format!("J-05: JOSE header: {problem}"));
            }
        } else if let Some(typ) = decoded.header.get("typ").and_then(Value::as_str) {
            let typ_ok = ["secevent+jwt", "application/secevent+jwt"]
                .iter()
                .any(|t| typ.eq_ignore_ascii_case(t));
            if !typ_ok {
                p.push(format!("R8417-14: typ is {typ:?}, expected secevent+jwt"));
            }
        }
        let alg = decoded.alg().unwrap_or("");
        if alg == "none" {
            p.push("R8417-16/J-02: the SET is unsigned (alg none)".into());
        } else if alg != self.profile.alg {
            p.push(format!("J-02: alg is {alg}, expected {}", self.profile.alg));
        }
        if obie {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let b64_allowed = self.profile.spec_version == SpecVersion::V3_1_2;
            p.extend(jose::ob_header_problems(
                &decoded.header,
                now,
                self.profile.clock_skew,
                b64_allowed,
            ));
        }
        let expected = [
            (OB_ISS, &self.profile.ob_iss),
            (OB_TAN, &self.profile.trust_anchor),
        ];
        for (member, want) in expected {
            if let (Some(want), Some(got)) =
                (want, decoded.header.get(member).and_then(Value::as_str))
                && want != got
            {
                p.push(format!("J-06: {member} is {got:?}, expected {want:?}"));
            }
        }
        p
    }

    /// The signature, verified with the bank's JWKS by `kid` (J-03, J-06). Without the bank's
    /// JWKS (an unsigned or RFC-only transmitter) signatures cannot be verified; the rest of
    /// the SET is still judged.
    async fn signature_problem(&self, decoded: &DecodedJws) -> Option<String> {
        let alg = decoded.alg().unwrap_or("");
        if alg == "none" || self.profile.jwks_url.is_none() {
            return None;
        }
        let Some(kid) = decoded.kid() else {
            return Some("J-03: the JOSE header has no kid".into());
        };
        // With the wrong alg (J-02, reported with the header) a key published for the right
        // one cannot verify it: that is the same defect, not a second one (J-06).
        if alg != self.profile.alg {
            return None;
        }
        let mut result = self.verify(decoded, false).await;
        if matches!(result, Err(JoseError::UnknownKid(_))) {
            // The bank may have rotated keys since the JWKS was fetched: look once more.
            result = self.verify(decoded, true).await;
        }
        match result {
            Ok(()) => None,
            Err(JoseError::UnknownKid(_)) => Some(format!(
                "J-03: kid {kid:?} is not in the bank's JWKS ({})",
                self.profile.jwks_url.as_deref().unwrap_or("")
            )),
            Err(e) => Some(format!("J-06: the signature does not verify: {e}")),
        }
    }

    /// Verifies `decoded` with the bank's JWKS (fetched anew with `refresh`).
    async fn verify(&self, decoded: &DecodedJws, refresh: bool) -> Result<(), JoseError> {
        match self.jwks(refresh).await {
            Ok(jwks) => jose::verify(decoded, &jwks),
            Err(e) => Err(JoseError::Key(e)),
        }
    }

    /// The claims of an object claims set (N-02..N-07, R8417-*), the `sets` key against the
    /// jti (AP-13), and the jti against the run's earlier SETs (R8417-08).
    fn claims_problems(&self, claims: &Value, key: &str, aud: &str) -> Vec<String> {
        let mut p = Vec::new();
        if self.profile.conformance == Conformance::Obie {
            for problem in self.schemas.problems("OBEventNotification2", claims) {
                p.push(format!("N-02: claims: {problem}"));
            }
        }
        p.extend(events_problems(claims.get("events")));
        p.extend(iss_problem(claims, self.profile.issuer.as_deref()));
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        p.extend(iat_problem(claims, now, self.profile.clock_skew));
        p.extend(aud_problem(claims, aud));
        p.extend(sets_key_problem(claims, key));
        if let Some(jti) = claims.get("jti").and_then(Value::as_str)
            && let Err(e) = self.record_jti(jti, claims)
        {
            p.push(e);
        }
        p
    }

    /// Checks a poll answer for a TPP (status already known to be 2xx).
    pub async fn check_poll(&self, body: &str, content_type: Option<&str>, aud: &str) -> PollCheck {
        let mut check = PollCheck::default();
        if !content_type.is_some_and(|c| {
            c.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        }) {
            check.problems.push(format!(
                "R8936-02/G-09: Content-Type is {content_type:?}, expected application/json"
            ));
        }
        let mut v: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => {
                check
                    .problems
                    .push(format!("AP-05: the poll answer is not JSON: {e}"));
                return check;
            }
        };
        if !self.profile.bank.more_available_required
            && let Some(m) = v.as_object_mut()
            && !m.contains_key("moreAvailable")
        {
            // R8936-17: absent means false; only the OB schema requires it.
            m.insert("moreAvailable".into(), Value::Bool(false));
        }
        let obie = self.profile.conformance == Conformance::Obie;
        let schema_problems = if obie {
            self.schemas.problems("OBEventPollingResponse1", &v)
        } else {
            Vec::new()
        };
        for problem in schema_problems {
            let rule = if problem.contains("moreAvailable") {
                "AP-05/R8936-17"
            } else {
                "AP-05/R8936-16"
            };
            check
                .problems
                .push(format!("{rule}: poll answer: {problem}"));
        }
        match v.get("moreAvailable") {
            Some(m) if !m.is_boolean() && !obie => check.problems.push(format!(
                "R8936-17: moreAvailable is {m}, not a JSON boolean"
            )),
            _ => {}
        }
        check.more_available = v.get("moreAvailable").and_then(Value::as_bool);
        let Some(sets) = v.get("sets").and_then(Value::as_object) else {
            check
                .problems
                .push("R8936-16: the answer has no sets object".into());
            return check;
        };
        for (key, token) in sets {
            let Some(token) = token.as_str() else {
                check
                    .problems
                    .push(format!("R8936-16: sets[{key}] is not a string"));
                continue;
            };
            let set = self.check_set(key, token, aud).await;
            check.problems.extend(set.problems.iter().cloned());
            check.sets.push(set);
        }
        check
    }
}

/// The `events` claim: an object of event URIs to objects (R8417-01, R8417-02), not empty
/// (N-03), a linked-account-update about a consent (N-07).
fn events_problems(events: Option<&Value>) -> Vec<String> {
    let mut p = Vec::new();
    match events {
        None => p.push("R8417-01: the SET has no events claim".into()),
        Some(Value::Object(events)) => {
            if events.is_empty() {
                p.push("N-03: events is empty".into());
            }
            for (k, v) in events {
                if !is_absolute_uri(k) {
                    p.push(format!("R8417-02: event identifier {k:?} is not a URI"));
                }
                if !v.is_object() {
                    p.push(format!(
                        "R8417-02: the value of event {k} is not a JSON object"
                    ));
                }
            }
            if let Some(e) = events.get(EventType::AccountAccessConsentLinkedAccountUpdate.urn())
                && e.pointer("/subject")
                    .and_then(|s| s.get(RTY))
                    .and_then(Value::as_str)
                    != Some("account-access-consent")
            {
                p.push(format!(
                    "N-07: a linked-account-update subject must have {RTY} account-access-consent"
                ));
            }
        }
        Some(other) => p.push(format!(
            "R8417-02: events is not a JSON object but {}",
            crate::model::json_type_name(other)
        )),
    }
    p
}

/// `iss` is a string, the expected issuer when the profile names one (R8417-06).
fn iss_problem(claims: &Value, want: Option<&str>) -> Option<String> {
    match (claims.get("iss").and_then(Value::as_str), want) {
        (Some(iss), Some(want)) if iss != want => {
            Some(format!("R8417-06: iss is {iss:?}, expected {want:?}"))
        }
        (Some(_), _) => None,
        (None, _) => Some("R8417-06: iss is missing or not a string".into()),
    }
}

/// `iat` is a number not in the future beyond `skew` seconds (R8417-07).
fn iat_problem(claims: &Value, now: i64, skew: i64) -> Option<String> {
    match claims.get("iat") {
        Some(Value::Number(n)) if n.as_f64().is_some_and(|t| t > (now + skew) as f64) => Some(
            format!("R8417-07: iat {n} is in the future (now {now}, skew {skew} s)"),
        ),
        Some(Value::Number(_)) => None,
        _ => Some("R8417-07: iat is missing or not a number".into()),
    }
}

/// `aud` names the receiving TPP (N-02, R8417-09).
fn aud_problem(claims: &Value, aud: &str) -> Option<String> {
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == aud,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud)),
        _ => false,
    };
    (!aud_ok).then(|| {
        format!(
            "N-02/R8417-09: aud is {}, expected the receiving TPP {aud:?}",
            claims.get("aud").unwrap_or(&Value::Null)
        )
    })
}

/// The `sets` key is the SET's jti (AP-13, R8936-16), which is a string (R8417-08).
fn sets_key_problem(claims: &Value, key: &str) -> Option<String> {
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if jti == key => None,
        Some(jti) => Some(format!(
            "AP-13/R8936-16: sets key {key:?} differs from the SET's jti {jti:?}"
        )),
        None => Some("R8417-08: jti is missing or not a string".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::profile::Profile;
    use crate::model::EventType;
    use crate::sandbox::dialects::obie::events::EventSpec;
    use crate::sandbox::{AppState, Bank, Fault, Faults, SandboxConfig};
    use std::sync::Arc;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A sandbox state (no server) whose issuer is `url`, with `faults`, and the SET it builds.
    async fn set_from(url: &str, faults: &[Fault]) -> (AppState, String, String) {
        let mut cfg = SandboxConfig::for_bank(Bank::Obie);
        cfg.public_url = Some(url.to_string());
        cfg.faults = Faults::new(faults.iter().copied());
        let state =
            crate::sandbox::app::build_state(cfg, ":memory:", "127.0.0.1:1".parse().unwrap())
                .await
                .unwrap();
        let event = crate::sandbox::dialects::obie::set::build(
            &state,
            &EventSpec {
                client_id: "tpp-1".into(),
                event_type: EventType::ConsentAuthorizationRevoked,
                resource_id: "aac-1".into(),
                resource_type: "account-access-consent".into(),
                reason: None,
                txn: None,
            },
        )
        .unwrap();
        (state, event.jti, event.token.unwrap())
    }

    /// The harness's checks of SETs built by the sandbox: a clean SET passes, each SET fault is
    /// reported under the rule it breaks. The bank's JWKS is served by a wiremock server.
    #[tokio::test]
    async fn set_checks_accept_a_good_set_and_name_the_rule_of_each_defect() {
        let server = MockServer::start().await;
        let url = server.uri();
        let (clean_state, jti, token) = set_from(&url, &[]).await;
        let jwks = crate::jose::jwks_json(&[clean_state.key.public_jwk()]);
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(jwks))
            .mount(&server)
            .await;
        let mut declared =
            crate::sandbox::embedded::declaration(&SandboxConfig::for_bank(Bank::Obie));
        declared.push = None;
        let profile = Profile::for_sandbox(&url, &declared).unwrap();
        let ctx = Arc::new(RunContext::new(profile).unwrap());

        let good = ctx.check_set(&jti, &token, "tpp-1").await;
        assert!(good.problems.is_empty(), "{:?}", good.problems);
        assert!(
            !ctx.check_set(&jti, &token, "someone-else")
                .await
                .problems
                .is_empty()
        );

        // Each faulty SET is re-signed with the key the JWKS holds (keeping its alg and any
        // wrong kid), so only the fault's own change can be found.
        let cases: &[(Fault, &str)] = &[
            (Fault::SetUnsigned, "R8417-16"),
            (Fault::SetRs256, "J-02"),
            (Fault::SetWrongKid, "J-03"),
            (Fault::SetMissingTxn, "N-02"),
            (Fault::SetIatFuture, "R8417-07"),
            (Fault::SetEventsString, "R8417-02"),
            (Fault::SetWrongAud, "N-02/R8417-09"),
            (Fault::SetsKeyNotJti, "AP-13"),
        ];
        for (fault, rule) in cases {
            let mut cfg = clean_state.cfg.clone();
            cfg.faults = Faults::new([*fault]);
            let state =
                crate::sandbox::app::build_state(cfg, ":memory:", "127.0.0.1:1".parse().unwrap())
                    .await
                    .unwrap();
            let faulty = build_with_key(&state, &clean_state);
            let checked = ctx.check_set(&faulty.0, &faulty.1, "tpp-1").await;
            assert!(
                checked.problems.iter().any(|p| p.starts_with(rule)),
                "{fault}: expected a {rule} problem, got {:?}",
                checked.problems
            );
        }
        // A key the JWKS does not hold: the signature cannot be verified.
        let (_, jti, token) = set_from(&url, &[Fault::SetForeignKey]).await;
        let checked = ctx.check_set(&jti, &token, "tpp-1").await;
        assert!(
            checked
                .problems
                .iter()
                .any(|p| p.starts_with("J-03") || p.starts_with("J-06")),
            "{:?}",
            checked.problems
        );
    }

    /// Builds a SET with `faulty`'s faults but `keyed`'s signing key (states differ only in key).
    fn build_with_key(faulty: &AppState, keyed: &AppState) -> (String, String) {
        let spec = EventSpec {
            client_id: "tpp-1".into(),
            event_type: EventType::ConsentAuthorizationRevoked,
            resource_id: "aac-2".into(),
            resource_type: "account-access-consent".into(),
            reason: None,
            txn: None,
        };
        let event = crate::sandbox::dialects::obie::set::build(faulty, &spec).unwrap();
        let decoded = crate::jose::decode_compact(event.token.as_deref().unwrap()).unwrap();
        let mut header = decoded.header.clone();
        if header.get("kid").and_then(Value::as_str) == Some(faulty.key.kid()) {
            header.insert("kid".into(), Value::String(keyed.key.kid().to_string()));
        }
        let token = crate::jose::sign_compact(&keyed.key, &header, &decoded.payload).unwrap();
        (event.jti, token)
    }

    #[test]
    fn duplicate_members_are_found() {
        assert_eq!(
            duplicate_member(br#"{"a":1,"b":{"c":1,"c":2}}"#).as_deref(),
            Some("/b/c")
        );
        assert_eq!(duplicate_member(br#"{"a":[{"x":1},{"x":2}]}"#), None);
    }
}
