//! `OBEventPolling1` (`POST /events`, AP-04, RFC 8936 §2.2) parsed into a [`PollRequest`].

use serde_json::Value;

use crate::sandbox::dialects::obie::error::ObResult;
use crate::sandbox::dialects::obie::validate::{Check, bounds};

/// Largest `maxEvents` accepted as a number at all (larger is a 400, edge case 5).
const MAX_EVENTS_CEILING: i64 = i32::MAX as i64;

/// An `OBEventPolling1` request, validated.
#[derive(Debug, Default, Clone)]
pub struct PollRequest {
    pub max_events: Option<usize>,
    pub return_immediately: Option<bool>,
    pub ack: Vec<String>,
    /// `(jti, err, description)`.
    pub set_errs: Vec<(String, String, String)>,
}

/// AP-04 / RFC 8936 §2.2 validation. `closed`: reject unknown members (v3.1.11).
pub fn parse_poll_request(body: &Value, closed: bool) -> ObResult<PollRequest> {
    let mut c = Check::new();
    let mut req = PollRequest::default();
    if let Some(top) = c.object(body, "") {
        if closed {
            c.closed(
                top,
                &["maxEvents", "returnImmediately", "ack", "setErrs"],
                "",
            );
        }
        match top.get("maxEvents") {
            None => {}
            // JSON Schema's "integer" is any number without a fractional part, so 2.0 and 1e2
            // are integers too.
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v < 0.0 => c.invalid("maxEvents", "maxEvents must not be negative"),
                Some(v) if v.fract() == 0.0 && v <= MAX_EVENTS_CEILING as f64 => {
                    req.max_events = Some(v as usize)
                }
                _ => c.invalid(
                    "maxEvents",
                    format!("maxEvents must be an integer from 0 to {MAX_EVENTS_CEILING}"),
                ),
            },
            Some(_) => c.invalid("maxEvents", "maxEvents must be an integer"),
        }
        match top.get("returnImmediately") {
            None => {}
            Some(Value::Bool(b)) => req.return_immediately = Some(*b),
            Some(_) => c.invalid("returnImmediately", "returnImmediately must be a boolean"),
        }
        if let Some(v) = top.get("ack") {
            req.ack = c
                .bounded_array(v, "ack", bounds::ACK, |c, item, path| {
                    c.string(item, path, 1, 128)
                })
                .unwrap_or_default();
        }
        match top.get("setErrs") {
            None => {}
            Some(Value::Object(errs)) if errs.len() > bounds::SET_ERRS => c.invalid(
                "setErrs",
                format!(
                    "setErrs has {} members; at most {} are allowed",
                    errs.len(),
                    bounds::SET_ERRS
                ),
            ),
            Some(Value::Object(errs)) => {
                for (jti, entry) in errs {
                    let path = format!("setErrs.{jti}");
                    if jti.is_empty() || jti.chars().count() > 128 {
                        c.invalid(
                            path.clone(),
                            "a setErrs key is a jti of 1 to 128 characters",
                        );
                    }
                    let Some(e) = c.object(entry, &path) else {
                        continue;
                    };
                    let err = c
                        .required(e, "err", &path)
                        .and_then(|v| c.string(v, &format!("{path}.err"), 1, 40));
                    let desc = c
                        .required(e, "description", &path)
                        .and_then(|v| c.string(v, &format!("{path}.description"), 1, 256));
                    if let (Some(err), Some(desc)) = (err, desc) {
                        req.set_errs.push((jti.clone(), err, desc));
                    }
                }
            }
            Some(_) => c.invalid("setErrs", "setErrs must be an object keyed by jti"),
        }
    }
    c.finish()?;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::dialects::obie::error::ObError;
    use serde_json::json;

    fn paths(body: Value) -> Vec<String> {
        match parse_poll_request(&body, true) {
            Err(ObError::Invalid(items)) => items.into_iter().filter_map(|i| i.path).collect(),
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_rfc_variants() {
        for b in [
            json!({}),
            json!({"maxEvents": 0, "ack": ["a"]}),
            json!({"returnImmediately": true, "ack": [], "setErrs": {}}),
            json!({"setErrs": {"j": {"err": "jwtIss", "description": "bad issuer"}}}),
        ] {
            assert!(parse_poll_request(&b, true).is_ok(), "{b}");
        }
    }

    #[test]
    fn rejects_bad_members_with_paths() {
        assert_eq!(paths(json!({"maxEvents": -1})), ["maxEvents"]);
        assert_eq!(paths(json!({"maxEvents": 2.5})), ["maxEvents"]);
        assert!(
            parse_poll_request(&json!({"maxEvents": 2.0}), true)
                .is_ok_and(|r| r.max_events == Some(2))
        );
        assert_eq!(paths(json!({"maxEvents": "5"})), ["maxEvents"]);
        assert_eq!(paths(json!({"maxEvents": null})), ["maxEvents"]);
        assert_eq!(
            paths(json!({"returnImmediately": "true"})),
            ["returnImmediately"]
        );
        assert_eq!(paths(json!({"setErrs": []})), ["setErrs"]);
        assert_eq!(
            paths(json!({"setErrs": {"j": {"err": "x".repeat(41), "description": "d"}}})),
            ["setErrs.j.err"]
        );
        assert_eq!(
            paths(json!({"setErrs": {"j": {"description": "d"}}})),
            ["setErrs.j.err"]
        );
        assert_eq!(paths(json!({"ack": "j"})), ["ack"]);
        assert_eq!(paths(json!({"ack": [1]})), ["ack[0]"]);
        assert_eq!(paths(json!({"acks": ["j"]})), ["acks"]);
    }
}
