//! OBIE rendering: domain records and results become the specification's response bodies
//! (`model::resources`), with `Links` built from the sandbox's public URL. Nothing here decides
//! anything; the operations have already.

use super::events::RaiseOutcome;
use super::polling::PollResult;
use crate::model::resources::{
    CallbackUrlData, ConsentData, ConsentResponse, EventSubscriptionData, Links, Meta, Risk,
};
use crate::sandbox::domain::{CallbackUrl, Consent, DeliveryId, Subscription};
use crate::sandbox::state::AppState;

/// `Links.Self` of `path` under `/open-banking/v3.1`.
pub fn links(st: &AppState, path: &str) -> Links {
    Links {
        self_link: st.api_url(path),
    }
}

/// `Data` of one subscription (absent optional fields omitted, G-15).
pub fn subscription(s: &Subscription) -> EventSubscriptionData {
    EventSubscriptionData {
        event_subscription_id: s.id.to_string(),
        callback_url: s.callback_url.clone(),
        version: s.version.clone(),
        event_types: s.event_types.clone(),
    }
}

pub fn callback_url(c: &CallbackUrl) -> CallbackUrlData {
    CallbackUrlData {
        callback_url_id: c.id.to_string(),
        url: c.url.clone(),
        version: c.version.clone(),
    }
}

/// `OBReadConsentResponse1`.
pub fn consent(st: &AppState, c: &Consent) -> ConsentResponse {
    ConsentResponse {
        data: ConsentData {
            consent_id: c.consent_id.to_string(),
            creation_date_time: c.created_at.rfc3339(),
            status: c.status.as_str().to_string(),
            status_update_date_time: c.status_updated_at.rfc3339(),
            permissions: c.permissions.clone(),
            expiration_date_time: c.expiration.clone(),
            transaction_from_date_time: c.transaction_from.clone(),
            transaction_to_date_time: c.transaction_to.clone(),
        },
        risk: Risk::default(),
        links: links(
            st,
            &format!("/aisp/account-access-consents/{}", c.consent_id),
        ),
        meta: Meta {
            total_pages: Some(1),
        },
    }
}

/// The answer of `POST /sandbox/events` (and of the Yapily injection): what became of the
/// event.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Injected<'a> {
    pub queued: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

pub fn injected(o: &RaiseOutcome) -> Injected<'_> {
    Injected {
        queued: o.queued,
        jti: o.jti.as_deref(),
        delivery_id: o.delivery_id.as_ref().map(DeliveryId::as_str),
        reason: o.reason,
    }
}

/// `OBEventPollingResponse1` of a poll's result, as the JSON body's bytes.
///
/// Written here rather than through `serde_json::to_vec`: serde_json looks every byte of a
/// string up in its escape table, and a 10-SET answer is ~11 KB of token text, none of which
/// needs escaping (compact JWS is base64url and dots). A string is copied as it is when one
/// pass finds nothing JSON escapes (a control character, `"` or `\\`), and otherwise written by
/// serde_json, so the bytes are serde_json's either way (the tests compare them). The scan
/// folds without an early exit so the compiler can vectorise it; profiles of `bench --phases
/// polls` put serde_json's escaping at about a seventh of the 10-SET poll's CPU.
pub fn polling_body(result: &PollResult) -> Vec<u8> {
    let tokens: usize = result.sets.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
    let mut out = Vec::with_capacity(tokens + 40);
    out.extend_from_slice(b"{\"sets\":{");
    for (i, (jti, token)) in result.sets.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(&mut out, jti);
        out.push(b':');
        json_string(&mut out, token);
    }
    out.push(b'}');
    match result.more_available {
        Some(true) => out.extend_from_slice(b",\"moreAvailable\":true"),
        Some(false) => out.extend_from_slice(b",\"moreAvailable\":false"),
        None => {}
    }
    out.push(b'}');
    out
}

/// `s` as a JSON string, exactly as serde_json writes it.
fn json_string(out: &mut Vec<u8>, s: &str) {
    let escapes = s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if escapes {
        // Writing a `str` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::{PollResult, polling_body};

    /// What serde_json writes for the same result, members in the renderer's order.
    fn by_serde(r: &PollResult) -> Vec<u8> {
        use serde::ser::{SerializeMap, Serializer};
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::new(&mut out);
        let mut m = ser.serialize_map(None).unwrap();
        m.serialize_key("sets").unwrap();
        m.serialize_value(&Sets(&r.sets)).unwrap();
        if let Some(more) = r.more_available {
            m.serialize_entry("moreAvailable", &more).unwrap();
        }
        m.end().unwrap();
        out
    }

    struct Sets<'a>(&'a [(String, String)]);
    impl serde::Serialize for Sets<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = serializer.serialize_map(Some(self.0.len()))?;
            for (k, v) in self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }

    #[test]
    fn the_polling_body_is_serde_jsons_bytes() {
        let cases = [
            vec![],
            vec![("a1b2".to_string(), "eyJh.eyJi.c2ln-_".to_string())],
            vec![
                ("k\"q".to_string(), "line\nbreak\u{1}\\".to_string()),
                ("é-ü".to_string(), "✓ \u{7f} /".to_string()),
            ],
        ];
        for sets in cases {
            for more_available in [None, Some(true), Some(false)] {
                let r = PollResult {
                    sets: sets.clone(),
                    more_available,
                };
                let body = polling_body(&r);
                assert_eq!(
                    String::from_utf8(body.clone()).unwrap(),
                    String::from_utf8(by_serde(&r)).unwrap()
                );
                let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(parsed["sets"].as_object().unwrap().len(), r.sets.len());
            }
        }
    }
}
