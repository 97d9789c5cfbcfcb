//! Domain records of the sandbox: what the store keeps and the services act on. No I/O here.
//! Ids are typed by kind ([`ids`]) and every time is a [`Timestamp`] ([`timestamp`]); the store
//! and the renderers convert both to what their columns and wire fields have always held.

pub mod bounds;
pub mod ids;
pub mod timestamp;

use serde::Serialize;

pub use self::bounds::{Bound, BoundReached, TppBounds};
pub use self::ids::{
    CallbackUrlId, ClientId, ConsentId, DeliveryId, EventId, SubscriptionId, TaskId,
};
pub use self::timestamp::Timestamp;
pub use crate::model::Dialect;
use crate::model::EventType;

/// A registered TPP client (sandbox DCR or seeded from config).
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: ClientId,
    /// SHA-256 of the secret, hex: the secret itself is shown once at registration.
    pub secret_hash: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    /// The client's JWKS (JSON), used to verify its `x-jws-signature` (G-14).
    pub jwks: Option<String>,
    pub created_at: Timestamp,
    /// Seeded from `[[clients]]` in the config (removed again when the entry goes), rather
    /// than registered through `/register`.
    pub seeded: bool,
    /// The registered `token_endpoint_auth_method`; the certificate methods are enforced.
    pub auth_method: String,
    /// `tls_client_auth_subject_dn` of a `tls_client_auth` client (RFC 8705 §2.1.2).
    pub tls_subject_dn: Option<String>,
}

/// An authenticated TPP, as access-token validation yields it.
#[derive(Debug, Clone)]
pub struct Tpp {
    pub client_id: ClientId,
    pub scopes: Vec<String>,
    /// The `x5t#S256` the token is bound to (RFC 8705 §3), if it was issued over mTLS.
    pub cnf: Option<String>,
}

impl Tpp {
    pub fn has_any_scope(&self, wanted: &[&str]) -> bool {
        self.scopes.iter().any(|s| wanted.contains(&s.as_str()))
    }
}

/// An event subscription (one per client unless a fault allows more, ES-03).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub client_id: ClientId,
    pub version: String,
    pub callback_url: Option<String>,
    /// As the TPP sent them (code or URN spelling); `None` means every supported type (ES-07).
    pub event_types: Option<Vec<String>>,
    pub created_at: Timestamp,
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
    pub id: CallbackUrlId,
    pub client_id: ClientId,
    pub url: String,
    pub version: String,
    pub created_at: Timestamp,
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
    pub consent_id: ConsentId,
    pub client_id: ClientId,
    pub status: ConsentStatus,
    pub permissions: Vec<String>,
    pub expiration: Option<String>,
    pub transaction_from: Option<String>,
    pub transaction_to: Option<String>,
    pub created_at: Timestamp,
    pub status_updated_at: Timestamp,
}

/// An event ready to store: what happened, independent of any wire format, with the OBIE SET
/// built and signed once when it happened (DESIGN.md §3, "one event, several deliveries").
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The event's own id (the SET's `jti` claim).
    pub event_id: EventId,
    /// The key the SET is served under in `sets`: the `jti` unless a fault bends it.
    pub jti: String,
    pub client_id: ClientId,
    pub event_type: String,
    /// Subject: the resource the event is about, with its links per API version (N-05).
    pub resource_id: String,
    pub resource_type: String,
    pub resource_links: Vec<ResourceLink>,
    /// Interaction id of the call that caused the change (N-03).
    pub txn: Option<String>,
    /// Time of event (the SET's `toe`, whole seconds on the wire).
    pub toe: Timestamp,
    pub details: EventDetails,
    /// The signed OBIE SET, or `None` for an event no OBIE TPP receives.
    pub token: Option<String>,
    /// Whether the SET enters the polling queue (the TPP has an event subscription, AP-03).
    pub poll: bool,
    pub created_at: Timestamp,
    /// Push destinations that want this event, written in the same transaction.
    pub deliveries: Vec<NewDelivery>,
}

impl NewEvent {
    /// An event of a JSON webhook dialect (Yapily, Tatra): `body` is the wire body, fixed now so
    /// every attempt sends the same bytes; it never enters the polling queue (`poll: false`).
    pub fn webhook(
        id: EventId,
        client_id: &ClientId,
        event_type: &str,
        (resource_id, resource_type): (&str, &str),
        body: String,
        deliveries: Vec<NewDelivery>,
    ) -> NewEvent {
        let now = Timestamp::now();
        NewEvent {
            jti: id.to_string(),
            event_id: id,
            client_id: client_id.clone(),
            event_type: event_type.into(),
            resource_id: resource_id.into(),
            resource_type: resource_type.into(),
            resource_links: Vec::new(),
            txn: None,
            toe: now,
            details: EventDetails::default(),
            token: Some(body),
            poll: false,
            created_at: now,
            deliveries,
        }
    }
}

/// One `rlk` entry of an event's subject: the resource's URL in one API version.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ResourceLink {
    pub version: String,
    pub link: String,
}

/// Event details beyond the subject, kept as data (JSON in the store), never as wire JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct EventDetails {
    /// N-07: the reason of a linked-account-update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A push destination for an event: the wire format and the URL, first attempt due at once.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub format: Dialect,
    pub url: String,
    /// When the first attempt is due.
    pub next_attempt_at: Timestamp,
}

impl NewDelivery {
    /// One delivery in `format` to each of `urls`, first attempt due at `at`.
    pub fn to_each(
        format: Dialect,
        urls: impl IntoIterator<Item = String>,
        at: Timestamp,
    ) -> Vec<NewDelivery> {
        urls.into_iter()
            .map(|url| NewDelivery {
                id: DeliveryId::random(),
                format,
                url,
                next_attempt_at: at,
            })
            .collect()
    }
}

/// One push request, ready to send: what a dialect's wire format makes of a due delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Wire {
    pub url: String,
    pub headers: Vec<(axum::http::HeaderName, String)>,
    pub body: Vec<u8>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// No more attempts: refused, not retryable, or out of retries or time.
    Failed,
    /// Stopped before it finished: the subscription or its CallbackUrl went away.
    Cancelled,
}

/// A delivery due now, with what the worker needs to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub id: DeliveryId,
    pub client_id: ClientId,
    pub format: Dialect,
    pub url: String,
    /// The number of the attempt the claim started (1 = first try).
    pub attempt: i64,
    pub event_seq: i64,
    /// When the delivery was created: the start of its maximum interval.
    pub created_at: Timestamp,
    /// The stored SET, for the OBIE format.
    pub token: Option<String>,
    /// When the claim started the attempt (its row says so while it is in flight; its
    /// outcome records when it was sent).
    pub started_at: Timestamp,
    /// Sent as `x-fapi-interaction-id` and kept on the attempt row.
    pub interaction_id: String,
}

/// The outcome of one try, as its attempt row keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub attempt: i64,
    /// Unix milliseconds on the wire.
    #[serde(with = "timestamp::millis")]
    pub started_at: Timestamp,
    pub latency_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interaction_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_excerpt: Option<String>,
    /// A deviation of the TPP's answer worth knowing (e.g. 200 where R-05 asks for 202).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Sent, outcome not yet recorded (shown as `"inFlight": true`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_flight: bool,
}

/// What an attempt cut by a crash (or a lease that ran out) shows as its error.
pub const INTERRUPTED: &str = "interrupted: the sandbox stopped during this attempt, so whether the TPP received it is unknown";

/// What became of a request to retry a delivery now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Made due now.
    Due,
    /// The TPP acknowledged it already: nothing to send again.
    Delivered,
    /// An attempt is being made right now.
    InFlight,
    /// No such delivery of that client.
    Unknown,
}

/// What the worker decided after an attempt: the delivery's next state, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttemptVerdict {
    Delivered,
    RetryAt(Timestamp),
    Failed,
}

impl AttemptVerdict {
    /// The delivery's state after the attempt, and when it is due again (pending only).
    pub fn next_state(self) -> (DeliveryState, Option<Timestamp>) {
        match self {
            AttemptVerdict::Delivered => (DeliveryState::Delivered, None),
            AttemptVerdict::RetryAt(at) => (DeliveryState::Pending, Some(at)),
            AttemptVerdict::Failed => (DeliveryState::Failed, None),
        }
    }
}

/// A delivery with its attempts, as the TPP's inspection endpoint shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub event_type: String,
    pub format: Dialect,
    pub url: String,
    pub state: DeliveryState,
    /// Unix milliseconds on the wire, like every time of a delivery.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "timestamp::opt_millis::serialize"
    )]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(with = "timestamp::millis")]
    pub created_at: Timestamp,
    pub attempts: Vec<Attempt>,
}

/// A consent status change that a trigger commits together with the event it raises.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentStatusChange {
    pub consent_id: ConsentId,
    /// The status the consent must still be in: the change (and the trigger's events) is
    /// stored only if it is, so two racing requests cannot both make it.
    pub from: ConsentStatus,
    pub status: ConsentStatus,
    pub at: Timestamp,
}

/// Delivery state of a stored SET (AP-09, AP-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    Awaiting,
    Acknowledged,
    /// Reported in `setErrs` by a personality that does not redeliver errored SETs.
    Dropped,
    /// Never entered the polling queue: an event without an OBIE SET, delivered by push only.
    NotQueued,
}

/// A stored SET as the sandbox's inspection endpoint shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub jti: String,
    pub client_id: ClientId,
    pub event_type: String,
    pub resource_id: String,
    pub resource_type: String,
    pub state: EventState,
    /// Whole unix seconds on the wire, as the events table keeps it.
    #[serde(with = "timestamp::secs")]
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err_description: Option<String>,
    /// The event's own id (the SET's `jti` claim; deliveries name it). Not on the wire of
    /// `/sandbox/events`, which has always keyed events by `jti` alone.
    #[serde(skip)]
    pub event_id: EventId,
    /// The stored compact JWS (`None` for an event no OBIE TPP receives), for the portal.
    #[serde(skip)]
    pub token: Option<String>,
}

/// What one poll asks the store to do, in order: acks, then errors, then choose a batch.
#[derive(Debug, Clone)]
pub struct PollOps<'a> {
    /// The polling TPP.
    pub client_id: &'a ClientId,
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

/// A Yapily-style subscription: one application wants one event type at one webhook URL
/// (YA-03: one per application and event type).
#[derive(Debug, Clone, PartialEq)]
pub struct YapilySubscription {
    pub id: SubscriptionId,
    /// The application: a registered or configured client.
    pub client_id: ClientId,
    /// The dotted id the application subscribed with (`payment.status.completed`).
    pub event_type_id: String,
    pub url: String,
    pub created_at: Timestamp,
    /// Deleted, but kept by the `yapily-after-delete` fault.
    pub deleted: bool,
}

/// A Tatra-style application's webhook settings (TB-01..TB-04): one row per application.
#[derive(Debug, Clone, PartialEq)]
pub struct TatraSettings {
    pub client_id: ClientId,
    pub enabled: bool,
    /// Kept when webhooks are disabled, so re-enabling without a url reuses it.
    pub url: Option<String>,
    /// Sent as `Authorization` exactly, when not empty.
    pub security_header: String,
    /// From when events are sent; `None` while disabled.
    pub active_from: Option<Timestamp>,
}

impl TatraSettings {
    /// Webhooks enabled and active at `now`.
    pub fn active_at(&self, now: Timestamp) -> bool {
        self.enabled && self.active_from.is_some_and(|from| now >= from)
    }
}

/// One account of a Tatra-style consent, at the home bank or another one.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TatraAccount {
    pub account_id: String,
    pub bank_code: String,
    pub iban: String,
}

/// A Tatra-style Premium API consent, owned by one application.
#[derive(Debug, Clone, PartialEq)]
pub struct TatraConsent {
    pub id: ConsentId,
    pub client_id: ClientId,
    pub accounts: Vec<TatraAccount>,
    pub created_at: Timestamp,
}

/// One bank of a refresh task and when it finishes (unix ms in the task's JSON column).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TatraTaskBank {
    pub bank_code: String,
    #[serde(with = "timestamp::millis")]
    pub finish_at: Timestamp,
}

/// A `PUT /refresh` task: its banks finish one after another.
#[derive(Debug, Clone, PartialEq)]
pub struct TatraTask {
    pub id: TaskId,
    pub client_id: ClientId,
    pub consent_id: ConsentId,
    pub banks: Vec<TatraTaskBank>,
    pub created_at: Timestamp,
}

/// A bank fault a TPP chose for its own client (`/sandbox/faults`), as the store keeps it: the
/// fault by its name, which `sandbox::tpp_faults` parses (a name this binary does not know,
/// stored by a newer one, is left out there).
#[derive(Debug, Clone, PartialEq)]
pub struct ChosenFault {
    pub client_id: ClientId,
    pub fault: String,
    pub created_at: Timestamp,
}

/// The last TPP-side referee run a TPP published (`referee_runs`): its summary as JSON text,
/// checked and re-serialised by `sandbox::referee_runs` before it was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRefereeRun {
    pub client_id: ClientId,
    pub received_at: Timestamp,
    pub summary: String,
}
