//! Where push may go. A callback URL is whatever a TPP registered, so on a shared sandbox it
//! could aim the worker at the operator's own network: destinations that resolve to loopback,
//! private, link-local or otherwise non-public addresses are refused unless the operator allows
//! them (`[push] allow_private_networks`, on by default only when the sandbox itself listens on
//! loopback). Names reserved for documentation and testing (RFC 2606 / RFC 6761: `.example`,
//! `example.com`, `.invalid`, `.test`) are never looked up: they cannot be anyone's endpoint.
//!
//! The check runs twice: before an attempt (so a refusal is recorded as such and not retried;
//! a name that does not resolve is retried, as a DNS failure may pass)
//! and inside the HTTP client's resolver ([`GuardedResolver`]), so a name that resolves
//! differently the second time (DNS rebinding) still cannot reach a refused address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is an address on the public internet: not in any block IANA's special-purpose
/// registries mark as not globally reachable (RFC 6890 and its updates), nor a translation
/// address (NAT64, 6to4) that embeds one that is not.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                // 100.64.0.0/10, carrier-grade NAT
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                // 192.0.0.0/24, IETF protocol assignments
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                // 192.88.99.0/24, the deprecated 6to4 relay anycast
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
                // 198.18.0.0/15, benchmarking
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(hi) << 16) | u32::from(lo),
                ))
            };
            // 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) reach the IPv4 address they embed.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return is_public(embedded(s[1], s[2]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // ::/96, the deprecated IPv4-compatible addresses
                || s[..6] == [0; 6]
                // 64:ff9b:1::/48, local-use NAT64
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                // 100::/64, discard-only
                || s[..4] == [0x100, 0, 0, 0]
                // 2001::/23, IETF protocol assignments (Teredo, benchmarking, ORCHID…)
                || (s[0] == 0x2001 && s[1] < 0x200)
                // 2001:db8::/32 and 3fff::/20, documentation
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x3fff && s[1] < 0x1000)
                // 5f00::/16, SRv6 SIDs
                || s[0] == 0x5f00
                // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 the old site-local
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0)
        }
    }
}

/// Hosts that are reserved and never resolve to anyone's endpoint.
pub fn is_reserved_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let under = |tld: &str| h == tld || h.ends_with(&format!(".{tld}"));
    ["example", "invalid", "test"].into_iter().any(under)
        || ["example.com", "example.net", "example.org"]
            .into_iter()
            .any(under)
}

/// The destination policy of one sandbox.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    pub allow_private: bool,
}

/// Why an attempt may not go to a URL now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Never: the destination is refused (recorded as such and not retried).
    Refused(String),
    /// Not now: its name did not resolve. A DNS failure may pass, so the attempt is retried
    /// like one whose connection failed.
    Unresolved(String),
}

impl Guard {
    /// Whether an attempt may go to `url` now. Resolves names (bounded by the caller's
    /// timeout) unless they are reserved.
    pub async fn check(&self, url: &url::Url) -> Result<(), Blocked> {
        let Some(host) = url.host() else {
            return Err(Blocked::Refused("the callback URL has no host".into()));
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<IpAddr> = match host {
            url::Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
            url::Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
            url::Host::Domain(name) => {
                if is_reserved_name(name) {
                    return Err(Blocked::Refused(format!(
                        "{name} is a reserved documentation/test name (RFC 2606, RFC 6761): not contacted"
                    )));
                }
                match tokio::net::lookup_host((name, port)).await {
                    Ok(found) => found.map(|a| a.ip()).collect(),
                    Err(e) => {
                        return Err(Blocked::Unresolved(format!("{name} does not resolve: {e}")));
                    }
                }
            }
        };
        self.addresses(&addrs)
    }

    fn addresses(&self, addrs: &[IpAddr]) -> Result<(), Blocked> {
        if addrs.is_empty() {
            return Err(Blocked::Unresolved(
                "the host resolves to no address".into(),
            ));
        }
        if self.allow_private || addrs.iter().copied().all(is_public) {
            return Ok(());
        }
        Err(Blocked::Refused(format!(
            "the host resolves to a non-public address ({}); set [push] allow_private_networks = true to allow it",
            addrs
                .iter()
                .find(|a| !is_public(**a))
                .map(ToString::to_string)
                .unwrap_or_default()
        )))
    }
}

/// The HTTP client's resolver: the system's, with refused addresses removed.
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Guard);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0;
        Box::pin(async move {
            let host = name.as_str().to_string();
            if is_reserved_name(&host) {
                return Err(format!("{host} is a reserved name").into());
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| guard.allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no allowed address").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

impl GuardedResolver {
    pub fn shared(guard: Guard) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver(guard))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_private_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "192.0.0.1",
            "192.0.0.170",
            "64:ff9b:1::a00:1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "100::1",
            "2001:2::1",
            "2001::1",
            "3fff::1",
            "fec0::1",
            "::10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "151.101.1.1",
            "2a00:1450::1",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860::8888",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn reserved_names() {
        assert!(is_reserved_name("tpp.example"));
        assert!(is_reserved_name("www.example.com"));
        assert!(is_reserved_name("x.invalid."));
        assert!(is_reserved_name("bank.test"));
        assert!(!is_reserved_name("example.co.uk"));
        assert!(!is_reserved_name("tpp.examples.io"));
    }

    #[tokio::test]
    async fn refusals_name_the_reason() {
        let strict = Guard {
            allow_private: false,
        };
        let open = Guard {
            allow_private: true,
        };
        let local = url::Url::parse("http://127.0.0.1:9/v3.1/event-notifications").unwrap();
        assert!(
            matches!(strict.check(&local).await, Err(Blocked::Refused(m)) if m.contains("non-public"))
        );
        assert_eq!(open.check(&local).await, Ok(()));
        let doc = url::Url::parse("https://tpp.example/v3.1/event-notifications").unwrap();
        assert!(
            matches!(open.check(&doc).await, Err(Blocked::Refused(m)) if m.contains("reserved"))
        );
    }
}
