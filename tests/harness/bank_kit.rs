//! What the independent banks of these tests (`push_bank`, `yapily_bank`) share, none of it
//! taken from the sandbox: a PS256 signing key with its JWKS, compact JWS signing over any
//! header, HTTP Basic credentials of the form `<id>:<id>-secret`, starting an axum router
//! on 127.0.0.1, and reading the profile its engineer wrote.

use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use josekit::jwk::Jwk;
use josekit::jws::{JwsSigner, PS256};
use obevents::harness::profile::{Profile, ProfileFile};
use serde_json::{Value, json};

/// A bank's signing key: PS256, published in a JWKS under `kid`.
pub struct Key {
    pub kid: String,
    signer: Box<dyn JwsSigner>,
    jwks: Value,
}

impl Key {
    pub fn generate(kid: &str) -> Key {
        let private = Jwk::generate_rsa_key(2048).expect("an RSA key");
        let mut public = private.to_public_key().expect("its public half");
        public.set_key_id(kid);
        public.set_key_use("sig");
        public.set_algorithm("PS256");
        let public: Value = serde_json::from_str(&public.to_string()).expect("a JWK is JSON");
        Key {
            kid: kid.to_string(),
            signer: Box::new(PS256.signer_from_jwk(&private).expect("a PS256 signer")),
            jwks: json!({ "keys": [public] }),
        }
    }

    /// The JWKS to publish.
    pub fn jwks(&self) -> Value {
        self.jwks.clone()
    }

    /// A compact JWS of `payload` under `header` (which should name `alg` and `kid`).
    pub fn sign(&self, header: &Value, payload: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = self.signer.sign(input.as_bytes()).expect("signing works");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// The client id of valid Basic credentials (`<id>:<id>-secret`).
pub fn basic_caller(h: &HeaderMap) -> Option<String> {
    let v = h
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = STANDARD.decode(v).ok()?;
    let (id, secret) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
    (secret == format!("{id}-secret")).then(|| id.to_string())
}

/// An HTTP client for the bank's outgoing calls, every one bounded by `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client")
}

/// Serves `app` on 127.0.0.1 (port 0); returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The profile a bank engineer wrote as `text` (TOML), validated as `obevents test` would.
pub fn load_profile(text: &str) -> Profile {
    let file: ProfileFile = toml::from_str(text).expect("profile TOML");
    Profile::from_file(file, std::path::Path::new("."), None).expect("valid profile")
}
