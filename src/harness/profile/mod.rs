//! Target profiles: how to reach a bank and what it documents about itself (obie-rules §11).
//! A TOML file (format in the README, examples in `fixtures/profiles/`) is read into
//! [`ProfileFile`] and validated into a [`Profile`]; every error names the field at fault.
//! The embedded sandbox gets a built-in profile from [`Profile::for_sandbox`]. Each section is
//! validated in its own module: `bank`, `clients` (TPPs and auth), `trigger`; the target, request
//! signing and timing here.

use std::path::Path;
use std::time::Duration;

use crate::model::EventType;
use crate::model::bank::{LongPolling, SpecVersion, UnknownAck};

mod bank;
mod clients;
mod file;
mod push;
mod sandbox;
mod tatra;
mod trigger;
mod yapily;

pub use clients::RegistrationAuth;
pub use push::{PushPolicy, RetrySpacing};
pub use sandbox::sandbox_profile_toml;
pub use tatra::{Activation, TatraSettings};
pub use yapily::{Dialect, YapilySettings};

/// A bad profile: the message names the field (exit code 2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("profile: {0}")]
pub struct ProfileError(pub String);

fn err<T>(field: &str, msg: impl std::fmt::Display) -> Result<T, ProfileError> {
    Err(ProfileError(format!("field {field}: {msg}")))
}

pub use file::{
    BankFile, ProfileFile, PushFile, RegistrationFile, SigningFile, TargetFile, TatraFile,
    TimingFile, TppFile, TriggerFile, YapilyFile,
};

// ---- the validated profile ---------------------------------------------------------------------

/// How a TPP authenticates at the token endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientAuth {
    SecretBasic(String),
    SecretPost(String),
    PrivateKeyJwt {
        pem: String,
        key_id: String,
    },
    /// Client credentials authenticated by the mTLS certificate of `[target]` (RFC 8705
    /// `tls_client_auth`): only `client_id` in the form.
    TlsClientAuth,
    /// A static bearer token the bank issued out of band (no token endpoint).
    Bearer(String),
    /// The API needs no token.
    None,
}

impl ClientAuth {
    /// Whether tokens come from the token endpoint (client credentials).
    pub fn uses_token_endpoint(&self) -> bool {
        !matches!(self, ClientAuth::Bearer(_) | ClientAuth::None)
    }
}

/// Which rule set the target is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conformance {
    /// OBIE v3.1 event notifications: every rule of the catalogue.
    Obie,
    /// An RFC 8936 transmitter: RFC 8417/8936 rules only (no OB header members or claims,
    /// error bodies of any shape).
    Rfc8936,
}

impl Conformance {
    /// Is `rule` one this level judges?
    pub fn judges(self, rule: &str) -> bool {
        match self {
            Conformance::Obie => true,
            Conformance::Rfc8936 => rule.starts_with("R8936-") || rule.starts_with("R8417-"),
        }
    }
}

/// Where the event resources live under `api_base` (each overridable).
#[derive(Debug, Clone)]
pub struct Paths {
    pub events: String,
    pub subscriptions: String,
    pub callback_urls: String,
}

/// A TPP client: one of the profile's fixed `[[tpp]]`, or one registered for a scenario.
#[derive(Debug, Clone)]
pub struct TppConfig {
    pub name: String,
    pub client_id: String,
    pub auth: ClientAuth,
    /// Expected `aud` of this TPP's SETs.
    pub aud: String,
    pub events_scope: String,
    pub polling_scope: String,
    pub restricted_scope: Option<String>,
    /// With registration, a second client that holds only the restricted scope.
    pub restricted_client: Option<Box<TppConfig>>,
}

/// Per-scenario clients registered through the target's registration endpoint.
#[derive(Debug, Clone)]
pub struct Registration {
    pub endpoint: String,
    pub scope: String,
    pub restricted_scope: Option<String>,
    pub auth: RegistrationAuth,
}

/// Where TPP clients come from.
#[derive(Debug, Clone)]
pub enum Clients {
    Fixed(Vec<TppConfig>),
    Register(Registration),
}

/// The harness's key for `x-jws-signature` on requests (G-14).
#[derive(Debug, Clone)]
pub struct Signing {
    /// PEM of the private key; `None` = generate one per run (only with registration, which
    /// registers its public JWKS).
    pub pem: Option<String>,
    pub key_id: Option<String>,
    pub iss: String,
    pub tan: String,
}

/// How to make an event happen at the target.
#[derive(Debug, Clone)]
pub enum Trigger {
    Http {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<String>,
        auth: TriggerAuth,
        expect_status: Vec<u16>,
        jti_pointer: String,
    },
    Command {
        argv: Vec<String>,
    },
    Manual {
        prompt: String,
    },
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TriggerAuth {
    None,
    /// The TPP's own bearer token (events scope).
    TppToken,
    /// HTTP Basic with the TPP's client id and secret (a dialect's application credentials).
    TppBasic,
    Basic {
        username: String,
        password: String,
    },
}

/// What the target documents about its polling endpoint and API (the settings of §11).
#[derive(Debug, Clone)]
pub struct BankSettings {
    /// The bank offers `POST /events` (AP-01 makes polling optional).
    pub polling: bool,
    /// The bank offers the Event Subscription API; without it every TPP gets every event.
    pub subscription_api: bool,
    pub long_polling: LongPolling,
    pub long_poll_timeout: Duration,
    pub max_events_cap: Option<u64>,
    pub reject_above_cap: bool,
    pub default_batch: Option<u64>,
    pub unknown_ack: UnknownAck,
    pub poll_success_status: Vec<u16>,
    pub errored_redelivered: bool,
    pub event_types: Vec<EventType>,
    pub subscription_version: String,
    pub callback_urls: bool,
    pub realtime: bool,
    pub request_signatures: RequestSignatures,
    pub response_signatures: bool,
    pub more_available_required: bool,
    /// The bank documents that polls return the oldest SETs first (R8936-06 leaves it open).
    pub oldest_first: bool,
}

/// How the target treats `x-jws-signature` on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestSignatures {
    /// Not checked at all.
    Ignored,
    /// Verified when present.
    Verified,
    /// Required and verified.
    Required,
}

/// A validated target profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub spec_version: SpecVersion,
    pub conformance: Conformance,
    pub base_url: String,
    pub api_base: String,
    pub paths: Paths,
    /// Needed only when some client gets its tokens by client credentials.
    pub token_endpoint: Option<String>,
    /// Without it SET signatures cannot be verified (the checks that need it do not apply).
    pub jwks_url: Option<String>,
    /// Without it `iss` is only checked to be present.
    pub issuer: Option<String>,
    pub ob_iss: Option<String>,
    pub trust_anchor: Option<String>,
    pub alg: String,
    pub tls: TlsSettings,
    pub request_timeout: Duration,
    pub clients: Clients,
    pub signing: Option<Signing>,
    pub trigger: Trigger,
    /// Subscribing and unsubscribing a TPP when the bank has no subscription API.
    pub subscribe: Option<Trigger>,
    pub unsubscribe: Option<Trigger>,
    /// Event types the trigger can produce.
    pub trigger_types: Vec<EventType>,
    pub trigger_resource_type: String,
    pub trigger_timeout: Duration,
    pub bank: BankSettings,
    pub event_timeout: Duration,
    /// Pause between the harness's own polls while it waits for events (AP-16 polling limits).
    pub poll_interval: Duration,
    pub clock_skew: i64,
    /// Real-time push: the bank's declared policy and the receiver's settings.
    pub push: PushPolicy,
    /// Which notification API the target speaks.
    pub dialect: Dialect,
    /// The Yapily-style API, with `dialect = "yapily"`.
    pub yapily: Option<YapilySettings>,
    /// The Tatra-banka-style webhooks, with `dialect = "tatra"`.
    pub tatra: Option<TatraSettings>,
}

#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    pub client_cert_pem: Option<Vec<u8>>,
    pub ca_pem: Option<Vec<u8>>,
    pub accept_invalid_certs: bool,
}

fn read(dir: &Path, field: &str, p: &Path) -> Result<Vec<u8>, ProfileError> {
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    };
    std::fs::read(&full).or_else(|e| err(field, format!("cannot read {}: {e}", full.display())))
}

fn absolute_url(field: &str, base: &str, u: &str) -> Result<String, ProfileError> {
    let joined = if u.starts_with('/') {
        format!("{base}{u}")
    } else {
        u.to_string()
    };
    match url::Url::parse(&joined) {
        Ok(p) if matches!(p.scheme(), "http" | "https") => Ok(joined),
        _ => err(
            field,
            format!(
                "{u:?} is not an http(s) URL (or a path starting with / below target.base_url)"
            ),
        ),
    }
}

fn one_of<T: Copy>(
    field: &str,
    v: Option<&str>,
    default: T,
    options: &[(&str, T)],
) -> Result<T, ProfileError> {
    match v {
        None => Ok(default),
        Some(s) => options
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, t)| *t)
            .map_or_else(
                || {
                    err(
                        field,
                        format!(
                            "{s:?} is not one of {}",
                            options
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                },
                Ok,
            ),
    }
}

fn event_types(field: &str, names: &[String]) -> Result<Vec<EventType>, ProfileError> {
    names
        .iter()
        .map(|n| {
            EventType::parse(n).map_or_else(|| err(field, format!("unknown event type {n:?}")), Ok)
        })
        .collect()
}

impl Profile {
    /// The same profile over mutual TLS: `tls` holds the client certificate (and the CA of
    /// the target's server certificate), and registered clients authenticate with `auth`.
    pub fn with_mtls(
        mut self,
        tls: TlsSettings,
        auth: RegistrationAuth,
    ) -> Result<Profile, ProfileError> {
        if tls.client_cert_pem.is_none() {
            return err("target.client_cert", "is needed for mutual TLS");
        }
        let Clients::Register(reg) = &mut self.clients else {
            return err(
                "registration",
                "mutual TLS for the built-in profile needs [registration]",
            );
        };
        reg.auth = auth;
        self.tls = tls;
        Ok(self)
    }

    /// Reads and validates a profile file. `base_url_override` replaces `target.base_url`.
    pub fn load(path: &Path, base_url_override: Option<&str>) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProfileError(format!("cannot read {}: {e}", path.display())))?;
        let file: ProfileFile = toml::from_str(&text).map_err(|e| {
            // Name the field: toml's message says what is wrong, the line says where.
            let msg = e.message().trim().to_string();
            let loc = e.span().map(|s| {
                let start = s.start.min(text.len());
                let line = text[..start].matches('\n').count() + 1;
                let source = text.lines().nth(line - 1).unwrap_or("").trim();
                format!(" at line {line}: {source}")
            });
            ProfileError(format!(
                "{}: {msg}{}",
                path.display(),
                loc.unwrap_or_default()
            ))
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::from_file(file, dir, base_url_override)
            .map_err(|e| ProfileError(format!("{}: {}", path.display(), e.0)))
    }

    pub fn from_file(
        f: ProfileFile,
        dir: &Path,
        base_url_override: Option<&str>,
    ) -> Result<Profile, ProfileError> {
        let spec_version = match f.spec_version.as_deref() {
            None | Some("3.1.11") | Some("3.1.10") | Some("3.1.4") | Some("3.1") => {
                SpecVersion::V3_1_11
            }
            Some("3.1.2") | Some("3.1.3") => SpecVersion::V3_1_2,
            Some(v) => {
                return err(
                    "spec_version",
                    format!("{v:?} is not supported (3.1.2 … 3.1.11)"),
                );
            }
        };
        let t = f.target;
        let base_raw = base_url_override
            .unwrap_or(&t.base_url)
            .trim_end_matches('/')
            .to_string();
        let base_url = absolute_url("target.base_url", "", &base_raw)?;
        let api_base_raw = t.api_base.unwrap_or_else(|| "/open-banking/v3.1".into());
        if !api_base_raw.starts_with('/') {
            return err(
                "target.api_base",
                "must start with / (\"/\" for the host root)",
            );
        }
        let api_base = api_base_raw.trim_end_matches('/').to_string();
        let path =
            |field: &str, v: Option<String>, default: &str| -> Result<String, ProfileError> {
                let v = v.unwrap_or_else(|| default.into());
                if !v.starts_with('/') || v.len() < 2 {
                    return err(field, "must be a path starting with /");
                }
                Ok(v.trim_end_matches('/').to_string())
            };
        let paths = Paths {
            events: path("target.events_path", t.events_path, "/events")?,
            subscriptions: path(
                "target.subscriptions_path",
                t.subscriptions_path,
                "/event-subscriptions",
            )?,
            callback_urls: path(
                "target.callback_urls_path",
                t.callback_urls_path,
                "/callback-urls",
            )?,
        };
        let conformance = one_of(
            "conformance",
            f.conformance.as_deref(),
            Conformance::Obie,
            &[
                ("obie", Conformance::Obie),
                ("rfc8936", Conformance::Rfc8936),
            ],
        )?;
        let token_endpoint = t
            .token_endpoint
            .as_deref()
            .map(|u| absolute_url("target.token_endpoint", &base_url, u))
            .transpose()?;
        let jwks_url = t
            .jwks_url
            .as_deref()
            .map(|u| absolute_url("target.jwks_url", &base_url, u))
            .transpose()?;
        if t.issuer.as_deref().is_some_and(|i| i.trim().is_empty()) {
            return err("target.issuer", "must not be empty");
        }
        // `{base_url}` lets a profile follow `--base-url` (the example profiles use it).
        let issuer = t.issuer.map(|i| i.replace("{base_url}", &base_url));
        let alg = t.alg.unwrap_or_else(|| "PS256".into());
        if crate::jose::Alg::parse(&alg).is_none_or(|a| a == crate::jose::Alg::None) {
            return err(
                "target.alg",
                format!("{alg:?} is not one of PS256, RS256, ES256"),
            );
        }
        let mut tls = TlsSettings {
            accept_invalid_certs: t.accept_invalid_certs,
            ..Default::default()
        };
        match (&t.client_cert, &t.client_key) {
            (Some(c), Some(k)) => {
                let mut pem = read(dir, "target.client_cert", c)?;
                pem.push(b'\n');
                pem.extend(read(dir, "target.client_key", k)?);
                tls.client_cert_pem = Some(pem);
            }
            (Some(c), None) => tls.client_cert_pem = Some(read(dir, "target.client_cert", c)?),
            (None, Some(_)) => return err("target.client_key", "needs target.client_cert"),
            (None, None) => {}
        }
        if let Some(ca) = &t.ca_cert {
            tls.ca_pem = Some(read(dir, "target.ca_cert", ca)?);
        }

        let bank = bank::bank(f.bank, spec_version, conformance)?;

        let clients = clients::clients(f.registration, f.tpp, dir, &base_url, spec_version)?;

        let signing = match f.request_signing {
            None => None,
            Some(s) => {
                let pem = match &s.private_key {
                    Some(p) => {
                        let pem = String::from_utf8(read(dir, "request_signing.private_key", p)?)
                            .or_else(|_| {
                            err("request_signing.private_key", "is not PEM text")
                        })?;
                        crate::jose::SigningKey::from_pem(&pem)
                            .or_else(|e| err("request_signing.private_key", e))?;
                        Some(pem)
                    }
                    None if matches!(clients, Clients::Register(_)) => None,
                    None => {
                        return err(
                            "request_signing.private_key",
                            "is needed with fixed [[tpp]] clients",
                        );
                    }
                };
                Some(Signing {
                    pem,
                    key_id: s.key_id,
                    iss: s.iss.unwrap_or_else(|| "obevents-harness".into()),
                    tan: s.tan.unwrap_or_else(|| "openbanking.org.uk".into()),
                })
            }
        };
        if bank.request_signatures != RequestSignatures::Ignored && signing.is_none() {
            return err(
                "request_signing",
                "is needed when bank.request_signatures is verified or required",
            );
        }

        let (trigger, trigger_types, trigger_resource_type, trigger_timeout) =
            trigger::trigger(f.trigger, &bank)?;
        let action =
            |file: Option<TriggerFile>, field: &str| -> Result<Option<Trigger>, ProfileError> {
                match file {
                    None => Ok(None),
                    Some(_) if bank.subscription_api => {
                        err(field, "is only for bank.subscription_api = false")
                    }
                    Some(file) => trigger::trigger(Some(file), &bank)
                        .map(|t| Some(t.0))
                        .map_err(|e| ProfileError(e.0.replace("trigger.", &format!("{field}.")))),
                }
            };
        let subscribe = action(f.subscribe, "subscribe")?;
        let unsubscribe = action(f.unsubscribe, "unsubscribe")?;

        let mtls_clients = match &clients {
            Clients::Fixed(tpps) => tpps.iter().any(|t| t.auth == ClientAuth::TlsClientAuth),
            Clients::Register(r) => r.auth.uses_certificate(),
        };
        if mtls_clients && tls.client_cert_pem.is_none() {
            return err(
                "target.client_cert",
                "is needed for the auth_method tls_client_auth and self_signed_tls_client_auth (the certificate authenticates the client)",
            );
        }
        let (dialect, yapily) = yapily::dialect(f.dialect.as_deref(), f.yapily)?;
        let needs_token_endpoint = dialect == Dialect::Obie
            && match &clients {
                Clients::Register(_) => true,
                Clients::Fixed(tpps) => tpps.iter().any(|t| t.auth.uses_token_endpoint()),
            };
        if needs_token_endpoint && token_endpoint.is_none() {
            return err(
                "target.token_endpoint",
                "is needed for [registration] and for client_credentials [[tpp]] (auth_method bearer or none need none)",
            );
        }

        let event_timeout =
            Duration::from_millis(f.timing.event_timeout_ms.unwrap_or(10_000).max(1));
        let push = push::push(f.push, event_timeout, dir)?;
        let fixed = matches!(clients, Clients::Fixed(_));
        let tatra = tatra::tatra(dialect, f.tatra, &bank, event_timeout, fixed)?;

        Ok(Profile {
            name: f.name.unwrap_or_else(|| base_url.clone()),
            spec_version,
            conformance,
            base_url,
            api_base,
            paths,
            token_endpoint,
            jwks_url,
            issuer,
            ob_iss: t.ob_iss,
            trust_anchor: t.trust_anchor,
            alg,
            tls,
            request_timeout: Duration::from_secs(t.request_timeout_secs.unwrap_or(30).max(1)),
            clients,
            signing,
            trigger,
            subscribe,
            unsubscribe,
            trigger_types,
            trigger_resource_type,
            trigger_timeout,
            bank,
            event_timeout,
            poll_interval: Duration::from_millis(f.timing.poll_interval_ms.unwrap_or(50)),
            clock_skew: f.timing.clock_skew_secs.unwrap_or(60).max(0),
            push,
            dialect,
            yapily,
            tatra,
        })
    }
}

#[cfg(test)]
mod tests;
