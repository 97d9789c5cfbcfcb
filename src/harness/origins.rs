//! Whose events the run raised: each resource id a trigger passed, and the client it was raised
//! for. A SET in one TPP's poll that is addressed to someone else and is about a resource the
//! run raised for another client is a leak of that client's queue (AP-17), not a SET with the
//! wrong `aud` (N-02, R8417-09): telling the two apart needs to know whose event it was, which
//! only the trigger knows. Run-wide, since a leaking bank serves SETs raised in earlier
//! scenarios too.

use std::collections::HashMap;
use std::sync::Mutex;

/// Resource id → the client id its event was raised for.
#[derive(Debug, Default)]
pub struct Origins(Mutex<HashMap<String, String>>);

impl Origins {
    /// Notes that the event about `resource_id` was raised for `client`.
    pub fn note(&self, resource_id: &str, client: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(resource_id.to_string(), client.to_string());
    }

    /// The client the event about `resource_id` was raised for, if the run raised it.
    fn client_of(&self, resource_id: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(resource_id).cloned()
    }

    /// Is a SET served to the client `client` another client's? Only when it says so twice: it
    /// is not addressed to `client` (`addressed_here` false), and every resource it is about
    /// (`resource_ids`) was raised for a client other than `client`. A SET of `client`'s own
    /// resource with a wrong `aud` stays `client`'s (and its `aud` is the defect).
    pub fn belongs_elsewhere(
        &self,
        addressed_here: bool,
        resource_ids: &[&str],
        client: &str,
    ) -> bool {
        !addressed_here
            && !resource_ids.is_empty()
            && resource_ids
                .iter()
                .all(|r| self.client_of(r).is_some_and(|c| c != client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_set_about_another_clients_resource_and_addressed_elsewhere_belongs_elsewhere() {
        let o = Origins::default();
        o.note("r-a", "client-a");
        o.note("r-b", "client-b");
        // B's event, addressed to B, in A's poll: a leak.
        assert!(o.belongs_elsewhere(false, &["r-b"], "client-a"));
        // A's own event with a wrong aud: A's, the aud is the defect.
        assert!(!o.belongs_elsewhere(false, &["r-a"], "client-a"));
        // Addressed to A: A's, whatever it is about.
        assert!(!o.belongs_elsewhere(true, &["r-b"], "client-a"));
        // A resource the run never raised, or none named: nothing says whose it is.
        assert!(!o.belongs_elsewhere(false, &["r-x"], "client-a"));
        assert!(!o.belongs_elsewhere(false, &[], "client-a"));
    }
}
