//! The conformance harness (in progress).
pub mod runner;
