//! The main job's HTTPS + mTLS pass: the embedded sandbox again, over HTTPS with mutual TLS
//! required, and a focused part of the suite (polling and isolation) run against it by
//! clients registered for `tls_client_auth` (RFC 8705). Every call of that pass goes through
//! the harness's client-certificate path, and every token it uses is certificate-bound, so
//! the sandbox's TLS server, its mTLS client authentication and its token binding are tested
//! end to end. The certificates are made for the run and never written to disk. Its scenarios
//! join the main run's outcome under feature names marked `(HTTPS + mTLS)`.

use super::{config_error, with_profile};
use crate::harness::profile::{Profile, RegistrationAuth, TlsSettings};
use crate::harness::runner::{ConfigError, RunOutcome};
use crate::sandbox::embedded::{self, Bank, Embedded, Fault};

/// The scenarios of the pass: the poll/acknowledge flow and the isolation between TPPs,
/// what a certificate-bound token protects.
pub const TAGS: &str = "@polling or @isolation";

/// Marks the pass's scenarios in every report.
pub const LABEL: &str = "(HTTPS + mTLS)";

/// Starts an HTTPS + mTLS sandbox of `bank` with `faults`, with the built-in profile switched
/// to mutual TLS.
pub async fn start(
    bank: Option<Bank>,
    faults: &[Fault],
) -> Result<(Embedded, Profile), ConfigError> {
    let (sandbox, client) = embedded::start_mtls(bank, faults)
        .await
        .map_err(|e| ConfigError(format!("cannot start the HTTPS + mTLS sandbox: {e}")))?;
    // The pass is about transport and token binding; push is covered by the first pass.
    let mut declaration = sandbox.declaration().clone();
    declaration.push = None;
    let profile = Profile::for_sandbox(&sandbox.url(), &declaration)
        .and_then(|p| {
            p.with_mtls(
                TlsSettings {
                    client_cert_pem: Some(client.identity_pem),
                    ca_pem: Some(client.ca_pem),
                    accept_invalid_certs: false,
                },
                RegistrationAuth::TlsClientAuth,
            )
        })
        .map_err(config_error);
    tracing::info!(
        "testing the embedded sandbox over HTTPS + mTLS at {}",
        sandbox.url()
    );
    with_profile(sandbox, profile).await
}

/// Adds the pass's scenarios and findings to the main outcome, each marked with [`LABEL`]
/// (the feature name, the path, the scenario list of a finding), so reports tell them apart.
pub fn merge(main: &mut RunOutcome, pass: RunOutcome) {
    for mut s in pass.scenarios {
        s.feature = format!("{} {LABEL}", s.feature);
        s.path = format!("mtls/{}", s.path);
        main.scenarios.push(s);
    }
    for mut f in pass.findings {
        f.message = format!("{LABEL} {}", f.message);
        main.findings.push(f);
    }
    main.target = format!("{} and {}", main.target, pass.target);
    main.duration += pass.duration;
}
