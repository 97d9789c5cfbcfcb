//! The real `obevents` binary for tests: spawn it on port 0 (reading its stdout up to the
//! `listening on` line) and SIGKILL it. Re-exported by `common`.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::LIMIT;

/// Spawns `obevents sandbox` on port 0 with `db`; returns the child and its base URL.
pub async fn spawn_sandbox(db: &str) -> (Child, String) {
    spawn_sandbox_with(db, &[]).await
}

/// [`spawn_sandbox`] with more command-line arguments.
pub async fn spawn_sandbox_with(db: &str, extra: &[&str]) -> (Child, String) {
    let (child, url, _) = spawn_sandbox_lines(db, extra).await;
    (child, url)
}

/// [`spawn_sandbox_with`], also returning the stdout lines printed before `listening on`.
pub async fn spawn_sandbox_lines(db: &str, extra: &[&str]) -> (Child, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_obevents"))
        .args(["sandbox", "--addr", "127.0.0.1:0", "--db", db])
        .args(extra)
        .env("OBEVENTS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn obevents");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (url, before) = tokio::time::timeout(LIMIT, async {
        let mut before = Vec::new();
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                return (url.to_string(), before);
            }
            before.push(line);
        }
        panic!("obevents exited without a listening line: {before:?}");
    })
    .await
    .expect("no listening line in time");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Keep reading so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url, before)
}

/// `obevents sandbox ARGS` with the log filter `log`, stdout and stderr piped, killed on drop:
/// the command the tests that read the binary's output start from.
pub fn sandbox_command(args: &[&str], log: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_obevents"));
    cmd.arg("sandbox")
        .args(args)
        .env("OBEVENTS_LOG", log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

pub async fn sigkill(mut child: Child) {
    child.kill().await.expect("SIGKILL");
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("child did not die")
        .expect("wait");
    assert!(!status.success());
}
