//! `dialect` (obie, yapily, tatra) and the `[yapily]` section: a target that speaks the Yapily-style notification
//! API (webhook-dialects.md §1) instead of OBIE event notifications. Its applications are the
//! profile's TPPs (HTTP Basic with client id and secret), its signing keys the `target.jwks_url`.

use super::{ProfileError, YapilyFile, err};

/// Which notification API the target speaks: the one dialect type of the crate. A profile
/// names `obie`, `yapily` or `tatra`; a WSO2-accelerator bank's event APIs are OBIE's.
pub use crate::model::Dialect;

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
    let dialect = match name.map(Dialect::parse) {
        None => Dialect::Obie,
        Some(Some(Dialect::Wso2)) => {
            return err(
                "dialect",
                "a WSO2-accelerator bank serves OBIE's event APIs: use dialect = \"obie\"",
            );
        }
        Some(Some(d)) => d,
        Some(None) => {
            let other = name.unwrap_or_default();
            return err(
                "dialect",
                format!("{other:?} is not one of obie, yapily, tatra"),
            );
        }
    };
    match (dialect, section) {
        (Dialect::Obie | Dialect::Wso2 | Dialect::Tatra, None) => Ok((dialect, None)),
        (Dialect::Obie | Dialect::Wso2 | Dialect::Tatra, Some(_)) => {
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
    fn the_dialect_is_the_crates_one_type() {
        assert_eq!(dialect(None, None).unwrap().0, Dialect::Obie);
        assert_eq!(dialect(Some("tatra"), None).unwrap().0, Dialect::Tatra);
        let wso2 = dialect(Some("wso2"), None).unwrap_err().to_string();
        assert!(wso2.contains("use dialect = \"obie\""), "{wso2}");
        let other = dialect(Some("acme"), None).unwrap_err().to_string();
        assert!(other.contains("not one of obie, yapily, tatra"), "{other}");
    }

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
