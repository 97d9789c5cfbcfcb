//! Integration tests of the mock bank (`obevents sandbox`) on SQLite (`sandbox_pg.rs` runs them on
//! PostgreSQL): every test starts its own sandbox on
//! 127.0.0.1 port 0 (in-process with `:memory:`, a temporary database file, or the real binary)
//! and talks HTTP to it. Test names cite the rule IDs of `shared/reference/obie-rules.md` and
//! `rfc-rules.md`.
//!
//! - `common`: helpers (start a sandbox, register TPPs, call, poll, inject, check errors/SETs);
//! - `oauth`: registration, token endpoint, discovery and JWKS (issue 2);
//! - `subscriptions`: `/event-subscriptions` and `/callback-urls` (ES-*, CB-*);
//! - `common_rules`: rules every endpoint follows (G-*), message signing (G-14);
//! - `persistence`: restarts on the same database, SIGKILL of the binary, the command line;
//! - `migrations`: a database written by release 0.1 upgraded in place;
//! - `events`: consents, the full event flow, event injection (N-*, AP-03);
//! - `polling`: `POST /events` and long polling (AP-*, R8936-*);
//! - `personalities`: ob312, wso2, hsbc deviations;
//! - `faults`: spot checks that a fault bends exactly its behaviour;
//! - `push`: real-time push to a callback receiver (R-01..R-10);
//! - `regressions`: defects an independent black-box client found;
//! - `connections`: timeouts and the connection cap;
//! - `malformed`: a malformed-input matrix over every endpoint with a body;
//! - `bounds`: bounded work per request (array bounds, error bodies);
//! - `tenancy`: helpers act on a TPP only with its token or the admin credential;
//! - `tls`: HTTPS, mutual TLS, RFC 8705 client authentication and certificate-bound tokens.
//! - `openapi`: `GET /openapi.json` is valid OpenAPI 3.1 and lists exactly what is served.
//! - `yapily`: the Yapily-style notification API and signed webhooks (issue 10).
//! - `observability`: `/readyz`, `/metrics` and its README list (issue 21).
//! - `operator_logs`: the access log and push attempt lines, text and JSON (issue 21).
//! - `retention`: `[retention]` sweeps and the per-TPP bounds of `[limits]` (issue 21).
//! - `tpp_faults`: bank faults a TPP chooses for its own client, and the operator's view
//!   (issue 22).
// Tests assert with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// This binary runs every sandbox on SQLite; `sandbox_pg.rs` runs the same tests on PostgreSQL.
const ENGINE: common::Engine = common::Engine::Sqlite;

#[path = "sandbox/binary.rs"]
mod binary;
#[path = "sandbox/bounds.rs"]
mod bounds;
#[path = "sandbox/common.rs"]
mod common;
#[path = "sandbox/common_rules.rs"]
mod common_rules;
#[path = "sandbox/connections.rs"]
mod connections;
#[path = "sandbox/deploy.rs"]
mod deploy;
#[path = "sandbox/events.rs"]
mod events;
#[path = "sandbox/faults.rs"]
mod faults;
#[path = "sandbox/malformed.rs"]
mod malformed;
#[path = "sandbox/migrations.rs"]
mod migrations;
#[path = "sandbox/oauth.rs"]
mod oauth;
#[path = "sandbox/observability.rs"]
mod observability;
#[path = "sandbox/openapi.rs"]
mod openapi;
#[path = "sandbox/operator_logs.rs"]
mod operator_logs;
#[path = "sandbox/persistence.rs"]
mod persistence;
#[path = "sandbox/personalities.rs"]
mod personalities;
#[path = "sandbox/polling.rs"]
mod polling;
#[path = "sandbox/push.rs"]
mod push;
#[path = "sandbox/receiver.rs"]
mod receiver;
#[path = "sandbox/regressions.rs"]
mod regressions;
#[path = "sandbox/retention.rs"]
mod retention;
#[path = "sandbox/subscriptions.rs"]
mod subscriptions;
#[path = "sandbox/tenancy.rs"]
mod tenancy;
#[path = "sandbox/tls.rs"]
mod tls;
#[path = "sandbox/tpp_faults.rs"]
mod tpp_faults;
#[path = "sandbox/yapily.rs"]
mod yapily;
