//! Verification of poll answers and of every SET in them (issue 4 §5): response schema
//! (AP-05), `sets` keys (AP-13), compact JWS framing (N-01, J-01), signature through the
//! target's JWKS by `kid` (J-03, J-06), `alg` (J-02), OB header rules (J-04, J-05), claims
//! against OBEventNotification2 (N-02..N-07, R8417-*), and jti consistency across the run
//! (R8417-08). Each problem names the rules it breaks and the kind of defect (a header member,
//! a claim, the `sets` key), so one defect is one finding however many SETs show it; under
//! `conformance = "rfc8936"` each also names the RFC rule it breaks where there is one.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::context::RunContext;
use super::defects::Problem;
use super::profile::Conformance;
use crate::jose::{self, DecodedJws, JoseError};
use crate::model::bank::SpecVersion;
use crate::model::set::{OB_ISS, OB_TAN};

mod claims;
#[cfg(test)]
mod tests;

use claims::{
    aud_problem, events_problems, header_member, iat_problem, iss_problem, merge_kinds,
    schema_subject, sets_key_problem,
};

/// One SET of a poll answer, decoded (whether or not it verified).
#[derive(Debug, Clone)]
pub struct CheckedSet {
    pub key: String,
    pub token: String,
    pub header: Value,
    pub claims: Value,
    pub problems: Vec<Problem>,
}

impl CheckedSet {
    /// The SET's own identifier: its `jti` claim when it has one, else the `sets` key it came
    /// under. The harness acknowledges, matches and tracks SETs by it (RFC 8936 §2.2: `ack`
    /// holds the jti values), so a bank whose keys differ from the jtis (AP-13, reported once)
    /// still gets its SETs acknowledged.
    pub fn id(&self) -> &str {
        self.claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty())
            .unwrap_or(&self.key)
    }

    /// The SET's `aud` names `aud` (or it has none, so it is addressed to no one in particular).
    pub fn addressed_to(&self, aud: &str) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(a)) => a == aud,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud)),
            _ => true,
        }
    }

    /// The resource ids its events' subjects name (`http://openbanking.org.uk/rid`).
    pub fn resource_ids(&self) -> Vec<&str> {
        self.claims
            .get("events")
            .and_then(Value::as_object)
            .map(|m| {
                m.values()
                    .filter_map(|e| e.pointer("/subject")?.get(crate::model::set::RID)?.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

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
    /// The answer's own problems (each SET's are in its `problems`).
    pub problems: Vec<Problem>,
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

/// An unsigned SET (alg none) is one defect: the header members that only a signature needs
/// (`kid`, the OB `iat`/`iss`/`tan`, `crit`) are folded into it, with their rules, rather than
/// reported as defects of their own.
fn unsigned(header_problems: Vec<Problem>) -> Problem {
    let mut out = Problem::new(
        "R8417-16/J-02",
        "set-header:alg-none",
        "the SET is unsigned (alg none)",
    );
    // An unsigned JWS has no key to name: a missing `kid` is part of being unsigned, not a
    // second defect of the header (J-05's schema asks for it only of a signed one).
    let others: Vec<Problem> = header_problems
        .into_iter()
        .filter(|p| p.kind != out.kind && p.kind != "set-header:kid")
        .collect();
    if !others.is_empty() {
        let texts: Vec<&str> = others.iter().map(|p| p.text.as_str()).collect();
        out.text = format!("{}; its header also: {}", out.text, texts.join("; "));
    }
    for r in others.into_iter().flat_map(|p| p.rules) {
        if !out.rules.contains(&r) {
            out.rules.push(r);
        }
    }
    out
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
                out.problems.push(Problem::new(
                    "N-01/J-01/R8417-01",
                    "set:not-compact-jws",
                    format!("the SET under {key} is not a compact JWS: {e}"),
                ));
                return out;
            }
        };
        out.header = Value::Object(decoded.header.clone());
        out.problems.extend(self.header_problems(&decoded));
        out.problems.extend(self.signature_problem(&decoded).await);
        // Claims (N-02..N-07, R8417-*).
        if let Some(path) = duplicate_member(&decoded.payload) {
            out.problems.push(Problem::new(
                "R8417-03",
                "claims:duplicate-member",
                format!("the claims repeat the member {path}"),
            ));
        }
        let claims = match decoded.payload_json() {
            Ok(v) => v,
            Err(e) => {
                out.problems
                    .push(Problem::new("N-02/R8417-01", "claims:not-json", e));
                out.problems = merge_kinds(std::mem::take(&mut out.problems));
                return out;
            }
        };
        out.claims = claims.clone();
        if !claims.is_object() {
            out.problems.push(Problem::new(
                "N-02/R8417-01",
                "claims:not-an-object",
                "the claims set is not a JSON object",
            ));
        } else {
            out.problems.extend(self.claims_problems(&claims, key, aud));
        }
        out.problems = merge_kinds(std::mem::take(&mut out.problems));
        out
    }

    /// The JOSE header (J-02, J-04..J-06; R8417-14 for an RFC 8936 transmitter). Each problem's
    /// kind is the header member it is about, so the schema's and the OB check's words for one
    /// missing `crit` are one defect.
    fn header_problems(&self, decoded: &DecodedJws) -> Vec<Problem> {
        let mut p = Vec::new();
        let obie = self.profile.conformance == Conformance::Obie;
        let header = Value::Object(decoded.header.clone());
        let ob = |rule: &str, text: String| {
            Problem::new(rule, format!("set-header:{}", header_member(&text)), text)
        };
        if obie {
            for problem in self.schemas.problems("OBSetJoseHeader", &header) {
                p.push(ob("J-05", format!("JOSE header: {problem}")));
            }
        } else if let Some(typ) = decoded.header.get("typ").and_then(Value::as_str) {
            let typ_ok = ["secevent+jwt", "application/secevent+jwt"]
                .iter()
                .any(|t| typ.eq_ignore_ascii_case(t));
            if !typ_ok {
                p.push(Problem::new(
                    "R8417-14",
                    "set-header:typ",
                    format!("typ is {typ:?}, expected secevent+jwt"),
                ));
            }
        }
        let alg = decoded.alg().unwrap_or("");
        if alg == "none" {
            p.push(Problem::new(
                "R8417-16/J-02",
                "set-header:alg-none",
                "the SET is unsigned (alg none)",
            ));
        } else if alg != self.profile.alg {
            p.push(Problem::new(
                "J-02",
                "set-header:alg",
                format!("alg is {alg}, expected {}", self.profile.alg),
            ));
        }
        if obie {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let b64_allowed = self.profile.spec_version == SpecVersion::V3_1_2;
            for line in
                jose::ob_header_problems(&decoded.header, now, self.profile.clock_skew, b64_allowed)
            {
                let p2 = Problem::from_message(&line);
                p.push(ob(&p2.rules.join("/"), p2.text));
            }
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
                p.push(Problem::new(
                    "J-06",
                    format!("set-header:{member}:value"),
                    format!("{member} is {got:?}, expected {want:?}"),
                ));
            }
        }
        if alg == "none" {
            return vec![unsigned(p)];
        }
        p
    }

    /// The signature, verified with the bank's JWKS by `kid` (J-03, J-06; R8417-16: a SET the
    /// issuer's keys cannot verify is not signed by it). Without the bank's JWKS (an unsigned
    /// or RFC-only transmitter) signatures cannot be verified; the rest of the SET is still
    /// judged.
    async fn signature_problem(&self, decoded: &DecodedJws) -> Option<Problem> {
        let alg = decoded.alg().unwrap_or("");
        if alg == "none" || self.profile.jwks_url.is_none() {
            return None;
        }
        let Some(kid) = decoded.kid() else {
            return Some(Problem::new(
                "J-03/R8417-16",
                "set-signature:no-kid",
                "the JOSE header has no kid",
            ));
        };
        // With the wrong alg (J-02, reported with the header) a key published for the right
        // one cannot verify it: that is the same defect, not a second one (J-06). RFC 8417
        // names no algorithm, so there the header's own is verified.
        if alg != self.profile.alg && self.profile.conformance == Conformance::Obie {
            return None;
        }
        let mut result = self.verify(decoded, false).await;
        if matches!(result, Err(JoseError::UnknownKid(_))) {
            // The bank may have rotated keys since the JWKS was fetched: look once more.
            result = self.verify(decoded, true).await;
        }
        match result {
            Ok(()) => None,
            Err(JoseError::UnknownKid(_)) => Some(Problem::new(
                "J-03/R8417-16",
                "set-signature:unknown-kid",
                format!(
                    "kid {kid:?} is not in the bank's JWKS ({})",
                    self.profile.jwks_url.as_deref().unwrap_or("")
                ),
            )),
            Err(e) => Some(Problem::new(
                "J-06/R8417-16",
                "set-signature:invalid",
                format!("the signature does not verify: {e}"),
            )),
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
    fn claims_problems(&self, claims: &Value, key: &str, aud: &str) -> Vec<Problem> {
        let mut p = Vec::new();
        let obie = self.profile.conformance == Conformance::Obie;
        if obie {
            for problem in self.schemas.problems("OBEventNotification2", claims) {
                p.push(Problem::new(
                    "N-02",
                    format!("claims:{}", schema_subject(&problem)),
                    format!("claims: {problem}"),
                ));
            }
        }
        p.extend(events_problems(claims.get("events")));
        p.extend(iss_problem(claims, self.profile.issuer.as_deref()));
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        p.extend(iat_problem(claims, now, self.profile.clock_skew));
        p.extend(aud_problem(claims, aud, obie));
        p.extend(sets_key_problem(claims, key, obie));
        if let Some(jti) = claims.get("jti").and_then(Value::as_str)
            && let Err(e) = self.record_jti(jti, claims)
        {
            p.push(Problem::new(
                "R8417-08",
                "jti:reused",
                e.trim_start_matches("R8417-08: "),
            ));
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
            check.problems.push(Problem::new(
                "R8936-02/G-09",
                "poll-answer:content-type",
                format!("Content-Type is {content_type:?}, expected application/json"),
            ));
        }
        let mut v: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => {
                check.problems.push(Problem::new(
                    "AP-05/R8936-02",
                    "poll-answer:not-json",
                    format!("the poll answer is not JSON: {e}"),
                ));
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
        if self.profile.conformance == Conformance::Obie {
            for problem in self.schemas.problems("OBEventPollingResponse1", &v) {
                // Missing, it is OBIE's requirement alone (R8936-17 lets it be omitted);
                // present but not a boolean, the RFC's too.
                let (rule, kind) = if problem.contains("moreAvailable") {
                    if problem.contains("required") {
                        ("AP-05", "poll-answer:moreAvailable")
                    } else {
                        ("AP-05/R8936-17", "poll-answer:moreAvailable")
                    }
                } else {
                    ("AP-05/R8936-16", "poll-answer:schema")
                };
                check
                    .problems
                    .push(Problem::new(rule, kind, format!("poll answer: {problem}")));
            }
        } else if v.get("moreAvailable").is_some_and(|m| !m.is_boolean()) {
            check.problems.push(Problem::new(
                "R8936-17",
                "poll-answer:moreAvailable",
                "moreAvailable is not a JSON boolean",
            ));
        }
        check.more_available = v.get("moreAvailable").and_then(Value::as_bool);
        let Some(sets) = v.get("sets").and_then(Value::as_object) else {
            check.problems.push(Problem::new(
                "R8936-16",
                "poll-answer:no-sets",
                "the answer has no sets object",
            ));
            return check;
        };
        for (key, token) in sets {
            let Some(token) = token.as_str() else {
                check.problems.push(Problem::new(
                    "R8936-16",
                    "poll-answer:set-not-string",
                    format!("sets[{key}] is not a string"),
                ));
                continue;
            };
            // Its problems stay with it: whose SET it is decides where they go.
            check.sets.push(self.check_set(key, token, aud).await);
        }
        check
    }
}
