//! Switches the PostgreSQL half of the integration tests on when a test server is named at
//! build time (`OBEVENTS_TEST_POSTGRES`, set by `.ci/run`); see `tests/sandbox_pg.rs`.

fn main() {
    println!("cargo::rerun-if-env-changed=OBEVENTS_TEST_POSTGRES");
    println!("cargo::rustc-check-cfg=cfg(obevents_pg_tests)");
    if std::env::var("OBEVENTS_TEST_POSTGRES").is_ok_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=obevents_pg_tests");
    }
}
