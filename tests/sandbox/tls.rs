//! HTTPS and mutual TLS (issue 13 §5): the sandbox serves TLS, asks for client certificates,
//! authenticates clients by certificate at `/token` (RFC 8705 `tls_client_auth` and
//! `self_signed_tls_client_auth`), binds their tokens to the certificate (`cnf.x5t#S256`) and
//! refuses a bound token presented without it or with another one. Certificates are made per
//! test with `obevents::sandbox::tls::dev`; every wait is bounded.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use obevents::sandbox::SandboxConfig;
use obevents::sandbox::tls::dev::{DevIdentity, DevPki};
use obevents::sandbox::tls::{ClientAuthMode, TlsConfig, TlsPem};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::common::*;

/// `obie` over HTTPS with `mode`, the test CA as client CA, self-signed certificates allowed.
fn tls_config(pki: &DevPki, mode: ClientAuthMode) -> SandboxConfig {
    let mut cfg = obie();
    cfg.tls = Some(
        TlsConfig::from_pem(&TlsPem {
            cert_chain: pki.server.cert_pem.clone().into_bytes(),
            key: pki.server.key_pem.clone().into_bytes(),
            client_ca: Some(pki.ca_pem.clone().into_bytes()),
            client_auth: mode,
            self_signed_client_certs: true,
        })
        .expect("TLS config"),
    );
    cfg
}

/// A client trusting the test CA, presenting `identity` if any.
fn client(pki: &DevPki, identity: Option<&DevIdentity>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .timeout(LIMIT)
        .add_root_certificate(
            reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("CA certificate"),
        );
    if let Some(id) = identity {
        b = b.identity(reqwest::Identity::from_pem(&id.identity_pem()).expect("identity"));
    }
    b.build().expect("https client")
}

/// A sandbox over TLS, reached with `identity`.
async fn start(pki: &DevPki, mode: ClientAuthMode, identity: Option<&DevIdentity>) -> TestBank {
    let mut bank = TestBank::start(tls_config(pki, mode)).await;
    bank.http = client(pki, identity);
    bank
}

/// Registers a client with `meta` and gets a token over the bank's connection (client_id
/// alone: the certificate authenticates).
async fn mtls_tpp(bank: &TestBank, meta: Value) -> Tpp {
    let r = bank.register(meta).await;
    r.expect(201);
    let j = r.json();
    assert!(j.get("client_secret").is_none(), "{j}");
    let client_id = j["client_id"].as_str().expect("client_id").to_string();
    let t = bank
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
        ])
        .await;
    t.expect(200);
    let token = t.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    Tpp {
        client_id,
        client_secret: String::new(),
        token,
        url: bank.url.clone(),
        http: bank.http.clone(),
    }
}

/// `POST /token` for `client_id` alone, over `http`'s own connection (and certificate).
async fn token_over(http: &reqwest::Client, bank: &TestBank, client_id: &str) -> Resp {
    Resp::of(
        http.post(format!("{}/token", bank.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
            ])),
    )
    .await
}

/// The claims of a JWT, unverified.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_and_discovery_advertises_mtls() {
    let pki = DevPki::generate().unwrap();
    let bank = start(&pki, ClientAuthMode::Optional, None).await;
    assert!(bank.url.starts_with("https://127.0.0.1:"), "{}", bank.url);
    let r = Resp::of(bank.request(Method::GET, "/.well-known/openid-configuration")).await;
    r.expect(200);
    let d = r.json();
    assert_eq!(d["tls_client_certificate_bound_access_tokens"], true, "{d}");
    let methods = d["token_endpoint_auth_methods_supported"].to_string();
    for m in [
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "client_secret_basic",
    ] {
        assert!(methods.contains(&format!("\"{m}\"")), "{methods}");
    }
    assert_eq!(d["token_endpoint"], format!("{}/token", bank.url));
    assert_eq!(
        d["mtls_endpoint_aliases"]["token_endpoint"],
        d["token_endpoint"]
    );
    // Without client auth, plain HTTPS: nothing mTLS is advertised.
    let plain = start(&pki, ClientAuthMode::None, None).await;
    let d = Resp::of(plain.request(Method::GET, "/.well-known/openid-configuration"))
        .await
        .json();
    assert!(
        d.get("tls_client_certificate_bound_access_tokens")
            .is_none(),
        "{d}"
    );
    assert!(!d.to_string().contains("tls_client_auth"), "{d}");
    // A secret client works as before over HTTPS, with an unbound token.
    let tpp = plain.tpp().await;
    assert!(claims(&tpp.token).get("cnf").is_none());
    tpp.poll_now().await;
    // A certificate method is refused where no certificate can be asked for.
    plain
        .register(json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=x"}))
        .await
        .expect(400);
    plain.stop().await;
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_required_refuses_a_client_without_a_certificate() {
    let pki = DevPki::generate().unwrap();
    let id = pki.client("tpp required").unwrap();
    let bank = start(&pki, ClientAuthMode::Required, Some(&id)).await;
    Resp::of(bank.request(Method::GET, "/healthz"))
        .await
        .expect(200);
    let anonymous = client(&pki, None);
    let refused =
        tokio::time::timeout(LIMIT, anonymous.get(format!("{}/healthz", bank.url)).send())
            .await
            .expect("bounded");
    assert!(
        refused.is_err(),
        "served without a client certificate: {refused:?}"
    );
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_auth_gets_a_bound_token_that_needs_its_certificate() {
    let pki = DevPki::generate().unwrap();
    let id = pki.client("tpp one").unwrap();
    let other = pki.client("tpp two").unwrap();
    let bank = start(&pki, ClientAuthMode::Optional, Some(&id)).await;
    let tpp = mtls_tpp(
        &bank,
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=obevents, CN=tpp one"}),
    )
    .await;
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&id.cert_der));
    assert_eq!(claims(&tpp.token)["cnf"]["x5t#S256"], thumbprint);
    tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let jti = bank.inject_update(&tpp.client_id, "pmt-1").await;
    assert_eq!(tpp.poll_now().await.keys(), [jti.as_str()]);
    // The same token without a certificate, and with another CA-issued one: 401 (G-10), on
    // the OBIE API and on the sandbox helpers, cached verification or not.
    // The challenge says why: the token is fine, the connection is not (RFC 6750 §3).
    for (http, why) in [
        (client(&pki, None), "presented none"),
        (client(&pki, Some(&other)), "a different client certificate"),
    ] {
        let stolen = Tpp {
            http,
            ..tpp.clone()
        };
        for _ in 0..2 {
            let r = stolen.poll(json!({"returnImmediately": true})).await;
            r.assert_401();
            let challenge = r.header("www-authenticate").unwrap_or_default();
            assert!(
                challenge.contains(r#"error="invalid_token""#)
                    && challenge.contains("error_description=")
                    && challenge.contains(why),
                "{challenge}"
            );
            let r = Resp::of(stolen.request(Method::GET, "/sandbox/deliveries")).await;
            r.expect(401);
            let challenge = r.header("www-authenticate").unwrap_or_default();
            assert!(challenge.contains(why), "{challenge}");
        }
    }
    assert_eq!(tpp.poll_now().await.keys(), [jti.as_str()]);
    // Another certificate, or none, does not authenticate the client at /token.
    for http in [client(&pki, None), client(&pki, Some(&other))] {
        let r = token_over(&http, &bank, &tpp.client_id).await;
        r.expect(401);
        assert_eq!(r.json()["error"], "invalid_client");
    }
    // A client registered with a subject DN that is not the certificate's is refused at /token.
    let r = bank
        .register(json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=someone else,O=obevents"}))
        .await;
    r.expect(201);
    let wrong_id = r.json()["client_id"].as_str().unwrap().to_string();
    bank.token_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &wrong_id),
    ])
    .await
    .expect(401);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_tls_client_auth_matches_the_registered_certificate() {
    let pki = DevPki::generate().unwrap();
    let own = DevIdentity::self_signed("self-signed tpp").unwrap();
    let bank = start(&pki, ClientAuthMode::Optional, Some(&own)).await;
    let meta = json!({
        "token_endpoint_auth_method": "self_signed_tls_client_auth",
        "jwks": {"keys": [own.jwk()]},
    });
    let tpp = mtls_tpp(&bank, meta).await;
    assert!(claims(&tpp.token)["cnf"]["x5t#S256"].is_string());
    tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    tpp.poll_now().await;
    // Another self-signed certificate is not the registered one.
    let stranger = DevIdentity::self_signed("self-signed tpp").unwrap();
    token_over(&client(&pki, Some(&stranger)), &bank, &tpp.client_id)
        .await
        .expect(401);
    // Registration needs the certificate in x5c.
    bank.register(
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": tpp_jwks()}),
    )
    .await
    .expect(400);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_client_is_closed_after_the_header_read_timeout() {
    let pki = DevPki::generate().unwrap();
    let mut cfg = tls_config(&pki, ClientAuthMode::Optional);
    cfg.server.header_read_timeout = Duration::from_millis(300);
    let bank = TestBank::start(cfg).await;
    let addr = bank.url.trim_start_matches("https://").to_string();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(LIMIT, silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_files_stop_the_start_with_one_line_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("obevents-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let garbage = garbage.to_str().unwrap();
    let missing = dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--tls-cert", missing, "--tls-key", garbage], "--tls-cert"),
        (
            &["--tls-cert", garbage, "--tls-key", garbage],
            "TLS certificate",
        ),
        (&["--tls-cert", garbage], "--tls-key"),
        (&["--client-auth", "required"], "--tls-cert"),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["sandbox", "--addr", "127.0.0.1:0", "--db", ":memory:"];
        args.extend_from_slice(flags);
        let (code, _, stderr) = super::persistence::run_cli(&args).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].contains(expected), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `obevents certs` writes a PKI an operator can serve with as it is: the sandbox serves the
/// server certificate, requires client certificates from the CA, and a TPP holding its
/// `client-NAME` pair gets a certificate-bound token with `tls_client_auth`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obevents_certs_writes_a_pki_that_serves_mutual_tls() {
    let dir = std::env::temp_dir().join(format!("obevents-certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let certs = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_obevents"))
            .args(["certs", "--out"])
            .arg(&dir)
            .args([
                "--name",
                "localhost",
                "--name",
                "127.0.0.1",
                "--client",
                "tpp-a",
            ])
            .args(extra)
            .output()
            .expect("run obevents certs")
    };
    let out = certs(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: &str| std::fs::read(dir.join(name)).expect(name);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["ca-key.pem", "server-key.pem", "client-tpp-a-key.pem"] {
            let mode = std::fs::metadata(dir.join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{key} is readable by others: {mode:o}");
        }
    }
    // A second run does not overwrite: one line, exit 2.
    let again = certs(&[]);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("--force") && err.lines().count() == 1, "{err}");
    let mut cfg = obie();
    cfg.tls = Some(
        TlsConfig::from_pem(&TlsPem {
            cert_chain: read("server.pem"),
            key: read("server-key.pem"),
            client_ca: Some(read("ca.pem")),
            client_auth: ClientAuthMode::Required,
            self_signed_client_certs: false,
        })
        .expect("the written files make a TLS config"),
    );
    let mut bank = TestBank::start(cfg).await;
    let identity = [read("client-tpp-a.pem"), read("client-tpp-a-key.pem")].concat();
    bank.http = reqwest::Client::builder()
        .no_proxy()
        .timeout(LIMIT)
        .add_root_certificate(reqwest::Certificate::from_pem(&read("ca.pem")).unwrap())
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    let tpp = mtls_tpp(
        &bank,
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=obevents, CN=tpp-a"}),
    )
    .await;
    assert!(claims(&tpp.token)["cnf"]["x5t#S256"].is_string());
    bank.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
