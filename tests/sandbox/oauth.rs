//! The sandbox authorisation server: dynamic registration (RFC 7591 subset), the token endpoint
//! (RFC 6749 §4.4 client credentials, errors per §5.2; RFC 7523 `private_key_jwt`), discovery and
//! the JWKS (G-03, J-03).

use std::time::Duration;

use obevents::jose;
use obevents::sandbox::config::SeedClient;
use reqwest::Method;
use serde_json::{Map, json};

use super::common::*;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An RFC 6749 §5.2 error body with `error`.
#[track_caller]
fn assert_oauth_error(r: &Resp, status: u16, error: &str) {
    r.expect(status);
    r.assert_json_type();
    let j = r.json();
    assert_eq!(j["error"], error, "{j}");
    assert!(j["error_description"].is_string(), "{j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g03_register_is_201_with_client_credentials() {
    let bank = TestBank::start(obie()).await;
    let r = bank
        .register(json!({"client_name": "tpp one", "scope": "accounts eventpolling"}))
        .await;
    r.expect(201);
    r.assert_json_type();
    let j = r.json();
    assert!(
        j["client_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{j}"
    );
    assert!(
        j["client_secret"].as_str().is_some_and(|s| s.len() >= 16),
        "{j}"
    );
    let issued = j["client_id_issued_at"].as_i64().expect("issued_at");
    assert!((issued - now()).abs() < 120, "{issued}");
    assert_eq!(j["scope"], "accounts eventpolling");
    assert_eq!(j["client_name"], "tpp one");

    // Without a scope the client gets every scope the sandbox knows.
    let all = bank.register(json!({})).await;
    all.expect(201);
    let scopes = all.json()["scope"].as_str().unwrap().to_string();
    for s in ["accounts", "payments", "fundsconfirmations", "eventpolling"] {
        assert!(scopes.split(' ').any(|x| x == s), "{scopes}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g03_register_with_unknown_scope_is_invalid_client_metadata() {
    let bank = TestBank::start(obie()).await;
    for meta in [
        json!({"scope": "accounts root"}),
        json!({"scope": 42}),
        json!({"scope": ""}),
    ] {
        let r = bank.register(meta).await;
        assert_oauth_error(&r, 400, "invalid_client_metadata");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g03_token_with_client_secret_basic() {
    let bank = TestBank::start(obie()).await;
    let reg = bank
        .register(json!({"scope": "accounts payments"}))
        .await
        .json();
    let (id, secret) = (
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap(),
    );
    let r = bank
        .token_basic(id, secret, &[("grant_type", "client_credentials")])
        .await;
    r.expect(200);
    r.assert_json_type();
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = r.json();
    assert!(j["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], 3600);
    assert_eq!(j["scope"], "accounts payments");

    // The token works on an API call.
    let tpp = Tpp {
        client_id: id.into(),
        client_secret: secret.into(),
        token: j["access_token"].as_str().unwrap().into(),
        url: bank.url.clone(),
        http: bank.http.clone(),
    };
    tpp.get("/event-subscriptions").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g03_token_with_client_secret_post_and_scope_subset() {
    let bank = TestBank::start(obie()).await;
    let reg = bank
        .register(json!({"scope": "accounts payments eventpolling"}))
        .await
        .json();
    let (id, secret) = (
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap(),
    );
    let r = bank
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "payments eventpolling"),
        ])
        .await;
    r.expect(200);
    let j = r.json();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["scope"], "payments eventpolling");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g03_token_errors_follow_rfc6749() {
    let bank = TestBank::start(obie()).await;
    let reg = bank.register(json!({"scope": "accounts"})).await.json();
    let (id, secret) = (
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap(),
    );
    let cc = ("grant_type", "client_credentials");

    // invalid_client: 401 with a challenge, for a wrong secret, an unknown client, no auth.
    for r in [
        bank.token_basic(id, "wrong-secret", &[cc]).await,
        bank.token_basic("no-such-client", secret, &[cc]).await,
        bank.token_form(&[cc]).await,
        bank.token_form(&[cc, ("client_id", id), ("client_secret", "nope")])
            .await,
    ] {
        assert_oauth_error(&r, 401, "invalid_client");
        assert!(r.header("www-authenticate").is_some(), "no challenge");
    }
    assert_oauth_error(
        &bank
            .token_basic(
                id,
                secret,
                &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            )
            .await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &bank
            .token_basic(id, secret, &[("grant_type", "password"), ("username", "u")])
            .await,
        400,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        &bank
            .token_basic(id, secret, &[cc, ("scope", "accounts payments")])
            .await,
        400,
        "invalid_scope",
    );
    assert_oauth_error(
        &bank.token_basic(id, secret, &[("scope", "accounts")]).await,
        400,
        "invalid_request",
    );
    // §3.2: a parameter given twice; §2.3: more than one authentication method.
    assert_oauth_error(
        &bank.token_basic(id, secret, &[cc, cc]).await,
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &bank
            .token_basic(
                id,
                secret,
                &[cc, ("client_id", id), ("client_secret", secret)],
            )
            .await,
        400,
        "invalid_request",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g10_token_expires_after_its_ttl() {
    let mut cfg = obie();
    cfg.token_ttl = Duration::from_secs(1);
    let bank = TestBank::start(cfg).await;
    let reg = bank.register(json!({})).await.json();
    let (id, secret) = (
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap(),
    );
    let r = bank
        .token_basic(id, secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.json()["expires_in"], 1);
    let tpp = Tpp {
        client_id: id.into(),
        client_secret: secret.into(),
        token: r.json()["access_token"].as_str().unwrap().into(),
        url: bank.url.clone(),
        http: bank.http.clone(),
    };
    let issued = std::time::Instant::now();
    tpp.get("/event-subscriptions").await.expect(200);
    let expired = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = tpp.get("/event-subscriptions").await;
        if r.status == 401 || issued.elapsed() > Duration::from_secs(4) {
            break r;
        }
    };
    expired.assert_401();
    assert!(
        expired
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    assert!(issued.elapsed() >= Duration::from_millis(800));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g03_seeded_clients_from_config_get_tokens() {
    let mut cfg = obie();
    cfg.clients.push(SeedClient {
        client_id: "ci-tpp".into(),
        client_secret: "ci-secret".into(),
        client_name: "CI".into(),
        scopes: vec!["accounts".into(), "eventpolling".into()],
        jwks: None,
        tatra_webhook: None,
    });
    let bank = TestBank::start(cfg).await;
    let r = bank
        .token_basic(
            "ci-tpp",
            "ci-secret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["scope"], "accounts eventpolling");
    let tpp = Tpp {
        client_id: "ci-tpp".into(),
        client_secret: "ci-secret".into(),
        token: r.json()["access_token"].as_str().unwrap().into(),
        url: bank.url.clone(),
        http: bank.http.clone(),
    };
    assert!(tpp.subscriptions().await.is_empty());
    bank.token_basic("ci-tpp", "wrong", &[("grant_type", "client_credentials")])
        .await
        .expect(401);
}

/// A `private_key_jwt` client assertion (RFC 7523) signed with the test TPP key.
fn assertion(client_id: &str, aud: &str, exp: i64) -> String {
    let key = tpp_key();
    let mut header = Map::new();
    header.insert("alg".into(), json!("PS256"));
    header.insert("kid".into(), json!(key.kid()));
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": exp,
        "iat": now(),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    jose::sign_compact(key, &header, claims.to_string().as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r7523_private_key_jwt_client_authentication() {
    let bank = TestBank::start(obie()).await;
    let reg = bank
        .register(json!({
            "scope": "accounts",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": tpp_jwks(),
        }))
        .await;
    reg.expect(201);
    let id = reg.json()["client_id"].as_str().unwrap().to_string();
    let aud = format!("{}/token", bank.url);

    let good = assertion(&id, &aud, now() + 300);
    let r = bank
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &good),
        ])
        .await;
    r.expect(200);
    assert_eq!(r.json()["scope"], "accounts");
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    let status = Resp::of(
        bank.request(Method::GET, &format!("{API}/event-subscriptions"))
            .bearer_auth(token),
    )
    .await
    .status;
    assert_eq!(status, 200);

    // Wrong audience, expired, or signed by a key the client did not register: invalid_client.
    let other_key = obevents::jose::SigningKey::generate().unwrap();
    let mut header = Map::new();
    header.insert("alg".into(), json!("PS256"));
    header.insert("kid".into(), json!(tpp_key().kid()));
    let forged = jose::sign_compact(
        &other_key,
        &header,
        json!({"iss": id, "sub": id, "aud": aud, "exp": now() + 300, "jti": "j"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    for bad in [
        assertion(&id, "https://someone-else.example/token", now() + 300),
        assertion(&id, &aud, now() - 10),
        forged,
    ] {
        let r = bank
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &bad),
            ])
            .await;
        assert_oauth_error(&r, 401, "invalid_client");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j03_discovery_and_jwks_publish_one_rsa_key() {
    let bank = TestBank::start(obie()).await;
    let r = Resp::of(bank.request(Method::GET, "/.well-known/openid-configuration")).await;
    r.expect(200);
    r.assert_json_type();
    let d = r.json();
    assert_eq!(d["issuer"], bank.url.as_str());
    assert_eq!(d["token_endpoint"], format!("{}/token", bank.url));
    assert_eq!(d["registration_endpoint"], format!("{}/register", bank.url));
    assert_eq!(d["jwks_uri"], format!("{}/jwks", bank.url));

    let jwks = Resp::of(bank.http.get(d["jwks_uri"].as_str().unwrap())).await;
    jwks.expect(200);
    jwks.assert_json_type();
    let keys = jwks.json()["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let k = &keys[0];
    assert_eq!(k["kty"], "RSA");
    assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(k["n"].is_string() && k["e"].is_string());
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(k.get(private).is_none(), "the JWKS leaks {private}");
    }
    // The published key parses as a JWKS.
    jose::parse_jwks(jwks.body.as_slice()).expect("a JWKS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r7591_register_echoes_the_registered_metadata() {
    let bank = TestBank::start(obie()).await;
    let r = bank
        .register(json!({
            "client_name": "signed tpp",
            "scope": "accounts",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": tpp_jwks(),
        }))
        .await;
    r.expect(201);
    let j = r.json();
    // RFC 7591 §3.2.1: the response carries all registered metadata, as registered.
    assert_eq!(j["jwks"], tpp_jwks());
    assert_eq!(j["token_endpoint_auth_method"], "private_key_jwt", "{j}");
    // Without one, the default is client_secret_basic.
    let r = bank.register(json!({})).await;
    assert_eq!(
        r.json()["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    // An unsupported method is refused.
    let r = bank
        .register(json!({"token_endpoint_auth_method": "tls_client_auth"}))
        .await;
    assert_oauth_error(&r, 400, "invalid_client_metadata");
}

/// Body-framing errors on the authorisation server (oversized, bad chunking) are answered with
/// the OAuth JSON error shape, never plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_errors_on_register_and_token_are_oauth_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = obie();
    c.body_limit = 2048;
    let bank = TestBank::start(c).await;
    let big = format!("{{\"client_name\":\"{}\"}}", "x".repeat(10_000));
    let r = Resp::of(
        bank.request(Method::POST, "/register")
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    r.expect(413);
    r.assert_json_type();
    assert_eq!(r.json()["error"], "invalid_client_metadata");
    let r = Resp::of(
        bank.request(Method::POST, "/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&pad={}",
                "x".repeat(10_000)
            )),
    )
    .await;
    r.expect(413);
    assert_eq!(r.json()["error"], "invalid_request");
    // A chunked body whose chunk size is not hex.
    let addr = bank.url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    )
    .await
    .expect("write");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(LIMIT, s.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 400"), "{text}");
    assert!(
        text.contains("application/json") && text.contains("\"error\""),
        "{text}"
    );
    bank.stop().await;
}

/// The authorisation server answers in its OAuth JSON shape also for a wrong method or an
/// unknown path under `/token` and `/register`, and its error descriptions do not grow with
/// what the client sent (a long scope is quoted clipped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_paths_and_long_echoes_stay_oauth_json_and_small() {
    let bank = TestBank::start(obie()).await;
    for (method, path, status) in [
        (Method::GET, "/token", 405),
        (Method::DELETE, "/token", 405),
        (Method::GET, "/register", 405),
        (Method::POST, "/token/", 404),
    ] {
        let r = Resp::of(bank.request(method.clone(), path)).await;
        assert_oauth_error(&r, status, "invalid_request");
        if status == 405 {
            assert_eq!(r.header("allow"), Some("POST"), "{method} {path}");
        }
    }
    let t = bank.tpp().await;
    let r = Resp::of(
        bank.request(Method::POST, "/token")
            .basic_auth(&t.client_id, Some(&t.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&scope={}",
                "a".repeat(200_000)
            )),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_scope");
    assert!(r.body.len() < 2_048, "a {}-byte error body", r.body.len());
    bank.stop().await;
}
