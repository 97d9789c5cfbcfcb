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

/// `OBEventPollingResponse1` of a poll's result.
pub struct PollingResponse<'a>(pub &'a PollResult);

/// `OBEventPollingResponse1`, serialised straight from the stored tokens (no intermediate
/// JSON tree: a 10-SET answer is ~11 KB of token text, copied once).
impl serde::Serialize for PollingResponse<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Sets<'a>(&'a [(String, String)]);
        impl serde::Serialize for Sets<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut m = serializer.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("sets", &Sets(&self.0.sets))?;
        if let Some(more) = self.0.more_available {
            m.serialize_entry("moreAvailable", &more)?;
        }
        m.end()
    }
}
