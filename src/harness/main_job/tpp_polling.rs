//! The polling half of the main job's TPP pass: the reference TPP's polling client
//! (`obevents tpp poll`, in-process here) beside its push receiver, declared to the referee
//! by the `[polling]` the reference profile carries.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::harness::profile::tpp::Vars;
use crate::harness::profile::tpp_polling::{ErrCodes, PollingClient};
use crate::tpp::TppFaults;
use crate::tpp::poller::{self, PollerConfig};
use crate::tpp::verify::Expect;

/// The reference poller's wait after an empty poll: short for a quick run, and long enough
/// for "at once" after `moreAvailable` (under it) to be told from a pace on a loaded machine.
pub const PACE: Duration = Duration::from_millis(600);

/// What the reference polling client declares (`[polling]`).
pub fn reference_polling() -> PollingClient {
    PollingClient {
        err_codes: ErrCodes::Rfc8935,
        min_empty_wait: Duration::from_millis(500),
        addr: None,
        long_poll: false,
        session_timeout: Duration::from_secs(15),
    }
}

fn var(vars: &Vars, name: &str) -> Result<String, String> {
    vars.0
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| format!("the run has no {{{name}}} (harness bug)"))
}

/// Starts the reference polling client for the run's placeholders.
pub fn start(
    vars: &Vars,
    faults: TppFaults,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let cfg = PollerConfig {
        events_url: var(vars, "events_url")?,
        token_url: var(vars, "token_url")?,
        client_id: var(vars, "client_id")?,
        client_secret: var(vars, "client_secret")?,
        scope: "accounts".into(),
        jwks_url: var(vars, "jwks_url")?,
        expect: Expect {
            issuer: var(vars, "issuer")?,
            audience: var(vars, "audience")?,
        },
        pace: PACE,
        long_poll: false,
        processed: None,
        faults,
    };
    Ok(poller::spawn(cfg, stop))
}
