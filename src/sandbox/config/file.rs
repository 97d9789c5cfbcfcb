//! The config file's TOML shape, section by section, exactly as the README documents it. Unknown
//! keys are errors (`deny_unknown_fields`), so a typo never silently falls back to a default;
//! the values are checked when [`super::SandboxConfig`] is built from them.

use serde::Deserialize;

use crate::sandbox::tls::TlsFile;

/// The config file, field by field as documented in the README. Unknown keys are errors so a
/// typo never silently falls back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub bank: Option<String>,
    pub public_url: Option<String>,
    pub issuer: Option<String>,
    pub org_id: Option<String>,
    pub trust_anchor: Option<String>,
    pub token_ttl_secs: Option<u64>,
    pub long_poll_timeout_ms: Option<u64>,
    pub max_events_cap: Option<usize>,
    pub require_request_signatures: Option<bool>,
    pub open_registration: Option<bool>,
    pub body_limit_bytes: Option<usize>,
    #[serde(default)]
    pub faults: Vec<String>,
    pub admin: Option<AdminFile>,
    #[serde(default)]
    pub clients: Vec<ClientFile>,
    pub push: Option<PushFile>,
    pub header_read_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub max_connections: Option<usize>,
    pub listen_backlog: Option<u32>,
    pub tls: Option<TlsFile>,
    pub tatra: Option<TatraFile>,
    pub server: Option<ServerFile>,
}

/// `[server]`: where the sandbox listens, its database and its log filter — what an operator
/// sets once for a deployment; the command line's `--addr`, `--db` and `--log` win over it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub addr: Option<String>,
    pub db: Option<String>,
    pub log: Option<String>,
    /// The same as the top-level `public_url`, kept beside the address it goes with.
    pub public_url: Option<String>,
}

/// `[tatra]`: the Tatra-style personality's activation rule and refresh timing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TatraFile {
    /// `next-hour` (default, the seed's rule) or `immediate`.
    pub activation: Option<String>,
    pub refresh_delay_ms: Option<u64>,
}

/// `tatra_webhook = { enabled, url, security_header }` of a `[[clients]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TatraWebhookFile {
    pub enabled: bool,
    pub url: Option<String>,
    pub security_header: Option<String>,
}

/// `[push]`: the retry policy of real-time push and where pushes may go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushFile {
    /// Delay before each retry, in milliseconds; its length is the number of retries.
    pub retry_schedule_ms: Option<Vec<u64>>,
    pub request_timeout_ms: Option<u64>,
    pub max_interval_secs: Option<u64>,
    pub allow_private_networks: Option<bool>,
    pub concurrency: Option<usize>,
    pub per_destination: Option<usize>,
}

/// `[admin]`: Basic-auth credentials of the WSO2-style Event Creation API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    pub username: String,
    pub password: String,
}

/// `[[clients]]`: a TPP client seeded at start so CI jobs can use fixed credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    pub client_id: String,
    pub client_secret: String,
    pub client_name: Option<String>,
    pub scope: Option<String>,
    /// The client's public JWKS, inline (`jwks = { keys = [...] }`) …
    pub jwks: Option<toml::Value>,
    /// … or from a file.
    pub jwks_file: Option<String>,
    /// Tatra-style webhook settings, active from the start.
    pub tatra_webhook: Option<TatraWebhookFile>,
}
