//! The profile file as written: every section and field, all optional where the README says
//! so; unknown fields are refused so a typo names itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub name: Option<String>,
    pub spec_version: Option<String>,
    /// `obie` (default) or `rfc8936`.
    pub conformance: Option<String>,
    /// `obie` (default), `yapily` or `tatra`: which notification API the target speaks.
    pub dialect: Option<String>,
    /// The Yapily-style notification API (with `dialect = "yapily"`).
    pub yapily: Option<YapilyFile>,
    /// The Tatra-banka-style webhooks (with `dialect = "tatra"`).
    pub tatra: Option<TatraFile>,
    pub target: TargetFile,
    #[serde(default)]
    pub tpp: Vec<TppFile>,
    pub registration: Option<RegistrationFile>,
    pub request_signing: Option<SigningFile>,
    pub trigger: Option<TriggerFile>,
    /// How to subscribe a TPP at a bank without a subscription API (same shape as `[trigger]`).
    pub subscribe: Option<TriggerFile>,
    /// How to unsubscribe it again.
    pub unsubscribe: Option<TriggerFile>,
    #[serde(default)]
    pub bank: BankFile,
    #[serde(default)]
    pub timing: TimingFile,
    /// Real-time push: the bank's declared policy and the harness's receiver.
    #[serde(default)]
    pub push: PushFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    pub base_url: String,
    pub api_base: Option<String>,
    pub events_path: Option<String>,
    pub subscriptions_path: Option<String>,
    pub callback_urls_path: Option<String>,
    pub token_endpoint: Option<String>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub ob_iss: Option<String>,
    pub trust_anchor: Option<String>,
    pub alg: Option<String>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub accept_invalid_certs: bool,
    pub request_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TppFile {
    pub name: Option<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub access_token: Option<String>,
    pub auth_method: Option<String>,
    pub private_key: Option<PathBuf>,
    pub key_id: Option<String>,
    pub aud: Option<String>,
    pub events_scope: Option<String>,
    pub polling_scope: Option<String>,
    pub restricted_scope: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationFile {
    pub endpoint: String,
    pub scope: Option<String>,
    pub restricted_scope: Option<String>,
    pub auth_method: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningFile {
    pub private_key: Option<PathBuf>,
    pub key_id: Option<String>,
    pub iss: Option<String>,
    pub tan: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerFile {
    pub kind: String,
    pub method: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub auth: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub expect_status: Option<Vec<u16>>,
    pub jti_pointer: Option<String>,
    pub command: Option<Vec<String>>,
    pub prompt: Option<String>,
    pub resource_type: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// What `{event_type}` is for each event type (by its name in the profile).
    #[serde(default)]
    pub event_type_values: BTreeMap<String, String>,
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankFile {
    pub polling: Option<bool>,
    pub subscription_api: Option<bool>,
    pub long_polling: Option<String>,
    pub long_poll_timeout_ms: Option<u64>,
    pub max_events_cap: Option<u64>,
    pub above_cap: Option<String>,
    pub default_batch: Option<u64>,
    pub unknown_ack: Option<String>,
    pub poll_success_status: Option<Vec<u16>>,
    pub errored_redelivered: Option<bool>,
    pub event_types: Option<Vec<String>>,
    /// The `events` member (URI) of SETs of each of the bank's own types named without one.
    #[serde(default)]
    pub event_type_urns: BTreeMap<String, String>,
    pub subscription_version: Option<String>,
    pub callback_urls: Option<bool>,
    pub realtime: Option<bool>,
    pub request_signatures: Option<String>,
    pub response_signatures: Option<bool>,
    pub more_available_required: Option<bool>,
    pub oldest_first: Option<bool>,
    pub answers_awaiting_at_once: Option<bool>,
    pub redelivers_unacked: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingFile {
    pub event_timeout_ms: Option<u64>,
    pub poll_interval_ms: Option<u64>,
    pub clock_skew_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushFile {
    pub receiver_listen: Option<String>,
    pub receiver_public_url: Option<String>,
    pub receiver_tls_cert: Option<PathBuf>,
    pub receiver_tls_key: Option<PathBuf>,
    pub retry_schedule_ms: Option<Vec<u64>>,
    pub min_retry_delay_ms: Option<u64>,
    pub max_retry_delay_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    /// The last delay of `retry_schedule_ms` repeats until `max_attempts`.
    pub repeat_last: Option<bool>,
    /// What retries already scheduled do when the subscription is deleted or its URL removed
    /// or changed: `cancel`, `keep` or `follow`.
    pub pending_retries: Option<String>,
    pub retries_4xx: Option<bool>,
    pub catch_up_polling: Option<bool>,
    pub accepts_http_callbacks: Option<bool>,
    pub request_timeout_ms: Option<u64>,
    pub first_push_timeout_ms: Option<u64>,
    pub quiet_period_ms: Option<u64>,
    pub tolerance_percent: Option<u32>,
    pub timing_slack_ms: Option<u64>,
    /// `subscription` (the CallbackUrl of the event subscription, default) or `stream` (an
    /// SSF-style stream configuration call).
    pub registration: Option<String>,
    /// With `registration = "stream"`: creates a stream delivering to `{endpoint_url}`.
    pub stream: Option<TriggerFile>,
    /// Points stream `{stream_id}` at another `{endpoint_url}`.
    pub stream_update: Option<TriggerFile>,
    /// Deletes stream `{stream_id}`.
    pub stream_delete: Option<TriggerFile>,
    /// JSON pointer to the stream id in the create call's answer [`/stream_id`].
    pub stream_id_pointer: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YapilyFile {
    pub subscriptions_path: Option<String>,
    pub event_types: Option<Vec<String>>,
}

/// `[tatra]`: how the harness drives a Tatra-banka-style bank. The actions have the shape of
/// `[trigger]` (http template, command or manual).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TatraFile {
    /// Bank code of the bank's own accounts (`TATR`): transactionEvents are about these,
    /// accountEvents about every other bank's.
    pub home_bank: Option<String>,
    /// `next-hour` (the seed's rule, default) or `immediate`.
    pub activation: Option<String>,
    /// The fixed applications' webhooks were enabled over an hour ago and stay enabled: the
    /// harness only changes their URL and header.
    pub already_active: Option<bool>,
    /// A flat body names its kind in this field; absent: `{"<kind>": {…}}`.
    pub kind_field: Option<String>,
    pub consent_id_pointer: Option<String>,
    pub accounts_pointer: Option<String>,
    pub task_id_pointer: Option<String>,
    /// How long the accountEvents of one refresh may take to arrive.
    pub refresh_timeout_ms: Option<u64>,
    /// Applies the webhook settings: `{enabled}`, `{webhook_url}`, `{security_header}`.
    pub settings: Option<TriggerFile>,
    /// Makes enabled settings active at once (a sandbox helper).
    pub activate: Option<TriggerFile>,
    /// Creates a consent with accounts at several banks.
    pub consent: Option<TriggerFile>,
    /// Starts a refresh of `{consent_id}`; answers the taskId.
    pub refresh: Option<TriggerFile>,
}
