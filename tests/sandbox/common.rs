//! Helpers shared by the sandbox integration tests: start a sandbox on port 0, register TPPs and
//! get their tokens, call the API, poll, inject events, and check OBIE error bodies and SETs.
//! Every network wait is bounded by [`LIMIT`].

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use josekit::jwk::JwkSet;
use obevents::jose::{self, SigningKey};
use obevents::sandbox::config::AdminFile;
use obevents::sandbox::store::testing::{self, TempPg};
use obevents::sandbox::{Bank, Fault, Faults, Sandbox, SandboxConfig};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder};
use serde_json::{Map, Value, json};

/// Prefix of the OBIE resources.
pub const API: &str = "/open-banking/v3.1";
/// Upper bound of any single wait (request, start, stop).
pub const LIMIT: Duration = Duration::from_secs(10);

/// Destination URLs no URL-taking endpoint may store: control characters, white space, a
/// backslash, an empty authority, user info (even empty), no scheme.
pub const HOSTILE_URLS: [&str; 8] = [
    "https://tpp.example/v3.1/event-notifications\r\nX-Injected: 1",
    "https://tpp.example/v3.1/event-notifications\0",
    "https://tpp.example/v3.1/event notifications",
    "https://tpp.example\\v3.1/event-notifications",
    "https:///v3.1/event-notifications",
    "https://@tpp.example/v3.1/event-notifications",
    "https://user:pw@tpp.example/v3.1/event-notifications",
    "tpp.example/v3.1/event-notifications",
];

pub const URN_RESOURCE_UPDATE: &str = "urn:uk:org:openbanking:events:resource-update";
pub const URN_REVOKED: &str = "urn:uk:org:openbanking:events:consent-authorization-revoked";
pub const URN_LINKED: &str =
    "urn:uk:org:openbanking:events:account-access-consent-linked-account-update";
pub const OB_IAT: &str = "http://openbanking.org.uk/iat";
pub const OB_ISS: &str = "http://openbanking.org.uk/iss";
pub const OB_TAN: &str = "http://openbanking.org.uk/tan";
pub const CALLBACK: &str = "https://tpp.example/open-banking/v3.1/event-notifications";

/// The operator credential of in-process test sandboxes (`[admin]`).
pub const ADMIN: (&str, &str) = ("operator", "test-operator-secret");

/// The sandbox defaults for `bank`, with a short long-poll timeout and [`ADMIN`].
pub fn config(bank: Bank) -> SandboxConfig {
    let mut c = SandboxConfig::for_bank(bank);
    c.long_poll_timeout = Duration::from_millis(300);
    c.admin = Some(AdminFile {
        username: ADMIN.0.into(),
        password: ADMIN.1.into(),
    });
    c
}

/// Bearer tokens of every TPP the tests registered, by client id: sandbox helpers act on a
/// TPP with its own token (tokens are valid on every replica and across restarts).
fn tokens() -> &'static std::sync::Mutex<std::collections::HashMap<String, String>> {
    static TOKENS: OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
        OnceLock::new();
    TOKENS.get_or_init(Default::default)
}

/// Authenticates a sandbox-helper request for `client_id`: its own token when a test
/// registered it, else the operator's [`ADMIN`] credential.
pub fn helper_auth(rb: RequestBuilder, client_id: Option<&str>) -> RequestBuilder {
    let token = client_id.and_then(|id| tokens().lock().unwrap().get(id).cloned());
    match token {
        Some(t) => rb.bearer_auth(t),
        None => rb.basic_auth(ADMIN.0, Some(ADMIN.1)),
    }
}

/// `obie` personality with a 300 ms long-poll timeout.
pub fn obie() -> SandboxConfig {
    config(Bank::Obie)
}

/// `obie` with the given faults switched on.
pub fn with_faults(faults: &[Fault]) -> SandboxConfig {
    let mut c = obie();
    c.faults = Faults::new(faults.iter().copied());
    c
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(LIMIT)
        .build()
        .expect("http client")
}

/// `application/x-www-form-urlencoded` body from pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// One RSA key for every test TPP that signs (generating keys is slow).
pub fn tpp_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().expect("generate a TPP key"))
}

/// The public JWKS of [`tpp_key`], as a client registers it.
pub fn tpp_jwks() -> Value {
    jose::jwks_json(&[tpp_key().public_jwk()])
}

/// A detached `x-jws-signature` over `body` with the OB header, signed by `key`.
pub fn sign_request(key: &SigningKey, body: &[u8]) -> String {
    let ob = jose::ObHeader {
        iss: "0015800001041RTPP1".into(),
        tan: "openbanking.org.uk".into(),
    };
    let header = jose::ob_header(jose::Alg::PS256, key.kid(), &ob, now(), false);
    jose::sign_detached(key, &header, body).expect("sign request")
}

/// A file path in the temp dir, removed (with its WAL files) on drop.
pub struct TempDb(pub PathBuf);

impl TempDb {
    pub fn new() -> TempDb {
        TempDb(std::env::temp_dir().join(format!("obevents-test-{}.db", uuid::Uuid::new_v4())))
    }
    pub fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path()));
        }
    }
}

/// A finished HTTP exchange: status, headers and the exact body bytes.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    /// Sends `rb` and reads the whole answer, bounded by [`LIMIT`].
    pub async fn of(rb: RequestBuilder) -> Resp {
        let r = tokio::time::timeout(LIMIT, rb.send())
            .await
            .expect("request timed out")
            .expect("request failed");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = tokio::time::timeout(LIMIT, r.bytes())
            .await
            .expect("reading the body timed out")
            .expect("reading the body failed")
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// Asserts a JSON `Content-Type`.
    #[track_caller]
    pub fn assert_json_type(&self) {
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.to_ascii_lowercase().starts_with("application/json"),
            "Content-Type is {ct:?}, expected application/json"
        );
    }

    /// Asserts an `OBErrorResponse1` (G-12) with `status`, JSON media type, `Code`, `Message`
    /// and at least one `Errors` item each with `ErrorCode` and `Message`; one item must carry
    /// `code` and, when given, `path`. Returns that item.
    #[track_caller]
    pub fn ob_error(&self, status: u16, code: &str, path: Option<&str>) -> Value {
        self.expect(status);
        self.assert_json_type();
        let body = self.json();
        let non_empty = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
        assert!(non_empty(&body["Code"]), "no Code in {body}");
        assert!(non_empty(&body["Message"]), "no Message in {body}");
        let errors = body["Errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no Errors array in {body}"));
        assert!(!errors.is_empty(), "empty Errors in {body}");
        // G-12 schema: closed objects, Code 1..40, Message and Path 1..500.
        let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
        for k in body.as_object().expect("an object").keys() {
            assert!(
                ["Code", "Id", "Message", "Errors"].contains(&k.as_str()),
                "unexpected member {k} in {body}"
            );
        }
        assert!(len(&body["Code"]) <= 40, "Code too long: {body}");
        assert!(
            len(&body["Message"]) <= 500,
            "Message longer than 500: {body}"
        );
        for e in errors {
            assert!(
                non_empty(&e["ErrorCode"]),
                "an item lacks ErrorCode: {body}"
            );
            assert!(non_empty(&e["Message"]), "an item lacks Message: {body}");
            for k in e.as_object().expect("an object").keys() {
                assert!(
                    ["ErrorCode", "Message", "Path", "Url"].contains(&k.as_str()),
                    "unexpected member {k} in an item of {body}"
                );
            }
            assert!(
                len(&e["Message"]) <= 500,
                "item Message longer than 500: {body}"
            );
            if let Some(p) = e.get("Path") {
                assert!(
                    (1..=500).contains(&len(p)),
                    "item Path not 1..500 characters: {body}"
                );
            }
        }
        errors
            .iter()
            .find(|e| e["ErrorCode"] == code && path.is_none_or(|p| e["Path"] == p))
            .cloned()
            .unwrap_or_else(|| panic!("no error {code} with Path {path:?} in {body}"))
    }

    /// Asserts a 401 without a body and with a Bearer challenge (G-10).
    #[track_caller]
    pub fn assert_401(&self) {
        self.expect(401);
        assert!(self.body.is_empty(), "401 has a body: {:?}", self.text());
        let challenge = self.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer"),
            "WWW-Authenticate is {challenge:?}"
        );
    }

    /// Asserts a 401 without a body and with a Basic challenge: what a wrong
    /// admin credential (or a wrong dialect secret) gets.
    #[track_caller]
    pub fn assert_401_basic(&self) {
        self.expect(401);
        assert!(self.body.is_empty(), "401 has a body: {:?}", self.text());
        let challenge = self.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Basic"),
            "WWW-Authenticate is {challenge:?}"
        );
    }
}

/// The engine a test binary runs its sandboxes on: `tests/sandbox.rs` sets SQLite,
/// `tests/sandbox_pg.rs` PostgreSQL (`crate::ENGINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A database that outlives sandbox restarts within one test: a temporary SQLite file, or a
/// throwaway PostgreSQL database; removed on drop.
pub enum TestDb {
    File(TempDb),
    Postgres(TempPg),
}

impl TestDb {
    /// A fresh database on this binary's engine.
    pub async fn new() -> TestDb {
        match crate::ENGINE {
            Engine::Sqlite => TestDb::File(TempDb::new()),
            Engine::Postgres => TestDb::Postgres(temp_pg().await),
        }
    }

    /// What `--db` takes.
    pub fn path(&self) -> String {
        match self {
            TestDb::File(f) => f.path(),
            TestDb::Postgres(p) => p.url.clone(),
        }
    }
}

/// A throwaway database on the test PostgreSQL server.
pub async fn temp_pg() -> TempPg {
    let server = std::env::var(testing::ENV).expect("OBEVENTS_TEST_POSTGRES names the server");
    tokio::time::timeout(LIMIT, TempPg::create(&server))
        .await
        .expect("creating a test database timed out")
        .expect("creating a test database")
}

/// A sandbox under test: in-process (or, with [`TestBank::at`], one reached by URL).
pub struct TestBank {
    sandbox: Option<Sandbox>,
    pub url: String,
    pub http: reqwest::Client,
    /// The PostgreSQL database of this sandbox, dropped after it.
    _db: Option<TestDb>,
}

impl TestBank {
    /// A sandbox with an empty database on this binary's engine.
    pub async fn start(cfg: SandboxConfig) -> TestBank {
        match crate::ENGINE {
            Engine::Sqlite => Self::start_db(cfg, ":memory:").await,
            Engine::Postgres => {
                let db = TestDb::new().await;
                let mut bank = Self::start_db(cfg, &db.path()).await;
                bank._db = Some(db);
                bank
            }
        }
    }

    pub async fn start_bank(bank: Bank) -> TestBank {
        Self::start(config(bank)).await
    }

    pub async fn start_db(cfg: SandboxConfig, db: &str) -> TestBank {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let sandbox = tokio::time::timeout(LIMIT, Sandbox::start(cfg, db, addr))
            .await
            .expect("sandbox start timed out")
            .expect("sandbox starts");
        let url = sandbox.url();
        TestBank {
            sandbox: Some(sandbox),
            url,
            http: http(),
            _db: None,
        }
    }

    /// A sandbox running elsewhere (the spawned binary).
    pub fn at(url: &str) -> TestBank {
        TestBank {
            sandbox: None,
            url: url.trim_end_matches('/').to_string(),
            http: http(),
            _db: None,
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.sandbox.take() {
            tokio::time::timeout(LIMIT, s.stop())
                .await
                .expect("sandbox stop timed out");
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url))
    }

    /// `base + /open-banking/v3.1 + path`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{API}{path}", self.url)
    }

    pub async fn register(&self, meta: Value) -> Resp {
        Resp::of(
            self.request(Method::POST, "/register")
                .header(CONTENT_TYPE, "application/json")
                .body(meta.to_string()),
        )
        .await
    }

    /// `POST /token` with `client_secret_basic` and the given form pairs.
    pub async fn token_basic(&self, id: &str, secret: &str, pairs: &[(&str, &str)]) -> Resp {
        Resp::of(
            self.request(Method::POST, "/token")
                .basic_auth(id, Some(secret))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form(pairs)),
        )
        .await
    }

    /// `POST /token` with a raw form body and no Authorization header.
    pub async fn token_form(&self, pairs: &[(&str, &str)]) -> Resp {
        Resp::of(
            self.request(Method::POST, "/token")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form(pairs)),
        )
        .await
    }

    /// A client-credentials token (all the client's scopes unless `scope` is given).
    pub async fn token(&self, id: &str, secret: &str, scope: Option<&str>) -> String {
        let mut pairs = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            pairs.push(("scope", s));
        }
        let r = self.token_basic(id, secret, &pairs).await;
        r.expect(200);
        r.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Registers a client with `meta` and gets a token holding all its scopes.
    pub async fn tpp_with(&self, meta: Value) -> Tpp {
        let r = self.register(meta).await;
        r.expect(201);
        let j = r.json();
        let client_id = j["client_id"].as_str().expect("client_id").to_string();
        let client_secret = j["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_string();
        let token = self.token(&client_id, &client_secret, None).await;
        tokens()
            .lock()
            .unwrap()
            .insert(client_id.clone(), token.clone());
        Tpp {
            client_id,
            client_secret,
            token,
            url: self.url.clone(),
            http: self.http.clone(),
        }
    }

    /// A TPP with every scope.
    pub async fn tpp(&self) -> Tpp {
        self.tpp_with(json!({"client_name": "test tpp"})).await
    }

    /// A TPP with every scope and an event subscription for every type.
    pub async fn subscribed_tpp(&self) -> Tpp {
        let t = self.tpp().await;
        t.subscribe(json!({"Data": {"Version": "3.1"}})).await;
        t
    }

    /// The bank's JWKS from `/jwks`.
    pub async fn jwks_json(&self) -> Value {
        let r = Resp::of(self.request(Method::GET, "/jwks")).await;
        r.expect(200);
        r.json()
    }

    pub async fn jwks(&self) -> JwkSet {
        jose::parse_jwks(self.jwks_json().await.to_string().as_bytes()).expect("a JWKS")
    }

    pub async fn kid(&self) -> String {
        self.jwks_json().await["keys"][0]["kid"]
            .as_str()
            .expect("kid")
            .to_string()
    }

    /// `POST /sandbox/events`.
    pub async fn inject(
        &self,
        client_id: &str,
        event_type: &str,
        resource_id: &str,
        resource_type: &str,
    ) -> Resp {
        let body = json!({
            "clientId": client_id,
            "eventType": event_type,
            "resourceId": resource_id,
            "resourceType": resource_type,
        });
        self.sandbox_post("/sandbox/events", &body).await
    }

    /// Injects a resource-update for `client_id`, asserts it was queued, returns its jti.
    pub async fn inject_update(&self, client_id: &str, resource_id: &str) -> String {
        let r = self
            .inject(
                client_id,
                "resource-update",
                resource_id,
                "domestic-payment",
            )
            .await;
        r.expect(201);
        let j = r.json();
        assert_eq!(j["queued"], true, "{j}");
        j["jti"].as_str().expect("jti").to_string()
    }

    /// POST to a sandbox helper, authenticated for the body's `clientId` ([`helper_auth`]).
    pub async fn sandbox_post(&self, path: &str, body: &Value) -> Resp {
        let rb = self
            .request(Method::POST, path)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        Resp::of(helper_auth(rb, body["clientId"].as_str())).await
    }

    /// `GET /sandbox/events?clientId=…`: the stored SETs, newest first.
    pub async fn stored_events(&self, client_id: &str) -> Vec<Value> {
        let path = format!("/sandbox/events?{}", form(&[("clientId", client_id)]));
        let r = Resp::of(helper_auth(
            self.request(Method::GET, &path),
            Some(client_id),
        ))
        .await;
        r.expect(200);
        r.json()["events"].as_array().expect("events").clone()
    }
}

/// A registered TPP with a bearer token.
#[derive(Clone)]
pub struct Tpp {
    pub client_id: String,
    pub client_secret: String,
    pub token: String,
    pub url: String,
    pub http: reqwest::Client,
}

/// A `POST /events` answer taken apart.
#[derive(Debug)]
pub struct Polled {
    /// `(key, SET)` in the order served.
    pub sets: Vec<(String, String)>,
    pub more_available: Option<bool>,
}

impl Polled {
    pub fn keys(&self) -> Vec<&str> {
        self.sets.iter().map(|(k, _)| k.as_str()).collect()
    }
    pub fn token(&self, key: &str) -> &str {
        &self
            .sets
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no SET {key} in {:?}", self.keys()))
            .1
    }
}

impl Tpp {
    /// Same client with another token.
    /// The same TPP talking to another sandbox URL (a restarted binary, another replica).
    pub fn at(&self, url: &str) -> Tpp {
        Tpp {
            url: url.trim_end_matches('/').to_string(),
            ..self.clone()
        }
    }

    pub fn with_token(&self, token: String) -> Tpp {
        Tpp {
            token,
            ..self.clone()
        }
    }

    /// A request to `base + path` carrying the bearer token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    /// A request to `base + /open-banking/v3.1 + path` carrying the bearer token.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, &format!("{API}{path}"))
    }

    /// An API request with a JSON body sent byte for byte.
    pub fn api_json(&self, method: Method, path: &str, body: &[u8]) -> RequestBuilder {
        self.api(method, path)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
    }

    pub async fn get(&self, path: &str) -> Resp {
        Resp::of(self.api(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        Resp::of(self.api_json(Method::POST, path, body.to_string().as_bytes())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        Resp::of(self.api_json(Method::PUT, path, body.to_string().as_bytes())).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        Resp::of(self.api(Method::DELETE, path)).await
    }

    /// `POST /event-subscriptions`, asserting 201; returns the id.
    pub async fn subscribe(&self, body: Value) -> String {
        let r = self.post("/event-subscriptions", &body).await;
        r.expect(201);
        r.json()["Data"]["EventSubscriptionId"]
            .as_str()
            .expect("EventSubscriptionId")
            .to_string()
    }

    /// `POST /callback-urls`, asserting 201; returns the id.
    pub async fn register_callback(&self, url: &str) -> String {
        let r = self
            .post(
                "/callback-urls",
                &json!({"Data": {"Url": url, "Version": "3.1"}}),
            )
            .await;
        r.expect(201);
        r.json()["Data"]["CallbackUrlId"]
            .as_str()
            .expect("CallbackUrlId")
            .to_string()
    }

    /// `GET /event-subscriptions` → the `EventSubscription` array.
    pub async fn subscriptions(&self) -> Vec<Value> {
        let r = self.get("/event-subscriptions").await;
        r.expect(200);
        r.json()["Data"]["EventSubscription"]
            .as_array()
            .unwrap_or_else(|| panic!("no EventSubscription array: {}", r.text()))
            .clone()
    }

    /// `GET /callback-urls` → the `CallbackUrl` array.
    pub async fn callback_urls(&self) -> Vec<Value> {
        let r = self.get("/callback-urls").await;
        r.expect(200);
        r.json()["Data"]["CallbackUrl"]
            .as_array()
            .unwrap_or_else(|| panic!("no CallbackUrl array: {}", r.text()))
            .clone()
    }

    /// `POST /events` with `body`.
    pub async fn poll(&self, body: Value) -> Resp {
        self.post("/events", &body).await
    }

    /// `POST /events`, asserting `status` and taking the answer apart (`sets` must be an object
    /// of strings).
    pub async fn poll_expect(&self, body: Value, status: u16) -> Polled {
        let r = self.poll(body).await;
        r.expect(status);
        r.assert_json_type();
        let j = r.json();
        let sets = j["sets"]
            .as_object()
            .unwrap_or_else(|| panic!("no sets object: {j}"))
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .unwrap_or_else(|| panic!("SET {k} is not a string"))
                        .to_string(),
                )
            })
            .collect();
        Polled {
            sets,
            more_available: j.get("moreAvailable").map(|v| {
                v.as_bool()
                    .unwrap_or_else(|| panic!("moreAvailable not a boolean: {j}"))
            }),
        }
    }

    /// `POST /events` expecting 200 (obie).
    pub async fn poll_ok(&self, body: Value) -> Polled {
        self.poll_expect(body, 200).await
    }

    /// An immediate poll with no other member.
    pub async fn poll_now(&self) -> Polled {
        self.poll_ok(json!({"returnImmediately": true})).await
    }

    /// `POST /aisp/account-access-consents`, asserting 201; returns the ConsentId.
    pub async fn consent(&self) -> String {
        let r = self
            .post(
                "/aisp/account-access-consents",
                &json!({"Data": {"Permissions": ["ReadAccountsBasic", "ReadBalances"]}, "Risk": {}}),
            )
            .await;
        r.expect(201);
        r.json()["Data"]["ConsentId"]
            .as_str()
            .expect("ConsentId")
            .to_string()
    }

    pub async fn authorise(&self, consent_id: &str) -> Resp {
        Resp::of(self.request(
            Method::POST,
            &format!("/sandbox/account-access-consents/{consent_id}/authorise"),
        ))
        .await
    }

    pub async fn revoke(&self, consent_id: &str) -> Resp {
        Resp::of(self.request(
            Method::DELETE,
            &format!("/sandbox/account-access-consents/{consent_id}"),
        ))
        .await
    }

    /// A consent that went through the sandbox's authorise step.
    pub async fn authorised_consent(&self) -> String {
        let id = self.consent().await;
        self.authorise(&id).await.expect(200);
        id
    }
}

/// A SET whose signature verified against the bank's JWKS.
pub struct Set {
    pub header: Map<String, Value>,
    pub claims: Value,
}

/// Decodes `token` (compact JWS), verifies it with `jwks` and returns header and claims.
#[track_caller]
pub fn open_set(token: &str, jwks: &JwkSet) -> Set {
    let decoded = jose::decode_compact(token).expect("a compact JWS");
    jose::verify(&decoded, jwks).expect("the SET verifies with the bank's JWKS");
    Set {
        claims: decoded.payload_json().expect("JSON claims"),
        header: decoded.header,
    }
}

/// Decodes a SET without verifying it.
pub fn peek_set(token: &str) -> Set {
    let decoded = jose::decode_compact(token).expect("a compact JWS");
    Set {
        claims: decoded.payload_json().expect("JSON claims"),
        header: decoded.header,
    }
}

/// Asserts the OB JOSE header members (J-05) with `crit` naming exactly them.
#[track_caller]
pub fn assert_ob_header(header: &Map<String, Value>) {
    let iat = header[OB_IAT].as_i64().expect("OB iat is a number");
    assert!((iat - now()).abs() <= 120, "OB iat {iat} is not now");
    assert_eq!(header[OB_ISS], "0015800001041RObev");
    assert_eq!(header[OB_TAN], "openbanking.org.uk");
    let mut crit: Vec<&str> = header["crit"]
        .as_array()
        .expect("crit is an array")
        .iter()
        .map(|v| v.as_str().expect("crit names are strings"))
        .filter(|n| *n != "b64")
        .collect();
    crit.sort_unstable();
    assert_eq!(crit, [OB_IAT, OB_ISS, OB_TAN]);
}

/// Verifies a response's detached `x-jws-signature` over its exact body (G-14) and returns the
/// JOSE header.
#[track_caller]
pub fn verify_response_signature(r: &Resp, jwks: &JwkSet) -> Map<String, Value> {
    let sig = r
        .header("x-jws-signature")
        .unwrap_or_else(|| panic!("no x-jws-signature on a {} response", r.status));
    assert!(sig.contains(".."), "not a detached JWS: {sig}");
    let decoded = jose::decode_detached(sig, &r.body).expect("a detached JWS");
    jose::verify(&decoded, jwks).expect("the response signature verifies");
    let mut tampered = r.body.clone();
    tampered.push(b' ');
    let other = jose::decode_detached(sig, &tampered).expect("a detached JWS");
    assert!(
        jose::verify(&other, jwks).is_err(),
        "the signature also verifies over a different body"
    );
    decoded.header
}

pub use crate::binary::*;
pub use crate::receiver::*;
