//! The OBIE push format: what goes on the wire for one attempt of an OBIE delivery.
//! OBIE pushes are the stored SET as it is (R-03, R-04); the `push-*` faults that bend the
//! request bend it here and nowhere else.

use reqwest::header::{CONTENT_TYPE, HeaderName};

use crate::sandbox::domain::Wire;

use crate::jose;
use crate::sandbox::domain::DueDelivery;
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::state::AppState;

/// R-04: `POST` of the signed SET as `application/jwt` with `x-fapi-interaction-id` and
/// `x-fapi-financial-id`, no bearer token, to the registered URL unchanged (R-03). `faults`
/// are those in effect for the delivery's TPP.
pub fn render(
    state: &AppState,
    faults: &Faults,
    d: &DueDelivery,
    interaction_id: &str,
) -> Result<Wire, String> {
    let token = d
        .token
        .as_deref()
        .ok_or_else(|| "the event has no SET to send".to_string())?;
    let body = if faults.has(Fault::PushUnsigned) {
        unsigned(token)?
    } else {
        token.to_string()
    };
    let content_type = if faults.has(Fault::PushJsonContentType) {
        "application/json"
    } else {
        "application/jwt"
    };
    let mut headers = vec![(CONTENT_TYPE, content_type.to_string())];
    if !faults.has(Fault::PushNoInteractionId) {
        headers.push((
            HeaderName::from_static("x-fapi-interaction-id"),
            interaction_id.to_string(),
        ));
    }
    headers.push((
        HeaderName::from_static("x-fapi-financial-id"),
        state.cfg.org_id.clone(),
    ));
    let url = if faults.has(Fault::PushUrlRewritten) {
        // The v3.0 reading of R-03: the resource name appended to an URL that already has it.
        format!("{}/event-notifications", d.url.trim_end_matches('/'))
    } else {
        d.url.clone()
    };
    Ok(Wire {
        url,
        headers,
        body: body.into_bytes(),
    })
}

/// The SET's claims re-sent as an unsecured JWT (`alg: none`, empty signature).
fn unsigned(token: &str) -> Result<String, String> {
    let mut parts = token.split('.');
    let (Some(head), Some(payload)) = (parts.next(), parts.next()) else {
        return Err("the stored SET is not a compact JWS".to_string());
    };
    // The stored header with `alg: none` and no key to name (as `set-unsigned` signs it): the
    // defect is the missing signature alone, the OB members stay.
    let mut header: serde_json::Map<String, serde_json::Value> = jose::b64_decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    header.insert("alg".into(), "none".into());
    header.remove("kid");
    let header = serde_json::to_vec(&header).map_err(|e| format!("the SET header: {e}"))?;
    Ok(format!("{}.{payload}.", jose::b64(&header)))
}

#[cfg(test)]
mod tests {
    use super::unsigned;

    #[test]
    fn an_unsigned_set_keeps_the_claims_and_drops_the_signature() {
        let head = crate::jose::b64(br#"{"alg":"PS256","kid":"k","crit":["x"],"x":1}"#);
        let t = unsigned(&format!("{head}.cGF5bG9hZA.c2ln")).unwrap();
        assert!(t.ends_with(".cGF5bG9hZA."));
        let header = t.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&crate::jose::b64_decode(header).unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "none", "crit": ["x"], "x": 1})
        );
        assert!(unsigned("nodots").is_err());
    }
}
