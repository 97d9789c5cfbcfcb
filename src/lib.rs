//! obevents — Open Banking (OBIE v3.1.x) event notifications, two products in one crate:
//!
//! - a **mock bank sandbox** ([`sandbox`]): event subscriptions, callback URLs, aggregated
//!   polling with long polling, signed SETs, sandbox triggers, bank personalities and faults;
//! - a **conformance harness** ([`harness`]): Gherkin features run by cucumber-rs against any
//!   bank described by a target profile, with JSON Schema validation, SET verification and
//!   reports; with a TPP profile it plays the bank and referees a TPP instead;
//! - a **reference TPP** ([`tpp`]): a conformant push receiver with switchable TPP faults.
//!
//! Crate map (start reading at `main.rs`, then [`sandbox::app`] and [`sandbox::dialects`], or
//! [`harness::runner`]):
//! - [`cli`]: the command line (clap derive) and its validation;
//! - [`model`]: wire types with the specification's names, shared by both halves;
//! - [`fault_table`]: the table shape of the bank's and the TPP's deliberate defects;
//! - [`jose`]: keys, JWKS, SET and detached-signature signing and verification;
//! - [`sandbox`]: the mock bank;
//! - [`harness`]: the conformance runner;
//! - [`tpp`]: the reference TPP behind `obevents tpp`;
//! - [`bench`]: the load generator behind `obevents bench`;
//! - [`certs`]: the development PKI behind `obevents certs`.

pub mod bench;
pub mod certs;
pub mod cli;
pub mod fault_table;
pub mod harness;
pub mod jose;
pub mod model;
pub mod sandbox;
pub mod tpp;
