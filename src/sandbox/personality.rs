//! Bank personalities (`--bank`): documented behaviours of real ASPSPs that the sandbox can
//! reproduce. Each knob here is consulted at exactly one place in the domain code; everything not
//! listed as a deviation behaves like the strict `obie` personality.

use std::fmt;
use std::str::FromStr;

use axum::http::StatusCode;

use crate::model::{Dialect, EventType};

// The documented behaviours both the sandbox and the harness name live in `model`.
pub use crate::model::bank::{LongPolling, SpecVersion, UnknownAck};

/// The selectable personalities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bank {
    Obie,
    Ob312,
    Wso2,
    Hsbc,
    /// Yapily-style notification API and signed webhooks (issue 10).
    Yapily,
    /// Tatra-banka-style webhook settings, consents, refresh and webhooks (issue 11).
    Tatra,
}

impl Bank {
    pub const ALL: [Bank; 6] = [
        Bank::Obie,
        Bank::Ob312,
        Bank::Wso2,
        Bank::Hsbc,
        Bank::Yapily,
        Bank::Tatra,
    ];

    /// The API style this bank serves beside OBIE's (see [`Personality::dialect`]).
    pub fn dialect(self) -> Dialect {
        Personality::of(self).dialect
    }

    pub fn name(self) -> &'static str {
        match self {
            Bank::Obie => "obie",
            Bank::Ob312 => "ob312",
            Bank::Wso2 => "wso2",
            Bank::Hsbc => "hsbc",
            Bank::Yapily => "yapily",
            Bank::Tatra => "tatra",
        }
    }
}

impl fmt::Display for Bank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bank {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bank::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown bank {s:?} (expected one of obie, ob312, wso2, hsbc, yapily, tatra)"
                )
            })
    }
}

/// The behaviour knobs of one personality.
#[derive(Debug, Clone)]
pub struct Personality {
    pub bank: Bank,
    pub spec_version: SpecVersion,
    /// Scopes of which a polling token needs one (G-04).
    pub polling_scopes: &'static [&'static str],
    /// Success status of `POST /events` (AP-06).
    pub poll_status: StatusCode,
    pub long_polling: LongPolling,
    /// Batch size used when `maxEvents` is absent (`None`: only the server cap applies).
    pub default_batch: Option<usize>,
    /// `maxEvents` above this is a 400 `UK.OBIE.Field.Invalid` instead of being capped.
    pub max_events_limit: Option<usize>,
    pub unknown_ack: UnknownAck,
    /// Whether a SET reported in `setErrs` stays awaiting (D-APP) or is dropped.
    pub errored_redelivered: bool,
    /// The API style served beside OBIE's (which every personality serves): WSO2's Event
    /// Creation API, the Yapily-style notification API (`/notifications/…`) or the Tatra-style
    /// API (`/premium/sandbox/v1/…`, `/sandbox/tatra/…`); `Obie` for none.
    pub dialect: Dialect,
    /// Event types a subscription may name (ES-07).
    pub event_types: &'static [EventType],
}

const ALL_TYPES: &[EventType] = &EventType::ALL;
const V312_TYPES: &[EventType] = &[
    EventType::ResourceUpdate,
    EventType::ConsentAuthorizationRevoked,
];
const OB_POLL_SCOPES: &[&str] = &["accounts", "payments", "fundsconfirmations"];

impl Personality {
    pub fn of(bank: Bank) -> Personality {
        let obie = Personality {
            bank,
            spec_version: SpecVersion::V3_1_11,
            polling_scopes: OB_POLL_SCOPES,
            poll_status: StatusCode::OK,
            long_polling: LongPolling::Supported,
            default_batch: None,
            max_events_limit: None,
            unknown_ack: UnknownAck::Ignore,
            errored_redelivered: true,
            dialect: Dialect::Obie,
            event_types: ALL_TYPES,
        };
        match bank {
            Bank::Obie => obie,
            Bank::Ob312 => Personality {
                spec_version: SpecVersion::V3_1_2,
                polling_scopes: &["eventpolling"],
                poll_status: StatusCode::CREATED,
                event_types: V312_TYPES,
                ..obie
            },
            Bank::Wso2 => Personality {
                long_polling: LongPolling::Immediate,
                default_batch: Some(5),
                dialect: Dialect::Wso2,
                ..obie
            },
            Bank::Yapily => Personality {
                dialect: Dialect::Yapily,
                ..obie
            },
            Bank::Tatra => Personality {
                dialect: Dialect::Tatra,
                ..obie
            },
            Bank::Hsbc => Personality {
                long_polling: LongPolling::Reject,
                max_events_limit: Some(10),
                unknown_ack: UnknownAck::Reject,
                ..obie
            },
        }
    }

    /// Whether this personality serves `dialect`'s API (OBIE's always).
    pub fn serves(&self, dialect: Dialect) -> bool {
        dialect == Dialect::Obie || dialect == self.dialect
    }

    /// Top-level request objects are closed (`additionalProperties: false`) from v3.1.4 on.
    pub fn closed_objects(&self) -> bool {
        self.spec_version == SpecVersion::V3_1_11
    }

    /// v3.1.2 message signatures carry `b64: false` (J-05).
    pub fn unencoded_signatures(&self) -> bool {
        self.spec_version == SpecVersion::V3_1_2
    }

    /// One-line summaries of how this personality departs from `obie`, for `--help` and logs.
    pub fn deviations(&self) -> Vec<String> {
        let mut d = Vec::new();
        if self.spec_version != SpecVersion::V3_1_11 {
            d.push(format!("spec version {}", self.spec_version.as_str()));
        }
        if self.polling_scopes != OB_POLL_SCOPES {
            d.push(format!(
                "POST /events needs scope {}",
                self.polling_scopes.join(" or ")
            ));
        }
        if self.poll_status != StatusCode::OK {
            d.push(format!(
                "POST /events answers {}",
                self.poll_status.as_u16()
            ));
        }
        match self.long_polling {
            LongPolling::Supported => {}
            LongPolling::Immediate => {
                d.push("no long polling: returnImmediately treated as true".into())
            }
            LongPolling::Reject => {
                d.push("returnImmediately:false is a 400; no long polling".into())
            }
        }
        if let Some(n) = self.default_batch {
            d.push(format!("{n} SETs per poll when maxEvents is absent"));
        }
        if let Some(n) = self.max_events_limit {
            d.push(format!("maxEvents above {n} is a 400"));
        }
        if self.unknown_ack == UnknownAck::Reject {
            d.push("a jti in ack that was never issued is a 400".into());
        }
        if !self.errored_redelivered {
            d.push("SETs reported in setErrs are not redelivered".into());
        }
        match self.dialect {
            Dialect::Obie => {}
            Dialect::Wso2 => d.push("WSO2 Event Creation API mounted".into()),
            Dialect::Yapily => {
                d.push("Yapily-style notification API and signed webhooks mounted".into())
            }
            Dialect::Tatra => d.push(
                "Tatra-banka-style webhook settings, consents, refresh and webhooks mounted".into(),
            ),
        }
        d
    }
}
