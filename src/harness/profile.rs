//! Target profiles: how to reach a bank and what it documents about itself (obie-rules §11).
//! A TOML file (format in the README, examples in `fixtures/profiles/`) is read into
//! [`ProfileFile`] and validated into a [`Profile`]; every error names the field at fault.
//! The embedded sandbox gets a built-in profile from [`Profile::for_sandbox`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::model::EventType;
use crate::model::bank::{LongPolling, SpecVersion, UnknownAck};
use crate::sandbox::personality::Personality;

/// A bad profile: the message names the field (exit code 2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("profile: {0}")]
pub struct ProfileError(pub String);

fn err<T>(field: &str, msg: impl std::fmt::Display) -> Result<T, ProfileError> {
    Err(ProfileError(format!("field {field}: {msg}")))
}

// ---- the file ------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub name: Option<String>,
    pub spec_version: Option<String>,
    /// `obie` (default) or `rfc8936`.
    pub conformance: Option<String>,
    pub target: TargetFile,
    #[serde(default)]
    pub tpp: Vec<TppFile>,
    pub registration: Option<RegistrationFile>,
    pub request_signing: Option<SigningFile>,
    pub trigger: Option<TriggerFile>,
    #[serde(default)]
    pub bank: BankFile,
    #[serde(default)]
    pub timing: TimingFile,
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
    pub subscription_version: Option<String>,
    pub callback_urls: Option<bool>,
    pub realtime: Option<bool>,
    pub request_signatures: Option<String>,
    pub response_signatures: Option<bool>,
    pub more_available_required: Option<bool>,
    pub oldest_first: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingFile {
    pub event_timeout_ms: Option<u64>,
    pub poll_interval_ms: Option<u64>,
    pub clock_skew_secs: Option<i64>,
}

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
    pub secret_post: bool,
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
    /// Event types the trigger can produce.
    pub trigger_types: Vec<EventType>,
    pub trigger_resource_type: String,
    pub trigger_timeout: Duration,
    pub bank: BankSettings,
    pub event_timeout: Duration,
    /// Pause between the harness's own polls while it waits for events (AP-16 polling limits).
    pub poll_interval: Duration,
    pub clock_skew: i64,
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

        let b = f.bank;
        let long_polling = one_of(
            "bank.long_polling",
            b.long_polling.as_deref(),
            LongPolling::Supported,
            &[
                ("supported", LongPolling::Supported),
                ("immediate", LongPolling::Immediate),
                ("reject", LongPolling::Reject),
            ],
        )?;
        let reject_above_cap = one_of(
            "bank.above_cap",
            b.above_cap.as_deref(),
            false,
            &[("truncate", false), ("reject", true)],
        )?;
        let unknown_ack = one_of(
            "bank.unknown_ack",
            b.unknown_ack.as_deref(),
            UnknownAck::Ignore,
            &[
                ("ignore", UnknownAck::Ignore),
                ("reject", UnknownAck::Reject),
            ],
        )?;
        let request_signatures = one_of(
            "bank.request_signatures",
            b.request_signatures.as_deref(),
            RequestSignatures::Ignored,
            &[
                ("ignored", RequestSignatures::Ignored),
                ("verified", RequestSignatures::Verified),
                ("required", RequestSignatures::Required),
            ],
        )?;
        let poll_success_status = b.poll_success_status.unwrap_or_else(|| match spec_version {
            SpecVersion::V3_1_2 => vec![201],
            SpecVersion::V3_1_11 => vec![200],
        });
        if poll_success_status.is_empty()
            || poll_success_status.iter().any(|s| !(200..300).contains(s))
        {
            return err("bank.poll_success_status", "must list 2xx codes");
        }
        let bank_types = match &b.event_types {
            Some(names) => event_types("bank.event_types", names)?,
            None => vec![EventType::ResourceUpdate],
        };
        if bank_types.is_empty() {
            return err("bank.event_types", "must name at least one event type");
        }
        if b.max_events_cap == Some(0) {
            return err("bank.max_events_cap", "must be at least 1");
        }
        if b.default_batch == Some(0) {
            return err("bank.default_batch", "must be at least 1");
        }
        let long_poll_timeout = Duration::from_millis(b.long_poll_timeout_ms.unwrap_or(30_000));
        if long_poll_timeout.is_zero() {
            return err("bank.long_poll_timeout_ms", "must be at least 1");
        }
        let bank = BankSettings {
            polling: b.polling.unwrap_or(true),
            subscription_api: b.subscription_api.unwrap_or(true),
            long_polling,
            long_poll_timeout,
            max_events_cap: b.max_events_cap,
            reject_above_cap,
            default_batch: b.default_batch,
            unknown_ack,
            poll_success_status,
            errored_redelivered: b.errored_redelivered.unwrap_or(true),
            event_types: bank_types,
            subscription_version: b.subscription_version.unwrap_or_else(|| "3.1".into()),
            callback_urls: b.callback_urls.unwrap_or(false),
            realtime: b.realtime.unwrap_or(false),
            request_signatures,
            response_signatures: b.response_signatures.unwrap_or(true),
            // RFC 8936 lets moreAvailable be omitted; only the OB schema requires it.
            more_available_required: b
                .more_available_required
                .unwrap_or(conformance == Conformance::Obie),
            oldest_first: b.oldest_first.unwrap_or(false),
        };

        let default_scope = |spec: SpecVersion| match spec {
            SpecVersion::V3_1_2 => "eventpolling",
            SpecVersion::V3_1_11 => "accounts",
        };
        let clients = match (f.registration, f.tpp.is_empty()) {
            (Some(_), false) => {
                return err(
                    "registration",
                    "give either registration or two [[tpp]] tables, not both",
                );
            }
            (Some(r), true) => {
                let secret_post = one_of(
                    "registration.auth_method",
                    r.auth_method.as_deref(),
                    false,
                    &[("client_secret_basic", false), ("client_secret_post", true)],
                )?;
                Clients::Register(Registration {
                    endpoint: absolute_url("registration.endpoint", &base_url, &r.endpoint)?,
                    scope: r.scope.unwrap_or_else(|| {
                        "accounts payments fundsconfirmations eventpolling".into()
                    }),
                    restricted_scope: r.restricted_scope,
                    secret_post,
                })
            }
            (None, true) => {
                return err(
                    "tpp",
                    "two [[tpp]] tables are needed (isolation tests use both), or a [registration] table",
                );
            }
            (None, false) => {
                if f.tpp.len() != 2 {
                    return err(
                        "tpp",
                        format!(
                            "exactly two [[tpp]] tables are needed, found {}",
                            f.tpp.len()
                        ),
                    );
                }
                let mut tpps = Vec::new();
                for (i, tpp) in f.tpp.into_iter().enumerate() {
                    let field = |n: &str| format!("tpp[{i}].{n}");
                    if tpp.client_id.trim().is_empty() {
                        return err(&field("client_id"), "must not be empty");
                    }
                    let method = tpp.auth_method.as_deref().unwrap_or("client_secret_basic");
                    let auth = match method {
                        "bearer" => match tpp.access_token.clone() {
                            Some(t) if !t.trim().is_empty() => ClientAuth::Bearer(t),
                            _ => return err(&field("access_token"), "is needed for bearer"),
                        },
                        "none" => ClientAuth::None,
                        "client_secret_basic" | "client_secret_post" => {
                            let Some(secret) = tpp.client_secret.clone() else {
                                return err(
                                    &field("client_secret"),
                                    format!("is needed for {method}"),
                                );
                            };
                            if method == "client_secret_basic" {
                                ClientAuth::SecretBasic(secret)
                            } else {
                                ClientAuth::SecretPost(secret)
                            }
                        }
                        "private_key_jwt" => {
                            let Some(p) = &tpp.private_key else {
                                return err(&field("private_key"), "is needed for private_key_jwt");
                            };
                            let pem = String::from_utf8(read(dir, &field("private_key"), p)?)
                                .or_else(|_| err(&field("private_key"), "is not PEM text"))?;
                            crate::jose::SigningKey::from_pem(&pem)
                                .or_else(|e| err(&field("private_key"), e))?;
                            let Some(key_id) = tpp.key_id.clone() else {
                                return err(&field("key_id"), "is needed for private_key_jwt");
                            };
                            ClientAuth::PrivateKeyJwt { pem, key_id }
                        }
                        other => {
                            return err(
                                &field("auth_method"),
                                format!(
                                    "{other:?} is not one of client_secret_basic, client_secret_post, private_key_jwt, bearer, none"
                                ),
                            );
                        }
                    };
                    tpps.push(TppConfig {
                        name: tpp.name.unwrap_or_else(|| ["A", "B"][i].to_string()),
                        aud: tpp.aud.unwrap_or_else(|| tpp.client_id.clone()),
                        client_id: tpp.client_id,
                        auth,
                        events_scope: tpp.events_scope.unwrap_or_else(|| "accounts".into()),
                        polling_scope: tpp
                            .polling_scope
                            .unwrap_or_else(|| default_scope(spec_version).into()),
                        restricted_scope: tpp.restricted_scope,
                        restricted_client: None,
                    });
                }
                if tpps[0].client_id == tpps[1].client_id && tpps[0].auth == tpps[1].auth {
                    return err("tpp[1].client_id", "the two TPPs must be different clients");
                }
                Clients::Fixed(tpps)
            }
        };

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
        if request_signatures != RequestSignatures::Ignored && signing.is_none() {
            return err(
                "request_signing",
                "is needed when bank.request_signatures is verified or required",
            );
        }

        let (trigger, trigger_types, trigger_resource_type, trigger_timeout) = match f.trigger {
            None => (
                Trigger::None,
                Vec::new(),
                "account-access-consent".to_string(),
                Duration::from_secs(30),
            ),
            Some(tr) => {
                let timeout = Duration::from_secs(tr.timeout_secs.unwrap_or(30));
                let types = match &tr.event_types {
                    Some(names) => event_types("trigger.event_types", names)?,
                    None => bank.event_types.clone(),
                };
                if let Some(t) = types.iter().find(|t| !bank.event_types.contains(t)) {
                    return err(
                        "trigger.event_types",
                        format!("{t} is not in bank.event_types"),
                    );
                }
                let resource_type = tr
                    .resource_type
                    .clone()
                    .unwrap_or_else(|| "account-access-consent".into());
                let trigger = match tr.kind.as_str() {
                    "http" => {
                        let Some(url) = tr.url.clone() else { return err("trigger.url", "is needed for kind = \"http\"") };
                        let url = if url.starts_with('/') { format!("{{base_url}}{url}") } else { url };
                        let auth = match tr.auth.as_deref() {
                            None | Some("none") => TriggerAuth::None,
                            Some("tpp-token") => TriggerAuth::TppToken,
                            Some("basic") => match (tr.username.clone(), tr.password.clone()) {
                                (Some(username), Some(password)) => TriggerAuth::Basic { username, password },
                                _ => return err("trigger.username", "basic auth needs trigger.username and trigger.password"),
                            },
                            Some(other) => return err("trigger.auth", format!("{other:?} is not one of none, tpp-token, basic")),
                        };
                        let method = tr.method.clone().unwrap_or_else(|| "POST".into()).to_ascii_uppercase();
                        if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method.as_str()) {
                            return err("trigger.method", format!("{method:?} is not an HTTP method this harness sends"));
                        }
                        Trigger::Http {
                            method,
                            url,
                            headers: tr.headers.clone().into_iter().collect(),
                            body: tr.body.clone(),
                            auth,
                            expect_status: tr.expect_status.clone().unwrap_or_else(|| vec![200, 201, 202, 204]),
                            jti_pointer: tr.jti_pointer.clone().unwrap_or_else(|| "/jti".into()),
                        }
                    }
                    "command" => match &tr.command {
                        Some(argv) if !argv.is_empty() => Trigger::Command { argv: argv.clone() },
                        _ => return err("trigger.command", "is needed (a non-empty list) for kind = \"command\""),
                    },
                    "manual" => Trigger::Manual {
                        prompt: tr.prompt.clone().unwrap_or_else(|| {
                            "Make a {event_type} event happen for client {client_id} (resource {resource_id}), then press Enter".into()
                        }),
                    },
                    "none" => Trigger::None,
                    other => return err("trigger.kind", format!("{other:?} is not one of http, command, manual, none")),
                };
                let types = if matches!(trigger, Trigger::None) {
                    Vec::new()
                } else {
                    types
                };
                (trigger, types, resource_type, timeout)
            }
        };

        let needs_token_endpoint = match &clients {
            Clients::Register(_) => true,
            Clients::Fixed(tpps) => tpps.iter().any(|t| t.auth.uses_token_endpoint()),
        };
        if needs_token_endpoint && token_endpoint.is_none() {
            return err(
                "target.token_endpoint",
                "is needed for [registration] and for client_credentials [[tpp]] (auth_method bearer or none need none)",
            );
        }

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
            trigger_types,
            trigger_resource_type,
            trigger_timeout,
            bank,
            event_timeout: Duration::from_millis(
                f.timing.event_timeout_ms.unwrap_or(10_000).max(1),
            ),
            poll_interval: Duration::from_millis(f.timing.poll_interval_ms.unwrap_or(50)),
            clock_skew: f.timing.clock_skew_secs.unwrap_or(60).max(0),
        })
    }

    /// The built-in profile for an obevents sandbox of `personality` at `base_url`: per-scenario
    /// clients via `/register`, the `/sandbox/events` trigger, and the personality's documented
    /// settings. `fixtures/profiles/<bank>.toml` hold the same content as files.
    pub fn for_sandbox(
        base_url: &str,
        p: &Personality,
        long_poll_timeout: Duration,
        max_events_cap: usize,
        signatures_required: bool,
    ) -> Result<Profile, ProfileError> {
        let file = sandbox_profile_toml(
            base_url,
            p,
            long_poll_timeout,
            max_events_cap,
            signatures_required,
        );
        let parsed: ProfileFile =
            toml::from_str(&file).map_err(|e| ProfileError(format!("built-in profile: {e}")))?;
        Profile::from_file(parsed, Path::new("."), None)
    }
}

/// The TOML of the built-in sandbox profile (also what `fixtures/profiles/*.toml` contain).
pub fn sandbox_profile_toml(
    base_url: &str,
    p: &Personality,
    long_poll_timeout: Duration,
    max_events_cap: usize,
    signatures_required: bool,
) -> String {
    let long_polling = match p.long_polling {
        LongPolling::Supported => "supported",
        LongPolling::Immediate => "immediate",
        LongPolling::Reject => "reject",
    };
    let types: Vec<String> = p
        .event_types
        .iter()
        .map(|t| format!("\"{}\"", t.code()))
        .collect();
    let (cap, above) = match p.max_events_limit {
        Some(limit) => (limit as u64, "reject"),
        None => (max_events_cap as u64, "truncate"),
    };
    let default_batch = p
        .default_batch
        .map(|n| format!("default_batch = {n}\n"))
        .unwrap_or_default();
    let unknown_ack = match p.unknown_ack {
        UnknownAck::Ignore => "ignore",
        UnknownAck::Reject => "reject",
    };
    format!(
        r#"name = "obevents sandbox ({bank})"
spec_version = "{spec}"

[target]
base_url = "{base_url}"
token_endpoint = "/token"
jwks_url = "/jwks"
issuer = "{{base_url}}"
ob_iss = "0015800001041RObev"
trust_anchor = "openbanking.org.uk"

[registration]
endpoint = "/register"
scope = "accounts payments fundsconfirmations eventpolling"
restricted_scope = "openid"

[request_signing]
iss = "obevents-harness"

[trigger]
kind = "http"
method = "POST"
url = "/sandbox/events"
headers = {{ "Content-Type" = "application/json" }}
body = '{{"clientId":"{{client_id}}","eventType":"{{event_type}}","resourceId":"{{resource_id}}","resourceType":"{{resource_type}}"}}'
expect_status = [200, 201]

[bank]
long_polling = "{long_polling}"
long_poll_timeout_ms = {lpt}
max_events_cap = {cap}
above_cap = "{above}"
{default_batch}unknown_ack = "{unknown_ack}"
poll_success_status = [{status}]
errored_redelivered = {errored}
event_types = [{types}]
subscription_version = "3.1"
callback_urls = true
realtime = false
request_signatures = "{sigs}"
response_signatures = true
more_available_required = true
oldest_first = true

[timing]
event_timeout_ms = 5000
clock_skew_secs = 60
"#,
        bank = p.bank.name(),
        spec = p.spec_version.as_str(),
        lpt = long_poll_timeout.as_millis(),
        status = p.poll_status.as_u16(),
        errored = p.errored_redelivered,
        types = types.join(", "),
        sigs = if signatures_required {
            "required"
        } else {
            "verified"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::personality::Bank;

    fn parse(text: &str) -> Result<Profile, ProfileError> {
        let f: ProfileFile = toml::from_str(text).map_err(|e| ProfileError(e.to_string()))?;
        Profile::from_file(f, Path::new("."), None)
    }

    #[test]
    fn builtin_profiles_parse() {
        for bank in Bank::ALL {
            let p = Profile::for_sandbox(
                "http://127.0.0.1:1",
                &Personality::of(bank),
                Duration::from_secs(1),
                100,
                false,
            )
            .unwrap();
            assert_eq!(
                p.token_endpoint.as_deref(),
                Some("http://127.0.0.1:1/token")
            );
            assert!(matches!(p.clients, Clients::Register(_)));
        }
    }

    /// `fixtures/profiles/<bank>.toml` are exactly the built-in profiles for a sandbox started
    /// with `fixtures/profiles/sandbox.toml` on 127.0.0.1:8080. `OBEVENTS_BLESS=1` rewrites them.
    #[test]
    fn example_profiles_match_the_builtin_ones() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles");
        let cfg = crate::sandbox::SandboxConfig::load(Some(&dir.join("sandbox.toml")), None, &[])
            .unwrap();
        for bank in Bank::ALL {
            let body = sandbox_profile_toml(
                "http://127.0.0.1:8080",
                &Personality::of(bank),
                cfg.long_poll_timeout,
                cfg.max_events_cap,
                false,
            );
            let text = format!(
                "# Example target profile for the obevents sandbox with the {bank} personality, started as\n\
                 #   obevents sandbox --bank {bank} --db :memory: --config fixtures/profiles/sandbox.toml\n\
                 # Run: obevents test --profile fixtures/profiles/{bank}.toml\n\
                 # (Generated from the harness's built-in profile; a unit test keeps the two equal.)\n\n{body}"
            );
            let path = dir.join(format!("{bank}.toml"));
            if std::env::var_os("OBEVENTS_BLESS").is_some() {
                std::fs::write(&path, &text).unwrap();
            }
            assert_eq!(
                std::fs::read_to_string(&path).unwrap_or_default(),
                text,
                "{} is stale: run with OBEVENTS_BLESS=1",
                path.display()
            );
            Profile::load(&path, None).unwrap();
        }
    }

    /// The real-bank template uses only known fields (its key files do not exist, so it is
    /// parsed, not validated).
    #[test]
    fn template_profile_has_only_known_fields() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles/template-bank.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let file: ProfileFile = toml::from_str(&text).unwrap();
        assert_eq!(file.tpp.len(), 2);
    }

    #[test]
    fn errors_name_fields() {
        let base = r#"
            [target]
            base_url = "https://bank.example"
            token_endpoint = "/token"
            jwks_url = "/jwks"
            issuer = "https://bank.example"
        "#;
        assert!(parse(base).unwrap_err().0.contains("tpp"));
        let two = format!(
            "{base}\n[[tpp]]\nclient_id=\"a\"\nclient_secret=\"s\"\n[[tpp]]\nclient_id=\"b\"\nclient_secret=\"s\"\n"
        );
        assert!(parse(&two).is_ok());
        assert!(
            parse(&format!("{two}\n[bank]\nlong_polling = \"sometimes\""))
                .unwrap_err()
                .0
                .contains("bank.long_polling")
        );
        assert!(
            parse(&format!("{two}\n[trigger]\nkind = \"carrier-pigeon\""))
                .unwrap_err()
                .0
                .contains("trigger.kind")
        );
        assert!(
            parse(&format!("{two}\n[trigger]\nkind = \"http\""))
                .unwrap_err()
                .0
                .contains("trigger.url")
        );
        assert!(
            parse(&format!("{two}\n[bank]\nrequest_signatures = \"required\""))
                .unwrap_err()
                .0
                .contains("request_signing")
        );
    }
}
