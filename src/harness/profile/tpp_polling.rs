//! The `[polling]` section of a TPP profile: what the TPP's polling client (OBIE aggregated
//! polling, RFC 8936 recipient) declares about itself — which family of error codes it reports
//! in `setErrs`, how long it waits between empty short polls (or that it long-polls), and how
//! long the referee's polling session may take. Unknown fields are refused and every error
//! names the field, as in the rest of the profile.

use std::time::Duration;

use serde::Deserialize;

use super::{ProfileError, err};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PollingFile {
    err_codes: Option<String>,
    min_empty_wait_ms: Option<u64>,
    long_poll: Option<bool>,
    session_timeout_ms: Option<u64>,
    addr: Option<String>,
}

/// Which `err` codes the client puts in `setErrs` for a SET it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrCodes {
    /// The RFC 8935 registry ("Security Event Token Error Codes"): `invalid_key`, …
    Rfc8935,
    /// The codes of the polling draft the OBIE examples use: `jwtSig`, `jwtIss`, `jwtAud`, …
    ObDraft,
    /// Any non-empty code (only that the SET is reported is judged).
    Any,
}

/// The RFC 8935 registry (RFC 8935 §7.1).
pub const RFC8935_CODES: [&str; 6] = [
    "invalid_request",
    "invalid_key",
    "invalid_issuer",
    "invalid_audience",
    "authentication_failed",
    "access_denied",
];

/// The error codes of draft-ietf-secevent-http-poll (before RFC 8936) that the OBIE polling
/// examples use.
pub const OB_DRAFT_CODES: [&str; 10] = [
    "json", "jwtParse", "jwtHdr", "jwtCrit", "jwtAud", "jwtIss", "jwtSig", "setType", "setParse",
    "setData",
];

impl ErrCodes {
    pub fn name(self) -> &'static str {
        match self {
            ErrCodes::Rfc8935 => "rfc8935",
            ErrCodes::ObDraft => "ob-draft",
            ErrCodes::Any => "any",
        }
    }

    /// Whether `err` belongs to the family.
    pub fn allows(self, err: &str) -> bool {
        match self {
            ErrCodes::Rfc8935 => RFC8935_CODES.contains(&err),
            ErrCodes::ObDraft => OB_DRAFT_CODES.contains(&err),
            ErrCodes::Any => !err.is_empty(),
        }
    }
}

/// The TPP's polling client, as its profile declares it.
#[derive(Debug, Clone)]
pub struct PollingClient {
    pub err_codes: ErrCodes,
    /// The least time the client waits after an empty short poll before polling again.
    pub min_empty_wait: Duration,
    /// The client long-polls (`returnImmediately: false`) instead of pacing short polls.
    pub long_poll: bool,
    /// How long the referee's polling session may take before the judgments are made on what
    /// the client did so far.
    pub session_timeout: Duration,
    /// `HOST:PORT` the referee's polling front listens on (None: a free 127.0.0.1 port), for
    /// a client configured before the run.
    pub addr: Option<String>,
}

pub(super) fn polling(p: PollingFile) -> Result<PollingClient, ProfileError> {
    let err_codes = match p.err_codes.as_deref().unwrap_or("rfc8935") {
        "rfc8935" => ErrCodes::Rfc8935,
        "ob-draft" => ErrCodes::ObDraft,
        "any" => ErrCodes::Any,
        other => {
            return err(
                "polling.err_codes",
                format!("{other:?} is not one of rfc8935, ob-draft, any"),
            );
        }
    };
    let min_empty_wait = p.min_empty_wait_ms.unwrap_or(1_000);
    if min_empty_wait > 60_000 {
        return err("polling.min_empty_wait_ms", "must be at most 60000");
    }
    let session = p.session_timeout_ms.unwrap_or(30_000);
    if !(1_000..=600_000).contains(&session) {
        return err(
            "polling.session_timeout_ms",
            "must be between 1000 and 600000",
        );
    }
    if let Some(a) = &p.addr
        && a.parse::<std::net::SocketAddr>().is_err()
    {
        return err("polling.addr", format!("{a:?} is not an IP:PORT address"));
    }
    Ok(PollingClient {
        addr: p.addr,
        err_codes,
        min_empty_wait: Duration::from_millis(min_empty_wait),
        long_poll: p.long_poll.unwrap_or(false),
        session_timeout: Duration::from_millis(session),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PollingClient, ProfileError> {
        polling(toml::from_str(text).map_err(|e| ProfileError(e.to_string()))?)
    }

    #[test]
    fn defaults_and_errors_name_the_field() {
        let p = parse("").unwrap();
        assert_eq!(p.err_codes, ErrCodes::Rfc8935);
        assert_eq!(p.min_empty_wait, Duration::from_secs(1));
        assert!(!p.long_poll);
        for (text, field) in [
            ("err_codes = \"x\"", "polling.err_codes"),
            ("min_empty_wait_ms = 90000", "polling.min_empty_wait_ms"),
            ("session_timeout_ms = 5", "polling.session_timeout_ms"),
            ("nope = 1", "unknown field `nope`"),
            ("addr = \"here\"", "polling.addr"),
        ] {
            let e = parse(text).unwrap_err().0;
            assert!(e.contains(field), "{text}: {e}");
        }
        assert!(ErrCodes::ObDraft.allows("jwtSig") && !ErrCodes::ObDraft.allows("invalid_key"));
        assert!(ErrCodes::Rfc8935.allows("invalid_key") && ErrCodes::Any.allows("x"));
    }
}
