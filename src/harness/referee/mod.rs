//! Refereeing a TPP (`obevents test --tpp PROFILE`): the harness plays the bank. It starts a
//! **referee bank** — the sandbox engine in-process (`sandbox::embedded::start_referee`) with
//! its own key, issuer, JWKS and a client for the TPP — fills the TPP profile's placeholders
//! from it ([`Vars`]), starts the TPP if the profile says how ([`launch`]), and gives the
//! scenarios what they need to judge it: SETs made up by the referee ([`sets`]), the TPP's
//! receiver ([`push`]) and what the TPP processed ([`observe`]). The runner runs the TPP
//! features against a [`TppRun`] exactly as it runs the bank features against a bank.

pub mod launch;
pub mod observe;
pub mod poll_judge;
pub mod poll_script;
#[cfg(test)]
mod poll_tests;
pub mod polling;
pub mod publish;
pub mod push;
pub mod sets;
pub mod tls;
pub mod webhooks;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use self::launch::Launched;
use self::observe::Observer;
use self::push::PushTarget;
use self::sets::SetMaker;
use crate::harness::profile::tpp::{ObserveSource, TppProfile, Vars};
use crate::jose::SigningKey;
use crate::sandbox::embedded::{self, Embedded, RefereeClient};

/// What the scenarios of a TPP run share: the profile, the referee's SET maker, and how the
/// TPP is reached and observed.
#[derive(Debug)]
pub struct TppRun {
    pub profile: TppProfile,
    pub sets: SetMaker,
    pub push: Option<PushTarget>,
    pub observer: Option<Observer>,
    pub vars: Vars,
    /// The referee bank's base URL.
    pub referee_url: String,
    /// Publishes new keys in the referee's JWKS (key rotation).
    pub keys: embedded::KeyPublisher,
    /// The TPP's Yapily-style and Tatra-style webhook receivers.
    pub yapily: Option<webhooks::HookTarget>,
    pub tatra: Option<webhooks::HookTarget>,
    /// The polling session and request log (a profile with `[polling]`).
    pub polling: Option<std::sync::Arc<polling::PollingReferee>>,
}

/// The capability tags a TPP profile declares (matched against the TPP scenarios' tags).
pub fn capabilities(run: &TppRun) -> HashSet<String> {
    let mut caps = HashSet::new();
    if run.push.is_some() {
        caps.insert("tpp-receiver".to_string());
    }
    if run.observer.is_some() {
        caps.insert("tpp-observation".to_string());
    }
    webhooks_capabilities(run, &mut caps);
    if run.polling.is_some() {
        caps.insert("tpp-poller".to_string());
    }
    caps
}

/// A TPP the caller runs in-process (the main job's reference TPP): started with the run's
/// placeholders once the referee runs, stopped by cancelling `stop` and awaiting `task`.
pub struct InProcessTpp {
    pub stop: tokio_util::sync::CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts an in-process TPP for the run's [`Vars`].
pub type StartInProcess = Box<dyn FnOnce(&Vars) -> Result<InProcessTpp, String> + Send>;

/// How the TPP runs for this run.
enum Running {
    /// Already running (the profile has no `[start]`).
    Outside,
    Command(Launched),
    InProcess(InProcessTpp),
}

/// The run's `{run_dir}`, removed when dropped — also when a start is abandoned half-way
/// (an interrupt drops it).
struct RunDir(PathBuf);

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A started referee and TPP; [`Started::stop`] ends both.
pub struct Started {
    pub run: std::sync::Arc<TppRun>,
    pub referee: Embedded,
    tpp: Running,
    /// Removed with the `Started` (after the TPP is stopped).
    _run_dir: RunDir,
}

impl Started {
    /// Ends the TPP (its whole process group) and the referee, and removes the run folder.
    pub async fn stop(self) {
        if let Some(p) = &self.run.polling {
            p.shutdown();
        }
        match self.tpp {
            Running::Outside => {}
            Running::Command(l) => l.stop().await,
            Running::InProcess(p) => {
                p.stop.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(5), p.task).await;
            }
        }
        self.referee.stop().await;
    }
}

/// A free port on 127.0.0.1 for `{port}` (free when asked; the TPP binds it right after).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

async fn referee_addr(addr: &str) -> Result<std::net::SocketAddr, String> {
    tokio::net::lookup_host(addr)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("TPP profile field referee.addr: cannot resolve {addr:?}"))
}

/// Starts the referee for `profile`, then the TPP (`in_process`, else the profile's
/// `[start] command` with its output in `log`, else it is expected to run already), and waits
/// until its receiver accepts connections and answers one request (the preflight: a TPP that
/// cannot be reached, or not with the profile's TLS settings, is a configuration error).
pub async fn start(
    profile: TppProfile,
    in_process: Option<StartInProcess>,
    log: Option<PathBuf>,
) -> Result<Started, String> {
    let addr = referee_addr(&profile.referee.addr).await?;
    let short = || uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let client = RefereeClient {
        client_id: profile
            .referee
            .client_id
            .clone()
            .unwrap_or_else(|| format!("tpp-{}", short())),
        client_secret: profile
            .referee
            .client_secret
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
    };
    let other = RefereeClient {
        client_id: format!("other-tpp-{}", short()),
        client_secret: uuid::Uuid::new_v4().simple().to_string(),
    };
    let referee = embedded::start_referee(
        addr,
        profile.referee.issuer.clone(),
        &[
            RefereeClient {
                client_id: client.client_id.clone(),
                client_secret: client.client_secret.clone(),
            },
            RefereeClient {
                client_id: other.client_id.clone(),
                client_secret: other.client_secret.clone(),
            },
        ],
    )
    .await
    .map_err(|e| format!("cannot start the referee bank on {addr}: {e}"))?;
    let run_dir = RunDir(std::env::temp_dir().join(format!("obevents-tpp-{}", short())));
    // RSA key generation takes a while: off the async workers.
    let foreign =
        tokio::task::spawn_blocking(|| SigningKey::for_process(crate::jose::KeyRole::Unpublished))
            .await
            .map_err(|e| e.to_string())
            .and_then(|k| k.map_err(|e| e.to_string()))
            .map_err(|e| format!("cannot make a key: {e}"));
    let prepared = foreign.and_then(|foreign| {
        prepare(
            profile,
            &referee,
            &client,
            &other.client_id,
            &run_dir.0,
            foreign,
        )
    });
    let run = match prepared {
        Ok(run) => run,
        Err(e) => {
            referee.stop().await;
            return Err(e);
        }
    };
    let mut started = Started {
        run: std::sync::Arc::new(run),
        referee,
        tpp: Running::Outside,
        _run_dir: run_dir,
    };
    match launch_and_wait(&mut started, in_process, log.as_deref()).await {
        Ok(()) => Ok(started),
        Err(e) => {
            started.stop().await;
            Err(e)
        }
    }
}

/// The run's placeholders, SET maker, receiver and observer.
fn prepare(
    profile: TppProfile,
    referee: &Embedded,
    client: &RefereeClient,
    other_audience: &str,
    run_dir: &std::path::Path,
    foreign: SigningKey,
) -> Result<TppRun, String> {
    std::fs::create_dir_all(run_dir)
        .map_err(|e| format!("cannot create {}: {e}", run_dir.display()))?;
    let front = profile
        .polling
        .as_ref()
        .map(|p| polling::bind(p.addr.as_deref()))
        .transpose()?;
    let base = referee.url();
    // A polling client meets the bank through the front, which records its requests.
    let seen = front.as_ref().map_or(base.clone(), |(_, url)| url.clone());
    let vars = Vars(vec![
        ("port", free_port()?.to_string()),
        ("run_dir", run_dir.display().to_string()),
        ("base_url", seen.clone()),
        ("issuer", referee.issuer().to_string()),
        ("jwks_url", format!("{seen}/jwks")),
        ("token_url", format!("{seen}/token")),
        ("client_id", client.client_id.clone()),
        ("client_secret", client.client_secret.clone()),
        ("audience", client.client_id.clone()),
        ("ob_iss", referee.ob_header().iss.clone()),
        ("trust_anchor", referee.ob_header().tan.clone()),
        ("profile_dir", profile.dir.display().to_string()),
        ("events_url", format!("{seen}{}", polling::EVENTS_PATH)),
    ]);
    let key = SigningKey::from_private_json(&referee.signing_key().to_private_json())
        .map_err(|e| format!("the referee's key: {e}"))?;
    let sets = SetMaker {
        key,
        foreign,
        ob: referee.ob_header().clone(),
        issuer: referee.issuer().to_string(),
        audience: client.client_id.clone(),
        other_audience: other_audience.to_string(),
        base_url: base.clone(),
    };
    let push = profile
        .push
        .as_ref()
        .map(|p| PushTarget::new(p, &vars, referee.ob_header().iss.clone()))
        .transpose()?;
    let observer = profile.observe.as_ref().map(|o| {
        let source = match &o.source {
            ObserveSource::File(p) => {
                let p = vars.render(p);
                let full = profile.dir.join(&p);
                ObserveSource::File(full.display().to_string())
            }
            ObserveSource::Http(u) => ObserveSource::Http(vars.render(u)),
            ObserveSource::Command(c) => {
                ObserveSource::Command(c.iter().map(|a| vars.render(a)).collect())
            }
        };
        Observer::new(source, o.wait)
    });
    let hook = |r: Option<&crate::harness::profile::tpp::HookReceiver>, section: &str| {
        r.map(|r| webhooks::HookTarget::new(r, &vars, section))
            .transpose()
    };
    let yapily = hook(profile.yapily.as_ref().map(|y| &y.hook), "yapily")?;
    let tatra = hook(profile.tatra.as_ref().map(|t| &t.hook), "tatra")?;
    let polling = front
        .map(|(listener, url)| start_front(listener, url, &sets, &base))
        .transpose()?;
    Ok(TppRun {
        profile,
        sets,
        push,
        observer,
        vars,
        referee_url: base,
        keys: referee.key_publisher(),
        yapily,
        tatra,
        polling,
    })
}

/// Starts the polling front on `listener` with a fresh session of SETs from `sets`.
fn start_front(
    listener: std::net::TcpListener,
    url: String,
    sets: &SetMaker,
    upstream: &str,
) -> Result<std::sync::Arc<polling::PollingReferee>, String> {
    let script = poll_script::session(sets)?;
    polling::PollingReferee::start(listener, url, upstream.to_string(), script)
        .map(std::sync::Arc::new)
}

/// Starts the TPP as the run says, then waits for its receiver.
async fn launch_and_wait(
    started: &mut Started,
    in_process: Option<StartInProcess>,
    log: Option<&std::path::Path>,
) -> Result<(), String> {
    let run = &started.run;
    let timeout = run
        .profile
        .start
        .as_ref()
        .map_or(Duration::from_secs(10), |s| s.ready_timeout);
    started.tpp = match (in_process, &run.profile.start) {
        (Some(f), _) => Running::InProcess(f(&run.vars)?),
        (None, Some(s)) => Running::Command(launch::launch(s, &run.vars, log)?),
        (None, None) => Running::Outside,
    };
    let probes: Vec<webhooks::Probe> = [
        started.run.push.as_ref().map(|p| p.probe()),
        started.run.yapily.as_ref().map(|h| h.probe()),
        started.run.tatra.as_ref().map(|h| h.probe()),
    ]
    .into_iter()
    .flatten()
    .collect();
    // A polling client nobody starts for the run is started by hand, once the referee runs.
    if started.run.polling.is_some() && matches!(started.tpp, Running::Outside) {
        polling::prompt(&started.run.vars);
    }
    let deadline = Instant::now() + timeout;
    for probe in &probes {
        wait_for(started, probe, deadline, timeout).await?;
    }
    Ok(())
}

/// The capability tags of the TPP's webhook receivers.
fn webhooks_capabilities(run: &TppRun, caps: &mut HashSet<String>) {
    if run.yapily.is_some() {
        caps.insert("tpp-yapily-receiver".to_string());
    }
    if run.tatra.is_some() {
        caps.insert("tpp-tatra-receiver".to_string());
    }
    if run
        .profile
        .tatra
        .as_ref()
        .is_some_and(|t| t.authorization.is_some())
    {
        caps.insert("tpp-tatra-authorization".to_string());
    }
}

/// Waits until the receiver `probe` accepts connections and answers one request.
async fn wait_for(
    started: &mut Started,
    probe: &webhooks::Probe,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), String> {
    loop {
        let last = match probe.reachable().await {
            Ok(()) => {
                return probe.answers().await.map_err(|e| {
                    format!(
                        "the TPP's receiver {} accepts connections but no request: {e}",
                        probe.url
                    )
                });
            }
            Err(e) => e,
        };
        if let Running::Command(l) = &mut started.tpp
            && let Some(status) = l.exited()
        {
            return Err(format!(
                "the TPP's start.command ended ({status}) before its receiver {} answered",
                probe.url
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the TPP's receiver {} does not accept connections after {} ms: {last}",
                probe.url,
                timeout.as_millis()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
