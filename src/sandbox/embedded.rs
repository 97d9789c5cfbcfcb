//! The sandbox as the harness sees it: the one public entry point `obevents test` uses to start
//! an in-process sandbox, and the [`Declaration`] of what its personality documents, so the
//! harness builds its profile from `model` types and never reaches into sandbox internals.

pub mod webhooks;

use std::time::Duration;

use super::config::SeedClient;
use super::tls::dev::DevPki;
use super::tls::{ClientAuthMode, TlsConfig, TlsPem};
use super::{Faults, Sandbox, SandboxConfig};

pub use super::{Bank, Fault};

/// What the sandbox keeps of one text of a published referee run (the harness cuts to it).
pub use super::referee_runs::MAX_TEXT as REFEREE_RUN_MAX_TEXT;

/// Certificate helpers a TPP client needs to register for RFC 8705 client authentication.
pub use super::tls::cert::{certificate_jwk, subject_dn};
use crate::model::bank::{AboveCap, Declaration};

/// Long-poll hold of the embedded sandbox: long enough to tell a hold from an immediate
/// answer, short enough for a quick run.
const LONG_POLL: Duration = Duration::from_millis(1000);

/// Per-bank refresh delay of the embedded Tatra-style sandbox: long enough to tell the banks'
/// events apart in time, short enough for a quick run. Activation stays the seed's next full
/// hour; the harness activates through the sandbox helper.
const TATRA_REFRESH_DELAY: Duration = Duration::from_millis(150);

/// What a sandbox started with `cfg` documents about itself.
pub fn declaration(cfg: &SandboxConfig) -> Declaration {
    let p = &cfg.personality;
    let (max_events_cap, above_cap) = match p.max_events_limit {
        Some(limit) => (limit as u64, AboveCap::Reject),
        None => (cfg.max_events_cap as u64, AboveCap::Truncate),
    };
    Declaration {
        name: p.bank.name().to_string(),
        spec_version: p.spec_version,
        long_polling: p.long_polling,
        long_poll_timeout: cfg.long_poll_timeout,
        max_events_cap,
        above_cap,
        default_batch: p.default_batch.map(|n| n as u64),
        unknown_ack: p.unknown_ack,
        poll_status: p.poll_status.as_u16(),
        errored_redelivered: p.errored_redelivered,
        event_types: p.event_types.to_vec(),
        signatures_required: cfg.require_request_signatures,
        push: Some(cfg.push.declaration()),
    }
}

/// An in-process sandbox started by [`start`].
pub struct Embedded {
    sandbox: Sandbox,
    declaration: Declaration,
}

impl Embedded {
    /// `http://ADDR` of the running sandbox.
    pub fn url(&self) -> String {
        self.sandbox.url()
    }

    /// What the running sandbox documents about itself.
    pub fn declaration(&self) -> &Declaration {
        &self.declaration
    }

    /// The `iss` of the sandbox's SETs.
    pub fn issuer(&self) -> &str {
        &self.sandbox.state.issuer
    }

    /// The key the sandbox signs SETs with (its public half is at `/jwks`): a referee bank
    /// signs the SETs it makes up for a TPP with it.
    pub fn signing_key(&self) -> &crate::jose::SigningKey {
        &self.sandbox.state.key
    }

    /// The OB private header members of its signatures (J-05).
    pub fn ob_header(&self) -> &crate::jose::ObHeader {
        &self.sandbox.state.ob_header
    }

    /// A handle that publishes more keys in the sandbox's JWKS while it runs.
    pub fn key_publisher(&self) -> KeyPublisher {
        KeyPublisher(self.sandbox.state.clone())
    }

    /// Stops the sandbox and waits for it to end.
    pub async fn stop(self) {
        self.sandbox.stop().await;
    }
}

fn config(bank: Option<Bank>, faults: &[Fault]) -> SandboxConfig {
    let mut cfg = SandboxConfig::for_bank(bank.unwrap_or(Bank::Obie));
    cfg.faults = Faults::new(faults.iter().copied());
    cfg.long_poll_timeout = LONG_POLL;
    cfg.require_request_signatures = true;
    cfg.push = super::config::PushConfig::quick();
    cfg.tatra.refresh_delay = TATRA_REFRESH_DELAY;
    cfg
}

async fn launch(cfg: SandboxConfig) -> anyhow::Result<Embedded> {
    let declaration = declaration(&cfg);
    let sandbox = Sandbox::start(cfg, ":memory:", ([127, 0, 0, 1], 0).into()).await?;
    Ok(Embedded {
        sandbox,
        declaration,
    })
}

/// Starts the sandbox of `obevents test` without a profile: personality `bank` (default
/// `obie`) with `faults`, an in-memory database on a free 127.0.0.1 port, a 1 s long-poll hold,
/// required request signatures, a quick push retry schedule and (Tatra) a 150 ms refresh
/// delay per bank with activation at the next full hour.
pub async fn start(bank: Option<Bank>, faults: &[Fault]) -> anyhow::Result<Embedded> {
    launch(config(bank, faults)).await
}

/// Publishes public keys in a running sandbox's JWKS (`/jwks`) beside its signing key: a
/// referee bank rotates to a new key this way, to see whether a TPP refreshes its copy.
#[derive(Clone)]
pub struct KeyPublisher(super::AppState);

impl std::fmt::Debug for KeyPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPublisher")
    }
}

impl KeyPublisher {
    pub fn publish(&self, jwk: &josekit::jwk::Jwk) {
        if let Ok(mut keys) = self.0.published_keys.write() {
            keys.push(jwk.clone());
        }
    }
}

/// A TPP client a referee bank knows from its start (`client_id`, `client_secret`).
pub struct RefereeClient {
    pub client_id: String,
    pub client_secret: String,
}

/// Starts a **referee bank** for judging a TPP: the OBIE sandbox on `addr` (port 0 picks a
/// free one) with an in-memory database, its SETs issued as `issuer` (default: its URL), and
/// `clients` seeded with every API scope.
pub async fn start_referee(
    addr: std::net::SocketAddr,
    issuer: Option<String>,
    clients: &[RefereeClient],
) -> anyhow::Result<Embedded> {
    let mut cfg = config(Some(Bank::Obie), &[]);
    cfg.issuer = issuer;
    cfg.clients = clients
        .iter()
        .map(|c| SeedClient {
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            client_name: format!("refereed TPP {}", c.client_id),
            scopes: super::config::DEFAULT_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            jwks: None,
            tatra_webhook: None,
        })
        .collect();
    let declaration = declaration(&cfg);
    let sandbox = Sandbox::start(cfg, ":memory:", addr).await?;
    Ok(Embedded {
        sandbox,
        declaration,
    })
}

/// The client side of [`start_mtls`]: the TPP's certificate and key (PEM) and the CA that
/// issued the sandbox's server certificate.
pub struct MtlsClient {
    pub identity_pem: Vec<u8>,
    pub ca_pem: Vec<u8>,
}

/// Like [`start`], over HTTPS with client certificates required, with a throwaway CA made for
/// this run (nothing written to disk); returns the sandbox and a client certificate it trusts.
pub async fn start_mtls(
    bank: Option<Bank>,
    faults: &[Fault],
) -> anyhow::Result<(Embedded, MtlsClient)> {
    let pki = DevPki::generate().map_err(anyhow::Error::msg)?;
    let client = pki
        .client("obevents harness TPP")
        .map_err(anyhow::Error::msg)?;
    let mut cfg = config(bank, faults);
    cfg.tls = Some(
        TlsConfig::from_pem(&TlsPem {
            cert_chain: pki.server.cert_pem.clone().into_bytes(),
            key: pki.server.key_pem.clone().into_bytes(),
            client_ca: Some(pki.ca_pem.clone().into_bytes()),
            client_auth: ClientAuthMode::Required,
            self_signed_client_certs: false,
        })
        .map_err(anyhow::Error::msg)?,
    );
    let embedded = launch(cfg).await?;
    let client = MtlsClient {
        identity_pem: client.identity_pem(),
        ca_pem: pki.ca_pem.into_bytes(),
    };
    Ok((embedded, client))
}
