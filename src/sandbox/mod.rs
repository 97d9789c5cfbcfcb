//! The mock bank (ASPSP). Start at [`app::run`] (assembly) and [`dialects`] (the APIs).
//!
//! Layers, each depending only on those above it (no import cycles; a test keeps it so):
//! - records and settings: [`domain`] (what the store keeps and the operations act on, with
//!   its typed ids and its one time type, `Timestamp`), [`personality`], [`faults`], [`config`]
//!   (every section of the config file), [`tls`];
//! - [`store`]: all SQL, over SQLite or PostgreSQL, one transaction per multi-step write;
//! - [`state`]: the shared handles ([`AppState`]) — store, config, keys, wake-ups — with
//!   [`admin`] (the operator's credential), [`limits`] (per-replica auth guards),
//!   [`metrics`] (what `/metrics` reports), [`notify`] (long-poll wake-ups) and
//!   [`tpp_faults`] (which faults a TPP may choose for itself, and each TPP's effective set);
//! - services over the state: [`auth`] (the authorisation server's domain, RFC 8705 in
//!   `auth::mtls`), [`urls`] (destination URL checks shared by the dialects);
//! - [`http`]: what every API shares on the wire — the route table and router, extractors,
//!   middleware, edge errors, the authorisation server's endpoints, `/openapi.json`;
//! - [`dialects`]: one folder per API style (OBIE, WSO2, Yapily, Tatra) with its routes,
//!   typed requests, operations, error type, rendering and push format, and the dialect list;
//!   [`inspect`]: the cross-dialect `/sandbox/events`, `/sandbox/reset`, `/sandbox/deliveries`;
//!   [`fault_choice`]: the bank faults each TPP chooses for itself (`/sandbox/faults`);
//!   [`portal`]: the browser portal (`/portal`) over the same operations, not part of the API;
//! - [`push`]: the one delivery worker over delivery rows, rendering through the dialect list;
//!   [`retention`]: the background sweeps of `[retention]`;
//! - [`server`] (connections, [`edge_io`]) and [`app`] (assembly and `obevents sandbox`).
//!
//! The harness starts an in-process sandbox through [`embedded`] only. How to add a dialect is
//! written in [`dialects`].

pub mod admin;
pub mod app;
pub mod auth;
pub mod behaviours;
pub mod config;
pub mod cpu_pool;
pub mod dialects;
pub mod domain;
pub mod edge_io;
pub mod embedded;
pub mod fault_choice;
pub mod faults;
pub mod http;
pub mod inspect;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod personality;
pub mod portal;
pub mod push;
pub mod referee_runs;
pub mod retention;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
pub mod tpp_faults;
pub mod urls;

pub use app::Sandbox;
pub use config::SandboxConfig;
pub use faults::{Fault, Faults};
pub use personality::{Bank, Personality};
pub use state::AppState;
