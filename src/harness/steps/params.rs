//! Typed parameters of the Cucumber Expressions used in the features.

use std::str::FromStr;

use crate::harness::profile::BankEventType;
use crate::model::EventType;

/// `{tpp}`: one of the scenario's two TPPs.
#[derive(Debug, Clone, cucumber::Parameter)]
#[param(name = "tpp", regex = "A|B")]
pub struct Tpp(pub String);

impl FromStr for Tpp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Tpp(s.to_string()))
    }
}

/// `{event_type}`: an event type by its short name (the URN's last segment).
#[derive(Debug, Clone, cucumber::Parameter)]
#[param(
    name = "event_type",
    regex = "resource-update|consent-authorization-revoked|account-access-consent-linked-account-update"
)]
pub struct Event(pub BankEventType);

impl FromStr for Event {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::parse(s)
            .map(|t| Event(BankEventType::ob(t)))
            .ok_or_else(|| format!("unknown event type {s}"))
    }
}

/// Strips the quotes `{string}` may leave around its capture.
pub fn unquote(s: &str) -> String {
    let t = s.trim();
    if t.len() >= 2
        && ((t.starts_with('"') && t.ends_with('"')) || (t.starts_with('\'') && t.ends_with('\'')))
    {
        t[1..t.len() - 1].to_string()
    } else {
        t.to_string()
    }
}
