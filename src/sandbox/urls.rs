//! Checks on the destination URLs that TPPs register (OBIE callback URLs, Yapily and Tatra
//! webhook URLs), shared by every dialect that stores one.

use super::state::AppState;

/// Whether `host` (as `url::Url::host_str` gives it) names this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether webhook URLs may be plain http to a loopback host: the push switch
/// (`allow_private_networks`), by default on exactly when the sandbox is on loopback.
pub fn webhook_http_allowed(st: &AppState) -> bool {
    st.cfg.push.allow_private_networks.unwrap_or_else(|| {
        url::Url::parse(&st.base_url)
            .ok()
            .and_then(|u| u.host_str().map(is_loopback_host))
            .unwrap_or(false)
    })
}
