//! Starting the refereed TPP for a run (`[start] command`) and stopping it after: the command
//! runs in a process group of its own, with the run's placeholders in its arguments and as
//! `OBEVENTS_*` variables, and the whole group is ended when the run ends — even when the run
//! fails or is interrupted (the guard ends it on drop) — so no process outlives the run.

use std::time::Duration;

use crate::harness::profile::tpp::{StartSettings, Vars};

/// The TPP's running command; dropping it ends the process group.
#[derive(Debug)]
pub struct Launched {
    child: Option<tokio::process::Child>,
    pgid: i32,
}

/// Where the TPP's output goes: the file `log` (created anew), else nowhere.
fn output(
    log: Option<&std::path::Path>,
) -> Result<(std::process::Stdio, std::process::Stdio), String> {
    let Some(path) = log else {
        return Ok((std::process::Stdio::null(), std::process::Stdio::null()));
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create the TPP's log {}: {e}", path.display()))?;
    let copy = file
        .try_clone()
        .map_err(|e| format!("cannot share the TPP's log {}: {e}", path.display()))?;
    Ok((file.into(), copy.into()))
}

/// Starts `start.command` with `vars`, its output (stdout and stderr) written to `log`.
pub fn launch(
    start: &StartSettings,
    vars: &Vars,
    log: Option<&std::path::Path>,
) -> Result<Launched, String> {
    let argv: Vec<String> = start.command.iter().map(|a| vars.render(a)).collect();
    let Some((program, args)) = argv.split_first() else {
        return Err("the TPP profile's start.command is empty".into());
    };
    let (stdout, stderr) = output(log)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(vars.env())
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the TPP ({program:?}): {e}"))?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| format!("the TPP command {program:?} ended at once"))?;
    Ok(Launched {
        child: Some(child),
        pgid,
    })
}

impl Launched {
    /// Whether the command has already ended (a TPP that is meant to keep serving).
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Ends the process group: SIGTERM, then SIGKILL after 2 s, and reaps the command.
    pub async fn stop(mut self) {
        signal_group(self.pgid, "TERM");
        if let Some(mut child) = self.child.take()
            && tokio::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .is_err()
        {
            signal_group(self.pgid, "KILL");
            // The command itself, directly (no kill(1) needed), should that have failed.
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
        }
        // Whatever the command left behind in its group.
        signal_group(self.pgid, "KILL");
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if self.child.is_some() {
            signal_group(self.pgid, "KILL");
        }
    }
}

/// Sends `signal` to process group `pgid` through kill(1): the crate forbids unsafe code, so
/// no kill(2) binding. The group is the one the harness created for the TPP command.
fn signal_group(pgid: i32, signal: &str) {
    if pgid > 1 {
        let _ = std::process::Command::new("kill")
            .args(["-s", signal, "--", &format!("-{pgid}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
