//! Sandbox configuration: the TOML file format, merged with command-line flags into a validated
//! [`SandboxConfig`] (stage one: validation only; `app::run` builds the live objects from it).

use std::path::Path;
use std::time::Duration;

mod clients;
mod file;
mod observe;
mod push;
mod retention;
mod server;
mod tatra;

pub use clients::{DEFAULT_SCOPES, SCOPES, SeedClient, parse_scopes};
pub use file::{
    AdminFile, ClientFile, ConfigFile, LimitsFile, MetricsFile, PushFile, RetentionFile,
    ServerFile, TatraFile, TatraWebhookFile,
};
pub use observe::ObserveConfig;
pub use push::PushConfig;
pub use retention::{RetentionConfig, default_bounds};
pub use server::ServerLimits;
use server::server_limits;
pub use tatra::{Activation, TatraConfig, tatra_refresh_delay};

use clients::seed_client;
use observe::observe_config;
use push::push_config;
use retention::{limits_config, retention_config};
use tatra::tatra_config;

use super::domain::TppBounds;
use super::faults::{Fault, Faults};
use super::personality::{Bank, Personality};
use super::tls::{TlsConfig, TlsFlags};

/// Everything the sandbox needs to start, validated.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub personality: Personality,
    pub faults: Faults,
    /// Base URL used in `Links`, `iss`, `rlk`; `None` = `http://` + the bound address.
    pub public_url: Option<String>,
    pub issuer: Option<String>,
    pub org_id: String,
    pub trust_anchor: String,
    pub token_ttl: Duration,
    pub long_poll_timeout: Duration,
    pub max_events_cap: usize,
    pub require_request_signatures: bool,
    pub open_registration: bool,
    pub body_limit: usize,
    /// The operator's credential; `None`: generated on first start (see `sandbox::admin`).
    pub admin: Option<AdminFile>,
    pub clients: Vec<SeedClient>,
    pub push: PushConfig,
    pub server: ServerLimits,
    /// HTTPS (and mutual TLS) when set; plain HTTP otherwise.
    pub tls: Option<TlsConfig>,
    pub tatra: TatraConfig,
    /// `[metrics]` and `trusted_proxies`.
    pub observe: ObserveConfig,
    /// `[server] addr`: where to listen when `--addr` is not given.
    pub addr: Option<String>,
    /// `[server] db`: the database when `--db` (or `OBEVENTS_DB`) is not given.
    pub db: Option<String>,
    /// `[retention]`: what the background sweeps remove, and how often.
    pub retention: RetentionConfig,
    /// `[limits]`: the per-TPP bounds the store holds.
    pub limits: TppBounds,
}

/// Why a sandbox bound to `bound` with this public URL would name itself by an address no
/// client can reach: a wildcard address without `public_url` puts `http://0.0.0.0:…` into the
/// issuer, the JWKS URL and every SET. `None` when the URLs it publishes are usable.
pub fn unreachable_identity(
    public_url: Option<&str>,
    bound: std::net::SocketAddr,
) -> Option<String> {
    (public_url.is_none() && bound.ip().is_unspecified()).then(|| {
        format!(
            "listening on the wildcard address {bound} without public_url: the issuer, the JWKS \
             URL and every SET will name {}, which no client can reach; set public_url (or \
             [server] public_url, or --public-url) to the URL clients use",
            bound
        )
    })
}

impl SandboxConfig {
    /// Defaults for `bank`, with no file: what `obevents sandbox` runs with.
    pub fn for_bank(bank: Bank) -> SandboxConfig {
        SandboxConfig {
            personality: Personality::of(bank),
            faults: Faults::default(),
            public_url: None,
            issuer: None,
            org_id: "0015800001041RObev".into(),
            trust_anchor: "openbanking.org.uk".into(),
            token_ttl: Duration::from_secs(3600),
            long_poll_timeout: Duration::from_secs(30),
            max_events_cap: 100,
            require_request_signatures: false,
            open_registration: true,
            body_limit: 5 * 1024 * 1024,
            admin: None,
            clients: Vec::new(),
            push: PushConfig::default(),
            server: ServerLimits::default(),
            tls: None,
            tatra: TatraConfig::default(),
            observe: ObserveConfig::default(),
            addr: None,
            db: None,
            retention: RetentionConfig::default(),
            limits: default_bounds(),
        }
    }

    /// The `--tatra-*` flags over `[tatra]`.
    pub fn with_tatra_flags(
        mut self,
        activation: Option<Activation>,
        refresh_delay_ms: Option<u64>,
    ) -> Result<SandboxConfig, String> {
        if let Some(a) = activation {
            self.tatra.activation = a;
        }
        if let Some(ms) = refresh_delay_ms {
            self.tatra.refresh_delay =
                tatra_refresh_delay(ms).map_err(|e| format!("--tatra-{}", e.replace('_', "-")))?;
        }
        Ok(self)
    }

    /// `https` when the sandbox serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Reads and validates a config file; `bank_flag`/`fault_flags` from the command line win over it.
    pub fn load(
        path: Option<&Path>,
        bank_flag: Option<Bank>,
        fault_flags: &[Fault],
    ) -> Result<SandboxConfig, String> {
        Self::load_with_tls(path, bank_flag, fault_flags, &TlsFlags::default())
    }

    /// [`SandboxConfig::load`] with the TLS flags, which win over `[tls]`; PEM files are read
    /// and checked here, so a bad one stops the start with one line.
    pub fn load_with_tls(
        path: Option<&Path>,
        bank_flag: Option<Bank>,
        fault_flags: &[Fault],
        tls_flags: &TlsFlags,
    ) -> Result<SandboxConfig, String> {
        let file = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read config {}: {e}", p.display()))?;
                toml::from_str::<ConfigFile>(&text)
                    .map_err(|e| format!("config {}: {}", p.display(), one_line(&e.to_string())))?
            }
            None => ConfigFile::default(),
        };
        let dir = path.and_then(Path::parent);
        let tls = TlsConfig::resolve(file.tls.clone(), tls_flags, dir)?;
        let mut cfg = Self::from_file(file, bank_flag, fault_flags, dir)?;
        cfg.tls = tls;
        Ok(cfg)
    }

    fn from_file(
        mut file: ConfigFile,
        bank_flag: Option<Bank>,
        fault_flags: &[Fault],
        dir: Option<&Path>,
    ) -> Result<SandboxConfig, String> {
        let bank = match (bank_flag, &file.bank) {
            (Some(b), _) => b,
            (None, Some(name)) => name
                .parse::<Bank>()
                .map_err(|e| format!("config field bank: {e}"))?,
            (None, None) => Bank::Obie,
        };
        let mut cfg = SandboxConfig::for_bank(bank);
        let mut faults: Vec<Fault> = fault_flags.to_vec();
        for name in &file.faults {
            faults.push(
                name.parse::<Fault>()
                    .map_err(|e| format!("config field faults: {e}"))?,
            );
        }
        cfg.faults = Faults::new(faults);
        cfg.identity(&mut file)?;
        cfg.api_limits(&file)?;
        cfg.admin = file.admin.take().map(admin).transpose()?;
        for (i, c) in std::mem::take(&mut file.clients).into_iter().enumerate() {
            let client = seed_client(i, c, dir)?;
            // Two entries for one client would leave one of their secrets silently unused.
            if let Some(j) = cfg
                .clients
                .iter()
                .position(|o| o.client_id == client.client_id)
            {
                return Err(format!(
                    "config field clients[{i}].client_id: {:?} is already clients[{j}]'s",
                    client.client_id
                ));
            }
            cfg.clients.push(client);
        }
        if let Some(p) = file.push.take() {
            cfg.push = push_config(p)?;
        }
        if let Some(t) = file.tatra.take() {
            cfg.tatra = tatra_config(t)?;
        }
        server_limits(&mut cfg.server, &file)?;
        if let Some(r) = file.retention.take() {
            cfg.retention = retention_config(r)?;
        }
        if let Some(l) = file.limits.take() {
            cfg.limits = limits_config(l)?;
        }
        cfg.observe = observe_config(&file)?;
        if let Some(server) = file.server.take() {
            cfg.addr = server
                .addr
                .map(|a| non_empty("server.addr", a))
                .transpose()?;
            cfg.db = server.db.map(|d| non_empty("server.db", d)).transpose()?;
            if let Some(log) = server.log {
                tracing_subscriber::EnvFilter::try_new(&log)
                    .map_err(|e| format!("config field server.log: {e}"))?;
            }
        }
        Ok(cfg)
    }

    /// `--public-url` (or `OBEVENTS_PUBLIC_URL`) over the config file's `public_url`.
    pub fn with_public_url(mut self, flag: Option<&str>) -> Result<Self, String> {
        if let Some(u) = flag {
            let valid = valid_base_url("public_url", u)
                .map_err(|_| format!("--public-url {u:?}: not an absolute http(s) URL"))?;
            self.public_url = Some(valid);
        }
        Ok(self)
    }

    /// Who the sandbox says it is: its public URL, issuer and OB signing identity.
    fn identity(&mut self, file: &mut ConfigFile) -> Result<(), String> {
        let in_server = file.server.as_mut().and_then(|s| s.public_url.take());
        if in_server.is_some() && file.public_url.is_some() {
            return Err(
                "config fields public_url and server.public_url: give the public URL once".into(),
            );
        }
        if let Some(u) = in_server {
            self.public_url = Some(valid_base_url("server.public_url", &u)?);
        }
        if let Some(u) = file.public_url.take() {
            self.public_url = Some(valid_base_url("public_url", &u)?);
        }
        if let Some(u) = file.issuer.take() {
            self.issuer = Some(valid_base_url("issuer", &u)?);
        }
        if let Some(v) = file.org_id.take() {
            self.org_id = non_empty("org_id", v)?;
        }
        if let Some(v) = file.trust_anchor.take() {
            self.trust_anchor = non_empty("trust_anchor", v)?;
        }
        Ok(())
    }

    /// What the APIs allow: token lifetime, long-poll hold, batch cap, request signatures,
    /// open registration, body size.
    fn api_limits(&mut self, file: &ConfigFile) -> Result<(), String> {
        if let Some(v) = file.token_ttl_secs {
            if v == 0 {
                return Err("config field token_ttl_secs: must be at least 1".into());
            }
            self.token_ttl = Duration::from_secs(v);
        }
        if let Some(v) = file.long_poll_timeout_ms {
            if v == 0 || v > 600_000 {
                return Err(
                    "config field long_poll_timeout_ms: must be between 1 and 600000".into(),
                );
            }
            self.long_poll_timeout = Duration::from_millis(v);
        }
        if let Some(v) = file.max_events_cap {
            if v == 0 {
                return Err("config field max_events_cap: must be at least 1".into());
            }
            self.max_events_cap = v;
        }
        if let Some(v) = file.require_request_signatures {
            self.require_request_signatures = v;
        }
        if let Some(v) = file.open_registration {
            self.open_registration = v;
        }
        if let Some(v) = file.body_limit_bytes {
            if v < 1024 {
                return Err("config field body_limit_bytes: must be at least 1024".into());
            }
            self.body_limit = v;
        }
        Ok(())
    }
}

fn admin(admin: AdminFile) -> Result<AdminFile, String> {
    if admin.username.is_empty() || admin.password.is_empty() || admin.username.contains(':') {
        return Err("config field admin: username and password must be non-empty and the username free of ':'".into());
    }
    Ok(admin)
}

/// `[server] log` of the config file at `path`, if it names one: read before logging starts,
/// so the filter applies from the first line. A file that does not parse yields `None` here;
/// loading it properly then reports the error.
pub fn log_filter_in(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    toml::from_str::<ConfigFile>(&text).ok()?.server?.log
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn non_empty(field: &str, v: String) -> Result<String, String> {
    if v.trim().is_empty() {
        Err(format!("config field {field}: must not be empty"))
    } else {
        Ok(v)
    }
}

fn valid_base_url(field: &str, u: &str) -> Result<String, String> {
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {
            Ok(u.trim_end_matches('/').to_string())
        }
        _ => Err(format!(
            "config field {field}: {u:?} is not an absolute http(s) URL"
        )),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A config file's text loaded as the sandbox would (shared by the section modules' tests).
    pub(in crate::sandbox::config) fn parse(text: &str) -> Result<SandboxConfig, String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        SandboxConfig::from_file(file, None, &[], None)
    }

    #[test]
    fn full_file_parses() {
        let cfg = parse(
            r#"
            bank = "hsbc"
            long_poll_timeout_ms = 500
            faults = ["set-rs256"]
            [admin]
            username = "ops"
            password = "pw"
            [[clients]]
            client_id = "tpp-a"
            client_secret = "s"
            scope = "accounts eventpolling"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.personality.bank, Bank::Hsbc);
        assert_eq!(cfg.long_poll_timeout, Duration::from_millis(500));
        assert!(cfg.faults.has(Fault::SetRs256));
        assert_eq!(cfg.clients[0].scopes, ["accounts", "eventpolling"]);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(parse("bank = \"acme\"").unwrap_err().contains("bank"));
        assert!(parse("nonsense = 1").unwrap_err().contains("nonsense"));
        assert!(
            parse("[[clients]]\nclient_id=\"a\"\nclient_secret=\"b\"\nscope=\"root\"")
                .unwrap_err()
                .contains("clients[0].scope")
        );
        assert!(parse("faults = [\"nope\"]").unwrap_err().contains("faults"));
        assert!(
            parse("[tatra]\nactivation = \"later\"")
                .unwrap_err()
                .contains("tatra.activation")
        );
        assert!(
            parse("[tatra]\nrefresh_delay_ms = 0")
                .unwrap_err()
                .contains("tatra.refresh_delay_ms")
        );
    }

    #[test]
    fn metrics_section_and_trusted_proxies() {
        let cfg = parse(
            "trusted_proxies = [\"127.0.0.1\", \"::1\"]\n[metrics]\naddress = \"127.0.0.1:9464\"",
        )
        .unwrap();
        assert_eq!(
            cfg.observe.metrics_address,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(cfg.observe.trusted_proxies.len(), 2);
        assert_eq!(parse("").unwrap().observe, ObserveConfig::default());
        for (text, field) in [
            ("[metrics]\naddress = \"localhost\"", "metrics.address"),
            ("[metrics]\nport = 1", "port"),
            ("trusted_proxies = [\"10.0.0.0/8\"]", "trusted_proxies"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(field), "{text}: {e}");
        }
    }

    #[test]
    fn tatra_section_and_client_webhook() {
        let cfg = parse(
            r#"
            bank = "tatra"
            [tatra]
            activation = "immediate"
            refresh_delay_ms = 50
            [[clients]]
            client_id = "tpp-a"
            client_secret = "s"
            tatra_webhook = { enabled = true, url = "https://tpp.example/hook", security_header = "Basic eA==" }
            "#,
        )
        .unwrap();
        assert_eq!(cfg.personality.bank, Bank::Tatra);
        assert_eq!(cfg.tatra.activation, Activation::Immediate);
        assert_eq!(cfg.tatra.refresh_delay, Duration::from_millis(50));
        let hook = cfg.clients[0].tatra_webhook.as_ref().unwrap();
        assert!(hook.enabled);
        assert_eq!(hook.security_header.as_deref(), Some("Basic eA=="));
    }
}
