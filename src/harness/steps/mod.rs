//! Step definitions, one file per concept: setting the scene ([`setup`]), subscriptions and
//! callback URLs ([`resources`]), polling ([`polling`]), long polls ([`long_polling`]),
//! responses in general ([`responses`]) and SETs ([`sets`]). Steps are phrases over `HarnessWorld` helpers and return `Result`, so a
//! failure is a message (naming the rule at stake) rather than a panic in harness code.

pub mod long_polling;
pub mod params;
pub mod polling;
pub mod push;
pub mod resources;
pub mod responses;
pub mod sets;
pub mod setup;
pub mod tatra;
pub mod tpp_polling;
pub mod tpp_push;
pub mod tpp_webhooks;
pub mod yapily;
