//! A malformed-input matrix over every endpoint that takes a body: each body below is sent to
//! each endpoint with a JSON and a wrong content type. No answer may be a 5xx, every 4xx carries
//! the endpoint's own error shape (OBErrorResponse1 on the OBIE API and the sandbox helpers,
//! OAuth JSON on the authorisation server) with a JSON content type, and no error body is more
//! than a small multiple of its request.

use reqwest::Method;
use serde_json::Value;

use super::common::*;

/// Bodies that are wrong in every way a client gets them wrong.
fn bodies() -> Vec<(String, Vec<u8>)> {
    let deep_array = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(300), "}".repeat(300));
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("whitespace".into(), b"   \n".to_vec()),
        ("not json".into(), b"hello".to_vec()),
        (
            "truncated".into(),
            br#"{"Data": {"Version": "3.1""#.to_vec(),
        ),
        ("null".into(), b"null".to_vec()),
        ("number".into(), b"42".to_vec()),
        ("string".into(), br#""Data""#.to_vec()),
        ("array".into(), b"[1,2,3]".to_vec()),
        ("empty object".into(), b"{}".to_vec()),
        (
            "invalid utf-8".into(),
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
        ),
        ("nul bytes".into(), b"{\"Data\":\"\0\0\"}".to_vec()),
        ("deep array".into(), deep_array.into_bytes()),
        ("deep object".into(), deep_object.into_bytes()),
        (
            "duplicate keys".into(),
            br#"{"Data":1,"Data":{"Version":"3.1"}}"#.to_vec(),
        ),
        (
            "huge number".into(),
            format!("{{\"maxEvents\": 1{}}}", "0".repeat(400)).into_bytes(),
        ),
        (
            "negative".into(),
            br#"{"maxEvents": -1, "returnImmediately": "yes"}"#.to_vec(),
        ),
        ("float".into(), br#"{"maxEvents": 1.5}"#.to_vec()),
        (
            "long string".into(),
            format!("{{\"Data\":{{\"Version\":\"{}\"}}}}", "9".repeat(100_000)).into_bytes(),
        ),
        (
            "wrong types".into(),
            br#"{"Data":{"Version":3.1,"EventTypes":"all","CallbackUrl":7},"Risk":[]}"#.to_vec(),
        ),
        (
            "ack of objects".into(),
            br#"{"ack":[{},[],null,1],"setErrs":{"":{"err":1}}}"#.to_vec(),
        ),
        (
            "form".into(),
            b"grant_type=client_credentials&scope=%ZZ".to_vec(),
        ),
    ];
    let many: Vec<Value> = (0..3_000).map(Value::from).collect();
    cases.push((
        "many wrong items".into(),
        serde_json::json!({"Data": {"Permissions": many, "EventTypes": many}, "ack": many})
            .to_string()
            .into_bytes(),
    ));
    cases
}

/// Which error shape an endpoint speaks.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Obie,
    OAuth,
    /// WSO2's own `{"error", "error_description"}` or an OBIE error (404/401 rules).
    Wso2,
}

fn check_shape(r: &Resp, shape: Shape, what: &str) {
    assert!(r.status < 500, "{what}: {} {}", r.status, r.text());
    if r.status < 400 || r.status == 401 && matches!(shape, Shape::Obie) {
        return;
    }
    let ct = r
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        ct.starts_with("application/json"),
        "{what}: {} content type {ct:?}",
        r.status
    );
    let body: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{what}: {} body is not JSON ({e}): {}", r.status, r.text()));
    let ok = match shape {
        Shape::Obie => {
            body["Code"].is_string() && body["Errors"].as_array().is_some_and(|e| !e.is_empty())
        }
        Shape::OAuth => body["error"].is_string(),
        Shape::Wso2 => {
            body["error"].is_string() || body["Code"].is_string() || body["code"].is_number()
        }
    };
    assert!(
        ok,
        "{what}: {} not the endpoint's error shape: {body}",
        r.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_malformed_body_gets_a_5xx_or_a_foreign_error_shape() {
    let mut cfg = config(obevents::sandbox::Bank::Wso2);
    cfg.body_limit = 256 * 1024;
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    let consent = tpp.consent().await;
    let sub = tpp.subscriptions().await[0]["EventSubscriptionId"]
        .as_str()
        .expect("id")
        .to_string();
    let cb = tpp
        .register_callback("https://tpp.example/open-banking/v3.1/event-notifications")
        .await;
    let endpoints: Vec<(Method, String, Shape, bool)> = vec![
        (
            Method::POST,
            format!("{API}/event-subscriptions"),
            Shape::Obie,
            true,
        ),
        (
            Method::PUT,
            format!("{API}/event-subscriptions/{sub}"),
            Shape::Obie,
            true,
        ),
        (
            Method::POST,
            format!("{API}/callback-urls"),
            Shape::Obie,
            true,
        ),
        (
            Method::PUT,
            format!("{API}/callback-urls/{cb}"),
            Shape::Obie,
            true,
        ),
        (Method::POST, format!("{API}/events"), Shape::Obie, true),
        (
            Method::POST,
            format!("{API}/aisp/account-access-consents"),
            Shape::Obie,
            true,
        ),
        (Method::POST, "/sandbox/events".into(), Shape::Obie, true),
        (Method::POST, "/sandbox/reset".into(), Shape::Obie, true),
        (
            Method::POST,
            format!("/sandbox/account-access-consents/{consent}/authorise"),
            Shape::Obie,
            true,
        ),
        (Method::POST, "/register".into(), Shape::OAuth, false),
        (Method::POST, "/token".into(), Shape::OAuth, false),
        (
            Method::POST,
            "/api/fs/event-notifications/create-events".into(),
            Shape::Wso2,
            false,
        ),
    ];
    let mut sent = 0;
    for (name, body) in bodies() {
        for (method, path, shape, bearer) in &endpoints {
            for ct in [
                "application/json",
                "text/plain",
                "application/x-www-form-urlencoded",
            ] {
                let mut rb = bank
                    .request(method.clone(), path)
                    .header("content-type", ct)
                    .body(body.clone());
                if *bearer {
                    rb = rb.bearer_auth(&tpp.token);
                } else if matches!(shape, Shape::Wso2) {
                    rb = rb.basic_auth(ADMIN.0, Some(ADMIN.1));
                }
                let r = Resp::of(rb).await;
                let what = format!("{method} {path} [{ct}] {name}");
                check_shape(&r, *shape, &what);
                assert!(
                    r.body.len() <= (body.len() * 4).max(4_096),
                    "{what}: a {}-byte error body for a {}-byte request",
                    r.body.len(),
                    body.len()
                );
                sent += 1;
            }
        }
    }
    assert!(sent >= 700, "{sent} cases");
    // The sandbox is still healthy afterwards.
    Resp::of(bank.request(Method::GET, "/healthz"))
        .await
        .expect(200);
    bank.stop().await;
}

/// The WSO2 Event Creation API answers a body it cannot read in its own shape: too large is
/// 413 `invalid_request_payload` (with `Connection: close`), but only once the caller's
/// credentials are accepted; without them it is 401 `invalid_client` as for any body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wso2_answers_bodies_too_large_wrong_methods_and_paths_in_its_own_shape() {
    let mut cfg = config(obevents::sandbox::Bank::Wso2);
    cfg.body_limit = 16 * 1024;
    let bank = TestBank::start(cfg).await;
    let path = "/api/fs/event-notifications/create-events";
    let big = vec![b'a'; 64 * 1024];
    let send = |auth: bool| {
        let rb = bank
            .request(Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-wso2-client-id", "tpp")
            .header("x-wso2-resource-id", "aac")
            .body(big.clone());
        if auth {
            rb.basic_auth(ADMIN.0, Some(ADMIN.1))
        } else {
            rb
        }
    };
    let r = Resp::of(send(true)).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_request_payload", "{}", r.text());
    assert!(r.json()["error_description"].is_string());
    assert_eq!(r.header("connection"), Some("close"));
    let r = Resp::of(send(false)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_client", "{}", r.text());
    // A wrong method or an unknown path under the API's prefix: WSO2's shape too.
    for (method, p, status) in [
        (Method::GET, path.to_string(), 405),
        (Method::POST, format!("{path}/"), 404),
    ] {
        let r = Resp::of(bank.request(method, &p)).await;
        assert_eq!(r.status, status, "{p}: {}", r.text());
        assert_eq!(r.json()["error"], "invalid_request", "{p}: {}", r.text());
        assert!(r.json()["error_description"].is_string());
    }
    bank.stop().await;
}

/// Sends `raw` on a fresh connection and reads until the server closes it.
async fn raw_exchange(bank: &TestBank, raw: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = bank.url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(raw).await.expect("write");
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut got))
        .await
        .expect("the server closes after a parse error")
        .expect("read");
    String::from_utf8_lossy(&got).into_owned()
}

/// A body declared longer than `body_limit_bytes` is refused at once with each API's own
/// 413 and `Connection: close`, not after waiting for bytes the client never sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_over_the_limit_is_refused_at_once_in_each_shape() {
    let mut cfg = config(obevents::sandbox::Bank::Wso2);
    cfg.body_limit = 64 * 1024;
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    let admin = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", ADMIN.0, ADMIN.1),
    );
    let cases = [
        (
            format!("{API}/events"),
            format!(
                "Authorization: Bearer {}\r\nContent-Type: application/json\r\n",
                tpp.token
            ),
            "\"Code\":\"413",
        ),
        (
            "/token".to_string(),
            "Content-Type: application/x-www-form-urlencoded\r\n".to_string(),
            "\"error\":\"invalid_request\"",
        ),
        (
            "/api/fs/event-notifications/create-events".to_string(),
            format!(
                "Authorization: Basic {admin}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            ),
            "\"error\":\"invalid_request_payload\"",
        ),
    ];
    for (path, headers, shape) in cases {
        let raw = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 60000000\r\n\r\n{{}}"
        );
        // Bounded by `raw_exchange`'s wait, well short of the idle timeout a body that never
        // arrives would otherwise run into.
        let text = raw_exchange(&bank, raw.as_bytes()).await;
        let head = text.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 413 "), "{path}: {text}");
        assert!(head.contains("connection: close"), "{path}: {text}");
        assert!(text.contains(shape), "{path}: {text}");
    }
    bank.stop().await;
}

/// Requests hyper cannot parse are answered before routing; they still get an
/// `OBErrorResponse1` with a content type, an interaction id and `Connection: close`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsable_requests_get_an_ob_error_body_and_connection_close() {
    let bank = TestBank::start(obie()).await;
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage", b"GARBAGE\r\n\r\n".to_vec(), 400),
        (
            "bad header bytes",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Name: v\r\n\r\n".to_vec(),
            400,
        ),
        (
            "bad version",
            b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "too many headers",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
            431,
        ),
        (
            "uri too long",
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            414,
        ),
    ];
    for (what, raw, status) in cases {
        let text = raw_exchange(&bank, &raw).await;
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let head = head.to_ascii_lowercase();
        assert!(
            head.starts_with(&format!("http/1.1 {status} ")),
            "{what}: {text}"
        );
        assert!(
            head.contains("content-type: application/json; charset=utf-8"),
            "{what}: {text}"
        );
        assert!(head.contains("connection: close"), "{what}: {text}");
        assert!(head.contains("x-fapi-interaction-id: "), "{what}: {text}");
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
        assert!(
            v["Code"]
                .as_str()
                .is_some_and(|c| c.starts_with(&status.to_string())),
            "{what}: {v}"
        );
        assert!(
            v["Errors"][0]["ErrorCode"]
                .as_str()
                .is_some_and(|c| c.starts_with("UK.OBIE.")),
            "{what}: {v}"
        );
    }
    // A well-formed request on a fresh connection is unaffected.
    Resp::of(bank.request(Method::GET, "/healthz"))
        .await
        .expect(200);
    bank.stop().await;
}
