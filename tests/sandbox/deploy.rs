//! What an operator deploys with: the config file's `[server]` section (address, database,
//! public URL, log filter), its precedence under the command line, and the warning for a
//! wildcard address without a public URL.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::binary::sandbox_command;
use super::common::*;
use super::persistence::run_cli;

const BIN: &str = env!("CARGO_BIN_EXE_obevents");

/// A config file in the temp directory, removed on drop.
struct TempConfig(std::path::PathBuf);

impl TempConfig {
    fn new(text: &str) -> TempConfig {
        let path =
            std::env::temp_dir().join(format!("obevents-deploy-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).expect("write config");
        TempConfig(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts `obevents sandbox ARGS` with no `--addr`/`--db` of its own; returns the child, the
/// URL of its listening line, and the stderr lines printed before it (the log, at `warn`).
async fn start(args: &[&str]) -> (Child, String, Vec<String>) {
    let mut child = sandbox_command(args, "warn")
        .env_remove("OBEVENTS_DB")
        .env_remove("OBEVENTS_PUBLIC_URL")
        .spawn()
        .expect("spawn obevents");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(LIMIT, async {
        while let Some(line) = out.next_line().await.expect("read stdout") {
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                return url.to_string();
            }
        }
        panic!("obevents exited without a listening line");
    })
    .await
    .expect("no listening line in time");
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    // The warning, if any, is logged before the listening line; give stderr a moment to flush.
    let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut logged = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_millis(300), err.next_line()).await
    {
        logged.push(line);
    }
    tokio::spawn(async move { while let Ok(Some(_)) = err.next_line().await {} });
    (child, url, logged)
}

async fn issuer(url: &str) -> String {
    let bank = TestBank::at(url);
    let r = Resp::of(bank.request(reqwest::Method::GET, "/.well-known/openid-configuration")).await;
    r.expect(200);
    r.json()["issuer"].as_str().expect("issuer").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_section_sets_address_database_and_public_url() {
    let db = TempDb::new();
    let cfg = TempConfig::new(&format!(
        "[server]\naddr = \"127.0.0.1:0\"\ndb = {:?}\npublic_url = \"https://sandbox.example/\"\nlog = \"warn\"\n",
        db.path()
    ));
    let (child, url, logged) = start(&["--config", cfg.path()]).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        db.0.exists(),
        "the database named in [server] db was not created"
    );
    assert_eq!(issuer(&url).await, "https://sandbox.example");
    assert!(
        !logged.iter().any(|l| l.contains("public_url")),
        "{logged:?}"
    );
    sigkill(child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_win_over_the_server_section() {
    let db = TempDb::new();
    // Neither the file's address nor its database could be used: the flags must replace them.
    let cfg = TempConfig::new(
        "[server]\naddr = \"no-such-host.invalid:1\"\ndb = \"/nonexistent/dir/x.db\"\npublic_url = \"https://file.example\"\n",
    );
    let (child, url, _) = start(&[
        "--config",
        cfg.path(),
        "--addr",
        "127.0.0.1:0",
        "--db",
        &db.path(),
        "--public-url",
        "https://flag.example",
    ])
    .await;
    assert!(db.0.exists());
    assert_eq!(issuer(&url).await, "https://flag.example");
    sigkill(child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_address_without_public_url_is_warned_about() {
    let db = TempDb::new();
    let (child, url, logged) = start(&["--addr", "0.0.0.0:0", "--db", &db.path()]).await;
    let warned: Vec<_> = logged
        .iter()
        .filter(|l| l.contains("WARN") && l.contains("public_url"))
        .collect();
    assert_eq!(warned.len(), 1, "{logged:?}");
    assert!(warned[0].contains("0.0.0.0"), "{warned:?}");
    sigkill(child).await;
    // With a public URL the same address is quiet, and the issuer is that URL.
    let (child, url2, logged) = start(&[
        "--addr",
        "0.0.0.0:0",
        "--db",
        &db.path(),
        "--public-url",
        "http://sandbox.test:8080",
    ])
    .await;
    assert!(
        !logged.iter().any(|l| l.contains("public_url")),
        "{logged:?}"
    );
    let local = url2.replace("0.0.0.0", "127.0.0.1");
    assert_eq!(issuer(&local).await, "http://sandbox.test:8080");
    sigkill(child).await;
    let _ = url;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_server_settings_exit_2_with_one_line() {
    let cases: [(&str, &[&str], &str); 6] = [
        ("[server]\nlog = \"obevents=loud\"\n", &[], "server.log"),
        (
            "[[clients]]\nclient_id = \"a\"\nclient_secret = \"s\"\n[[clients]]\nclient_id = \"a\"\nclient_secret = \"t\"\n",
            &[],
            "clients[1].client_id",
        ),
        ("[server]\naddr = \"\"\n", &[], "server.addr"),
        ("[server]\nport = 8080\n", &[], "port"),
        (
            "public_url = \"https://a.example\"\n[server]\npublic_url = \"https://b.example\"\n",
            &[],
            "server.public_url",
        ),
        ("", &["--public-url", "sandbox.example"], "--public-url"),
    ];
    for (text, extra, named) in cases {
        let cfg = TempConfig::new(text);
        let mut args = vec!["sandbox", "--config", cfg.path(), "--db", ":memory:"];
        args.extend_from_slice(extra);
        let (code, _, stderr) = run_cli(&args).await;
        assert_eq!(code, 2, "{text:?} {extra:?}: {stderr}");
        let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{text:?}: {stderr:?}");
        assert!(lines[0].contains(named), "{text:?}: {stderr:?}");
    }
    // Without --log, the file's filter is the one in use, and its error names the field.
    let cfg = TempConfig::new("[server]\nlog = \"obevents=loud\"\n");
    let out = tokio::time::timeout(
        LIMIT,
        Command::new(BIN)
            .args(["sandbox", "--config", cfg.path(), "--db", ":memory:"])
            .env_remove("OBEVENTS_LOG")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("obevents did not exit")
    .expect("run obevents");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("server.log"), "{stderr:?}");
}
