//! The last referee run each TPP published (`referee_runs`, issue 23): one row per client,
//! replaced whole by the next publication, read for the TPP's portal page and its helper,
//! removed on request and with the client (a foreign key).

use super::{Result, Store};
use crate::sandbox::domain::{ClientId, StoredRefereeRun, Timestamp};

impl Store {
    /// Keeps `summary` as `client_id`'s last referee run, received at `at` (kept to the
    /// second); false (and nothing stored) when there is no such client.
    pub async fn put_referee_run(
        &self,
        client_id: &ClientId,
        summary: &str,
        at: Timestamp,
    ) -> Result<bool> {
        dispatch!(self.put_referee_run(client_id, summary, at))
    }

    /// `client_id`'s last published referee run, if any.
    pub async fn referee_run(&self, client_id: &ClientId) -> Result<Option<StoredRefereeRun>> {
        dispatch!(self.referee_run(client_id))
    }

    /// Removes `client_id`'s published run; whether there was one.
    pub async fn delete_referee_run(&self, client_id: &ClientId) -> Result<bool> {
        dispatch!(self.delete_referee_run(client_id))
    }
}
