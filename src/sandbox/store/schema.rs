//! What the SQL of both engines shares: the integer codes the `state` columns hold, the column
//! lists their statements select (and insert) in the order their row decoders read them, and
//! the decoding of a consent row. Each engine still writes its own statements (placeholders,
//! locking and ordering differ); this module is where a code or a column list is spelled once,
//! so the engines cannot drift apart on what a stored `3` or the fifth column means.
//!
//! The codes are text because they are spliced into statements at compile time with [`sql!`]:
//! a partial index such as `deliveries_due … WHERE state = 0` is only used by a query that
//! names the same literal, and a statement built once keeps the prepared-statement caches
//! (keyed by the SQL text) as cheap as a literal. The migration files keep their own literals:
//! they are history and never change.

use super::{Result, StoreError, parse_list};
use crate::sandbox::domain::{
    Consent, ConsentStatus, DeliveryState, Dialect, EventState, Timestamp,
};

/// Joins string constants into one `&'static str` at compile time (see the module docs).
macro_rules! sql {
    ($($part:expr),+ $(,)?) => {{
        const PARTS: &[&str] = &[$($part),+];
        const BYTES: [u8; $crate::sandbox::store::schema::joined_len(PARTS)] =
            $crate::sandbox::store::schema::join(PARTS);
        const SQL: &str = match ::std::str::from_utf8(&BYTES) {
            Ok(s) => s,
            Err(_) => panic!("SQL parts are UTF-8 and joined whole"),
        };
        SQL
    }};
}
pub(crate) use sql;

/// The length of `parts` joined (for [`sql!`]).
pub const fn joined_len(parts: &[&str]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < parts.len() {
        n += parts[i].len();
        i += 1;
    }
    n
}

/// `parts` one after another (for [`sql!`]); `N` is their [`joined_len`].
pub const fn join<const N: usize>(parts: &[&str]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut i = 0;
    while i < parts.len() {
        let bytes = parts[i].as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            out[at] = bytes[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// `deliveries.state`. Both schemas CHECK for these four, and that a pending delivery (only)
/// has a `next_attempt_at`.
pub mod delivery_state {
    pub const PENDING: &str = "0";
    pub const DELIVERED: &str = "1";
    pub const FAILED: &str = "2";
    pub const CANCELLED: &str = "3";
}

/// `events.state`: the polling queue (AP-09, AP-10). Both schemas CHECK that an awaiting
/// event has a SET.
pub mod event_state {
    pub const AWAITING: &str = "0";
    pub const ACKNOWLEDGED: &str = "1";
    pub const DROPPED: &str = "2";
    pub const NOT_QUEUED: &str = "3";
}

/// The value of a one-digit code.
const fn number(code: &str) -> i64 {
    (code.as_bytes()[0] - b'0') as i64
}

const DELIVERY_STATES: [(DeliveryState, &str); 4] = [
    (DeliveryState::Pending, delivery_state::PENDING),
    (DeliveryState::Delivered, delivery_state::DELIVERED),
    (DeliveryState::Failed, delivery_state::FAILED),
    (DeliveryState::Cancelled, delivery_state::CANCELLED),
];

const EVENT_STATES: [(EventState, &str); 4] = [
    (EventState::Awaiting, event_state::AWAITING),
    (EventState::Acknowledged, event_state::ACKNOWLEDGED),
    (EventState::Dropped, event_state::DROPPED),
    (EventState::NotQueued, event_state::NOT_QUEUED),
];

/// The code stored for `s`.
pub fn delivery_code(s: DeliveryState) -> i64 {
    DELIVERY_STATES
        .iter()
        .find(|(state, _)| *state == s)
        .map_or(0, |(_, code)| number(code))
}

/// The state a stored code means; an unknown code is corruption.
pub fn delivery_state_of(code: i64) -> Result<DeliveryState> {
    DELIVERY_STATES
        .iter()
        .find(|(_, c)| number(c) == code)
        .map(|(state, _)| *state)
        .ok_or_else(|| StoreError::Corrupt(format!("delivery state {code}")))
}

/// The code stored for `s`.
pub fn event_code(s: EventState) -> i64 {
    EVENT_STATES
        .iter()
        .find(|(state, _)| *state == s)
        .map_or(0, |(_, code)| number(code))
}

/// The state a stored code means (an unknown one reads as awaiting, as it always has).
pub fn event_state_of(code: i64) -> EventState {
    EVENT_STATES
        .iter()
        .find(|(_, c)| number(c) == code)
        .map_or(EventState::Awaiting, |(state, _)| *state)
}

/// The format a stored `deliveries.format` names; an unknown one is corruption.
pub fn format_of(s: &str) -> Result<Dialect> {
    Dialect::parse(s).ok_or_else(|| StoreError::Corrupt(format!("delivery format {s}")))
}

/// `clients`, read by both engines' `client`.
pub const CLIENT_COLUMNS: &str = "client_id, secret_hash, client_name, scope, jwks, created_at, \
     seeded, auth_method, tls_subject_dn";
/// `event_subscriptions` as a [`crate::sandbox::domain::Subscription`].
pub const SUBSCRIPTION_COLUMNS: &str =
    "id, client_id, version, callback_url, event_types, created_at";
/// `callback_urls` as a [`crate::sandbox::domain::CallbackUrl`].
pub const CALLBACK_URL_COLUMNS: &str = "id, client_id, url, version, created_at";
/// `consents`, read into a [`ConsentRow`] and inserted in this order.
pub const CONSENT_COLUMNS: &str = "consent_id, client_id, status, permissions, expiration, \
     transaction_from, transaction_to, created_at, status_updated_at";
/// `events` as inserted by a trigger.
pub const EVENT_INSERT_COLUMNS: &str = "event_id, jti, client_id, event_type, resource_id, \
     resource_type, resource_links, txn, toe, details, token, state, created_at";
/// `events` as an [`crate::sandbox::domain::EventRecord`].
pub const EVENT_RECORD_COLUMNS: &str = "jti, client_id, event_type, resource_id, resource_type, \
     state, created_at, err, err_description, event_id, token";
/// `deliveries` as inserted with their event.
pub const DELIVERY_INSERT_COLUMNS: &str =
    "id, event_seq, client_id, format, url, state, next_attempt_at, created_at, updated_at";
/// `deliveries d JOIN events e` as a [`crate::sandbox::domain::DueDelivery`].
pub const DUE_DELIVERY_COLUMNS: &str =
    "d.id, d.client_id, d.format, d.url, d.attempts, d.event_seq, d.created_at, e.token";
/// `deliveries d JOIN events e` as a [`crate::sandbox::domain::DeliveryRecord`] (without its
/// attempts).
pub const DELIVERY_RECORD_COLUMNS: &str =
    "d.id, e.event_id, e.event_type, d.format, d.url, d.state, d.next_attempt_at, d.created_at";
/// `delivery_attempts` as an [`crate::sandbox::domain::Attempt`] (inserted after `delivery_id`).
pub const ATTEMPT_COLUMNS: &str = "attempt, started_at, latency_ms, status_code, error, \
     interaction_id, response_excerpt, note, in_flight";
/// `yapily_subscriptions` as a [`crate::sandbox::domain::YapilySubscription`].
pub const YAPILY_COLUMNS: &str =
    "id, client_id, event_type_id, url, created_at, deleted_at IS NOT NULL";
/// `tatra_webhook_settings` as [`crate::sandbox::domain::TatraSettings`].
pub const TATRA_SETTINGS_COLUMNS: &str = "client_id, enabled, url, security_header, active_from";

/// A consent row as text columns ([`CONSENT_COLUMNS`]); both engines decode it the same way.
/// Its times are RFC 3339 text in whole seconds, as every release has written them.
pub(crate) struct ConsentRow {
    pub consent_id: String,
    pub client_id: String,
    pub status: String,
    pub permissions: String,
    pub expiration: Option<String>,
    pub transaction_from: Option<String>,
    pub transaction_to: Option<String>,
    pub created_at: String,
    pub status_updated_at: String,
}

impl ConsentRow {
    pub(crate) fn into_consent(self) -> Result<Consent> {
        Ok(Consent {
            status: ConsentStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("consent status {}", self.status)))?,
            permissions: parse_list(&self.permissions)?,
            created_at: rfc3339_column("created_at", &self.created_at)?,
            status_updated_at: rfc3339_column("status_updated_at", &self.status_updated_at)?,
            consent_id: self.consent_id.into(),
            client_id: self.client_id.into(),
            expiration: self.expiration,
            transaction_from: self.transaction_from,
            transaction_to: self.transaction_to,
        })
    }
}

/// A stored RFC 3339 time; one that does not parse is corruption.
fn rfc3339_column(column: &str, text: &str) -> Result<Timestamp> {
    Timestamp::parse_rfc3339(text)
        .ok_or_else(|| StoreError::Corrupt(format!("consent {column} {text:?}")))
}

/// A TPP's activity mark on SQLite (`?1` = client id): counts, sums and latest times of its
/// events, deliveries and attempts. Any stored event, acknowledgement, attempt begun or
/// finished, or delivery state change moves it; equal marks mean nothing the portal shows
/// changed.
pub const ACTIVITY_SQLITE: &str = "SELECT
  (SELECT COUNT(*) || ':' || IFNULL(MAX(seq), 0) || ':' || IFNULL(SUM(state), 0) || ':' || COUNT(err)
     FROM events WHERE client_id = ?1)
  || '|' ||
  (SELECT COUNT(*) || ':' || IFNULL(SUM(attempts), 0) || ':' || IFNULL(MAX(updated_at), 0) || ':'
          || IFNULL(SUM(state), 0) || ':' || IFNULL(SUM(next_attempt_at), 0)
     FROM deliveries WHERE client_id = ?1)
  || '|' ||
  (SELECT COUNT(*) || ':' || IFNULL(SUM(a.in_flight), 0)
     FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.client_id = ?1)";

/// [`ACTIVITY_SQLITE`] on PostgreSQL (`$1` = client id).
pub const ACTIVITY_POSTGRES: &str = "SELECT concat_ws('|',
  (SELECT concat_ws(':', COUNT(*), COALESCE(MAX(seq), 0), COALESCE(SUM(state), 0), COUNT(err))
     FROM events WHERE client_id = $1),
  (SELECT concat_ws(':', COUNT(*), COALESCE(SUM(attempts), 0), COALESCE(MAX(updated_at), 0),
                    COALESCE(SUM(state), 0), COALESCE(SUM(next_attempt_at), 0))
     FROM deliveries WHERE client_id = $1),
  (SELECT concat_ws(':', COUNT(*), COUNT(*) FILTER (WHERE a.in_flight))
     FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.client_id = $1))";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for (s, _) in DELIVERY_STATES {
            assert_eq!(delivery_state_of(delivery_code(s)).ok(), Some(s));
        }
        for (s, _) in EVENT_STATES {
            assert_eq!(event_state_of(event_code(s)), s);
        }
        assert!(delivery_state_of(9).is_err());
    }

    #[test]
    fn sql_joins_at_compile_time() {
        const S: &str = sql!("state = ", delivery_state::CANCELLED, " AND x");
        assert_eq!(S, "state = 3 AND x");
    }
}
