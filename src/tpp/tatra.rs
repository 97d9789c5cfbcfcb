//! What the reference TPP checks before it accepts a Tatra-style webhook: the `Authorization`
//! is the security header it configured, byte for byte (TB-13; with none configured, any call
//! is taken), and the body is one `transactionEvent` or `accountEvent` object (TB-14). Faults
//! skip exactly the check they name.

use serde_json::Value;

use super::faults::{TppFault, TppFaults};

/// Why a webhook is refused: the status (401 or 400) and a description.
#[derive(Debug, Clone)]
pub struct Refused {
    pub status: u16,
    pub description: String,
}

fn refused<T>(status: u16, description: impl Into<String>) -> Result<T, Refused> {
    Err(Refused {
        status,
        description: description.into(),
    })
}

/// Byte-for-byte equality that takes as long for any difference (no timing hint).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a webhook; `(kind, consentId)` when it is accepted.
pub fn check(
    configured: Option<&str>,
    faults: &TppFaults,
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Result<(String, String), Refused> {
    if let Some(want) = configured
        && !faults.has(TppFault::TatraIgnoresAuthorization)
        && !authorization.is_some_and(|got| same(got, want.as_bytes()))
    {
        return refused(401, "Authorization is not the configured security header");
    }
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return refused(400, "the body is not a JSON object");
    };
    let mut members = map.into_iter();
    let (Some((kind, event)), None) = (members.next(), members.next()) else {
        return refused(400, "the body is not one transactionEvent or accountEvent");
    };
    let known = match kind.as_str() {
        "transactionEvent" => true,
        "accountEvent" => !faults.has(TppFault::TatraRefusesRefresh),
        _ => false,
    };
    if !known || !event.is_object() {
        return refused(400, format!("unknown kind {kind:?}"));
    }
    let consent = event["consentId"].as_str().unwrap_or_default().to_string();
    Ok((kind, consent))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: &[u8] =
        br#"{"transactionEvent": {"consentId": "c1", "eventType": "NEW", "accounts": []}}"#;
    const ACC: &[u8] = br#"{"accountEvent": {"consentId": "c2", "taskId": "t"}}"#;

    #[test]
    fn the_security_header_and_the_two_kinds() {
        let clean = TppFaults::default();
        let conf = Some("Basic YQ==");
        let ok = check(conf, &clean, Some(b"Basic YQ=="), TX).unwrap();
        assert_eq!(ok, ("transactionEvent".into(), "c1".into()));
        assert!(check(conf, &clean, Some(b"Basic YQ=="), ACC).is_ok());
        assert_eq!(check(conf, &clean, None, TX).unwrap_err().status, 401);
        assert_eq!(
            check(conf, &clean, Some(b"Basic Yg=="), TX)
                .unwrap_err()
                .status,
            401
        );
        assert!(check(None, &clean, None, TX).is_ok());
        assert_eq!(check(None, &clean, None, b"[1]").unwrap_err().status, 400);
        assert_eq!(
            check(None, &clean, None, br#"{"x": {}}"#)
                .unwrap_err()
                .status,
            400
        );

        let lax = TppFaults::new([TppFault::TatraIgnoresAuthorization]);
        assert!(check(conf, &lax, None, TX).is_ok());
        let picky = TppFaults::new([TppFault::TatraRefusesRefresh]);
        assert_eq!(check(None, &picky, None, ACC).unwrap_err().status, 400);
        assert!(check(None, &picky, None, TX).is_ok());
    }
}
