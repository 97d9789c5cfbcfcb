//! `obevents tpp poll` (and the polling flags of `tpp receive`): the command line of the
//! reference polling client ([`poller`]), checked before anything runs (exit 2, one line).

use std::path::PathBuf;
use std::time::Duration;

use super::poller::{self, PollerConfig};
use super::verify::Expect;
use super::{TppFaults, faults};
use crate::cli::{PollArgs, PollFlags};

/// `url` (the value of `flag`) if it is an http(s) URL.
pub fn http_url(flag: &str, url: &str) -> Result<(), String> {
    if url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        Ok(())
    } else {
        Err(format!("{flag} {url:?} is not an http(s) URL"))
    }
}

/// `--processed`: the file must be writable now (it is created if missing), rather than each
/// jti failing to be recorded later.
pub fn processed_file(path: Option<&std::path::Path>) -> Result<(), String> {
    let Some(path) = path else { return Ok(()) };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|e| format!("cannot write --processed {}: {e}", path.display()))
}

/// The polling client `flags` describe; None without `--events-url`.
pub fn config(
    flags: &PollFlags,
    jwks_url: &str,
    expect: &Expect,
    processed: Option<PathBuf>,
    faults: &TppFaults,
) -> Result<Option<PollerConfig>, String> {
    let Some(events_url) = &flags.events_url else {
        return Ok(None);
    };
    let (Some(token_url), Some(client_id), Some(client_secret)) =
        (&flags.token_url, &flags.client_id, &flags.client_secret)
    else {
        return Err("--events-url needs --token-url, --client-id and --client-secret".into());
    };
    for (flag, u) in [("--events-url", events_url), ("--token-url", token_url)] {
        http_url(flag, u)?;
    }
    Ok(Some(PollerConfig {
        events_url: events_url.clone(),
        token_url: token_url.clone(),
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        scope: flags.scope.clone(),
        jwks_url: jwks_url.to_string(),
        expect: expect.clone(),
        pace: Duration::from_millis(flags.pace_ms),
        long_poll: flags.long_poll,
        processed,
        faults: faults.clone(),
    }))
}

/// `obevents tpp poll`; returns the exit code.
pub async fn poll(args: PollArgs) -> u8 {
    if args.list_faults {
        print!("{}", faults::listing());
        return 0;
    }
    let (Some(jwks_url), Some(issuer), Some(audience)) =
        (args.jwks_url, args.issuer, args.audience)
    else {
        eprintln!("error: --jwks-url, --issuer and --audience are required (see --help)");
        return 2;
    };
    if args.poll.events_url.is_none() {
        eprintln!("error: --events-url is required (see --help)");
        return 2;
    }
    if let Err(e) =
        http_url("--jwks-url", &jwks_url).and_then(|()| processed_file(args.processed.as_deref()))
    {
        eprintln!("error: {e}");
        return 2;
    }
    let expect = Expect { issuer, audience };
    let faults = TppFaults::new(args.faults);
    let cfg = match config(&args.poll, &jwks_url, &expect, args.processed, &faults) {
        Ok(Some(c)) => c,
        Ok(None) => return 2,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let stop = tokio_util::sync::CancellationToken::new();
    println!("polling {}", cfg.events_url);
    let task = poller::spawn(cfg, stop.clone());
    let _ = tokio::signal::ctrl_c().await;
    stop.cancel();
    let _ = task.await;
    0
}
