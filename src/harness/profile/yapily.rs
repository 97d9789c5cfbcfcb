//! `dialect` (obie, yapily, tatra) and the `[yapily]` section: a target that speaks the Yapily-style notification
//! API (webhook-dialects.md §1) instead of OBIE event notifications. Its applications are the
//! profile's TPPs (HTTP Basic with client id and secret), its signing keys the `target.jwks_url`.

use super::{ProfileError, YapilyFile, err};

/// Which notification API the target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Obie,
    Yapily,
    Tatra,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Obie => "obie",
            Dialect::Yapily => "yapily",
            Dialect::Tatra => "tatra",
        }
    }
}

/// The validated `[yapily]` section.
#[derive(Debug, Clone)]
pub struct YapilySettings {
    /// Where the subscription resource lives below `target.base_url`.
    pub subscriptions_path: String,
    /// Event type ids the trigger can raise (e.g. `payment.status.completed`), first is default.
    pub event_types: Vec<String>,
}

impl YapilySettings {
    /// The `eventType` a notification of type id `id` carries: `payment.status.completed` is
    /// `PAYMENT_STATUS_COMPLETED` (the spelling relation the seed's two examples show).
    pub fn event_type_of(id: &str) -> String {
        id.replace(['.', '-'], "_").to_ascii_uppercase()
    }
}

/// Validates `dialect` and `[yapily]`.
pub(super) fn dialect(
    name: Option<&str>,
    section: Option<YapilyFile>,
) -> Result<(Dialect, Option<YapilySettings>), ProfileError> {
    let dialect = match name {
        None | Some("obie") => Dialect::Obie,
        Some("yapily") => Dialect::Yapily,
        Some("tatra") => Dialect::Tatra,
        Some(other) => {
            return err(
                "dialect",
                format!("{other:?} is not one of obie, yapily, tatra"),
            );
        }
    };
    match (dialect, section) {
        (Dialect::Obie | Dialect::Tatra, None) => Ok((dialect, None)),
        (Dialect::Obie | Dialect::Tatra, Some(_)) => {
            err("yapily", "is only for dialect = \"yapily\"")
        }
        (Dialect::Yapily, section) => {
            let f = section.unwrap_or_default();
            let path = f
                .subscriptions_path
                .unwrap_or_else(|| "/notifications/event-subscriptions".into());
            if !path.starts_with('/') {
                return err(
                    "yapily.subscriptions_path",
                    "must be a path starting with /",
                );
            }
            let event_types = f
                .event_types
                .unwrap_or_else(|| vec!["payment.status.completed".into()]);
            if event_types.is_empty() || event_types.iter().any(|t| t.trim().is_empty()) {
                return err("yapily.event_types", "must list at least one event type id");
            }
            Ok((
                dialect,
                Some(YapilySettings {
                    subscriptions_path: path.trim_end_matches('/').to_string(),
                    event_types,
                }),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_ids_map_to_upper_snake_case() {
        assert_eq!(
            YapilySettings::event_type_of("payment.status.completed"),
            "PAYMENT_STATUS_COMPLETED"
        );
    }

    #[test]
    fn the_section_belongs_to_the_dialect() {
        assert!(dialect(Some("yapily"), None).unwrap().1.is_some());
        assert!(dialect(None, Some(YapilyFile::default())).is_err());
        assert!(dialect(Some("tatra2"), None).is_err());
    }
}
