//! Assembly: turns a validated [`SandboxConfig`] into a running server. [`Sandbox::start`] binds
//! (port 0 for tests and the harness) and serves in the background until [`Sandbox::stop`];
//! [`run`] serves until a signal; [`run_cli`] is the `obevents sandbox` command around it.

use std::net::SocketAddr;
use std::sync::Arc;

use rand::RngCore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::admin::AdminCredential;
use super::config::SandboxConfig;
use super::domain::{Client, ClientId, Timestamp};
use super::faults::Fault;
use super::metrics::Metrics;
use super::notify::Notifier;
use super::push::{self, guard::Guard};
use super::state::{AppState, Inner};
use super::store::postgres::Wakeup;
use super::store::{Store, StoreError};
use super::{dialects, fault_choice, http, inspect, portal, referee_runs, retention, server};
use crate::cli::SandboxArgs;
use crate::jose::{KeyRole, ObHeader, SigningKey};

/// The bank's signing key and the HMAC secret of access tokens: created on first start and
/// kept in the database, so SETs still verify and tokens still work after a restart, and
/// replicas share them.
async fn persisted_secrets(store: &Store) -> anyhow::Result<(SigningKey, Vec<u8>)> {
    // Generated before the store is asked, so a failure never leaves an empty key stored.
    // The spare key is discarded when the database already holds one.
    let fresh = SigningKey::for_process(KeyRole::Bank)
        .map_err(|e| anyhow::anyhow!("cannot generate the signing key: {e}"))?;
    let key_json = store
        .meta_get_or_insert("signing_key", || fresh.to_private_json())
        .await?;
    let key = SigningKey::from_private_json(&key_json)
        .map_err(|e| anyhow::anyhow!("the stored signing key is unreadable: {e}"))?;
    let secret_hex = store
        .meta_get_or_insert("token_secret", || {
            let mut b = [0u8; 32];
            rand::rng().fill_bytes(&mut b);
            b.iter().map(|x| format!("{x:02x}")).collect()
        })
        .await?;
    let token_secret = (0..secret_hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(secret_hex.get(i..i + 2)?, 16).ok())
        .collect::<Vec<u8>>();
    if token_secret.len() < 32 {
        anyhow::bail!("the stored token secret is unreadable");
    }
    Ok((key, token_secret))
}

/// Opens the store, loads or creates the persisted keys and seeds configured clients.
pub async fn build_state(
    cfg: SandboxConfig,
    db: &str,
    bound: SocketAddr,
) -> anyhow::Result<AppState> {
    if let Some(warning) = super::config::unreachable_identity(cfg.public_url.as_deref(), bound) {
        tracing::warn!("{warning}");
    }
    let base_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{}://{bound}", cfg.scheme()));
    // Checked before anything is opened, so a bad entry stops the start with one line.
    for c in &cfg.clients {
        if let Some(p) = c
            .tatra_webhook
            .as_ref()
            .and_then(|hook| dialects::tatra::settings::seed_problem(&cfg, &base_url, hook))
        {
            anyhow::bail!("config field clients ({}) tatra_webhook: {p}", c.client_id);
        }
    }
    let store = Store::open(db)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", super::store::redacted(db)))?
        .with_bounds(cfg.limits);
    let (key, token_secret) = persisted_secrets(&store).await?;
    let reclaimed = store.reclaim_leases(Timestamp::now()).await?;
    if reclaimed > 0 {
        tracing::info!(
            reclaimed,
            "deliveries whose attempt a previous run left in flight are due again now"
        );
    }
    let (admin, shown) = AdminCredential::load(cfg.admin.as_ref(), &store).await?;
    // Made now when the whole sandbox needs it; a TPP's own choice makes it on first use.
    let foreign_key = std::sync::OnceLock::new();
    if cfg.faults.has(Fault::SetForeignKey) || cfg.faults.has(Fault::YapilyForeignKey) {
        let _ = foreign_key.set(SigningKey::for_process(KeyRole::Unpublished)?);
    }
    let issuer = cfg.issuer.clone().unwrap_or_else(|| base_url.clone());
    let ob_header = ObHeader {
        iss: cfg.org_id.clone(),
        tan: cfg.trust_anchor.clone(),
    };
    let metrics = Metrics::new(store.pool_use().is_some());
    let writes = super::store::group::GroupCommit::start(store.clone());
    let state = AppState(Arc::new(Inner {
        store,
        writes,
        metrics,
        base_url,
        issuer,
        key,
        foreign_key,
        published_keys: Default::default(),
        ob_header,
        token_secret,
        admin,
        admin_to_show: std::sync::Mutex::new(shown),
        notifier: Notifier::default(),
        auth_failures: Default::default(),
        admin_failures: Default::default(),
        push_wake: tokio::sync::Notify::new(),
        tokens: Default::default(),
        tpp_faults: Default::default(),
        throttle: Default::default(),
        live_streams: Arc::new(tokio::sync::Semaphore::new(
            super::portal::live::MAX_STREAMS,
        )),
        shutdown: CancellationToken::new(),
        cfg,
    }));
    seed_clients(&state).await?;
    // Other replicas' events wake this replica's long polls (PostgreSQL only). The task
    // holds a weak handle so a dropped state is not kept alive by it.
    let weak = Arc::downgrade(&state.0);
    state.store.spawn_wakeups(
        move |w| {
            if let Some(inner) = weak.upgrade() {
                match w {
                    Wakeup::Client(c) => inner.notifier.wake(c),
                    Wakeup::All => inner.notifier.wake_all(),
                }
            }
        },
        state.shutdown.clone(),
    );
    Ok(state)
}

/// Inserts (or refreshes) the clients named in the config file.
async fn seed_clients(state: &AppState) -> Result<(), StoreError> {
    for c in &state.cfg.clients {
        let client_id = ClientId::from(c.client_id.as_str());
        state
            .store
            .upsert_client(&Client {
                client_id: client_id.clone(),
                secret_hash: super::auth::hash_secret(&c.client_secret),
                client_name: c.client_name.clone(),
                scopes: c.scopes.clone(),
                jwks: c.jwks.clone(),
                created_at: Timestamp::now(),
                seeded: true,
                auth_method: "client_secret_basic".into(),
                tls_subject_dn: None,
            })
            .await?;
        if let Some(hook) = &c.tatra_webhook {
            crate::sandbox::dialects::tatra::settings::seed_settings(
                state,
                &client_id,
                crate::sandbox::dialects::tatra::SettingsChange {
                    enabled: hook.enabled,
                    url: hook.url.clone(),
                    security_header: hook.security_header.clone(),
                },
            )
            .await
            .map_err(|e| match e {
                crate::sandbox::dialects::tatra::TatraError::Store(e) => e,
                other => StoreError::Open(format!(
                    "config field clients ({}) tatra_webhook: {other}",
                    c.client_id
                )),
            })?;
        }
    }
    let keep: Vec<ClientId> = state
        .cfg
        .clients
        .iter()
        .map(|c| ClientId::from(c.client_id.as_str()))
        .collect();
    let removed = state.store.prune_seeded_clients(&keep).await?;
    if removed > 0 {
        tracing::info!(
            removed,
            "removed clients no longer in the config's [[clients]]"
        );
    }
    Ok(())
}

/// A running sandbox started with [`Sandbox::start`]: its address and how to stop it.
pub struct Sandbox {
    pub addr: SocketAddr,
    /// Where `/metrics` is served on its own (`[metrics] address`), as bound.
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    task: tokio::task::JoinHandle<()>,
    pusher: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
    metrics: Option<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Binds `addr` (port 0 = any free port) and the metrics address if configured, builds the
    /// state and serves in background tasks.
    pub async fn start(cfg: SandboxConfig, db: &str, addr: SocketAddr) -> anyhow::Result<Sandbox> {
        let listener = super::server::bind(addr, cfg.server.backlog)
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let bound = listener.local_addr()?;
        let metrics_listener =
            match cfg.observe.metrics_address {
                Some(a) => Some(super::server::bind(a, cfg.server.backlog).map_err(|e| {
                    anyhow::anyhow!("cannot listen on the metrics address {a}: {e}")
                })?),
                None => None,
            };
        let metrics_addr = metrics_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let guard = Guard {
            allow_private: cfg.push.private_allowed(bound),
        };
        let state = build_state(cfg, db, bound).await?;
        let task = tokio::spawn(serve(state.clone(), listener));
        let pusher = tokio::spawn(push::worker::run(state.clone(), guard));
        let sweeper = tokio::spawn(retention::run(state.clone()));
        let metrics = metrics_listener.map(|l| {
            let router = http::probes::metrics_router(state.clone());
            tokio::spawn(server::serve_plain(state.clone(), router, l))
        });
        Ok(Sandbox {
            addr: bound,
            metrics_addr,
            state,
            task,
            pusher,
            sweeper,
            metrics,
        })
    }

    /// `http://ADDR`, or `https://ADDR` with TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", self.state.cfg.scheme(), self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn stop(self) {
        self.state.shutdown.cancel();
        let _ = self.task.await;
        let _ = self.pusher.await;
        let _ = self.sweeper.await;
        if let Some(m) = self.metrics {
            let _ = m.await;
        }
        // Last: the writes of the requests and attempts that just finished are committed.
        self.state.writes.close().await;
    }
}

/// Serves `state` on `listener` until its shutdown token is cancelled (see `server`).
pub async fn serve(state: AppState, listener: TcpListener) {
    let table = dialects::routes(&state)
        .include(inspect::routes())
        .include(fault_choice::routes())
        .include(referee_runs::routes())
        .include(portal::routes());
    let router = http::router(state.clone(), table);
    server::serve(state, router, listener).await;
}

/// `obevents sandbox`: builds the config from the file and flags, resolves `--addr`, serves;
/// returns the exit code (2 with one line on stderr for a bad config or address).
pub async fn run_cli(args: SandboxArgs) -> u8 {
    if args.list_faults {
        print!("{}", super::faults::listing());
        return 0;
    }
    let cfg = match SandboxConfig::load_with_tls(
        args.config.as_deref(),
        args.bank,
        &args.faults,
        &args.tls_flags(),
    )
    .and_then(|cfg| cfg.with_tatra_flags(args.tatra_activation, args.tatra_refresh_delay_ms))
    .and_then(|cfg| cfg.with_public_url(args.public_url.as_deref()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // The command line wins over the config file's [server], which wins over the defaults.
    let (flag, given) = match (&args.addr, &cfg.addr) {
        (Some(a), _) => ("--addr", a.clone()),
        (None, Some(a)) => ("server.addr", a.clone()),
        (None, None) => ("--addr", "127.0.0.1:8080".to_string()),
    };
    let addr = match tokio::net::lookup_host(given.as_str()).await {
        Ok(mut found) => match found.next() {
            Some(a) => a,
            None => {
                eprintln!("error: {flag} {given}: resolves to no address");
                return 2;
            }
        },
        Err(e) => {
            eprintln!("error: {flag} {given}: {e} (expected HOST:PORT)");
            return 2;
        }
    };
    let db = args
        .db
        .clone()
        .or_else(|| cfg.db.clone())
        .unwrap_or_else(|| "obevents.db".into());
    match run(cfg, &db, addr).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// `obevents sandbox`: bind, log the listening line once accepting, serve until Ctrl-C/SIGTERM.
pub async fn run(mut cfg: SandboxConfig, db: &str, addr: SocketAddr) -> anyhow::Result<()> {
    let fd_limit = super::server::raise_fd_limit();
    let requested = cfg.server.max_connections;
    if let Some(limit) = fd_limit {
        // Leave room for the database, the push worker's sockets and the listener.
        let usable = usize::try_from(limit.saturating_sub(256))
            .unwrap_or(usize::MAX)
            .max(1);
        cfg.server.max_connections = cfg.server.max_connections.min(usable);
    }
    let deviations = cfg.personality.deviations();
    let bank = cfg.personality.bank;
    let faults: Vec<String> = cfg.faults.iter().map(|f| f.name().to_string()).collect();
    // Started before anything is logged, so a start that fails says one line and no more.
    let sandbox = Sandbox::start(cfg, db, addr).await?;
    if let Some(limit) = fd_limit {
        let max_connections = sandbox.state.cfg.server.max_connections;
        if max_connections < requested {
            tracing::info!(
                requested,
                usable = max_connections,
                "max_connections lowered to what the file-descriptor limit allows"
            );
        }
        tracing::info!(fd_limit = limit, max_connections, "connection limits");
    }
    let engine = sandbox.state.store.engine();
    let db = super::store::redacted(db);
    tracing::info!(%bank, ?deviations, ?faults, engine, db, kid = sandbox.state.key.kid(), "sandbox ready");
    // The listener is bound and `serve` is running, so connections are accepted from here on.
    let generated = sandbox
        .state
        .admin_to_show
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(password) = generated {
        println!(
            "admin credential (shown once; set [admin] in the config to choose one): {}:{password}",
            sandbox.state.admin.username
        );
        tracing::warn!("generated the admin credential and printed it once on stdout");
    }
    if sandbox.state.cfg.push.private_allowed(sandbox.addr) {
        tracing::info!(
            "push may reach loopback and private addresses ([push] allow_private_networks; on by default when listening on loopback)"
        );
    }
    if let Some(m) = sandbox.metrics_addr {
        tracing::info!("metrics on http://{m}/metrics (no authentication: [metrics] address)");
    }
    tracing::info!("listening on {}", sandbox.url());
    println!("listening on {}", sandbox.url());
    shutdown_signal().await;
    tracing::info!("shutting down");
    sandbox.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
