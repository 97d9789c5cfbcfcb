//! Tatra-banka-style webhooks (webhook-dialects.md §2, TB-xx): which kind of event a body is,
//! whether its event object has the seed's attributes (`schemas/tatra/`), and whether the
//! `Authorization` header is the configured security header. Pure functions over what the
//! receiver recorded.

use serde_json::Value;

const TRANSACTION_SCHEMA: &str = include_str!("../../../schemas/tatra/transaction-event.json");
const ACCOUNT_SCHEMA: &str = include_str!("../../../schemas/tatra/account-event.json");

/// The two kinds of webhook the seed names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transaction,
    Account,
}

impl Kind {
    /// The seed's name of the kind, which is also how a body names it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Transaction => "transactionEvent",
            Kind::Account => "accountEvent",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "transactionEvent" => Some(Kind::Transaction),
            "accountEvent" => Some(Kind::Account),
            _ => None,
        }
    }

    /// The rule an event object of this kind that lacks an attribute breaks.
    pub fn rule(self) -> &'static str {
        match self {
            Kind::Transaction => "TB-06",
            Kind::Account => "TB-09",
        }
    }
}

/// A webhook body read as one event: its kind and its event object.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: Kind,
    pub object: Value,
}

impl Event {
    pub fn consent_id(&self) -> Option<&str> {
        self.object.get("consentId").and_then(Value::as_str)
    }

    pub fn str(&self, field: &str) -> Option<&str> {
        self.object.get(field).and_then(Value::as_str)
    }

    /// `accounts[].accountId`, in order (entries without one are left out).
    pub fn account_ids(&self) -> Vec<String> {
        self.object
            .get("accounts")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.get("accountId").and_then(Value::as_str))
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Reads `body` as one event. By default the body is `{"<kind>": {event object}}` (the
/// sandbox's documented shape); with `kind_field` (a profile setting) it is the flat event
/// object with that field naming the kind. Err says, for TB-11, why the body names no kind.
pub fn parse(body: &[u8], kind_field: Option<&str>) -> Result<Event, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("the body is not a JSON object".into());
    };
    if let Some(field) = kind_field {
        let kind = map
            .get(field)
            .and_then(Value::as_str)
            .and_then(Kind::parse)
            .ok_or_else(|| {
                format!("the body's {field:?} is not \"transactionEvent\" or \"accountEvent\"")
            })?;
        return Ok(Event {
            kind,
            object: Value::Object(map),
        });
    }
    let mut kinds = map
        .iter()
        .filter_map(|(k, v)| Kind::parse(k).map(|k| (k, v)));
    match (kinds.next(), kinds.next(), map.len()) {
        (Some((kind, object)), None, 1) => Ok(Event {
            kind,
            object: object.clone(),
        }),
        _ => Err(format!(
            "the body is not one object under \"transactionEvent\" or \"accountEvent\" (its keys: \
             {:?})",
            map.keys().collect::<Vec<_>>()
        )),
    }
}

/// Where the event object departs from its kind's schema; each line names the JSON pointer.
pub fn schema_problems(event: &Event) -> Vec<String> {
    type Slot = std::sync::OnceLock<Result<jsonschema::Validator, String>>;
    static TRANSACTION: Slot = Slot::new();
    static ACCOUNT: Slot = Slot::new();
    let (slot, text) = match event.kind {
        Kind::Transaction => (&TRANSACTION, TRANSACTION_SCHEMA),
        Kind::Account => (&ACCOUNT, ACCOUNT_SCHEMA),
    };
    match slot.get_or_init(|| crate::harness::schema::compile(text)) {
        Ok(v) => v
            .iter_errors(&event.object)
            .take(20)
            .map(|e| format!("{} at {:?}", e, e.instance_path().to_string()))
            .collect(),
        Err(e) => vec![format!(
            "the {} schema does not compile: {e}",
            event.kind.name()
        )],
    }
}

/// TB-03: the `Authorization` a webhook carried against the security header configured (empty:
/// none configured, so none may be sent). Compared byte for byte: no trimming, no scheme
/// inserted.
pub fn authorization_problem(configured: &str, sent: Option<&str>) -> Option<String> {
    match (configured.is_empty(), sent) {
        (true, None) => None,
        (true, Some(s)) => Some(format!(
            "TB-03: no security header is configured, yet the webhook carries Authorization {s:?}"
        )),
        (false, None) => Some(format!(
            "TB-03: the webhook carries no Authorization header; the configured security header \
             is {configured:?}"
        )),
        (false, Some(s)) if s.as_bytes() == configured.as_bytes() => None,
        (false, Some(s)) => Some(format!(
            "TB-03: Authorization is {s:?}, not the configured security header {configured:?} \
             byte for byte"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrapped_and_flat_bodies() {
        let body = json!({"transactionEvent": {"consentId": "c", "eventType": "NEW",
            "accounts": [{"accountId": "a1"}, {"accountId": "a2"}]}});
        let e = parse(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(e.kind, Kind::Transaction);
        assert_eq!(e.consent_id(), Some("c"));
        assert_eq!(e.account_ids(), ["a1", "a2"]);
        assert!(schema_problems(&e).is_empty());

        let flat = json!({"type": "accountEvent", "consentId": "c", "taskId": "t",
            "taskStatus": "FINISHED", "bankCode": "SLSP", "bankName": "S",
            "accounts": [{"accountId": "x", "eventType": "ADDED"}]});
        let e = parse(flat.to_string().as_bytes(), Some("type")).unwrap();
        assert_eq!(e.kind, Kind::Account);
        assert!(schema_problems(&e).is_empty());
        assert!(parse(flat.to_string().as_bytes(), None).is_err());
    }

    #[test]
    fn a_body_must_name_one_kind() {
        for bad in [
            json!({}),
            json!({"consentId": "c"}),
            json!({"transactionEvent": {}, "accountEvent": {}}),
            json!([1]),
        ] {
            assert!(parse(bad.to_string().as_bytes(), None).is_err(), "{bad}");
        }
        assert!(parse(b"not json", None).is_err());
    }

    #[test]
    fn missing_attributes_are_named() {
        let e = Event {
            kind: Kind::Account,
            object: json!({"consentId": "c", "accounts": [{"accountId": "x"}]}),
        };
        let p = schema_problems(&e).join("\n");
        assert!(p.contains("taskId") && p.contains("bankCode"), "{p}");
    }

    #[test]
    fn authorization_is_byte_for_byte() {
        let h = "Basic dXNlcjpwYXNzd29yZA==";
        assert_eq!(authorization_problem(h, Some(h)), None);
        assert!(authorization_problem(h, Some(&format!("Bearer {h}"))).is_some());
        assert!(authorization_problem(h, Some("basic dXNlcjpwYXNzd29yZA==")).is_some());
        assert!(authorization_problem(h, None).is_some());
        assert_eq!(authorization_problem("", None), None);
        assert!(authorization_problem("", Some("x")).is_some());
    }
}
