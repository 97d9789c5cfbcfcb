//! The store's reads for the sandbox portal (`sandbox::portal`) that no API needs: the TPPs an
//! operator can switch between, and a TPP's activity mark that live updates compare.

use super::{Result, Store};
use crate::sandbox::domain::{Client, ClientId};

impl Store {
    /// Up to `limit` clients, newest first.
    pub async fn clients(&self, limit: usize) -> Result<Vec<Client>> {
        dispatch!(self.clients(limit))
    }

    /// A short text that changes whenever anything the portal shows of `client_id`'s events,
    /// deliveries or attempts changes (one query; compared, never parsed).
    pub async fn activity(&self, client_id: &ClientId) -> Result<String> {
        dispatch!(self.activity(client_id))
    }
}
