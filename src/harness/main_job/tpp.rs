//! The main job's TPP pass: the referee bank judges the built-in reference TPP
//! (`obevents tpp receive`, run in-process here) with the TPP features, so one `obevents test`
//! shows both halves of the product. The reference TPP's processed list is observed over HTTP
//! (`GET /processed`). Its scenarios join the main outcome as they are (their feature paths are
//! their own).

use std::time::Duration;

use crate::harness::profile::tpp::{
    HookReceiver, Observation, ObserveSource, PushReceiver, RefereeSettings, TatraReceiver,
    TppProfile, Vars, YapilyReceiver,
};
use crate::harness::referee::{InProcessTpp, StartInProcess};
use crate::harness::runner::{ConfigError, Progress, RunOutcome, TppRunOptions, run_tpp};
use crate::tpp::receiver::{self, ReceiverConfig};
use crate::tpp::verify::Expect;
use crate::tpp::{TppFault, TppFaults};

/// The answer time the reference TPP declares: a conformant one answers in milliseconds (with
/// room for a loaded machine), the `slow-answer` fault takes 3 s.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(2000);

/// The TPP profile of the reference TPP (its push receiver on the run's `{port}`).
pub fn reference_profile() -> TppProfile {
    TppProfile {
        name: "obevents reference TPP".into(),
        referee: RefereeSettings {
            addr: "127.0.0.1:0".into(),
            issuer: None,
            client_id: None,
            client_secret: None,
        },
        start: None,
        push: Some(PushReceiver {
            url: "http://127.0.0.1:{port}/event-notifications".into(),
            ca_pem: None,
            identity_pem: None,
            answer_within: ANSWER_WITHIN,
            headers: Vec::new(),
        }),
        polling: Some(super::tpp_polling::reference_polling()),
        observe: Some(Observation {
            source: ObserveSource::Http("http://127.0.0.1:{port}/processed".into()),
            wait: Duration::from_secs(5),
        }),
        yapily: Some(YapilyReceiver {
            hook: hook(crate::tpp::hooks::YAPILY_PATH),
        }),
        tatra: Some(TatraReceiver {
            hook: hook(crate::tpp::hooks::TATRA_PATH),
            authorization: Some(TATRA_AUTHORIZATION.into()),
            consent_id: None,
        }),
        publish: None,
        dir: ".".into(),
    }
}

/// The security header the reference TPP configures for its Tatra-style webhooks.
pub const TATRA_AUTHORIZATION: &str = "Basic b2JldmVudHM6cmVmZXJlbmNlLXRwcA==";

/// A webhook receiver of the reference TPP at `path` on the run's `{port}`.
fn hook(path: &str) -> HookReceiver {
    HookReceiver {
        url: format!("http://127.0.0.1:{{port}}{path}"),
        ca_pem: None,
        identity_pem: None,
        answer_within: ANSWER_WITHIN,
    }
}

fn var<'a>(vars: &'a Vars, name: &str) -> Result<&'a str, String> {
    vars.0
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| format!("the run has no {{{name}}} (harness bug)"))
}

/// Starts the reference TPP in-process with `faults`, on the run's `{port}`.
pub fn in_process(faults: Vec<TppFault>) -> StartInProcess {
    Box::new(move |vars: &Vars| {
        let port: u16 = var(vars, "port")?
            .parse()
            .map_err(|e| format!("{{port}}: {e}"))?;
        let cfg = ReceiverConfig {
            jwks_url: var(vars, "jwks_url")?.to_string(),
            expect: Expect {
                issuer: var(vars, "issuer")?.to_string(),
                audience: var(vars, "audience")?.to_string(),
            },
            path: "/event-notifications".into(),
            processed: None,
            faults: TppFaults::new(faults.clone()),
            hooks: crate::tpp::hooks::HooksConfig {
                application_id: var(vars, "client_id")?.to_string(),
                tatra_authorization: Some(TATRA_AUTHORIZATION.into()),
            },
        };
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("the reference TPP cannot listen on port {port}: {e}"))?;
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| format!("the reference TPP's listener: {e}"))?;
        let stop = tokio_util::sync::CancellationToken::new();
        let polling = super::tpp_polling::start(vars, TppFaults::new(faults), stop.clone())?;
        let receiving = receiver::spawn(cfg, listener, None, stop.clone());
        let task = tokio::spawn(async move {
            let _ = receiving.await;
            let _ = polling.await;
        });
        Ok(InProcessTpp { stop, task })
    })
}

/// Referees the reference TPP with `faults`; `progress` as the caller shows it.
pub async fn run(faults: Vec<TppFault>, progress: Progress) -> Result<RunOutcome, ConfigError> {
    let mut opts = TppRunOptions::quiet(reference_profile());
    opts.in_process = Some(in_process(faults));
    opts.progress = progress;
    run_tpp(opts, None).await
}

/// Adds the TPP pass's scenarios and findings to `main`.
pub fn merge(main: &mut RunOutcome, pass: RunOutcome) {
    main.scenarios.extend(pass.scenarios);
    main.findings.extend(pass.findings);
    main.target = format!("{} and {}", main.target, pass.target);
    main.duration += pass.duration;
}
