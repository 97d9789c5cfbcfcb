//! The operator's credential: HTTP Basic on the sandbox helpers (acting on any TPP) and on the
//! WSO2-style Event Creation API. There is no default password: `[admin]` in the config sets
//! one; otherwise one is generated on first start, printed once, and only its SHA-256 is kept
//! (in the database, so every replica and every restart accepts the same one).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::config::AdminFile;
use super::store::{Result, Store};

/// The admin user name when the config sets none.
pub const DEFAULT_USER: &str = "admin";

/// Who may act on any TPP.
#[derive(Debug, Clone)]
pub struct AdminCredential {
    pub username: String,
    password_sha256: [u8; 32],
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl AdminCredential {
    /// The configured credential, or the stored generated one (generating it on first start).
    /// Returns the credential and, when it was generated just now, the password to show once.
    pub async fn load(
        configured: Option<&AdminFile>,
        store: &Store,
    ) -> Result<(AdminCredential, Option<String>)> {
        if let Some(a) = configured {
            return Ok((
                AdminCredential {
                    username: a.username.clone(),
                    password_sha256: sha256(&a.password),
                },
                None,
            ));
        }
        let mut bytes = [0u8; 18];
        rand::rng().fill_bytes(&mut bytes);
        let candidate = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let candidate_hash = hex(&sha256(&candidate));
        let stored = store
            .meta_get_or_insert("admin_password_sha256", || candidate_hash.clone())
            .await?;
        let mut password_sha256 = [0u8; 32];
        for (i, slot) in password_sha256.iter_mut().enumerate() {
            *slot = stored
                .get(i * 2..i * 2 + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or(0);
        }
        let fresh = (stored == candidate_hash).then_some(candidate);
        Ok((
            AdminCredential {
                username: DEFAULT_USER.into(),
                password_sha256,
            },
            fresh,
        ))
    }

    /// Whether an `Authorization` header value is Basic with this credential. Compares
    /// digests in constant time, so the answer time says nothing about the password.
    pub fn accepts(&self, authorization: &str) -> bool {
        let Some((scheme, rest)) = authorization.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Some(decoded) = STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
        else {
            return false;
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return false;
        };
        let given = sha256(password);
        let same = given
            .iter()
            .zip(self.password_sha256.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        same == 0 && user == self.username
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{u}:{p}")))
    }

    #[tokio::test]
    async fn generated_once_then_kept() {
        let store = Store::open(":memory:").await.unwrap();
        let (first, shown) = AdminCredential::load(None, &store).await.unwrap();
        let password = shown.expect("shown on first start");
        assert!(password.len() >= 20);
        assert!(first.accepts(&basic("admin", &password)));
        assert!(!first.accepts(&basic("admin", "admin")));
        let (again, shown) = AdminCredential::load(None, &store).await.unwrap();
        assert!(shown.is_none(), "shown only once");
        assert!(again.accepts(&basic("admin", &password)));
    }

    #[tokio::test]
    async fn configured_credential_wins() {
        let store = Store::open(":memory:").await.unwrap();
        let file = AdminFile {
            username: "ops".into(),
            password: "s3cret".into(),
        };
        let (c, shown) = AdminCredential::load(Some(&file), &store).await.unwrap();
        assert!(shown.is_none());
        assert!(c.accepts(&basic("ops", "s3cret")));
        assert!(!c.accepts(&basic("admin", "s3cret")));
        assert!(!c.accepts("Bearer s3cret"));
    }
}
