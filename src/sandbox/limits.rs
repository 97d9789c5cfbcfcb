//! Per-replica, in-memory guards of the authorisation paths, held by the shared state: the
//! client-authentication failure counter behind the `/token` lockout, and the cache of access
//! tokens already verified. Losing either (a restart) only forgets recent history; neither is
//! an invariant, so neither belongs in the database.

use std::sync::Arc;

use super::domain::Tpp;

/// Failed client authentications per client id at `/token`, so a client's secret cannot be
/// guessed at line rate: after [`AuthFailures::LIMIT`] failures in a window of
/// [`AuthFailures::WINDOW`], the client id is refused (429 with `Retry-After`) until the window
/// ends. Per replica and in memory: losing it only forgets recent failures. Bounded: windows
/// that ended are dropped when the map grows past [`AuthFailures::MAX_IDS`], and a client id
/// is kept as its SHA-256, so an entry's size does not depend on the id a caller made up (a
/// request of megabytes would otherwise pin megabytes until its entry is dropped).
#[derive(Debug, Default)]
pub struct AuthFailures {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], (std::time::Instant, u32)>>,
}

/// The key a client id is counted under.
fn key(client_id: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(client_id.as_bytes()).into()
}

impl AuthFailures {
    pub const LIMIT: u32 = 10;
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
    const MAX_IDS: usize = 10_000;

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<[u8; 32], (std::time::Instant, u32)>>
    {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds until `client_id` may try again, when it is locked out now.
    pub fn locked_for(&self, client_id: &str) -> Option<u64> {
        let map = self.lock();
        let (start, count) = map.get(&key(client_id))?;
        let left = Self::WINDOW.checked_sub(start.elapsed())?;
        // Rounded up: a client that waits exactly this long is not refused again.
        (*count >= Self::LIMIT).then(|| left.as_millis().div_ceil(1000).max(1) as u64)
    }

    /// Counts one failure of `client_id`; true when it is the one that begins a lockout (so a
    /// lockout is counted once, however many requests race past the limit).
    #[must_use = "a lockout that begins is counted in the metrics"]
    pub fn failed(&self, client_id: &str) -> bool {
        let mut map = self.lock();
        if map.len() >= Self::MAX_IDS {
            map.retain(|_, (start, _)| start.elapsed() < Self::WINDOW);
            if map.len() >= Self::MAX_IDS {
                map.clear();
            }
        }
        let entry = map
            .entry(key(client_id))
            .or_insert((std::time::Instant::now(), 0));
        if entry.0.elapsed() >= Self::WINDOW {
            *entry = (std::time::Instant::now(), 0);
        }
        entry.1 += 1;
        entry.1 == Self::LIMIT
    }
}

/// Tokens already verified, with their expiry. Bounded: cleared when it grows past `MAX`
/// entries (a sandbox has few live tokens; a flood of distinct ones only costs re-verification).
#[derive(Debug, Default)]
pub struct TokenCache {
    map: std::sync::RwLock<std::collections::HashMap<String, (Arc<Tpp>, std::time::SystemTime)>>,
}

impl TokenCache {
    const MAX: usize = 10_000;

    /// Shared, so the request path clones a pointer rather than the TPP's strings.
    pub fn get(&self, token: &str) -> Option<Arc<Tpp>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        match map.get(token) {
            Some((tpp, exp)) if *exp > std::time::SystemTime::now() => Some(tpp.clone()),
            _ => None,
        }
    }

    pub fn put(&self, token: &str, tpp: Arc<Tpp>, exp: std::time::SystemTime) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(token.to_string(), (tpp, exp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_rounded_up_and_never_zero() {
        let f = AuthFailures::default();
        let began: Vec<bool> = (0..AuthFailures::LIMIT).map(|_| f.failed("a")).collect();
        // Only the failure that reaches the limit begins the lockout; later ones do not again.
        assert_eq!(began.iter().filter(|b| **b).count(), 1);
        assert_eq!(began.last(), Some(&true));
        assert!(!f.failed("a"));
        let secs = f.locked_for("a").unwrap();
        // Just locked: the whole window is left, and a partial second counts as a second.
        assert_eq!(secs, AuthFailures::WINDOW.as_secs());
        assert_eq!(f.locked_for("b"), None);
    }

    #[test]
    fn ids_of_any_length_are_counted_apart_in_a_fixed_size() {
        let f = AuthFailures::default();
        let long = "x".repeat(4 << 20);
        let longer = format!("{long}y");
        for _ in 0..AuthFailures::LIMIT {
            let _ = f.failed(&long);
        }
        assert!(f.locked_for(&long).is_some());
        assert_eq!(f.locked_for(&longer), None, "a different id is not locked");
        // What the map keeps of each id is a digest, whatever the id's length.
        assert_eq!(f.lock().keys().map(|k| k.len()).sum::<usize>(), 32);
    }
}
