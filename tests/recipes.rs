//! Runs the TPP recipes of `examples/tpp/` (README "For TPPs: receiving and verifying SETs")
//! against an in-process sandbox on 127.0.0.1, so they cannot rot: for each JWT library (PyJWT,
//! jwcrypto, the npm `jose`) the recipe's push receiver must accept the SET the sandbox pushes and
//! answer 202 with the interaction id echoed, and the recipe's verifier must accept a polled SET
//! and refuse a tampered one and ones whose `crit` is not exactly the three OB members. The
//! Yapily-style receiver recipe must accept a webhook of the `yapily` sandbox and refuse unsigned
//! ones. Under `obevents test --tpp` ([`under_tpp`]) the push, Yapily-style and Tatra-style
//! receivers pass every TPP scenario that applies to them. The example Python bank of
//! `examples/bank/python/` runs under `obevents bench --profile` and `obevents test --profile`
//! ([`python_bank`]).
//!
//! The libraries come from `examples/tpp/install.sh` (into `target/py-recipes` and
//! `target/js-recipes`). When an interpreter or a library is missing the test says so and skips,
//! except under `CI`, where that is a failure. Every wait is bounded by [`LIMIT`].
// Tests assert with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use obevents::jose::{self, Alg};
use obevents::sandbox::{Bank, Sandbox, SandboxConfig};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

#[path = "recipes/python_bank.rs"]
mod python_bank;
#[path = "recipes/under_tpp.rs"]
mod under_tpp;

const LIMIT: Duration = Duration::from_secs(10);
const API: &str = "/open-banking/v3.1";
const OB_IAT: &str = "http://openbanking.org.uk/iat";

/// One recipe: how to run its receiver and its stdin verifier.
struct Recipe {
    name: &'static str,
    program: &'static str,
    dir: PathBuf,
    env: Vec<(&'static str, String)>,
    /// Arguments that succeed exactly when the library can be imported.
    probe: Vec<&'static str>,
    /// Where the recipe's files come from when it runs from a copy.
    copy_from: Option<PathBuf>,
    receiver: Vec<&'static str>,
    check: Vec<&'static str>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python(lib: &'static str) -> Recipe {
    let module = if lib == "pyjwt" {
        "import jwt"
    } else {
        "import jwcrypto"
    };
    Recipe {
        name: lib,
        program: "python3",
        dir: root().join("examples/tpp/python"),
        env: vec![
            (
                "PYTHONPATH",
                root().join("target/py-recipes").display().to_string(),
            ),
            ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ],
        probe: vec!["-c", module],
        copy_from: None,
        receiver: vec!["receiver.py", "--lib", lib],
        check: vec!["check.py", "--lib", lib],
    }
}

/// The Node recipe runs from a copy beside `target/js-recipes/node_modules`, where its
/// `import 'jose'` resolves (ES modules ignore `NODE_PATH`).
fn node() -> Recipe {
    Recipe {
        name: "jose",
        program: "node",
        dir: root().join("target/js-recipes"),
        env: Vec::new(),
        probe: vec!["-e", "import('jose').then(() => process.exit(0))"],
        copy_from: Some(root().join("examples/tpp/js")),
        receiver: vec!["receiver.mjs"],
        check: vec!["check.mjs"],
    }
}

/// Whether the recipe can run here; `Err` says what is missing. Copies the Node recipe into place.
async fn available(r: &Recipe) -> Result<(), String> {
    if !r.dir.is_dir() {
        return Err(format!("{} does not exist", r.dir.display()));
    }
    let out = tokio::time::timeout(
        LIMIT,
        Command::new(r.program)
            .args(&r.probe)
            .current_dir(&r.dir)
            .envs(r.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .map_err(|_| format!("{} did not answer in time", r.program))?
    .map_err(|e| format!("{} cannot be run: {e}", r.program))?;
    if !out.status.success() {
        return Err(format!(
            "the {} library is not installed ({})",
            r.name,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("no error output")
                .trim()
        ));
    }
    if let Some(from) = &r.copy_from {
        for f in ["ob-set.mjs", "receiver.mjs", "check.mjs"] {
            std::fs::copy(from.join(f), r.dir.join(f))
                .map_err(|e| format!("cannot copy {f} into {}: {e}", r.dir.display()))?;
        }
    }
    Ok(())
}

/// `Some(recipe)` when it can run; `None` (after saying why) when the tools are missing outside
/// CI. Under `CI` missing tools fail the test.
async fn runnable(r: Recipe) -> Option<Recipe> {
    match available(&r).await {
        Ok(()) => Some(r),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("recipe {}: {why}; run examples/tpp/install.sh", r.name)
        }
        Err(why) => {
            // Straight to stderr: the test harness would swallow eprintln! of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED recipe {}: {why}; run examples/tpp/install.sh",
                r.name
            );
            None
        }
    }
}

/// A child whose stdout is read line by line; killed on drop.
struct Proc {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    fn spawn(
        r: &Recipe,
        args: &[&str],
        bank: &TestBank,
        stdin: bool,
    ) -> (Proc, Option<tokio::process::ChildStdin>) {
        let mut child = Command::new(r.program)
            .args(args)
            .args(["--jwks-uri", &format!("{}/jwks", bank.url)])
            .args(["--issuer", &bank.issuer])
            .args(["--client-id", &bank.client_id])
            .current_dir(&r.dir)
            .envs(r.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", r.program));
        let input = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        (
            Proc {
                _child: child,
                lines,
            },
            input,
        )
    }

    /// The next line of output, within [`LIMIT`].
    async fn line(&mut self, what: &str) -> String {
        tokio::time::timeout(LIMIT, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no output in time while waiting for {what}"))
            .expect("read the recipe's output")
            .unwrap_or_else(|| panic!("the recipe exited while waiting for {what}"))
    }
}

/// A sandbox of `bank` on 127.0.0.1 with quick push retries, its URL and a client for it.
async fn start_sandbox(bank: Bank) -> (Sandbox, String, reqwest::Client) {
    let mut cfg = SandboxConfig::for_bank(bank);
    cfg.push.retry_schedule = vec![Duration::from_millis(200); 3];
    cfg.push.request_timeout = Duration::from_secs(5);
    let sandbox = tokio::time::timeout(
        LIMIT,
        Sandbox::start(cfg, ":memory:", "127.0.0.1:0".parse().unwrap()),
    )
    .await
    .expect("sandbox start timed out")
    .expect("sandbox starts");
    let url = sandbox.url();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(LIMIT)
        .build()
        .unwrap();
    (sandbox, url, http)
}

/// The sandbox, one registered TPP and what the recipes are told about them.
struct TestBank {
    sandbox: Sandbox,
    url: String,
    issuer: String,
    client_id: String,
    token: String,
    http: reqwest::Client,
}

impl TestBank {
    async fn start() -> TestBank {
        let (sandbox, url, http) = start_sandbox(Bank::Obie).await;
        let discovery = send(http.get(format!("{url}/.well-known/openid-configuration"))).await;
        let issuer = discovery.1["issuer"].as_str().expect("issuer").to_string();
        let (status, reg) = send(
            http.post(format!("{url}/register"))
                .json(&json!({"client_name": "recipe tpp"})),
        )
        .await;
        assert_eq!(status, 201, "{reg}");
        let client_id = reg["client_id"].as_str().expect("client_id").to_string();
        let secret = reg["client_secret"].as_str().expect("client_secret");
        let (status, tok) = send(
            http.post(format!("{url}/token"))
                .basic_auth(&client_id, Some(secret))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials"),
        )
        .await;
        assert_eq!(status, 200, "{tok}");
        let token = tok["access_token"].as_str().expect("token").to_string();
        TestBank {
            sandbox,
            url,
            issuer,
            client_id,
            token,
            http,
        }
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        send(
            self.http
                .request(method, format!("{}{API}{path}", self.url))
                .bearer_auth(&self.token)
                .json(&body),
        )
        .await
    }

    /// Raises a resource-update for the TPP; returns `(jti, pushed)`.
    async fn raise(&self, resource_id: &str) -> (String, bool) {
        let (status, j) = send(
            self.http
                .post(format!("{}/sandbox/events", self.url))
                .bearer_auth(&self.token)
                .json(
                    &json!({"clientId": self.client_id, "eventType": "resource-update",
                    "resourceId": resource_id, "resourceType": "domestic-payment"}),
                ),
        )
        .await;
        assert_eq!(status, 201, "{j}");
        assert_eq!(j["queued"], true, "{j}");
        (
            j["jti"].as_str().expect("jti").to_string(),
            j.get("deliveryId").is_some(),
        )
    }

    /// The push delivery of the newest event, once it is no longer pending.
    async fn settled_delivery(&self) -> Value {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let (status, j) = send(
                self.http
                    .get(format!("{}/sandbox/deliveries", self.url))
                    .bearer_auth(&self.token),
            )
            .await;
            assert_eq!(status, 200, "{j}");
            let d = j["deliveries"][0].clone();
            if d["state"] != "pending" && !d.is_null() {
                return d;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the delivery is still pending: {d}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A SET with the bank's key and OB header, after `edit` changed the header.
    fn forge(&self, claims: &Value, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let state = &self.sandbox.state;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut header = jose::ob_header(Alg::PS256, state.key.kid(), &state.ob_header, now, false);
        edit(&mut header);
        jose::sign_compact(&state.key, &header, claims.to_string().as_bytes()).expect("sign")
    }
}

/// Sends `rb` and reads a JSON (or empty) answer, bounded by [`LIMIT`].
async fn send(rb: reqwest::RequestBuilder) -> (u16, Value) {
    let r = tokio::time::timeout(LIMIT, rb.send())
        .await
        .expect("request timed out")
        .expect("request failed");
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("read the body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The claims of a compact JWS, unverified.
fn claims_of(set: &str) -> Value {
    jose::decode_compact(set)
        .expect("a compact JWS")
        .payload_json()
        .expect("JSON claims")
}

fn add_crit(h: &mut Map<String, Value>, name: &str) {
    h["crit"].as_array_mut().expect("crit").push(json!(name));
}

/// One SET for a verifier and what must come of it: `None` accepted, `Some(words)` refused with a
/// description holding one of the `|`-separated words (`""`: for any reason).
type Case = (&'static str, String, Option<&'static str>);

async fn run(recipe: Recipe) {
    let Some(r) = runnable(recipe).await else {
        return;
    };
    let bank = TestBank::start().await;
    let (mut receiver, callback) = start_receiver(&r, &bank).await;
    let subscription = pushed_set_is_accepted(&bank, &mut receiver, &callback).await;
    let (polled_jti, polled) = poll_one(&bank, &subscription).await;
    let cases = cases(&bank, &polled);
    verifier_decides(&r, &bank, &cases).await;
    receiver_decides(&r, &bank, &mut receiver, &callback, &cases, &polled_jti).await;
    tokio::time::timeout(LIMIT, bank.sandbox.stop())
        .await
        .expect("sandbox stop timed out");
}

/// Starts the recipe's receiver; returns it and its URL.
async fn start_receiver(r: &Recipe, bank: &TestBank) -> (Proc, String) {
    let (mut receiver, _) = Proc::spawn(r, &r.receiver, bank, false);
    let first = receiver.line("the listening line").await;
    let callback = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{}: unexpected first line {first:?}", r.name))
        .to_string();
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    (receiver, callback)
}

/// Subscribes with `callback` as CallbackUrl, raises an event and checks that the receiver took
/// the pushed SET: `accepted JTI`, and the bank saw 202 with its interaction id echoed (else the
/// attempt carries a `note`). Returns the subscription id.
async fn pushed_set_is_accepted(bank: &TestBank, receiver: &mut Proc, callback: &str) -> String {
    let (status, sub) = bank
        .api(
            reqwest::Method::POST,
            "/event-subscriptions",
            json!({"Data": {"Version": "3.1", "CallbackUrl": callback}}),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let (jti, pushed) = bank.raise("pay-pushed").await;
    assert!(pushed, "the event was not pushed");
    assert_eq!(
        receiver.line("the pushed SET").await,
        format!("accepted {jti}")
    );
    let d = bank.settled_delivery().await;
    assert_eq!(d["state"], "delivered", "{d}");
    let attempt = &d["attempts"][0];
    assert_eq!(attempt["statusCode"], 202, "{d}");
    assert!(attempt.get("note").is_none(), "the bank noted: {d}");
    sub["Data"]["EventSubscriptionId"]
        .as_str()
        .expect("EventSubscriptionId")
        .to_string()
}

/// Drops the CallbackUrl (pushed SETs are not polled again), raises an event and polls it;
/// returns its jti and the SET.
async fn poll_one(bank: &TestBank, subscription: &str) -> (String, String) {
    let (status, j) = bank
        .api(
            reqwest::Method::PUT,
            &format!("/event-subscriptions/{subscription}"),
            json!({"Data": {"EventSubscriptionId": subscription, "Version": "3.1"}}),
        )
        .await;
    assert_eq!(status, 200, "{j}");
    let (jti, pushed) = bank.raise("pay-polled").await;
    assert!(!pushed);
    let (status, j) = bank
        .api(
            reqwest::Method::POST,
            "/events",
            json!({"returnImmediately": true}),
        )
        .await;
    assert_eq!(status, 200, "{j}");
    let set = j["sets"][&jti]
        .as_str()
        .unwrap_or_else(|| panic!("{jti} not polled: {j}"))
        .to_string();
    (jti, set)
}

/// The polled SET, and forgeries signed with the bank's own key so that only what was changed
/// can make them fail; a well-formed forgery shows that signing them is not what fails.
fn cases(bank: &TestBank, polled: &str) -> Vec<Case> {
    let claims = claims_of(polled);
    let mut other = claims.clone();
    other["aud"] = json!("someone-else");
    let parts: Vec<&str> = polled.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        jose::b64(other.to_string().as_bytes()),
        parts[2]
    );
    let mut fresh = claims.clone();
    fresh["jti"] = json!("forged-but-well-formed");
    vec![
        ("the polled SET", polled.to_string(), None),
        (
            "a well-formed forgery (the control)",
            bank.forge(&fresh, |_| {}),
            None,
        ),
        ("a tampered SET", tampered, Some("")),
        (
            "crit with an extra member",
            bank.forge(&claims, |h| {
                h.insert("urn:example:extra".into(), json!(true));
                add_crit(h, "urn:example:extra");
            }),
            Some("crit|extension"),
        ),
        (
            "crit with b64",
            bank.forge(&claims, |h| {
                h.insert("b64".into(), json!(true));
                add_crit(h, "b64");
            }),
            Some("crit"),
        ),
        (
            "crit without the OB tan",
            bank.forge(&claims, |h| {
                h["crit"].as_array_mut().expect("crit").pop();
            }),
            Some("crit"),
        ),
        (
            "an OB iat an hour ahead",
            bank.forge(&claims, |h| {
                h[OB_IAT] = json!(h[OB_IAT].as_i64().unwrap() + 3600);
            }),
            Some("future"),
        ),
        (
            "a SET for another TPP",
            bank.forge(&other, |_| {}),
            Some("aud"),
        ),
        (
            "an RS256 signature",
            bank.forge(&claims, |h| h["alg"] = json!("RS256")),
            Some("alg"),
        ),
        (
            "a kid the JWKS lacks",
            bank.forge(&claims, |h| h["kid"] = json!("no-such-kid")),
            Some("kid|key"),
        ),
    ]
}

/// Feeds every case to the recipe's stdin verifier and checks each verdict.
async fn verifier_decides(r: &Recipe, bank: &TestBank, cases: &[Case]) {
    let (mut check, stdin) = Proc::spawn(r, &r.check, bank, true);
    let mut stdin = stdin.expect("stdin");
    let input: String = cases.iter().map(|(_, set, _)| format!("{set}\n")).collect();
    tokio::time::timeout(LIMIT, stdin.write_all(input.as_bytes()))
        .await
        .expect("writing the SETs timed out")
        .expect("write the SETs");
    drop(stdin);
    for (what, set, refusal) in cases {
        let line = check.line(what).await;
        let Some(words) = refusal else {
            let jti = claims_of(set)["jti"].as_str().unwrap().to_string();
            assert_eq!(line, format!("ok {jti}"), "{}: {what}", r.name);
            continue;
        };
        assert!(
            line.starts_with("refused "),
            "{}: {what} was not refused: {line}",
            r.name
        );
        let lower = line.to_lowercase();
        assert!(
            words.split('|').any(|w| lower.contains(w)),
            "{}: {what} refused for another reason: {line}",
            r.name
        );
    }
}

/// Pushes the refused cases at the receiver (400, RFC 8935 body, interaction id echoed), the
/// polled SET twice (202, handled once) and a body that is not `application/jwt` (415).
async fn receiver_decides(
    r: &Recipe,
    bank: &TestBank,
    receiver: &mut Proc,
    callback: &str,
    cases: &[Case],
    polled_jti: &str,
) {
    let push = |body: &str, content_type: &str| {
        let rb = bank
            .http
            .post(callback)
            .header(CONTENT_TYPE, content_type)
            .header("x-fapi-interaction-id", "recipe-test-1")
            .body(body.to_string());
        async move {
            tokio::time::timeout(LIMIT, rb.send())
                .await
                .expect("push timed out")
                .expect("push")
        }
    };
    for (what, set, _) in cases.iter().filter(|c| c.2.is_some()) {
        let resp = push(set, "application/jwt").await;
        assert_eq!(resp.status().as_u16(), 400, "{}: {what}", r.name);
        assert_eq!(resp.headers()["x-fapi-interaction-id"], "recipe-test-1");
        let body: Value = resp.json().await.expect("an RFC 8935 error body");
        assert!(
            body["err"].is_string() && body["description"].is_string(),
            "{body}"
        );
        let line = receiver.line(what).await;
        assert!(line.starts_with("refused "), "{}: {line}", r.name);
    }
    let polled = &cases[0].1;
    for expected in ["accepted", "duplicate"] {
        let resp = push(polled, "application/jwt").await;
        assert_eq!(resp.status().as_u16(), 202, "{}", r.name);
        assert_eq!(resp.headers()["x-fapi-interaction-id"], "recipe-test-1");
        assert_eq!(
            receiver.line(expected).await,
            format!("{expected} {polled_jti}")
        );
    }
    let resp = push(polled, "text/plain").await;
    assert_eq!(
        resp.status().as_u16(),
        415,
        "{}: not application/jwt",
        r.name
    );
}

/// The three recipes one after another in one runtime: child processes of several test
/// runtimes at once were seen to stall past the time limit under CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipes_pyjwt_jwcrypto_and_jose() {
    run(python("pyjwt")).await;
    run(python("jwcrypto")).await;
    run(node()).await;
}

/// Registers an application with the sandbox at `url`; its client id and secret.
async fn register_app(http: &reqwest::Client, url: &str, name: &str) -> (String, String) {
    let (status, reg) = send(
        http.post(format!("{url}/register"))
            .json(&json!({ "client_name": name })),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().expect("client_id").to_string();
    let secret = reg["client_secret"].as_str().expect("secret").to_string();
    (id, secret)
}

/// Starts a webhook receiver recipe of `r` with `args`; it and the URL its first line names.
async fn webhook_receiver(r: &Recipe, args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(r.program)
        .args(args)
        .current_dir(&r.dir)
        .envs(r.env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the receiver");
    let mut receiver = Proc {
        lines: BufReader::new(child.stdout.take().expect("stdout")).lines(),
        _child: child,
    };
    let first = receiver.line("the listening line").await;
    let hook = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    (receiver, hook)
}

/// The Yapily-style receiver recipe (PyJWT): a webhook the `yapily` sandbox pushes is accepted;
/// one without a signature, or with one that is not a JWT, is refused with 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipe_yapily_receiver_with_pyjwt() {
    let mut r = python("pyjwt");
    r.name = "pyjwt (yapily)";
    let Some(r) = runnable(r).await else {
        return;
    };
    let (sandbox, url, http) = start_sandbox(Bank::Yapily).await;
    let (app, secret) = register_app(&http, &url, "yapily recipe app").await;
    let jwks = format!("{url}/.well-known/jwks.json");
    let (mut receiver, hook) = webhook_receiver(
        &r,
        &[
            "yapily_receiver.py",
            "--application-id",
            &app,
            "--jwks-uri",
            &jwks,
        ],
    )
    .await;
    let (status, sub) = send(
        http.post(format!("{url}/notifications/event-subscriptions"))
            .basic_auth(&app, Some(&secret))
            .json(&json!({"eventTypeId": "payment.status.completed",
                          "notification": {"type": "WEBHOOK", "url": hook}})),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    let (status, raised) = send(
        http.post(format!("{url}/sandbox/yapily/events"))
            .basic_auth(&app, Some(&secret))
            .json(&json!({"eventTypeId": "payment.status.completed", "objectId": "pay-1"})),
    )
    .await;
    assert_eq!(status, 201, "{raised}");
    let line = receiver.line("the pushed webhook").await;
    assert!(line.starts_with("accepted "), "{line}");
    let body = json!({"id": "forged", "applicationId": app}).to_string();
    for signature in [None, Some("not-a-jwt")] {
        let mut rb = http.post(&hook).body(body.clone());
        if let Some(s) = signature {
            rb = rb.header("yapily-signature", s);
        }
        let (status, _) = send(rb).await;
        assert_eq!(status, 401, "{signature:?}");
        let line = receiver.line("a refused webhook").await;
        assert!(line.starts_with("refused "), "{line}");
    }
    tokio::time::timeout(LIMIT, sandbox.stop())
        .await
        .expect("sandbox stop timed out");
}

/// The Tatra-style receiver recipe (Python standard library), configured through the webhook
/// settings: a transactionEvent per transaction (retried after the receiver's 503), one
/// accountEvent per other bank with the refresh's taskId, the security header checked as
/// `Authorization`, and nothing while disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipe_tatra_receiver() {
    let mut r = python("pyjwt");
    r.name = "python (tatra)";
    let Some(r) = runnable(r).await else {
        return;
    };
    let (sandbox, url, http) = start_sandbox(Bank::Tatra).await;
    let (app, secret) = register_app(&http, &url, "tatra recipe app").await;
    let header = "Basic dXNlcjpwYXNzd29yZA==";
    let (mut receiver, hook) = webhook_receiver(
        &r,
        &[
            "tatra_receiver.py",
            "--security-header",
            header,
            "--fail-first",
            "1",
        ],
    )
    .await;
    let v1 = format!("{url}/premium/sandbox/v1");
    let settings = |enabled: bool| {
        http.put(format!("{v1}/webhook-settings"))
            .basic_auth(&app, Some(&secret))
            .json(&json!({"enabled": enabled, "url": hook, "securityHeader": header}))
    };
    let (status, body) = send(settings(true)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(
        http.post(format!("{url}/sandbox/tatra/webhook-settings/activate"))
            .basic_auth(&app, Some(&secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, consent) = send(
        http.post(format!("{v1}/consents"))
            .basic_auth(&app, Some(&secret))
            .header("X-Request-ID", "recipe-1"),
    )
    .await;
    assert_eq!(status, 201, "{consent}");
    let cid = consent["consentId"]
        .as_str()
        .expect("consentId")
        .to_string();
    let transaction = || {
        http.post(format!("{url}/sandbox/tatra/transactions"))
            .basic_auth(&app, Some(&secret))
            .json(&json!({"consentId": cid}))
    };
    let (status, body) = send(transaction()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        receiver.line("the first attempt").await,
        "retry-me transactionEvent"
    );
    let line = receiver.line("the retried transactionEvent").await;
    assert!(
        line.starts_with(&format!("transactionEvent {cid} NEW ")),
        "{line}"
    );
    let (status, task) = send(
        http.put(format!("{v1}/consents/{cid}/refresh"))
            .basic_auth(&app, Some(&secret)),
    )
    .await;
    assert_eq!(status, 202, "{task}");
    let task = task["taskId"].as_str().expect("taskId").to_string();
    let mut banks = Vec::new();
    for _ in 0..2 {
        let line = receiver.line("an accountEvent").await;
        let prefix = format!("accountEvent {cid} {task} ");
        let rest = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line}"));
        banks.push(rest.split(' ').next().unwrap_or_default().to_string());
    }
    banks.sort();
    assert_eq!(banks, ["SLSP", "SUBA"]);
    let (status, body) = send(settings(false)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(transaction()).await;
    assert_eq!(status, 202, "{body}");
    let quiet = tokio::time::timeout(Duration::from_millis(1500), receiver.lines.next_line()).await;
    assert!(
        quiet.is_err(),
        "a webhook arrived while disabled: {quiet:?}"
    );
    tokio::time::timeout(LIMIT, sandbox.stop())
        .await
        .expect("sandbox stop timed out");
}
