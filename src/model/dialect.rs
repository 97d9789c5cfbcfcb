//! The API styles ("dialects") obevents speaks, in one type shared by the sandbox and the
//! harness: which API a personality serves beside OBIE, which wire format a push delivery uses,
//! which operations the OpenAPI document offers, and which style a target profile describes.

use std::fmt;
use std::str::FromStr;

/// One API style. Every sandbox serves the OBIE Read/Write event APIs; a personality may add
/// one other dialect's API on top (WSO2's Event Creation API, Yapily- or Tatra-style
/// notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// OBIE v3.1.x subscriptions, callback URLs, polling and push of signed SETs.
    Obie,
    /// The WSO2 Open Banking accelerator's Event Creation API (events arrive as OBIE SETs).
    Wso2,
    /// Yapily-style subscriptions by event type and signed JSON webhooks.
    Yapily,
    /// Tatra-banka-style webhook settings, consents, refresh and JSON webhooks.
    Tatra,
}

impl Dialect {
    pub const ALL: [Dialect; 4] = [
        Dialect::Obie,
        Dialect::Wso2,
        Dialect::Yapily,
        Dialect::Tatra,
    ];

    /// The lower-case name used in configs, profiles, stored delivery rows and reports.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Obie => "obie",
            Dialect::Wso2 => "wso2",
            Dialect::Yapily => "yapily",
            Dialect::Tatra => "tatra",
        }
    }

    /// Whether events of this dialect travel as OBIE SETs (`application/jwt` pushes, OBIE
    /// retry rules), rather than as a JSON webhook of their own.
    pub fn sends_sets(self) -> bool {
        matches!(self, Dialect::Obie | Dialect::Wso2)
    }

    pub fn parse(s: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == s)
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::parse(s).ok_or_else(|| {
            format!("unknown dialect {s:?} (expected one of obie, wso2, yapily, tatra)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Dialect::ALL {
            assert_eq!(d.name().parse::<Dialect>(), Ok(d));
        }
        assert!("OBIE".parse::<Dialect>().is_err());
    }
}
