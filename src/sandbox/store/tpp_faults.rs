//! The bank faults each TPP chose for its own client (`tpp_faults`, issue 22 item 8): replaced
//! whole in one transaction, read per TPP (the per-TPP fault cache's one query) and for the
//! operator's list, cleared per TPP or all at once. The rows go with their client (a foreign
//! key), so a removed TPP leaves none behind.

use super::{Result, Store};
use crate::sandbox::domain::{ChosenFault, ClientId, Timestamp};

impl Store {
    /// The faults `client_id` chose, by name.
    pub async fn tpp_faults_of(&self, client_id: &ClientId) -> Result<Vec<ChosenFault>> {
        dispatch!(self.tpp_faults_of(client_id))
    }

    /// Replaces `client_id`'s chosen faults with `faults` (names) in one transaction; false
    /// (and nothing changed) when there is no such client.
    pub async fn replace_tpp_faults(&self, client_id: &ClientId, faults: &[&str]) -> Result<bool> {
        dispatch!(self.replace_tpp_faults(client_id, faults, Timestamp::now()))
    }

    /// Every TPP's chosen faults, by client id then name, at most `limit` rows.
    pub async fn all_tpp_faults(&self, limit: usize) -> Result<Vec<ChosenFault>> {
        dispatch!(self.all_tpp_faults(limit))
    }

    /// Removes the chosen faults of `client_id`, or of every TPP with `None`; how many went.
    pub async fn clear_tpp_faults(&self, client_id: Option<&ClientId>) -> Result<usize> {
        dispatch!(self.clear_tpp_faults(client_id))
    }
}
