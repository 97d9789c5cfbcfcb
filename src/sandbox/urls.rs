//! Checks on the destination URLs that TPPs register (OBIE callback URLs, Yapily and Tatra
//! webhook URLs), shared by every dialect that stores one.

/// Whether `host` (as `url::Url::host_str` gives it) names this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
