//! Checks on the destination URLs that TPPs register (OBIE callback URLs, Yapily and Tatra
//! webhook URLs), shared by every dialect that stores one: [`destination_problem`] is the one
//! rule set every URL-taking endpoint applies first, so the URL stored — and shown in the
//! delivery log — is exactly the one requested; each dialect then adds its own rules.

use super::config::SandboxConfig;

/// Longest destination URL any dialect stores.
pub const MAX_URL: usize = 2048;

/// Why `url` cannot be stored as a push destination, if it cannot: longer than `max` (at most
/// [`MAX_URL`]); control characters, white space or backslashes anywhere (an HTTP client would
/// strip or re-encode them, so the URL called would not be the one requested); not an absolute
/// `http`/`https` URL; an empty authority (`https:///hook`); user info, even empty
/// (`https://@host`, `https://user:pw@host`); no host.
pub fn destination_problem(url: &str, max: usize) -> Option<String> {
    let max = max.min(MAX_URL);
    if url.len() > max {
        return Some(format!("is longer than {max} characters"));
    }
    if let Some(c) = url
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || *c == '\\')
    {
        return Some(format!(
            "must not contain {}",
            match c {
                '\\' => "a backslash".to_string(),
                c if c.is_whitespace() => "white space".to_string(),
                c => format!("control characters (U+{:04X})", u32::from(c)),
            }
        ));
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Some("must be an absolute http(s) URL".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Some("has no host".into());
    }
    if authority.contains('@') {
        return Some("must not carry credentials".into());
    }
    match url::Url::parse(url) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => None,
        Ok(_) => Some("has no host".into()),
        Err(e) => Some(format!("is not a valid URL: {e}")),
    }
}

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
pub fn webhook_http_allowed(cfg: &SandboxConfig, base_url: &str) -> bool {
    cfg.push.allow_private_networks.unwrap_or_else(|| {
        url::Url::parse(base_url)
            .ok()
            .and_then(|u| u.host_str().map(is_loopback_host))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_set_for_every_destination() {
        for ok in [
            "https://tpp.example/hook",
            "HTTPS://tpp.example:8443/a/b?x=1",
            "http://127.0.0.1:9000/open-banking/v3.1/event-notifications",
            "https://[::1]/h",
        ] {
            assert_eq!(destination_problem(ok, MAX_URL), None, "{ok}");
        }
        for bad in [
            "https://tpp.example/ho\r\nok",
            "https://tpp.example/h\0",
            "https://tpp.example/a b",
            " https://tpp.example/a",
            "https://tpp.example\\hook",
            "https:///hook",
            "https://@tpp.example/hook",
            "https://u:p@tpp.example/hook",
            "ftp://tpp.example/hook",
            "tpp.example/hook",
            "https://",
        ] {
            assert!(destination_problem(bad, MAX_URL).is_some(), "{bad:?}");
        }
        let long = format!("https://tpp.example/{}", "a".repeat(MAX_URL));
        assert!(destination_problem(&long, MAX_URL).is_some());
        assert!(destination_problem("https://tpp.example/abc", 10).is_some());
    }
}
