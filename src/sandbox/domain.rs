//! Domain records of the sandbox: what the store keeps and the services act on. No I/O here.

use serde::Serialize;

use crate::model::EventType;

/// A registered TPP client (sandbox DCR or seeded from config).
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    /// SHA-256 of the secret, hex: the secret itself is shown once at registration.
    pub secret_hash: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    /// The client's JWKS (JSON), used to verify its `x-jws-signature` (G-14).
    pub jwks: Option<String>,
    pub created_at: i64,
}

/// An event subscription (one per client unless a fault allows more, ES-03).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub client_id: String,
    pub version: String,
    pub callback_url: Option<String>,
    /// As the TPP sent them (code or URN spelling); `None` means every supported type (ES-07).
    pub event_types: Option<Vec<String>>,
    pub created_at: i64,
}

impl Subscription {
    /// N-11/ES-06: does this subscription ask for `t`? Version 3.1.1 means resource-update only.
    pub fn wants(&self, t: EventType) -> bool {
        if self.version == "3.1.1" && t != EventType::ResourceUpdate {
            return false;
        }
        match &self.event_types {
            None => true,
            Some(types) => types.iter().any(|s| EventType::parse(s) == Some(t)),
        }
    }
}

/// A legacy callback-url registration (CB-02).
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackUrl {
    pub id: String,
    pub client_id: String,
    pub url: String,
    pub version: String,
    pub created_at: i64,
}

/// Status of an account-access-consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConsentStatus {
    AwaitingAuthorisation,
    Authorised,
    Rejected,
    Revoked,
}

impl ConsentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::AwaitingAuthorisation => "AwaitingAuthorisation",
            ConsentStatus::Authorised => "Authorised",
            ConsentStatus::Rejected => "Rejected",
            ConsentStatus::Revoked => "Revoked",
        }
    }
    pub fn parse(s: &str) -> Option<ConsentStatus> {
        [
            ConsentStatus::AwaitingAuthorisation,
            ConsentStatus::Authorised,
            ConsentStatus::Rejected,
            ConsentStatus::Revoked,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// An AIS account-access-consent: enough to own the resources events refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    pub consent_id: String,
    pub client_id: String,
    pub status: ConsentStatus,
    pub permissions: Vec<String>,
    pub expiration: Option<String>,
    pub transaction_from: Option<String>,
    pub transaction_to: Option<String>,
    pub created_at: String,
    pub status_updated_at: String,
}

/// A SET ready to store: built and signed once when the event happened.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The key the SET is served under in `sets` (normally its `jti` claim).
    pub jti: String,
    pub client_id: String,
    pub event_type: String,
    pub resource_id: String,
    pub resource_type: String,
    pub token: String,
    pub created_at: i64,
}

/// Delivery state of a stored SET (AP-09, AP-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    Awaiting,
    Acknowledged,
    /// Reported in `setErrs` by a personality that does not redeliver errored SETs.
    Dropped,
}

impl EventState {
    pub fn code(self) -> i64 {
        match self {
            EventState::Awaiting => 0,
            EventState::Acknowledged => 1,
            EventState::Dropped => 2,
        }
    }
    pub fn from_code(c: i64) -> EventState {
        match c {
            1 => EventState::Acknowledged,
            2 => EventState::Dropped,
            _ => EventState::Awaiting,
        }
    }
}

/// A stored SET as the sandbox's inspection endpoint shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub jti: String,
    pub client_id: String,
    pub event_type: String,
    pub resource_id: String,
    pub resource_type: String,
    pub state: EventState,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err_description: Option<String>,
}

/// What one poll asks the store to do, in order: acks, then errors, then choose a batch.
#[derive(Debug, Clone, Default)]
pub struct PollOps<'a> {
    /// The polling TPP.
    pub client_id: &'a str,
    /// False only when a fault lets acks release any TPP's SETs.
    pub scope_acks: bool,
    pub ack: &'a [String],
    pub set_errs: &'a [(String, String, String)],
    /// Whether errored SETs leave the awaiting set.
    pub drop_errored: bool,
    /// False only when a fault leaks every TPP's SETs into this poll.
    pub scope_select: bool,
    /// How many SETs to return at most; 0 means acknowledge only.
    pub limit: usize,
}

/// The chosen batch: `(key, token)` oldest first, and whether awaiting SETs were left out.
#[derive(Debug, Clone, Default)]
pub struct PollBatch {
    pub sets: Vec<(String, String)>,
    pub more_available: bool,
}
