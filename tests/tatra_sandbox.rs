//! The Tatra-banka-style sandbox (issue 11, `--bank tatra`) end to end, with webhook receivers on
//! 127.0.0.1: settings validation and activation (TB-01, TB-02, TB-04), consents and the error
//! shape, the transaction trigger (TB-06) and the refresh's per-bank accountEvents (TB-07..TB-09,
//! TB-12), `Authorization` byte for byte (TB-03), retries (TB-11), silence while disabled or
//! before activation (TB-04, TB-05), and each of the eleven `tatra-*` faults changing exactly
//! what it names. Runs on SQLite; `sandbox_pg.rs` runs the same tests on PostgreSQL. Every wait
//! is bounded.
// Tests assert with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The sandbox tests' helpers (`common`, `binary`, `receiver`) are shared with `sandbox.rs`;
// this binary uses a part of them.
#![allow(dead_code, unused_imports)]

const ENGINE: common::Engine = common::Engine::Sqlite;

#[path = "sandbox/binary.rs"]
mod binary;
#[path = "sandbox/common.rs"]
mod common;
#[path = "tatra/faults.rs"]
mod faults;
#[path = "tatra/flows.rs"]
mod flows;
#[path = "tatra/helpers.rs"]
mod helpers;
#[path = "tatra/malformed.rs"]
mod malformed;
#[path = "sandbox/receiver.rs"]
mod receiver;
