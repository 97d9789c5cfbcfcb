//! The OBIE event types the sandbox can raise, with both of their spellings (N-08): the
//! `OBEventType1Code` used in subscriptions and the URN used as the member name in a SET's `events`.

use std::fmt;

/// An event type this product knows how to build a SET for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    ResourceUpdate,
    ConsentAuthorizationRevoked,
    AccountAccessConsentLinkedAccountUpdate,
}

impl EventType {
    pub const ALL: [EventType; 3] = [
        EventType::ResourceUpdate,
        EventType::ConsentAuthorizationRevoked,
        EventType::AccountAccessConsentLinkedAccountUpdate,
    ];

    /// The `OBEventType1Code` spelling used in `EventTypes` of a subscription.
    pub fn code(self) -> &'static str {
        match self {
            EventType::ResourceUpdate => "UK.OBIE.Resource-Update",
            EventType::ConsentAuthorizationRevoked => "UK.OBIE.Consent-Authorization-Revoked",
            EventType::AccountAccessConsentLinkedAccountUpdate => {
                "UK.OBIE.Account-Access-Consent-Linked-Account-Update"
            }
        }
    }

    /// The URN used as the member name inside a SET's `events` claim.
    pub fn urn(self) -> &'static str {
        match self {
            EventType::ResourceUpdate => "urn:uk:org:openbanking:events:resource-update",
            EventType::ConsentAuthorizationRevoked => {
                "urn:uk:org:openbanking:events:consent-authorization-revoked"
            }
            EventType::AccountAccessConsentLinkedAccountUpdate => {
                "urn:uk:org:openbanking:events:account-access-consent-linked-account-update"
            }
        }
    }

    /// The short name (the URN's last segment), handy on command lines and in feature files.
    pub fn short(self) -> &'static str {
        self.urn().rsplit(':').next().unwrap_or_default()
    }

    /// Only the exact `OBEventType1Code` spelling (what a subscription must send, ES-07).
    pub fn from_code(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.code() == s)
    }

    /// Accepts the code, the URN or the short name, case-insensitively (for people and
    /// sandbox helpers, not for OBIE request bodies).
    ///
    /// ```
    /// use obevents::model::EventType;
    /// let t = EventType::parse("consent-authorization-revoked").unwrap();
    /// assert_eq!(t.code(), "UK.OBIE.Consent-Authorization-Revoked");
    /// assert_eq!(t.urn(), "urn:uk:org:openbanking:events:consent-authorization-revoked");
    /// assert_eq!(EventType::from_code(t.urn()), None); // subscriptions take the code only
    /// ```
    pub fn parse(s: &str) -> Option<EventType> {
        let s = s.trim();
        EventType::ALL.into_iter().find(|t| {
            s.eq_ignore_ascii_case(t.code())
                || s.eq_ignore_ascii_case(t.urn())
                || s.eq_ignore_ascii_case(t.short())
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses_back() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.code()), Some(t));
            assert_eq!(EventType::parse(t.urn()), Some(t));
            assert_eq!(EventType::parse(t.short()), Some(t));
        }
        assert_eq!(EventType::parse("UK.OBIE.Consent-Access-Revoked"), None);
    }
}
