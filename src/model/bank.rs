//! What a bank documents about itself, as both the sandbox (its personalities) and the harness
//! (its target profiles) name it: the specification release, long-polling support, and what an
//! unknown `ack` does.

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

/// What a bank declares about its real-time push retries: the sandbox's `[push]`
/// policy as the harness's built-in profile states it.
#[derive(Debug, Clone, PartialEq)]
pub struct PushDeclaration {
    /// The delay before each retry; its length is the number of retries.
    pub retry_schedule: Vec<std::time::Duration>,
    /// How long one attempt may take.
    pub request_timeout: std::time::Duration,
}
