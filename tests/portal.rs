//! The sandbox portal (issue 23): `/portal` signed in as a TPP or the operator, over plain HTTP
//! (`http`: sign-in and lockout, sessions, CSRF, isolation between TPPs, escaping of hostile
//! values, live updates, the forms' effects through the API) and in a real browser (`browser`:
//! headless Chromium driven over WebDriver by chromedriver, which the tests start themselves on
//! a free 127.0.0.1 port; without `chromium` and `chromium-driver` installed they fail with a
//! message, `.ci/run` installs them). `screenshots` writes a PNG of every page. Runs on SQLite;
//! every wait is bounded.
// Tests assert with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The sandbox tests' helpers (`common`, `binary`, `receiver`) are shared with `sandbox.rs`;
// this binary uses a part of them.
#![allow(dead_code, unused_imports)]

const ENGINE: common::Engine = common::Engine::Sqlite;

#[path = "sandbox/binary.rs"]
mod binary;
#[path = "portal/browser.rs"]
mod browser;
#[path = "sandbox/common.rs"]
mod common;
#[path = "portal/driver.rs"]
mod driver;
#[path = "portal/http.rs"]
mod http;
#[path = "sandbox/receiver.rs"]
mod receiver;
#[path = "portal/referee.rs"]
mod referee;
#[path = "portal/screenshots.rs"]
mod screenshots;
#[path = "portal/web.rs"]
mod web;
