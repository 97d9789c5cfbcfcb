//! Response bodies of the OBIE event resources as the specification names them
//! (`OBEventSubscriptionResponse1`, `OBEventSubscriptionsResponse1`, `OBCallbackUrlResponse1`,
//! `OBCallbackUrlsResponse1`, `OBReadConsentResponse1`): shapes only, filled by the sandbox's
//! OBIE rendering. Members appear in the specification's order; absent optional members are
//! left out (G-15).

use serde::Serialize;

/// `Links` with only `Self`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Links {
    #[serde(rename = "Self")]
    pub self_link: String,
}

/// `Meta` of a single resource or list: empty, or `TotalPages`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u32>,
}

/// `{Data, Links, Meta}`: the envelope of the event resources.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope<D> {
    pub data: D,
    pub links: Links,
    pub meta: Meta,
}

/// `OBEventSubscriptionResponse1.Data`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EventSubscriptionData {
    pub event_subscription_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
}

/// `OBEventSubscriptionsResponse1.Data`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EventSubscriptionList {
    pub event_subscription: Vec<EventSubscriptionData>,
}

/// `OBCallbackUrlResponse1.Data`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CallbackUrlData {
    pub callback_url_id: String,
    pub url: String,
    pub version: String,
}

/// `OBCallbackUrlsResponse1.Data`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CallbackUrlList {
    pub callback_url: Vec<CallbackUrlData>,
}

/// `OBReadConsentResponse1.Data`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsentData {
    pub consent_id: String,
    pub creation_date_time: String,
    pub status: String,
    pub status_update_date_time: String,
    pub permissions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_from_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_to_date_time: Option<String>,
}

/// `OBRisk2`: the sandbox keeps no risk data, so it is always the empty object.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Risk {}

/// `OBReadConsentResponse1`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsentResponse {
    pub data: ConsentData,
    pub risk: Risk,
    pub links: Links,
    pub meta: Meta,
}
