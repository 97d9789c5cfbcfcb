//! Per-TPP bounds (`[limits]`): how many events and subscriptions one TPP may have stored, and
//! the refusal a write gets when it would go past one. The store checks them inside the
//! transaction that inserts (see `store`), so they hold across requests and replicas; each
//! dialect renders [`BoundReached`] in its own error shape.

use super::ClientId;

/// The per-TPP bounds the store enforces; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TppBounds {
    /// Stored events of one TPP, whatever their state (awaiting, acknowledged, push-only).
    pub max_events: Option<u64>,
    /// OBIE event subscriptions, callback-url registrations and Yapily subscriptions of one
    /// TPP, together.
    pub max_subscriptions: Option<u64>,
}

/// Which bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    StoredEvents,
    Subscriptions,
}

impl Bound {
    /// The config key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            Bound::StoredEvents => "max_events_per_tpp",
            Bound::Subscriptions => "max_subscriptions_per_tpp",
        }
    }
}

/// A write refused, with nothing of it stored, because it would take `client_id` past its
/// bound. The message names the bound, its value and what frees room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct BoundReached {
    pub client_id: ClientId,
    pub bound: Bound,
    pub limit: u64,
}

impl BoundReached {
    pub fn message(&self) -> String {
        let (c, n, key) = (&self.client_id, self.limit, self.bound.key());
        match self.bound {
            Bound::StoredEvents => format!(
                "the TPP {c} has reached its bound of {n} stored events ([limits] {key}): \
                 nothing was stored; POST /sandbox/reset removes its events, [retention] \
                 removes old acknowledged ones"
            ),
            Bound::Subscriptions => format!(
                "the TPP {c} has reached its bound of {n} subscriptions ([limits] {key}): \
                 delete one first"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_the_bound_and_its_value() {
        let b = BoundReached {
            client_id: "tpp-a".into(),
            bound: Bound::StoredEvents,
            limit: 3,
        };
        assert!(b.to_string().starts_with(
            "the TPP tpp-a has reached its bound of 3 stored events ([limits] max_events_per_tpp)"
        ));
    }
}
