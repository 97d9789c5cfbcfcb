//! The mock bank (ASPSP). Start at [`app::run`]; the HTTP surface is in [`http`], the domain
//! services are `impl AppState` blocks in [`auth`], [`subscriptions`], [`callback_urls`],
//! [`consents`], [`events`], [`polling`] and [`yapily`] (the Yapily-style notification dialect),
//! and all state is in [`store`].

pub mod admin;
pub mod app;
pub mod auth;
pub mod callback_urls;
pub mod config;
pub mod consents;
pub mod domain;
pub mod error;
pub mod events;
pub mod faults;
pub mod http;
pub mod notify;
pub mod personality;
pub mod polling;
pub mod push;
pub mod server;
pub mod store;
pub mod subscriptions;
pub mod validate;
pub mod yapily;

pub use app::{AppState, Sandbox};
pub use config::SandboxConfig;
pub use faults::{Fault, Faults};
pub use personality::{Bank, Personality};
