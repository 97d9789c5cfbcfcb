//! Connection limits of the HTTP server (`header_read_timeout_ms`, `idle_timeout_ms`,
//! `max_connections`, `listen_backlog`).

use std::time::Duration;

/// Connection bounds (`header_read_timeout_ms`, `idle_timeout_ms`, `max_connections`,
/// `listen_backlog` in the config file).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    /// Raised to the long-poll hold plus a margin, so a held poll is never cut as idle.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub backlog: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 20_000,
            backlog: 4_096,
        }
    }
}
