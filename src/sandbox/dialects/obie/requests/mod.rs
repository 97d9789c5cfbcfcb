//! The OBIE request bodies, parsed at the edge into typed commands. Each parser reports every
//! problem of a body at once, each with its OBIE error code and `Path` (G-13), and hands back
//! the typed value only when there is none; the operations never see JSON.

pub mod poll;

use serde_json::{Map, Value};

use super::error::ObResult;
use super::validate::{Check, bounds, callback_url_problem, join, links_and_meta, version_problem};
use crate::model::EventType;
use crate::sandbox::domain::{CallbackUrlId, SubscriptionId};
use crate::sandbox::faults::{Fault, Faults};
use crate::sandbox::http::error::{ErrorItem, codes};
use crate::sandbox::state::AppState;

/// What the personality and its faults decide about a body's validity.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Top-level objects are closed (`additionalProperties: false`, v3.1.4 on).
    pub closed: bool,
    /// Callback URLs must end in `/v{major}.{minor}/event-notifications` (ES-05, CB-04).
    pub check_suffix: bool,
    /// Event types a subscription may name (ES-07).
    pub event_types: &'static [EventType],
    /// Where the supported event types are listed (`Url` of `Unsupported.EventType`).
    pub event_types_url: String,
}

impl Rules {
    /// The rules for a caller with `faults` in effect (the sandbox's, or a TPP's own set).
    pub fn of(st: &AppState, faults: &Faults) -> Rules {
        Rules {
            closed: st.cfg.personality.closed_objects(),
            check_suffix: !faults.has(Fault::CallbackSuffixUnchecked),
            event_types: st.cfg.personality.event_types,
            event_types_url: format!("{}/sandbox/event-types", st.base_url),
        }
    }

    fn closed_members<'a>(&self, members: &'a [&'a str]) -> Option<&'a [&'a str]> {
        self.closed.then_some(members)
    }
}

/// The fields of an event subscription a TPP controls (`OBEventSubscription1` `Data`).
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionFields {
    pub version: String,
    pub callback_url: Option<String>,
    /// As sent (code or URN); `None` means every supported type.
    pub event_types: Option<Vec<String>>,
}

/// `POST /event-subscriptions` (ES-02..ES-07).
pub fn new_subscription(body: &Value, rules: &Rules) -> ObResult<SubscriptionFields> {
    let mut c = Check::new();
    let fields = c.object(body, "").and_then(|top| {
        if let Some(allowed) = rules.closed_members(&["Data"]) {
            c.closed(top, allowed, "");
        }
        let data = c.required(top, "Data", "")?;
        let data = c.object(data, "Data")?;
        subscription_data(&mut c, data, rules)
    });
    c.done(fields)
}

/// `PUT /event-subscriptions/{id}` (ES-10): a full `OBEventSubscriptionResponse1` whose
/// `Data.EventSubscriptionId` is the path's.
pub fn subscription_update(
    body: &Value,
    id: &SubscriptionId,
    rules: &Rules,
) -> ObResult<SubscriptionFields> {
    let mut c = Check::new();
    let fields = c.object(body, "").and_then(|top| {
        if let Some(allowed) = rules.closed_members(&["Data", "Links", "Meta"]) {
            c.closed(top, allowed, "");
        }
        links_and_meta(&mut c, top);
        let data = c.required(top, "Data", "")?;
        let data = c.object(data, "Data")?;
        if let Some(body_id) = c
            .required(data, "EventSubscriptionId", "Data")
            .and_then(|v| c.string(v, &join("Data", "EventSubscriptionId"), 1, 40))
            && id.as_str() != body_id
        {
            c.invalid(
                "Data.EventSubscriptionId",
                format!("Data.EventSubscriptionId {body_id:?} differs from the id in the path"),
            );
        }
        subscription_data(&mut c, data, rules)
    });
    c.done(fields)
}

/// The `Data` members POST and PUT share.
fn subscription_data(
    c: &mut Check,
    data: &Map<String, Value>,
    rules: &Rules,
) -> Option<SubscriptionFields> {
    let version = c
        .required(data, "Version", "Data")
        .and_then(|v| c.string(v, "Data.Version", 1, 10));
    if let Some(p) = version.as_deref().and_then(version_problem) {
        c.invalid("Data.Version", p);
    }
    let callback_url = c.opt_string(data, "CallbackUrl", "Data", 1, 2048);
    if let Some(p) = callback_url
        .as_deref()
        .and_then(|u| callback_url_problem(u, rules.check_suffix))
    {
        c.invalid("Data.CallbackUrl", format!("Data.CallbackUrl {p}"));
    }
    let event_types = data
        .get("EventTypes")
        .and_then(|v| event_types(c, v, rules));
    if event_types.as_ref().is_some_and(Vec::is_empty) {
        c.invalid(
            "Data.EventTypes",
            "Data.EventTypes must name at least one type; omit it to receive every type",
        );
    }
    Some(SubscriptionFields {
        version: version?,
        callback_url,
        event_types,
    })
}

/// `Data.EventTypes`: distinct types the personality supports (ES-07).
fn event_types(c: &mut Check, v: &Value, rules: &Rules) -> Option<Vec<String>> {
    let mut seen = Vec::new();
    c.bounded_array(
        v,
        "Data.EventTypes",
        bounds::EVENT_TYPES,
        |c, item, path| {
            let s = c.string(item, path, 1, 256)?;
            match EventType::from_code(&s) {
                // Refused rather than collapsed: a repeat is a mistake in the request.
                Some(t) if seen.contains(&t) => {
                    c.invalid(path, format!("event type {s:?} is listed twice"));
                    None
                }
                Some(t) if rules.event_types.contains(&t) => {
                    seen.push(t);
                    Some(s)
                }
                _ => {
                    c.push(
                        ErrorItem::at(
                            codes::UNSUPPORTED_EVENT_TYPE,
                            path,
                            format!("event type {s:?} is not supported"),
                        )
                        .with_url(rules.event_types_url.clone()),
                    );
                    None
                }
            }
        },
    )
}

/// The fields of a callback-URL registration (`OBCallbackUrl1` `Data`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackUrlFields {
    pub url: String,
    pub version: String,
}

/// `POST /callback-urls` (`path_id` `None`) or `PUT /callback-urls/{id}` (CB-02..CB-04).
pub fn callback_url(
    body: &Value,
    path_id: Option<&CallbackUrlId>,
    rules: &Rules,
) -> ObResult<CallbackUrlFields> {
    let mut c = Check::new();
    let fields = c.object(body, "").and_then(|top| {
        let data = c.required(top, "Data", "")?;
        let data = c.object(data, "Data")?;
        // Not a member of the request schema, but tolerated when it names the path's id; of
        // another type it is refused like `EventSubscriptionId`, not ignored.
        if let Some(id) = path_id
            && let Some(v) = data.get("CallbackUrlId")
            && let Some(body_id) = c.string(v, "Data.CallbackUrlId", 1, 40)
            && id.as_str() != body_id
        {
            c.invalid(
                "Data.CallbackUrlId",
                format!("Data.CallbackUrlId {body_id:?} differs from the id in the path"),
            );
        }
        let url = c
            .required(data, "Url", "Data")
            .and_then(|v| c.string(v, "Data.Url", 1, 2048));
        if let Some(p) = url
            .as_deref()
            .and_then(|u| callback_url_problem(u, rules.check_suffix))
        {
            c.invalid("Data.Url", format!("Data.Url {p}"));
        }
        let version = c
            .required(data, "Version", "Data")
            .and_then(|v| c.string(v, "Data.Version", 1, 10));
        if let Some(p) = version.as_deref().and_then(version_problem) {
            c.invalid("Data.Version", p);
        }
        Some(CallbackUrlFields {
            url: url?,
            version: version?,
        })
    });
    c.done(fields)
}

/// OBReadConsent1 permission codes (v3.1.x).
pub const PERMISSIONS: [&str; 21] = [
    "ReadAccountsBasic",
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadBeneficiariesBasic",
    "ReadBeneficiariesDetail",
    "ReadDirectDebits",
    "ReadOffers",
    "ReadPAN",
    "ReadParty",
    "ReadPartyPSU",
    "ReadProducts",
    "ReadScheduledPaymentsBasic",
    "ReadScheduledPaymentsDetail",
    "ReadStandingOrdersBasic",
    "ReadStandingOrdersDetail",
    "ReadStatementsBasic",
    "ReadStatementsDetail",
    "ReadTransactionsBasic",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadTransactionsDetail",
];

/// An account-access-consent as a TPP asks for it (`OBReadConsent1`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewConsent {
    pub permissions: Vec<String>,
    pub expiration: Option<String>,
    pub transaction_from: Option<String>,
    pub transaction_to: Option<String>,
}

/// `POST /aisp/account-access-consents`.
pub fn new_consent(body: &Value) -> ObResult<NewConsent> {
    let mut c = Check::new();
    let mut consent = None;
    if let Some(top) = c.object(body, "") {
        if let Some(risk) = c.required(top, "Risk", "") {
            c.object(risk, "Risk");
        }
        if let Some(data) = c
            .required(top, "Data", "")
            .and_then(|d| c.object(d, "Data"))
        {
            let permissions = c
                .required(data, "Permissions", "Data")
                .and_then(|v| permissions(&mut c, v));
            let expiration = date_time(&mut c, data, "ExpirationDateTime");
            let transaction_from = date_time(&mut c, data, "TransactionFromDateTime");
            let transaction_to = date_time(&mut c, data, "TransactionToDateTime");
            consent = permissions.map(|permissions| NewConsent {
                permissions,
                expiration,
                transaction_from,
                transaction_to,
            });
        }
    }
    c.done(consent)
}

fn permissions(c: &mut Check, v: &Value) -> Option<Vec<String>> {
    let list = c.bounded_array(
        v,
        "Data.Permissions",
        bounds::PERMISSIONS,
        |c, item, path| {
            let s = c.string(item, path, 1, 64)?;
            if PERMISSIONS.contains(&s.as_str()) {
                Some(s)
            } else {
                c.invalid(path, format!("{s:?} is not a permission code"));
                None
            }
        },
    )?;
    if list.is_empty() {
        c.invalid(
            "Data.Permissions",
            "Data.Permissions must name at least one permission",
        );
        return None;
    }
    Some(list)
}

fn date_time(c: &mut Check, data: &Map<String, Value>, key: &str) -> Option<String> {
    let v = data.get(key)?;
    let path = format!("Data.{key}");
    let s = c.string(v, &path, 1, 64)?;
    if time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).is_err() {
        c.push(ErrorItem::at(
            codes::FIELD_INVALID_DATE,
            path,
            format!("{key} must be an ISO 8601 date-time with offset"),
        ));
        return None;
    }
    Some(s)
}

/// An event a TPP or the operator injects (`POST /sandbox/events`), before the TPP it is for
/// is settled (`clientId` is resolved against the caller by the handler).
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    pub event_type: EventType,
    pub resource_id: String,
    pub resource_type: String,
    pub reason: Option<String>,
    pub txn: Option<String>,
}

/// `{"clientId"?,"eventType","resourceId","resourceType","reason"?,"txn"?}` (N-03..N-08).
pub fn injection(body: &Value, rules: &Rules) -> ObResult<Injection> {
    let mut c = Check::new();
    let injection = c.object(body, "").and_then(|m| {
        c.closed(
            m,
            &[
                "clientId",
                "eventType",
                "resourceId",
                "resourceType",
                "reason",
                "txn",
            ],
            "",
        );
        c.opt_string(m, "clientId", "", 1, 128);
        let event_type = c
            .required(m, "eventType", "")
            .and_then(|v| c.string(v, "eventType", 1, 256));
        let resource_id = c
            .required(m, "resourceId", "")
            .and_then(|v| c.string(v, "resourceId", 1, 128));
        let resource_type = c
            .required(m, "resourceType", "")
            .and_then(|v| c.string(v, "resourceType", 1, 128));
        let reason = c.opt_string(m, "reason", "", 1, 128);
        let txn = c.opt_string(m, "txn", "", 1, 128);
        let event_type = event_type.and_then(|t| {
            let parsed = EventType::parse(&t);
            if parsed.is_none() {
                c.push(
                    ErrorItem::at(
                        codes::UNSUPPORTED_EVENT_TYPE,
                        "eventType",
                        format!("unknown event type {t:?}"),
                    )
                    .with_url(rules.event_types_url.clone()),
                );
            }
            parsed
        });
        Some(Injection {
            event_type: event_type?,
            resource_id: resource_id?,
            resource_type: resource_type?,
            reason,
            txn,
        })
    });
    c.done(injection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::dialects::obie::error::ObError;
    use serde_json::json;

    fn rules() -> Rules {
        Rules {
            closed: true,
            check_suffix: true,
            event_types: &EventType::ALL,
            event_types_url: "http://bank/sandbox/event-types".into(),
        }
    }

    fn paths<T: std::fmt::Debug>(r: ObResult<T>) -> Vec<String> {
        match r {
            Err(ObError::Invalid(items)) => items.into_iter().filter_map(|i| i.path).collect(),
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn a_subscription_is_typed_or_every_problem_is_listed() {
        let ok = new_subscription(
            &json!({"Data": {"Version": "3.1", "EventTypes": ["UK.OBIE.Resource-Update"]}}),
            &rules(),
        )
        .unwrap();
        assert_eq!(
            ok.event_types.as_deref(),
            Some(&["UK.OBIE.Resource-Update".to_string()][..])
        );
        assert_eq!(
            paths(new_subscription(
                &json!({"Data": {"Version": 3, "CallbackUrl": "ftp://x", "EventTypes": []}, "X": 1}),
                &rules()
            )),
            ["X", "Data.Version", "Data.CallbackUrl", "Data.EventTypes"]
        );
        assert_eq!(
            paths(subscription_update(
                &json!({"Data": {"EventSubscriptionId": "b", "Version": "3.1"}}),
                &SubscriptionId::from("a"),
                &rules()
            )),
            ["Data.EventSubscriptionId"]
        );
    }

    #[test]
    fn consents_callback_urls_and_injections() {
        assert_eq!(
            paths(new_consent(
                &json!({"Data": {"Permissions": ["Nope"], "ExpirationDateTime": "soon"}})
            )),
            ["Risk", "Data.Permissions[0]", "Data.ExpirationDateTime"]
        );
        assert!(
            callback_url(
                &json!({"Data": {"Url": "https://t/v3.1/event-notifications", "Version": "3.1"}}),
                None,
                &rules()
            )
            .is_ok()
        );
        let i = injection(
            &json!({"eventType": "resource-update", "resourceId": "\"r\"", "resourceType": "x"}),
            &rules(),
        )
        .unwrap();
        assert_eq!(
            (i.event_type, i.resource_id.as_str()),
            (EventType::ResourceUpdate, "\"r\"")
        );
        assert_eq!(
            paths(injection(&json!({"eventType": "nope"}), &rules())),
            ["resourceId", "resourceType", "eventType"]
        );
    }
}
