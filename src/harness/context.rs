//! What one run shares across scenarios: the validated profile, one HTTP client (mTLS and CA
//! from the profile), compiled schemas, the bank's JWKS (fetched once, refreshed once on an
//! unknown `kid`), the run-wide jti registry (R8417-08), and the harness's request-signing key.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use josekit::jwk::JwkSet;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{self, Exchange, Request};
use super::profile::{ClientAuth, Clients, Profile, RegistrationAuth, TppConfig};
use super::schema::Schemas;
use crate::jose::{self, Alg, SigningKey};
use rustls_pki_types::pem::PemObject as _;

/// Run-wide state. Scenarios hold it through an `Arc`.
pub struct RunContext {
    pub profile: Profile,
    pub http: reqwest::Client,
    pub schemas: Schemas,
    /// The bank's JWKS as JSON text; `None` until first fetched.
    jwks: tokio::sync::Mutex<Option<String>>,
    /// jti → canonical claims JSON of every SET seen in this run.
    jtis: Mutex<HashMap<String, String>>,
    /// Key for `x-jws-signature` on requests, if the profile signs.
    pub signing_key: Option<SigningKey>,
    pub signing_kid: String,
    /// Serialises manual triggers (one prompt at a time).
    pub manual_lock: tokio::sync::Mutex<()>,
    /// SETs (by jti) the bank serves again after they were acknowledged (AP-09): no scenario
    /// can drain them, so every later scenario leaves them out.
    stuck: Mutex<HashSet<String>>,
    /// Per client id, the jtis of its own SETs whose acknowledgement the bank accepted (2xx)
    /// in this run: one served again later is a defect of the ack rules, not of whichever
    /// scenario it turns up in.
    acked: Mutex<HashMap<String, HashSet<String>>>,
    /// Per kind (`subscription`, `stream`) and client id, what the run created and did not
    /// see deleted: the clean-up deletes them by id when the bank's list cannot be read (ES-08)
    /// or there is no list (a stream configuration).
    created: Mutex<HashMap<(String, String), Vec<String>>>,
    /// Which client each event the run raised was for.
    pub origins: super::origins::Origins,
    /// The callback receiver, when the profile declares real-time push (`bank.realtime`).
    pub receiver: Option<super::receiver::Receiver>,
    /// The TPP a TPP run referees (`obevents test --tpp`).
    pub tpp: Option<std::sync::Arc<super::referee::TppRun>>,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("target", &self.profile.base_url)
            .finish()
    }
}

/// What a scenario uses a token for; each maps to a scope from the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Events,
    Polling,
    Restricted,
}

/// Builds the run's HTTP client from the profile's TLS settings.
pub fn http_client(profile: &Profile) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(
            profile
                .request_timeout
                .max(profile.bank.long_poll_timeout + std::time::Duration::from_secs(10)),
        )
        .connect_timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64);
    if let Some(pem) = &profile.tls.client_cert_pem {
        let id = reqwest::Identity::from_pem(pem)
            .map_err(|e| format!("profile field target.client_cert: {e}"))?;
        b = b.identity(id);
    }
    if let Some(pem) = &profile.tls.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("profile field target.ca_cert: {e}"))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    if profile.tls.accept_invalid_certs {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

impl RunContext {
    pub fn new(profile: Profile) -> Result<RunContext, String> {
        let http = http_client(&profile)?;
        let schemas = Schemas::for_version(profile.spec_version)?;
        let (signing_key, signing_kid) = match &profile.signing {
            None => (None, String::new()),
            Some(s) => {
                let key = match &s.pem {
                    Some(pem) => SigningKey::from_pem(pem)
                        .map_err(|e| format!("profile field request_signing.private_key: {e}"))?,
                    None => SigningKey::for_process(crate::jose::KeyRole::Client)
                        .map_err(|e| format!("cannot generate a signing key: {e}"))?,
                };
                let kid = s.key_id.clone().unwrap_or_else(|| key.kid().to_string());
                (Some(key), kid)
            }
        };
        Ok(RunContext {
            profile,
            http,
            schemas,
            jwks: tokio::sync::Mutex::new(None),
            jtis: Mutex::new(HashMap::new()),
            signing_key,
            signing_kid,
            manual_lock: tokio::sync::Mutex::new(()),
            stuck: Mutex::new(HashSet::new()),
            acked: Mutex::new(HashMap::new()),
            created: Mutex::new(HashMap::new()),
            origins: Default::default(),
            receiver: None,
            tpp: None,
        })
    }

    /// Starts the callback receiver the profile's `[push]` section describes.
    pub async fn start_receiver(&mut self) -> Result<(), String> {
        let p = &self.profile.push;
        let tls = p
            .receiver_tls
            .as_ref()
            .map(|(c, k)| (c.as_slice(), k.as_slice()));
        let r = super::receiver::Receiver::start(
            p.receiver_listen,
            p.receiver_public_url.as_deref(),
            tls,
        )
        .await?;
        self.receiver = Some(r);
        Ok(())
    }

    /// The callback receiver, or why there is none.
    pub fn receiver(&self) -> Result<&super::receiver::Receiver, String> {
        self.receiver
            .as_ref()
            .ok_or_else(|| "no callback receiver runs (bank.realtime = false)".to_string())
    }

    /// `base_url` + `api_base` + `path`, with the resource at the start of `path` (written as
    /// the OBIE paths `/events`, `/event-subscriptions`, `/callback-urls`) replaced by the
    /// profile's path for it.
    pub fn api_url(&self, path: &str) -> String {
        let p = &self.profile.paths;
        let mapped = [
            ("/event-subscriptions", &p.subscriptions),
            ("/callback-urls", &p.callback_urls),
            ("/events", &p.events),
        ]
        .into_iter()
        .find_map(|(obie, own)| {
            let rest = path.strip_prefix(obie)?;
            (rest.is_empty() || rest.starts_with(['/', '?'])).then(|| format!("{own}{rest}"))
        })
        .unwrap_or_else(|| path.to_string());
        format!(
            "{}{}{}",
            self.profile.base_url, self.profile.api_base, mapped
        )
    }

    /// The bank's JWKS; fetched on first use, and again if `refresh` (after an unknown `kid`).
    pub async fn jwks(&self, refresh: bool) -> Result<JwkSet, String> {
        let url = self
            .profile
            .jwks_url
            .as_deref()
            .ok_or("the profile names no target.jwks_url")?;
        let mut cached = self.jwks.lock().await;
        if cached.is_none() || refresh {
            let ex = client::send(&self.http, Request::new(Method::GET, url)).await;
            if ex.status != Some(200) {
                return Err(format!("cannot fetch the JWKS: {}", ex.summary()));
            }
            jose::parse_jwks(ex.response_body.as_bytes()).map_err(|e| format!("{url}: {e}"))?;
            *cached = Some(ex.response_body);
        }
        let text = cached.as_deref().unwrap_or("{}");
        jose::parse_jwks(text.as_bytes()).map_err(|e| e.to_string())
    }

    /// R8417-08: records `claims` under `jti`; returns an error if the same jti was seen with
    /// different claims.
    pub fn record_jti(&self, jti: &str, claims: &Value) -> Result<(), String> {
        let canonical = canonical_json(claims);
        let mut map = self.jtis.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(jti) {
            Some(prev) if *prev != canonical => Err(format!(
                "R8417-08: jti {jti} was seen before with different claims (before: {prev}; now: {canonical})"
            )),
            Some(_) => Ok(()),
            None => {
                map.insert(jti.to_string(), canonical);
                Ok(())
            }
        }
    }

    /// Remembers `keys` as SETs the bank will not stop serving.
    pub fn mark_stuck(&self, keys: &[String]) {
        let mut set = self.stuck.lock().unwrap_or_else(|p| p.into_inner());
        set.extend(keys.iter().cloned());
    }

    /// Is `key` a SET the bank will not stop serving?
    pub fn is_stuck(&self, key: &str) -> bool {
        let set = self.stuck.lock().unwrap_or_else(|p| p.into_inner());
        set.contains(key)
    }

    /// How many SETs the bank will not stop serving.
    pub fn stuck_count(&self) -> usize {
        self.stuck.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Remembers that the bank accepted `client`'s acknowledgement of `jtis`.
    pub fn record_acks(&self, client: &str, jtis: &[String]) {
        if jtis.is_empty() {
            return;
        }
        let mut map = self.acked.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(client.to_string())
            .or_default()
            .extend(jtis.iter().cloned());
    }

    /// Did the bank accept `client`'s acknowledgement of `jti` earlier in the run?
    pub fn was_acked(&self, client: &str, jti: &str) -> bool {
        let map = self.acked.lock().unwrap_or_else(|p| p.into_inner());
        map.get(client).is_some_and(|s| s.contains(jti))
    }

    /// Remembers a resource of `kind` (`subscription`, `stream`) `client` created
    /// (`exists`), or that it is gone.
    pub fn note_created(&self, kind: &str, client: &str, id: &str, exists: bool) {
        let mut map = self.created.lock().unwrap_or_else(|p| p.into_inner());
        let list = map
            .entry((kind.to_string(), client.to_string()))
            .or_default();
        list.retain(|i| i != id);
        if exists {
            list.push(id.to_string());
        }
    }

    /// The resources of `kind` `client` created in this run and did not see deleted.
    pub fn created(&self, kind: &str, client: &str) -> Vec<String> {
        let map = self.created.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(kind.to_string(), client.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Registers a fresh client at the target (profile `[registration]`).
    pub async fn register(&self, name: &str, scope: &str) -> Result<(TppConfig, Exchange), String> {
        let Clients::Register(reg) = &self.profile.clients else {
            return Err("the profile has no [registration]".into());
        };
        let mut body =
            json!({ "client_name": format!("obevents harness TPP {name}"), "scope": scope });
        if let Some(key) = &self.signing_key {
            let mut jwk = key.public_jwk().clone();
            jwk.set_key_id(self.signing_kid.clone());
            body["jwks"] = jose::jwks_json(&[&jwk]);
        }
        if reg.auth != RegistrationAuth::SecretBasic {
            body["token_endpoint_auth_method"] = json!(reg.auth.name());
        }
        self.certificate_metadata(reg.auth, &mut body)?;
        let ex = client::send(
            &self.http,
            Request::new(Method::POST, &reg.endpoint).json(&body),
        )
        .await;
        if !(200..300).contains(&ex.status()) {
            return Err(format!("client registration failed: {}", ex.summary()));
        }
        let v = ex.json().unwrap_or(Value::Null);
        let secret = v["client_secret"].as_str();
        let (Some(id), Some(auth)) = (
            v["client_id"].as_str(),
            match reg.auth {
                RegistrationAuth::SecretBasic => secret.map(|s| ClientAuth::SecretBasic(s.into())),
                RegistrationAuth::SecretPost => secret.map(|s| ClientAuth::SecretPost(s.into())),
                _ => Some(ClientAuth::TlsClientAuth),
            },
        ) else {
            return Err(format!(
                "registration answer lacks client_id/client_secret: {}",
                ex.summary()
            ));
        };
        let polling_scope = match self.profile.spec_version {
            crate::model::bank::SpecVersion::V3_1_2 => "eventpolling",
            crate::model::bank::SpecVersion::V3_1_11 => "accounts",
        };
        Ok((
            TppConfig {
                name: name.into(),
                client_id: id.into(),
                auth,
                aud: id.into(),
                events_scope: "accounts".into(),
                polling_scope: polling_scope.into(),
                restricted_scope: reg.restricted_scope.clone(),
                restricted_client: None,
            },
            ex,
        ))
    }

    /// RFC 8705 client metadata for the certificate methods: the subject DN of the profile's
    /// client certificate (`tls_client_auth`), or the certificate in `x5c` of a key added to
    /// the client's `jwks` (`self_signed_tls_client_auth`).
    fn certificate_metadata(&self, auth: RegistrationAuth, body: &mut Value) -> Result<(), String> {
        if !auth.uses_certificate() {
            return Ok(());
        }
        let pem = self
            .profile
            .tls
            .client_cert_pem
            .as_deref()
            .unwrap_or_default();
        let der = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
            .next()
            .and_then(Result::ok)
            .ok_or("target.client_cert holds no PEM certificate")?;
        if auth == RegistrationAuth::TlsClientAuth {
            let dn = crate::sandbox::embedded::subject_dn(&der)
                .ok_or("target.client_cert: cannot read the certificate's subject")?;
            body["tls_client_auth_subject_dn"] = json!(dn);
            return Ok(());
        }
        let jwk = crate::sandbox::embedded::certificate_jwk(&der)
            .ok_or("target.client_cert: the certificate's key is not RSA or EC P-256")?;
        match body["jwks"]["keys"].as_array_mut() {
            Some(keys) => keys.push(jwk),
            None => body["jwks"] = json!({ "keys": [jwk] }),
        }
        Ok(())
    }

    /// A bearer token for `tpp` with `scope`: its static token, none (empty) when the API needs
    /// none, or a client-credentials token with the exchange that got it.
    pub async fn token(
        &self,
        tpp: &TppConfig,
        scope: &str,
    ) -> Result<(String, Option<Exchange>), String> {
        match &tpp.auth {
            ClientAuth::Bearer(token) => Ok((token.clone(), None)),
            ClientAuth::None => Ok((String::new(), None)),
            _ => self
                .client_credentials(tpp, scope)
                .await
                .map(|(t, ex)| (t, Some(ex))),
        }
    }

    /// Client-credentials token for `tpp` with `scope`.
    async fn client_credentials(
        &self,
        tpp: &TppConfig,
        scope: &str,
    ) -> Result<(String, Exchange), String> {
        let endpoint = self
            .profile
            .token_endpoint
            .as_deref()
            .ok_or("the profile names no target.token_endpoint")?;
        let mut form = vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("scope".to_string(), scope.to_string()),
        ];
        let mut req = Request::new(Method::POST, endpoint);
        match &tpp.auth {
            ClientAuth::SecretBasic(secret) => {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let creds = STANDARD.encode(format!("{}:{}", enc(&tpp.client_id), enc(secret)));
                req = req.header("Authorization", format!("Basic {creds}"));
            }
            ClientAuth::SecretPost(secret) => {
                form.push(("client_id".into(), tpp.client_id.clone()));
                form.push(("client_secret".into(), secret.clone()));
            }
            ClientAuth::PrivateKeyJwt { pem, key_id } => {
                let key = SigningKey::from_pem(pem).map_err(|e| e.to_string())?;
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let claims = json!({
                    "iss": tpp.client_id, "sub": tpp.client_id, "aud": endpoint,
                    "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string()
                });
                let mut header = serde_json::Map::new();
                header.insert("alg".into(), json!("PS256"));
                header.insert("kid".into(), json!(key_id));
                header.insert("typ".into(), json!("JWT"));
                let assertion = jose::sign_compact(&key, &header, claims.to_string().as_bytes())
                    .map_err(|e| e.to_string())?;
                form.push(("client_id".into(), tpp.client_id.clone()));
                form.push((
                    "client_assertion_type".into(),
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion".into(), assertion));
            }
            ClientAuth::TlsClientAuth => {
                form.push(("client_id".into(), tpp.client_id.clone()));
            }
            ClientAuth::Bearer(_) | ClientAuth::None => {}
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish();
        let ex = client::send(
            &self.http,
            req.raw("application/x-www-form-urlencoded", body),
        )
        .await;
        if ex.status != Some(200) {
            return Err(format!(
                "token request for TPP {} (scope {scope}) failed: {}",
                tpp.name,
                ex.summary()
            ));
        }
        match ex
            .json()
            .and_then(|v| v["access_token"].as_str().map(String::from))
        {
            Some(t) => Ok((t, ex)),
            None => Err(format!(
                "token answer has no access_token: {}",
                ex.summary()
            )),
        }
    }

    /// A detached `x-jws-signature` over `body` with the harness's key (G-14).
    pub fn sign_request(&self, body: &[u8]) -> Option<String> {
        let key = self.signing_key.as_ref()?;
        let s = self.profile.signing.as_ref()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let unencoded = self.profile.spec_version == crate::model::bank::SpecVersion::V3_1_2;
        let header = jose::ob_header(
            Alg::PS256,
            &self.signing_kid,
            &jose::ObHeader {
                iss: s.iss.clone(),
                tan: s.tan.clone(),
            },
            now,
            unencoded,
        );
        jose::sign_detached(key, &header, body).ok()
    }
}

/// JSON with object keys sorted, so two equal claim sets compare equal as strings.
pub fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sort(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::profile::{ProfileError, ProfileFile};

    fn parse(text: &str) -> Result<Profile, ProfileError> {
        let f: ProfileFile = toml::from_str(text).map_err(|e| ProfileError(e.to_string()))?;
        Profile::from_file(f, std::path::Path::new("."), None)
    }

    const TPPS_BEARER: &str = "[[tpp]]\nclient_id = \"a\"\nauth_method = \"bearer\"\naccess_token = \"t-a\"\n\
                               [[tpp]]\nclient_id = \"b\"\nauth_method = \"none\"\n";

    /// The minimal profile of a bank unlike ours: API at the host root, its own poll path, static
    /// or no tokens, no token endpoint, JWKS or issuer (issue 12 §5).
    #[tokio::test]
    async fn a_root_api_with_its_own_paths_and_static_tokens_needs_no_token_endpoint() {
        let p = parse(&format!(
            "conformance = \"rfc8936\"\n[target]\nbase_url = \"http://bank.test\"\napi_base = \"/\"\n\
             events_path = \"/poll\"\nsubscriptions_path = \"/streams\"\n{TPPS_BEARER}"
        ))
        .unwrap();
        assert!(p.token_endpoint.is_none() && p.jwks_url.is_none() && p.issuer.is_none());
        assert_eq!(p.conformance, crate::harness::profile::Conformance::Rfc8936);
        assert!(!p.bank.more_available_required);
        let ctx = RunContext::new(p).unwrap();
        assert_eq!(ctx.api_url("/events"), "http://bank.test/poll");
        assert_eq!(
            ctx.api_url("/event-subscriptions/x1"),
            "http://bank.test/streams/x1"
        );
        assert_eq!(ctx.api_url("/eventsfoo"), "http://bank.test/eventsfoo");
        assert_eq!(
            ctx.api_url("/callback-urls"),
            "http://bank.test/callback-urls"
        );
        let Clients::Fixed(tpps) = &ctx.profile.clients else {
            panic!("fixed clients")
        };
        assert_eq!(ctx.token(&tpps[0], "any").await.unwrap().0, "t-a");
        assert_eq!(ctx.token(&tpps[1], "any").await.unwrap().0, "");
    }

    #[test]
    fn client_credentials_without_a_token_endpoint_is_refused_naming_the_field() {
        let e = parse(
            "[target]\nbase_url = \"http://bank.test\"\n\
             [[tpp]]\nclient_id = \"a\"\nclient_secret = \"s\"\n[[tpp]]\nclient_id = \"b\"\nclient_secret = \"s\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("target.token_endpoint"), "{e}");
        let e = parse(&format!(
            "[target]\nbase_url = \"http://bank.test\"\napi_base = \"v1\"\n{TPPS_BEARER}"
        ))
        .unwrap_err();
        assert!(e.0.contains("target.api_base"), "{e}");
        let e = parse(&format!(
            "conformance = \"fapi\"\n[target]\nbase_url = \"http://bank.test\"\n{TPPS_BEARER}"
        ))
        .unwrap_err();
        assert!(e.0.contains("conformance"), "{e}");
        let e = parse(
            "[target]\nbase_url = \"http://bank.test\"\ntoken_endpoint = \"/token\"\n\
             [[tpp]]\nclient_id = \"a\"\nauth_method = \"tls_client_auth\"\n[[tpp]]\nclient_id = \"b\"\nauth_method = \"none\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("target.client_cert"), "{e}");
    }
}

#[cfg(test)]
mod readme {
    use crate::harness::profile::{Profile, ProfileFile};

    /// Every TOML profile in the README (a fenced block with a `[target]` table) is valid.
    #[test]
    fn the_readme_profiles_load() {
        let readme = include_str!("../../README.md");
        let mut loaded = 0;
        for block in readme.split("```toml\n").skip(1) {
            let text = block.split("```").next().unwrap_or("");
            if !text.contains("[target]") {
                continue;
            }
            let f: ProfileFile = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            Profile::from_file(f, std::path::Path::new("."), None)
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            loaded += 1;
        }
        assert!(loaded >= 3, "{loaded}");
    }
}
