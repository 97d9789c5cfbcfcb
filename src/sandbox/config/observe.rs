//! What operators watch the sandbox with: where `/metrics` is served (`[metrics]`) and whose
//! `X-Forwarded-For` the access log believes (`trusted_proxies`).

use std::net::{IpAddr, SocketAddr};

use super::file::ConfigFile;

/// `[metrics]` and `trusted_proxies`, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObserveConfig {
    /// Serve `/metrics` on this address of its own, without authentication (and not on the
    /// main port); `None`: on the main port, behind the admin credential.
    pub metrics_address: Option<SocketAddr>,
    /// Peers whose `X-Forwarded-For` names the client in the access log (reverse proxies in
    /// front of the sandbox); any other peer is logged as itself, whatever it sends.
    pub trusted_proxies: Vec<IpAddr>,
}

/// The file's `[metrics]` and `trusted_proxies` over the defaults.
pub(super) fn observe_config(file: &ConfigFile) -> Result<ObserveConfig, String> {
    let mut cfg = ObserveConfig::default();
    if let Some(address) = file.metrics.as_ref().and_then(|m| m.address.as_deref()) {
        cfg.metrics_address = Some(address.trim().parse().map_err(|_| {
            format!(
                "config field metrics.address: {address:?} is not IP:PORT (e.g. \"127.0.0.1:9464\")"
            )
        })?);
    }
    for p in &file.trusted_proxies {
        cfg.trusted_proxies.push(
            p.trim()
                .parse()
                .map_err(|_| format!("config field trusted_proxies: {p:?} is not an IP address"))?,
        );
    }
    Ok(cfg)
}
