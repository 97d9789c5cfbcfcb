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
