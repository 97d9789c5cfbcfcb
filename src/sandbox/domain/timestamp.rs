//! The one time representation of the domain records: [`Timestamp`], a moment as unix
//! milliseconds (UTC). Every record carries its times as this, whatever the unit of its
//! column or its wire field; the conversions happen at the two edges and only there:
//!
//! - the store binds [`as_secs`](Timestamp::as_secs), [`as_millis`](Timestamp::as_millis) or
//!   [`rfc3339`](Timestamp::rfc3339) as each column has always held it (and reads it back
//!   with [`from_secs`](Timestamp::from_secs), [`from_millis`](Timestamp::from_millis),
//!   [`parse_rfc3339`](Timestamp::parse_rfc3339)), so no database needs migrating;
//! - rendering picks the unit each wire field has always had. `Timestamp` has no `Serialize`
//!   of its own: a serialised field names its unit with `#[serde(with = …)]` ([`millis`],
//!   [`opt_millis`], [`secs`]), so a field cannot silently change unit on the wire.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A moment in unix milliseconds, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The clock now, truncated to the millisecond.
    pub fn now() -> Timestamp {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp(i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX))
    }

    pub const fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    pub const fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000))
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole unix seconds, rounded down (a NumericDate, RFC 7519 §2, as `iat` and `toe` are).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000)
    }

    /// `d` later (saturating: a huge retry delay means "never", not a wrap into the past).
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// `d` earlier (saturating).
    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(ms))
    }

    /// Milliseconds from `earlier` to this moment (negative if `earlier` is later).
    pub const fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 in whole seconds, UTC (`2026-01-02T03:04:05Z`): OBIE's `CreationDateTime`
    /// and `StatusUpdateDateTime`, and how the consents table has always stored them.
    pub fn rfc3339(self) -> String {
        let whole = OffsetDateTime::from_unix_timestamp(self.as_secs())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        whole.format(&Rfc3339).unwrap_or_default()
    }

    /// RFC 3339 UTC with the milliseconds when there are any (Tatra's `activeFrom`).
    pub fn rfc3339_millis(self) -> String {
        self.datetime().format(&Rfc3339).unwrap_or_default()
    }

    /// An RFC 3339 text (any offset), to the millisecond; `None` if it is not one.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Timestamp)
    }
}

/// `#[serde(with = "…::millis")]`: the field is unix milliseconds on the wire and in JSON
/// columns (deliveries, attempts, Tatra task banks).
pub mod millis {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Timestamp;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.as_millis())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(d).map(Timestamp::from_millis)
    }
}

/// [`millis`] for an optional time (skipped by the field's own `skip_serializing_if`).
pub mod opt_millis {
    use serde::Serializer;

    use super::Timestamp;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&t.as_millis()),
            None => s.serialize_none(),
        }
    }
}

/// `#[serde(with = "…::secs")]`: the field is whole unix seconds on the wire (stored events).
pub mod secs {
    use serde::Serializer;

    use super::Timestamp;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_both_ways() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        assert_eq!(t.as_secs(), 1_700_000_000);
        assert_eq!(
            Timestamp::from_secs(t.as_secs()).as_millis(),
            1_700_000_000_000
        );
        assert_eq!(Timestamp::from_millis(-1).as_secs(), -1);
        assert_eq!(
            t.saturating_add(Duration::from_millis(7)).as_millis(),
            1_700_000_000_130
        );
        assert_eq!(
            t.millis_since(Timestamp::from_millis(1_700_000_000_000)),
            123
        );
    }

    #[test]
    fn rfc3339_is_whole_seconds_utc_and_reads_back() {
        let t = Timestamp::from_millis(1_700_000_000_999);
        assert_eq!(t.rfc3339(), "2023-11-14T22:13:20Z");
        assert_eq!(
            Timestamp::parse_rfc3339(&t.rfc3339()),
            Some(Timestamp::from_secs(1_700_000_000))
        );
        assert_eq!(
            Timestamp::from_millis(3_600_000).rfc3339_millis(),
            "1970-01-01T01:00:00Z"
        );
        assert_eq!(
            Timestamp::from_millis(3_600_250).rfc3339_millis(),
            "1970-01-01T01:00:00.25Z"
        );
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
