//! Connection limits of the HTTP server (`header_read_timeout_ms`, `idle_timeout_ms`,
//! `max_connections`, `listen_backlog`).

use std::time::Duration;

use super::file::ConfigFile;

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

/// The connection settings of the file over the defaults.
pub(super) fn server_limits(limits: &mut ServerLimits, file: &ConfigFile) -> Result<(), String> {
    let ms = |field: &str, v: u64| {
        if v == 0 || v > 3_600_000 {
            Err(format!(
                "config field {field}: must be between 1 and 3600000"
            ))
        } else {
            Ok(Duration::from_millis(v))
        }
    };
    if let Some(v) = file.header_read_timeout_ms {
        limits.header_read_timeout = ms("header_read_timeout_ms", v)?;
    }
    if let Some(v) = file.idle_timeout_ms {
        limits.idle_timeout = ms("idle_timeout_ms", v)?;
    }
    if let Some(v) = file.max_connections {
        if v == 0 {
            return Err("config field max_connections: must be at least 1".into());
        }
        limits.max_connections = v;
    }
    if let Some(v) = file.listen_backlog {
        if v == 0 || v > 65_535 {
            return Err("config field listen_backlog: must be between 1 and 65535".into());
        }
        limits.backlog = v;
    }
    Ok(())
}
