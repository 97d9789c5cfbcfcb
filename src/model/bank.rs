//! What a bank documents about itself, as both the sandbox (its personalities) and the harness
//! (its target profiles) name it: the specification release, long-polling support, and what an
//! unknown `ack` does, and the whole [`Declaration`] of a bank the harness builds a profile from.

/// Which Read/Write specification release the personality follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    V3_1_2,
    V3_1_11,
}

impl SpecVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V3_1_2 => "3.1.2",
            SpecVersion::V3_1_11 => "3.1.11",
        }
    }
}

/// How `returnImmediately: false` (or its absence, the RFC 8936 default) is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongPolling {
    /// Hold the request until an event arrives or the timeout passes (R8936-08).
    Supported,
    /// Answer at once as if `returnImmediately` were true (WSO2).
    Immediate,
    /// An explicit `false` is a 400; absent means immediate (HSBC).
    Reject,
}

/// What happens to a jti in `ack` that the TPP was never issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownAck {
    Ignore,
    Reject,
}

/// What `maxEvents` above the documented cap does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AboveCap {
    /// Served up to the cap, with `moreAvailable` (AP-07).
    Truncate,
    /// A 400 `UK.OBIE.Field.Invalid` (HSBC).
    Reject,
}

/// Everything a bank documents about its event APIs, in the terms a target profile states them:
/// what the sandbox declares about a personality it runs, so the harness can build the profile
/// of an embedded sandbox without knowing how the sandbox is made.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    /// The personality's name (`obie`, `ob312`, `wso2`, `hsbc`).
    pub name: String,
    pub spec_version: SpecVersion,
    pub long_polling: LongPolling,
    pub long_poll_timeout: std::time::Duration,
    /// The documented upper bound of `maxEvents`, and what a larger value does.
    pub max_events_cap: u64,
    pub above_cap: AboveCap,
    /// SETs per poll when `maxEvents` is absent, if the bank has a default batch.
    pub default_batch: Option<u64>,
    pub unknown_ack: UnknownAck,
    /// The success status of `POST /events` (AP-06).
    pub poll_status: u16,
    /// Whether a SET reported in `setErrs` stays awaiting.
    pub errored_redelivered: bool,
    /// The event types a subscription may name (ES-07).
    pub event_types: Vec<super::EventType>,
    /// Whether `x-jws-signature` is required on signed requests (G-14).
    pub signatures_required: bool,
    /// The push retry policy, when the bank pushes SETs to callbacks (`realtime`).
    pub push: Option<PushDeclaration>,
}

/// What a bank declares about its real-time push retries: the sandbox's `[push]`
/// policy as the harness's built-in profile states it.
#[derive(Debug, Clone, PartialEq)]
pub struct PushDeclaration {
    /// The delay before each retry; its length is the number of retries.
    pub retry_schedule: Vec<std::time::Duration>,
    /// How long one attempt may take.
    pub request_timeout: std::time::Duration,
}
