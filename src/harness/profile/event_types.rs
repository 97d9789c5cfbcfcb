//! The event types a profile names: OBIE's three (`OBEventType1Code`, in any of their
//! spellings) or any type of the bank's own — a URN or URI (`urn:ietf:params:…`,
//! `https://schemas.openid.net/secevent/…`) or a plain name (`payment-created`). What the
//! trigger is given for each (`[trigger] event_type_values`) and which `events` member its SETs
//! carry (`[bank] event_type_urns`, for a name that is not itself a URI) are the profile's too.

use std::collections::BTreeMap;
use std::fmt;

use super::{ProfileError, err};
use crate::model::EventType;

/// One event type as the target knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BankEventType {
    /// As the profile lists it (an OBIE type: its `OBEventType1Code`).
    pub name: String,
    /// The OBIE type it is, if it is one.
    pub ob: Option<EventType>,
    /// The member of a SET's `events` claim that carries it: OBIE's URN, a custom type's own
    /// URI, or what `bank.event_type_urns` maps its name to; unknown otherwise.
    pub urn: Option<String>,
}

impl BankEventType {
    /// An OBIE event type.
    pub fn ob(t: EventType) -> BankEventType {
        BankEventType {
            name: t.code().to_string(),
            ob: Some(t),
            urn: Some(t.urn().to_string()),
        }
    }

    /// The type `name` names: OBIE's in any spelling, else the bank's own (its URN is the name
    /// when that is an absolute URI, else what `urns` maps it to).
    ///
    /// ```
    /// use obevents::harness::profile::BankEventType;
    /// use std::collections::BTreeMap;
    /// let urns = BTreeMap::from([("payment-created".to_string(), "https://bank.example/ev/pc".to_string())]);
    /// assert!(BankEventType::named("resource-update", &urns).ob.is_some());
    /// let own = BankEventType::named("payment-created", &urns);
    /// assert_eq!((own.ob, own.urn.as_deref()), (None, Some("https://bank.example/ev/pc")));
    /// let urn = BankEventType::named("urn:example:events:x", &urns);
    /// assert_eq!(urn.urn.as_deref(), Some("urn:example:events:x"));
    /// ```
    pub fn named(name: &str, urns: &BTreeMap<String, String>) -> BankEventType {
        if let Some(t) = EventType::parse(name) {
            return BankEventType::ob(t);
        }
        let name = name.trim().to_string();
        let urn = urns
            .get(&name)
            .cloned()
            .or_else(|| url::Url::parse(&name).is_ok().then(|| name.clone()));
        BankEventType {
            name,
            ob: None,
            urn,
        }
    }

    /// The spelling a subscription's `EventTypes` carries: OBIE's code, or the name as listed.
    pub fn code(&self) -> &str {
        match self.ob {
            Some(t) => t.code(),
            None => &self.name,
        }
    }

    /// A short name: OBIE's (`resource-update`), or the last segment of the bank's own.
    pub fn short(&self) -> &str {
        match self.ob {
            Some(t) => t.short(),
            None => self
                .name
                .rsplit([':', '/'])
                .find(|s| !s.is_empty())
                .unwrap_or(&self.name),
        }
    }

    /// Is it the OBIE type `t`?
    pub fn is(&self, t: EventType) -> bool {
        self.ob == Some(t)
    }
}

impl fmt::Display for BankEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Reads the event types listed at `field`, each non-empty, none twice.
pub(super) fn parse(
    field: &str,
    names: &[String],
    urns: &BTreeMap<String, String>,
) -> Result<Vec<BankEventType>, ProfileError> {
    let mut out: Vec<BankEventType> = Vec::new();
    for n in names {
        if n.trim().is_empty() {
            return err(field, "an event type is empty");
        }
        let t = BankEventType::named(n, urns);
        if out.contains(&t) {
            return err(field, format!("{n:?} is listed twice"));
        }
        out.push(t);
    }
    Ok(out)
}

/// Checks `bank.event_type_urns`: each maps a name to an absolute URI.
pub(super) fn check_urns(urns: &BTreeMap<String, String>) -> Result<(), ProfileError> {
    for (name, urn) in urns {
        if url::Url::parse(urn).is_err() {
            return err(
                &format!("bank.event_type_urns.{name}"),
                format!(
                    "{urn:?} is not an absolute URI (a SET's events members are URIs, R8417-02)"
                ),
            );
        }
    }
    Ok(())
}
