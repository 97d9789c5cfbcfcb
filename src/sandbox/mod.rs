//! The mock bank (ASPSP). Start at [`app::run`]; the HTTP surface is in [`http`], the domain
//! services are `impl AppState` blocks in [`auth`], [`subscriptions`], [`callback_urls`],
//! [`consents`], [`events`], [`polling`], [`yapily`] (the Yapily-style notification dialect)
//! and [`tatra`] (Tatra-banka-style webhooks),
//! and all state is in [`store`]. Connections are served by [`server`], over HTTPS and mutual
//! TLS when [`tls`] is configured; RFC 8705 client authentication and certificate-bound tokens
//! are in [`mtls`]. The harness starts an in-process sandbox through [`embedded`] only.

pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod dialects;
pub mod domain;
pub mod edge_io;
pub mod embedded;
pub mod faults;
pub mod http;
pub mod inspect;
pub mod limits;
pub mod notify;
pub mod personality;
pub mod push;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
pub mod urls;

pub use app::Sandbox;
pub use config::SandboxConfig;
pub use faults::{Fault, Faults};
pub use personality::{Bank, Personality};
pub use state::AppState;
