//! obevents — Open Banking (OBIE v3.1.x) event notifications, two products in one crate:
//!
//! - a **mock bank sandbox** ([`sandbox`]): event subscriptions, callback URLs, aggregated
//!   polling with long polling, signed SETs, sandbox triggers, bank personalities and faults;
//! - a **conformance harness** ([`harness`]): Gherkin features run by cucumber-rs against any
//!   bank described by a target profile, with JSON Schema validation, SET verification and
//!   reports.
//!
//! Crate map (start reading at `main.rs`, then [`sandbox::app`] and [`sandbox::dialects`], or
//! [`harness::runner`]):
//! - [`cli`]: the command line (clap derive) and its validation;
//! - [`model`]: wire types with the specification's names, shared by both halves;
//! - [`jose`]: keys, JWKS, SET and detached-signature signing and verification;
//! - [`sandbox`]: the mock bank;
//! - [`harness`]: the conformance runner;
//! - [`bench`]: the load generator behind `obevents bench`;
//! - [`certs`]: the development PKI behind `obevents certs`.

pub mod bench;
pub mod certs;
pub mod cli;
pub mod harness;
pub mod jose;
pub mod model;
pub mod sandbox;
