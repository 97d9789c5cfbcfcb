//! Target profiles: how to reach a bank and what it documents about itself (obie-rules §11).
//! A TOML file (format in the README, examples in `fixtures/profiles/`) is read into
//! [`ProfileFile`] and validated into a [`Profile`]; every error names the field at fault.
//! The embedded sandbox gets a built-in profile from [`Profile::for_sandbox`]. Each section is
//! validated by a function of its own, most in their own module: `target`, `bank`, `clients`
//! (TPPs and auth), `trigger` (also `[subscribe]`/`[unsubscribe]`), `push`, `yapily`, `tatra`;
//! the spec version, request signing, timing and the checks across sections here.

use std::path::Path;
use std::time::Duration;

use crate::model::bank::{LongPolling, SpecVersion, UnknownAck};

mod bank;
mod clients;
mod event_types;
mod file;
mod push;
mod sandbox;
mod stream;
mod target;
mod tatra;
pub mod tpp;
pub mod tpp_dialects;
pub mod tpp_polling;
pub mod tpp_publish;
mod trigger;
mod yapily;

pub use clients::RegistrationAuth;
pub use event_types::BankEventType;
pub use push::{PendingRetries, PushPolicy, RetrySpacing};
pub use sandbox::sandbox_profile_toml;
pub use stream::{PushRegistration, StreamActions};
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
    /// How the profile spells the level.
    pub fn name(self) -> &'static str {
        match self {
            Conformance::Obie => "obie",
            Conformance::Rfc8936 => "rfc8936",
        }
    }

    /// Is `rule` one this level judges a bank on? Never a definition of what the recipient
    /// sends (R8936-10, R8936-12: they bind the TPP). At `rfc8936`, only the RFCs' own rules
    /// (RFC 8417, 8935, 8936) that the catalogue marks as the transmitter's and testable on the
    /// wire: a MAY the RFC leaves open (R8936-18, R8936-06) or a recipient's duty is not
    /// a transmitter's failure. Rules the catalogue does not know are judged by their prefix.
    pub fn judges(self, rule: &str) -> bool {
        let entry = super::catalogue::rule(rule);
        if entry.is_some_and(super::catalogue::Rule::is_recipient_definition) {
            return false;
        }
        match self {
            Conformance::Obie => true,
            Conformance::Rfc8936 => {
                RFC_PREFIXES.iter().any(|p| rule.starts_with(p))
                    && entry.is_none_or(|r| r.role != "TPP" && r.testable)
            }
        }
    }
}

/// The rule-ID prefixes of the RFCs an `rfc8936` target is judged on.
pub const RFC_PREFIXES: [&str; 3] = ["R8417-", "R8935-", "R8936-"];

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
    /// The event types the bank documents (OBIE's or its own); empty: it names none.
    pub event_types: Vec<BankEventType>,
    pub subscription_version: String,
    pub callback_urls: bool,
    pub realtime: bool,
    pub request_signatures: RequestSignatures,
    pub response_signatures: bool,
    pub more_available_required: bool,
    /// The bank documents that polls return the oldest SETs first (R8936-06 leaves it open).
    pub oldest_first: bool,
    /// A long poll with SETs already awaiting is answered at once (R8936-18, a MAY: declared).
    pub answers_awaiting_at_once: bool,
    /// An unacknowledged SET is offered again by later polls (OBIE's "awaiting events"; a MAY
    /// of RFC 8936, R8936-19; false for a bank operating without acknowledgements, AP-15).
    pub redelivers_unacked: bool,
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
    pub trigger_types: Vec<BankEventType>,
    /// What `{event_type}` is for a type, by its name (`[trigger] event_type_values`); without
    /// an entry: OBIE's URN, or the bank's own type's name.
    pub trigger_event_values: std::collections::BTreeMap<String, String>,
    pub trigger_resource_type: String,
    pub trigger_timeout: Duration,
    pub bank: BankSettings,
    pub event_timeout: Duration,
    /// Pause between the harness's own polls while it waits for events (AP-16 polling limits).
    pub poll_interval: Duration,
    pub clock_skew: i64,
    /// Real-time push: the bank's declared policy and the receiver's settings.
    pub push: PushPolicy,
    /// How the receiver is registered for push: the subscription's CallbackUrl or a stream.
    pub push_registration: PushRegistration,
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

/// PEM bytes read from a profile's files (`None` when the field is absent).
type Pem = Option<Vec<u8>>;

/// A TPP-profile section's `ca_cert` and `client_cert`/`client_key` (read from `dir`): the CA
/// bundle, and the identity as the certificate followed by its key (one PEM, or the
/// certificate's file alone when it holds both).
fn tls_pems(
    dir: &Path,
    section: &str,
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<(Pem, Pem), ProfileError> {
    let field = format!("{section}.client_cert");
    let identity = match (cert, key) {
        (Some(c), Some(k)) => {
            let mut pem = read(dir, &field, c)?;
            pem.push(b'\n');
            pem.extend(read(dir, &format!("{section}.client_key"), k)?);
            Some(check_identity(&field, pem)?)
        }
        (Some(c), None) => Some(check_identity(&field, read(dir, &field, c)?)?),
        (None, Some(_)) => {
            return err(
                &format!("{section}.client_key"),
                format!("needs {section}.client_cert"),
            );
        }
        (None, None) => None,
    };
    let ca = ca
        .map(|c| read_ca(dir, &format!("{section}.ca_cert"), c))
        .transpose()?;
    Ok((ca, identity))
}

/// A profile's `ca_cert` read as what it must be: a PEM bundle of at least one certificate.
fn read_ca(dir: &Path, field: &str, p: &Path) -> Result<Vec<u8>, ProfileError> {
    let pem = read(dir, field, p)?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(pem),
        Ok(_) => err(field, "holds no PEM CERTIFICATE block"),
        Err(e) => err(
            field,
            format!(
                "is not a PEM certificate bundle: {}",
                crate::harness::client::describe(&e)
            ),
        ),
    }
}

/// A profile's client identity (certificate, then its key), checked as one the client can use.
fn check_identity(field: &str, pem: Vec<u8>) -> Result<Vec<u8>, ProfileError> {
    match reqwest::Identity::from_pem(&pem) {
        Ok(_) => Ok(pem),
        Err(e) => err(
            field,
            format!(
                "is not a PEM certificate with its private key: {}",
                crate::harness::client::describe(&e)
            ),
        ),
    }
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

impl Profile {
    /// The bank's event type `name` names (an OBIE type in any spelling, or one of its own by
    /// name), if the profile lists it.
    pub fn event_type(&self, name: &str) -> Option<BankEventType> {
        let named = BankEventType::named(name, &std::collections::BTreeMap::new());
        self.bank
            .event_types
            .iter()
            .chain(&self.trigger_types)
            .find(|t| (t.ob.is_some() && t.ob == named.ob) || t.name == named.name)
            .cloned()
    }

    /// What `{event_type}` is when the trigger raises `t`: the profile's
    /// `trigger.event_type_values` entry, OBIE's URN, or the bank's own name.
    pub fn trigger_value(&self, t: &BankEventType) -> String {
        self.trigger_event_values
            .get(&t.name)
            .cloned()
            .or_else(|| t.ob.map(|o| o.urn().to_string()))
            .unwrap_or_else(|| t.name.clone())
    }

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

    /// Validates a profile file, one section at a time (files relative to `dir`);
    /// `base_url_override` replaces `target.base_url`.
    pub fn from_file(
        mut f: ProfileFile,
        dir: &Path,
        base_url_override: Option<&str>,
    ) -> Result<Profile, ProfileError> {
        let spec_version = spec_version(f.spec_version.as_deref())?;
        let conformance = one_of(
            "conformance",
            f.conformance.as_deref(),
            Conformance::Obie,
            &[
                ("obie", Conformance::Obie),
                ("rfc8936", Conformance::Rfc8936),
            ],
        )?;
        let t = target::target(f.target, dir, base_url_override)?;
        let bank = bank::bank(f.bank, spec_version, conformance)?;
        let clients = clients::clients(f.registration, f.tpp, dir, &t.base_url, spec_version)?;
        let signing = signing(f.request_signing, dir, &clients, &bank)?;
        let (trigger, trigger_types, trigger_resource_type, trigger_timeout, trigger_event_values) =
            trigger::trigger(f.trigger, &bank)?;
        let subscribe = trigger::subscription_action(f.subscribe, "subscribe", &bank)?;
        let unsubscribe = trigger::subscription_action(f.unsubscribe, "unsubscribe", &bank)?;
        check_certificate_clients(&clients, &t.tls)?;
        let (dialect, yapily) = yapily::dialect(f.dialect.as_deref(), f.yapily)?;
        check_token_endpoint(dialect, &clients, t.token_endpoint.as_deref())?;
        let timing = timing(&f.timing);
        let push_registration = stream::registration(&mut f.push, &bank)?;
        let push = push::push(f.push, timing.event_timeout, dir)?;
        let fixed = matches!(clients, Clients::Fixed(_));
        let tatra = tatra::tatra(dialect, f.tatra, &bank, timing.event_timeout, fixed)?;
        Ok(Profile {
            name: f.name.unwrap_or_else(|| t.base_url.clone()),
            spec_version,
            conformance,
            base_url: t.base_url,
            api_base: t.api_base,
            paths: t.paths,
            token_endpoint: t.token_endpoint,
            jwks_url: t.jwks_url,
            issuer: t.issuer,
            ob_iss: t.ob_iss,
            trust_anchor: t.trust_anchor,
            alg: t.alg,
            tls: t.tls,
            request_timeout: t.request_timeout,
            clients,
            signing,
            trigger,
            subscribe,
            unsubscribe,
            trigger_types,
            trigger_event_values,
            trigger_resource_type,
            trigger_timeout,
            bank,
            event_timeout: timing.event_timeout,
            poll_interval: timing.poll_interval,
            clock_skew: timing.clock_skew,
            push,
            push_registration,
            dialect,
            yapily,
            tatra,
        })
    }
}

fn spec_version(v: Option<&str>) -> Result<SpecVersion, ProfileError> {
    match v {
        None | Some("3.1.11") | Some("3.1.10") | Some("3.1.4") | Some("3.1") => {
            Ok(SpecVersion::V3_1_11)
        }
        Some("3.1.2") | Some("3.1.3") => Ok(SpecVersion::V3_1_2),
        Some(v) => err(
            "spec_version",
            format!("{v:?} is not supported (3.1.2 … 3.1.11)"),
        ),
    }
}

/// Validates `[request_signing]`: the harness's key (generated per run when clients are
/// registered, so their JWKS can carry it) and the claims it signs with.
fn signing(
    file: Option<SigningFile>,
    dir: &Path,
    clients: &Clients,
    bank: &BankSettings,
) -> Result<Option<Signing>, ProfileError> {
    let Some(s) = file else {
        if bank.request_signatures != RequestSignatures::Ignored {
            return err(
                "request_signing",
                "is needed when bank.request_signatures is verified or required",
            );
        }
        return Ok(None);
    };
    let pem = match &s.private_key {
        Some(p) => {
            let field = "request_signing.private_key";
            let pem = String::from_utf8(read(dir, field, p)?)
                .or_else(|_| err(field, "is not PEM text"))?;
            crate::jose::SigningKey::from_pem(&pem).or_else(|e| err(field, e))?;
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
    Ok(Some(Signing {
        pem,
        key_id: s.key_id,
        iss: s.iss.unwrap_or_else(|| "obevents-harness".into()),
        tan: s.tan.unwrap_or_else(|| "openbanking.org.uk".into()),
    }))
}

/// Clients authenticated by a certificate need `[target]` to present one.
fn check_certificate_clients(clients: &Clients, tls: &TlsSettings) -> Result<(), ProfileError> {
    let mtls_clients = match clients {
        Clients::Fixed(tpps) => tpps.iter().any(|t| t.auth == ClientAuth::TlsClientAuth),
        Clients::Register(r) => r.auth.uses_certificate(),
    };
    if mtls_clients && tls.client_cert_pem.is_none() {
        return err(
            "target.client_cert",
            "is needed for the auth_method tls_client_auth and self_signed_tls_client_auth (the certificate authenticates the client)",
        );
    }
    Ok(())
}

/// An OBIE-style bank whose clients get tokens by client credentials needs a token endpoint.
fn check_token_endpoint(
    dialect: Dialect,
    clients: &Clients,
    token_endpoint: Option<&str>,
) -> Result<(), ProfileError> {
    let needs_token_endpoint = dialect == Dialect::Obie
        && match clients {
            Clients::Register(_) => true,
            Clients::Fixed(tpps) => tpps.iter().any(|t| t.auth.uses_token_endpoint()),
        };
    if needs_token_endpoint && token_endpoint.is_none() {
        return err(
            "target.token_endpoint",
            "is needed for [registration] and for client_credentials [[tpp]] (auth_method bearer or none need none)",
        );
    }
    Ok(())
}

/// The validated `[timing]` section.
struct Timing {
    event_timeout: Duration,
    poll_interval: Duration,
    clock_skew: i64,
}

fn timing(t: &TimingFile) -> Timing {
    Timing {
        event_timeout: Duration::from_millis(t.event_timeout_ms.unwrap_or(10_000).max(1)),
        poll_interval: Duration::from_millis(t.poll_interval_ms.unwrap_or(50)),
        clock_skew: t.clock_skew_secs.unwrap_or(60).max(0),
    }
}

#[cfg(test)]
mod tests;
