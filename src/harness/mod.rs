//! The conformance harness: runs the Gherkin features in `features/` against any bank a target
//! profile describes (or the embedded sandbox), verifies every response and SET, and writes
//! reports. Start at [`command::run_cli`] (`obevents test`): it runs [`runner::run`] once for
//! a profile, or the passes of the [`main_job`]; a scenario's state is
//! [`world::HarnessWorld`]; the phrases are in [`steps`]; the target is reached through
//! [`context::RunContext`]; what the checks run on every answer find is grouped per defect by
//! [`defects`].

pub mod catalogue;
pub mod client;
pub mod command;
pub mod context;
pub mod defects;
pub mod dialects;
pub mod features;
pub mod main_job;
pub mod origins;
pub mod outcome;
pub mod plan;
pub mod preflight;
pub mod profile;
pub mod receiver;
pub mod referee;
pub mod report;
pub mod runner;
pub mod schema;
pub mod set_check;
pub mod settle;
pub mod steps;
pub mod template;
pub mod trigger;
pub mod world;
