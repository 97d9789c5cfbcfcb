//! `[[clients]]`: TPP clients seeded at every start, so CI jobs can use fixed credentials, and
//! the scopes the sandbox's authorisation server knows.

use std::path::Path;

use super::file::{ClientFile, TatraWebhookFile};

/// Scopes the sandbox authorisation server knows.
pub const SCOPES: [&str; 5] = [
    "accounts",
    "payments",
    "fundsconfirmations",
    "eventpolling",
    "openid",
];

/// Scopes a client gets when it asks for none: every API scope (`openid` grants no API access;
/// it exists so a TPP can hold a token that the event APIs must refuse with 403).
pub const DEFAULT_SCOPES: [&str; 4] =
    ["accounts", "payments", "fundsconfirmations", "eventpolling"];

/// A seeded client, validated.
#[derive(Debug, Clone)]
pub struct SeedClient {
    pub client_id: String,
    pub client_secret: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub jwks: Option<String>,
    /// Checked against the url rules when the sandbox starts (they depend on its address).
    pub tatra_webhook: Option<TatraWebhookFile>,
}

/// Parses a space-separated scope string, refusing scopes the sandbox does not know.
pub fn parse_scopes(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for sc in s.split_whitespace() {
        if !SCOPES.contains(&sc) {
            return Err(format!(
                "unknown scope {sc:?} (known: {})",
                SCOPES.join(" ")
            ));
        }
        if !out.iter().any(|o| o == sc) {
            out.push(sc.to_string());
        }
    }
    Ok(out)
}

pub(super) fn seed_client(
    i: usize,
    c: ClientFile,
    dir: Option<&Path>,
) -> Result<SeedClient, String> {
    let field = |f: &str| format!("config field clients[{i}].{f}");
    if c.client_id.trim().is_empty() || c.client_id.len() > 128 {
        return Err(format!("{}: must be 1..128 characters", field("client_id")));
    }
    if c.client_secret.is_empty() {
        return Err(format!("{}: must not be empty", field("client_secret")));
    }
    let scopes = match &c.scope {
        Some(s) => parse_scopes(s).map_err(|e| format!("{}: {e}", field("scope")))?,
        None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
    };
    let jwks =
        match (c.jwks, c.jwks_file) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{}: give jwks or jwks_file, not both",
                    field("jwks")
                ));
            }
            (Some(v), None) => {
                Some(serde_json::to_string(&v).map_err(|e| format!("{}: {e}", field("jwks")))?)
            }
            (None, Some(f)) => {
                let p = dir.map(|d| d.join(&f)).unwrap_or_else(|| f.clone().into());
                Some(std::fs::read_to_string(&p).map_err(|e| {
                    format!("{}: cannot read {}: {e}", field("jwks_file"), p.display())
                })?)
            }
            (None, None) => None,
        };
    if let Some(j) = &jwks {
        crate::jose::parse_client_jwks(j.as_bytes())
            .map_err(|e| format!("{}: {e}", field("jwks")))?;
    }
    Ok(SeedClient {
        tatra_webhook: c.tatra_webhook,
        client_name: c.client_name.unwrap_or_else(|| c.client_id.clone()),
        client_id: c.client_id,
        client_secret: c.client_secret,
        scopes,
        jwks,
    })
}
