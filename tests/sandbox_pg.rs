//! The sandbox API tests of `tests/sandbox.rs` and `tests/tatra_sandbox.rs`, every one run
//! again with the sandbox on PostgreSQL (a fresh database per test), plus `replicas`: several
//! `obevents sandbox` processes on one database behaving as one sandbox, and `readiness_pg`:
//! `/readyz` while the database is unreachable.
//!
//! Needs a PostgreSQL server named by `OBEVENTS_TEST_POSTGRES` when the tests are built
//! (`.ci/run` starts one; the README says how to run them locally). Built without it, this
//! binary holds one test that says the PostgreSQL half was skipped, and fails under CI.
//! `persistence` is SQLite's own (files, locks); restarts on one database are covered here by
//! `regressions` and `replicas`.
// Tests assert with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(obevents_pg_tests)]
const ENGINE: common::Engine = common::Engine::Postgres;

#[cfg(obevents_pg_tests)]
#[path = "sandbox/binary.rs"]
mod binary;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/bounds.rs"]
mod bounds;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/common.rs"]
mod common;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/common_rules.rs"]
mod common_rules;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/connections.rs"]
mod connections;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/events.rs"]
mod events;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/faults.rs"]
mod faults;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/malformed.rs"]
mod malformed;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/oauth.rs"]
mod oauth;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/observability.rs"]
mod observability;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/operator_logs.rs"]
mod operator_logs;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/personalities.rs"]
mod personalities;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/polling.rs"]
mod polling;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/push.rs"]
mod push;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/readiness_pg.rs"]
mod readiness_pg;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/receiver.rs"]
mod receiver;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/regressions.rs"]
mod regressions;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/replicas.rs"]
mod replicas;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/retention.rs"]
mod retention;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/subscriptions.rs"]
mod subscriptions;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/tenancy.rs"]
mod tenancy;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/tpp_faults.rs"]
mod tpp_faults;
#[cfg(obevents_pg_tests)]
#[path = "sandbox/yapily.rs"]
mod yapily;
// The tatra personality's tests (`tatra_sandbox.rs` runs them on SQLite).
#[cfg(obevents_pg_tests)]
#[path = "tatra/helpers.rs"]
mod helpers;
#[cfg(obevents_pg_tests)]
#[path = "tatra/faults.rs"]
mod tatra_faults;
#[cfg(obevents_pg_tests)]
#[path = "tatra/flows.rs"]
mod tatra_flows;
#[cfg(obevents_pg_tests)]
#[path = "tatra/malformed.rs"]
mod tatra_malformed;

/// Says whether the PostgreSQL half ran; under CI its absence is a failure.
#[test]
fn postgres_suite_is_built() {
    if cfg!(obevents_pg_tests) {
        return;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "OBEVENTS_TEST_POSTGRES was not set when the tests were built: the PostgreSQL tests did not run"
    );
    eprintln!(
        "the PostgreSQL API tests were skipped: build the tests with OBEVENTS_TEST_POSTGRES=postgres://USER:PASS@HOST/DB"
    );
}
