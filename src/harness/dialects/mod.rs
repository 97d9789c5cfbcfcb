//! Checks of the non-OBIE notification dialects the harness judges: what a received webhook
//! must carry, as pure functions over the request the receiver recorded.

pub mod tatra;
pub mod yapily;
