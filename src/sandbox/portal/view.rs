//! How values are shown on every page: one time format (ISO 8601 UTC to the millisecond, with
//! the time relative to the page's rendering), decoded SET parts, short labels. Pure functions;
//! the templates escape whatever these return.

use time::OffsetDateTime;
use time::macros::format_description;

use crate::sandbox::domain::Timestamp;

/// A moment as every page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct When {
    /// `2026-12-05T09:14:03.120Z`.
    pub iso: String,
    /// `3 s ago`, `in 2 min`, `just now`.
    pub rel: String,
}

/// `t` seen from `now`.
pub fn when(t: Timestamp, now: Timestamp) -> When {
    When {
        iso: iso(t),
        rel: relative(now.millis_since(t)),
    }
}

/// ISO 8601 UTC with milliseconds.
pub fn iso(t: Timestamp) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_millis()) * 1_000_000)
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_else(|| t.as_millis().to_string())
}

/// `ago_ms` (negative: in the future) in words.
pub fn relative(ago_ms: i64) -> String {
    let future = ago_ms < 0;
    let secs = ago_ms.unsigned_abs() / 1000;
    if secs < 1 {
        return "just now".into();
    }
    let amount = match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// The header and claims of a compact JWS, pretty-printed JSON each, if it is one.
pub fn decode_jws(token: &str) -> Option<(String, String)> {
    let mut parts = token.split('.');
    let (h, p) = (parts.next()?, parts.next()?);
    let pretty = |part: &str| -> Option<String> {
        let bytes = crate::jose::b64_decode(part).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        serde_json::to_string_pretty(&v).ok()
    };
    Some((pretty(h)?, pretty(p)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_format() {
        let t = Timestamp::from_millis(1_796_000_000_123);
        assert_eq!(iso(t), "2026-11-30T00:53:20.123Z");
        assert_eq!(iso(Timestamp::from_secs(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(relative(0), "just now");
        assert_eq!(relative(4_500), "4 s ago");
        assert_eq!(relative(-120_000), "in 2 min");
        assert_eq!(relative(7_200_000), "2 h ago");
        assert_eq!(relative(3 * 86_400_000), "3 d ago");
    }

    #[test]
    fn decodes_a_compact_jws() {
        let h = crate::jose::b64(br#"{"alg":"PS256"}"#);
        let p = crate::jose::b64(br#"{"jti":"a"}"#);
        let (header, claims) = decode_jws(&format!("{h}.{p}.sig")).unwrap();
        assert!(header.contains("\"alg\": \"PS256\""));
        assert!(claims.contains("\"jti\": \"a\""));
        assert_eq!(decode_jws("nope"), None);
    }
}
