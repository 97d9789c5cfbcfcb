//! Identifiers of the sandbox's records, one type per kind, so that two kinds meeting in one
//! signature (a client and a delivery, a client and a consent) cannot be swapped without a
//! compile error. Each is the text the API shows and the database stores, unchanged: JSON
//! sees the bare string (`serde(transparent)`), and the store binds [`as_str`](ClientId::as_str)
//! and wraps what it reads, so no column or wire format knows these types exist.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Defines one identifier type: a `String` with its kind in the type.
macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new id as the sandbox assigns them: a UUID v7 (RFC 9562), unique and
            /// random in its last 74 bits, time-ordered in its first 48. Time-ordered so
            /// the rows written together (events, deliveries) land together at the end of
            /// the indexes keyed by them: with v4 ids each new event dirtied its own page
            /// in two `jti` indexes, which every small group commit wrote to the WAL and
            /// every checkpoint back to the file (`bench --phases ingest`, see the README).
            pub fn random() -> Self {
                $name(uuid::Uuid::now_v7().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id! {
    /// A TPP's OAuth client id: registered, seeded from the config, or named by the operator.
    ClientId
}

id! {
    /// An event's own id (the OBIE SET's `jti` unless a fault bends the key it is served under).
    EventId
}

id! {
    /// One push delivery of an event to one destination.
    DeliveryId
}

id! {
    /// An event subscription: OBIE's `EventSubscriptionId`, or a Yapily-style subscription's id.
    SubscriptionId
}

id! {
    /// A legacy callback-url registration (`CallbackUrlId`).
    CallbackUrlId
}

id! {
    /// A consent: OBIE's account-access `ConsentId`, or a Tatra-style consent's id.
    ConsentId
}

id! {
    /// A Tatra-style `PUT /refresh` task.
    TaskId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_their_text_on_the_wire() {
        let id = DeliveryId::from("d-1");
        assert_eq!(id.as_str(), "d-1");
        assert_eq!(id.to_string(), "d-1");
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("\"d-1\""));
        let back: Option<DeliveryId> = serde_json::from_str("\"d-1\"").ok();
        assert_eq!(back, Some(id));
        assert_ne!(ClientId::random(), ClientId::random());
    }
}
