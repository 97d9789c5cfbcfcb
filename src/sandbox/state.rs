//! The shared handles of a running sandbox — the store, the validated configuration, the keys,
//! the wake-up signals, the per-replica auth guards and the metrics — and nothing that acts on
//! them. Every service (the authorisation server, event raising, push, each dialect's
//! operations) takes an `&AppState`; this module depends on none of them, so none of them forms
//! a cycle through it.
//! The assembly module, `app`, builds it.

use std::ops::Deref;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::admin::AdminCredential;
use super::behaviours::{Behaviours, Throttle};
use super::config::SandboxConfig;
use super::domain::ClientId;
use super::faults::{Fault, Faults};
use super::limits::{AuthFailures, TokenCache};
use super::metrics::Metrics;
use super::notify::Notifier;
use super::store::group::GroupCommit;
use super::store::{Store, StoreError};
use super::tpp_faults::FaultCache;
use crate::jose::{JoseError, ObHeader, SigningKey};

/// Shared state of a running sandbox; cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct AppState(pub(super) Arc<Inner>);

/// What every request may need. Immutable after start except through `store` and `notifier`.
#[derive(Debug)]
pub struct Inner {
    pub store: Store,
    pub cfg: SandboxConfig,
    /// Base URL for `Links`, `rlk` and discovery (no trailing slash).
    pub base_url: String,
    /// `iss` of SETs and tokens.
    pub issuer: String,
    /// The bank's signing key, persisted so its `kid` survives restarts.
    pub key: SigningKey,
    /// A key that is never published, used only by the `set-foreign-key` and
    /// `yapily-foreign-key` faults: made at start when the sandbox has one of them, else
    /// when a TPP that chose one first needs it ([`AppState::foreign_key`]).
    pub foreign_key: std::sync::OnceLock<SigningKey>,
    /// Public keys published in the JWKS beside `key`: the keys a referee bank rotates to
    /// while it judges a TPP (`embedded::KeyPublisher`). Empty for a sandbox.
    pub published_keys: std::sync::RwLock<Vec<josekit::jwk::Jwk>>,
    pub ob_header: ObHeader,
    /// HMAC secret of access tokens, persisted so tokens survive restarts.
    pub token_secret: Vec<u8>,
    /// The operator's credential (sandbox helpers for any TPP, WSO2 Event Creation API).
    pub admin: AdminCredential,
    /// A password generated at this start, until `run` has shown it once (only its digest is
    /// stored); an in-process sandbox never shows it.
    pub admin_to_show: std::sync::Mutex<Option<String>>,
    pub notifier: Notifier,
    /// The group commit the hot writes go through (triggers, push attempts): see
    /// `store::group`.
    pub writes: GroupCommit,
    /// Failed client authentications at `/token`, per client id (rate limit).
    pub auth_failures: AuthFailures,
    /// Failed attempts at the admin credential (its own budget: one key).
    pub admin_failures: AuthFailures,
    /// Wakes the push worker: a delivery was stored or made due.
    pub push_wake: tokio::sync::Notify,
    /// Access tokens verified so far (see `auth::validate_token`).
    pub tokens: TokenCache,
    /// Each TPP's effective faults (the sandbox's and its own choice), cached briefly.
    pub tpp_faults: FaultCache,
    /// Per-TPP poll times of the `throttle-429` behaviour.
    pub throttle: Throttle,
    /// What `/metrics` reports; every service counts through it.
    pub metrics: Metrics,
    /// Permits for the portal's live-update streams (`sandbox::portal::live`), so open browser
    /// tabs cannot hold unbounded connections and queries.
    pub live_streams: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the sandbox stops: ends the server and answers held long polls at once.
    pub shutdown: CancellationToken,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// `base_url` + `/open-banking/v3.1` + `path`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}/open-banking/v3.1{path}", self.base_url)
    }

    /// Whether the whole sandbox has fault `f` (`--fault`): only for the faults no TPP can
    /// choose, asked where no TPP is known yet (the middleware). Where the TPP is known, ask
    /// its effective set ([`faults_for`](Self::faults_for)) instead.
    pub fn has_global_fault(&self, f: Fault) -> bool {
        debug_assert!(!f.per_tpp(), "{f} is per TPP: ask faults_for(client)");
        self.cfg.faults.has(f)
    }

    /// The faults in effect for `client_id`'s traffic and events: the sandbox's united with
    /// those the TPP chose (`/sandbox/faults`). Resolved once per request, per event built or
    /// per delivery attempt; cached per replica for `FaultCache::TTL`.
    pub async fn faults_for(&self, client_id: &ClientId) -> Result<Arc<Faults>, StoreError> {
        self.tpp_faults
            .effective(&self.store, &self.cfg.faults, client_id)
            .await
    }

    /// [`AppState::faults_for`] with the practice behaviours `client_id` chose (`behaviours`),
    /// in one look at the cache (a poll needs both).
    pub async fn choices_for(
        &self,
        client_id: &ClientId,
    ) -> Result<(Arc<Faults>, Behaviours), StoreError> {
        self.tpp_faults
            .choices(&self.store, &self.cfg.faults, client_id)
            .await
    }

    /// The unpublished key of the foreign-key faults, made on first use (once per process).
    pub fn foreign_key(&self) -> Result<&SigningKey, JoseError> {
        if let Some(k) = self.foreign_key.get() {
            return Ok(k);
        }
        let made = SigningKey::for_process(crate::jose::KeyRole::Unpublished)?;
        Ok(self.foreign_key.get_or_init(|| made))
    }
}
