//! Observing what the TPP processed: one jti (or event id) per line, read from a file the TPP
//! appends to, an HTTP endpoint, or a command's output, as the TPP profile's `[observe]` says.
//! A scenario that needs it waits for a control SET to show (so "not processed" is judged
//! after the TPP demonstrably got that far), within the declared wait.

use std::time::{Duration, Instant};

use crate::harness::profile::tpp::ObserveSource;

/// How this run reads the TPP's processed list.
#[derive(Debug, Clone)]
pub struct Observer {
    pub source: ObserveSource,
    pub wait: Duration,
    http: reqwest::Client,
}

impl Observer {
    /// `source` with its placeholders already filled in.
    pub fn new(source: ObserveSource, wait: Duration) -> Observer {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Observer { source, wait, http }
    }

    /// What the profile names, for messages.
    pub fn describe(&self) -> String {
        match &self.source {
            ObserveSource::File(p) => format!("the file {p}"),
            ObserveSource::Http(u) => format!("GET {u}"),
            ObserveSource::Command(c) => format!("the command {c:?}"),
        }
    }

    /// Every processed id, in the order listed (a missing file is an empty list: nothing
    /// processed yet).
    pub async fn read(&self) -> Result<Vec<String>, String> {
        let text = match &self.source {
            ObserveSource::File(p) => match tokio::fs::read_to_string(p).await {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(format!("cannot read {p}: {e}")),
            },
            ObserveSource::Http(u) => {
                let resp =
                    self.http.get(u).send().await.map_err(|e| {
                        format!("GET {u}: {}", crate::harness::client::describe(&e))
                    })?;
                if !resp.status().is_success() {
                    return Err(format!("GET {u} answered {}", resp.status()));
                }
                resp.text().await.map_err(|e| format!("GET {u}: {e}"))?
            }
            ObserveSource::Command(argv) => run(argv).await?,
        };
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    /// Waits until `jti` is listed; the list then, or why it could not be read or `jti` never
    /// showed within the declared wait.
    pub async fn wait_for(&self, jti: &str) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + self.wait;
        loop {
            let list = self.read().await?;
            if list.iter().any(|l| l == jti) {
                return Ok(list);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{jti} did not show in {} within {} ms",
                    self.describe(),
                    self.wait.as_millis()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn run(argv: &[String]) -> Result<String, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("observe.command is empty".into());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(10), cmd.output())
        .await
        .map_err(|_| format!("the observe command {program:?} did not finish within 10 s"))?
        .map_err(|e| format!("cannot run the observe command {program:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the observe command exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_and_a_command_are_read_one_id_per_line() {
        let dir = std::env::temp_dir().join(format!("obevents-observe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("processed.txt");
        let path = file.display().to_string();
        let wait = Duration::from_millis(200);
        let from_file = Observer::new(ObserveSource::File(path.clone()), wait);
        assert!(
            from_file.read().await.unwrap().is_empty(),
            "no file yet: nothing processed"
        );
        std::fs::write(&file, "a\n\n  b \n").unwrap();
        assert_eq!(from_file.read().await.unwrap(), ["a", "b"]);
        let from_command = Observer::new(ObserveSource::Command(vec!["cat".into(), path]), wait);
        assert_eq!(from_command.wait_for("b").await.unwrap(), ["a", "b"]);
        let missing = from_command.wait_for("c").await.unwrap_err();
        assert!(missing.contains("did not show"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
