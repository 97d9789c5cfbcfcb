//! The cross-replica wake-up: the listener each replica runs on a connection of its own, and
//! the notices' payloads (`NOTIFY obevents_wake`, sent by `events.rs` in the commit that
//! stores the events): the client an event was stored for and, when they fit, the SETs the
//! commit stored for it. A listening replica puts those SETs in its copy cache (a stored SET
//! never changes, and `seq` names it on every replica) before it wakes its polls, so a poll
//! woken across replicas reads only keys, as one woken by its own replica does: one round
//! trip, not two.
//!
//! A payload is the plain client id (no SETs: too many or too large for a notice, or sent by
//! an older replica) or `{"client": id, "sets": [[seq, SET], ...]}`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::{PgStore, Result, StoreError, WAKE_CHANNEL, polling};
use crate::sandbox::domain::NewEvent;

/// What a wake-up notice asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup<'a> {
    /// An event was stored for this client on some replica.
    Client(&'a str),
    /// Notices may have been missed (the listener reconnected): wake every waiter to re-read.
    All,
}

impl PgStore {
    /// Listens for other replicas' wake-up notices on a dedicated connection until `stop`;
    /// reconnects after a failure (and then wakes everyone, since notices may have been lost).
    pub fn spawn_listener(
        &self,
        wake: impl Fn(Wakeup<'_>) + Send + Sync + 'static,
        stop: CancellationToken,
    ) {
        let config = std::sync::Arc::clone(&self.config);
        let tokens = std::sync::Arc::clone(&self.tokens);
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let run = listen(&config, &tokens, &wake, first);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    r = run => if let Err(e) = r {
                        tracing::warn!(error = %e, "wake-up listener lost its connection; reconnecting");
                    },
                }
                first = false;
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        });
    }
}

/// One LISTEN session: connect, subscribe, act on notices until the connection fails. The
/// notices are handled on the task that reads the connection, as they arrive (no hand-off to
/// another task between PostgreSQL's notice and the woken polls).
async fn listen(
    config: &tokio_postgres::Config,
    tokens: &polling::TokenCache,
    wake: &(impl Fn(Wakeup<'_>) + Send + Sync),
    first: bool,
) -> Result<()> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    // The connection must be read for the LISTEN to complete, so both run at once.
    let subscribe = async {
        client
            .batch_execute(&format!("LISTEN {WAKE_CHANNEL}"))
            .await?;
        if !first {
            wake(Wakeup::All);
        }
        std::future::pending::<Result<()>>().await
    };
    let drive = async {
        while let Some(m) = messages.next().await {
            if let AsyncMessage::Notification(n) = m? {
                // The SETs first: the polls this wakes then find them here.
                let (client, sets) = parse(n.payload());
                for (seq, token) in sets {
                    tokens.put(seq, std::sync::Arc::from(token));
                }
                wake(Wakeup::Client(&client));
            }
        }
        Err(StoreError::Open("the wake-up connection closed".into()))
    };
    tokio::select! {
        r = subscribe => r,
        r = drive => r,
    }
}

/// PostgreSQL refuses a payload of 8000 bytes or more; SETs are sent only below this.
const MAX_PAYLOAD: usize = 7_000;

#[derive(Serialize)]
struct WithSets<'a> {
    client: &'a str,
    sets: Vec<(i64, &'a str)>,
}

/// [`WithSets`] as read back (owned: a client id may hold characters JSON escapes).
#[derive(Deserialize)]
struct Received {
    client: String,
    sets: Vec<(i64, String)>,
}

/// One payload per client the commit stored events for, in client-id order. `stored` is
/// `(seq, client id, SET)` of the stored SETs.
pub(super) fn payloads(stored: &[(i64, &str, &str)], events: &[NewEvent]) -> Vec<String> {
    let mut per_client: BTreeMap<&str, Vec<(i64, &str)>> = events
        .iter()
        .map(|e| (e.client_id.as_str(), Vec::new()))
        .collect();
    for (seq, client, token) in stored {
        if let Some(sets) = per_client.get_mut(client) {
            sets.push((*seq, *token));
        }
    }
    per_client
        .into_iter()
        .map(|(client, sets)| {
            if sets.is_empty() {
                return client.to_string();
            }
            match serde_json::to_string(&WithSets { client, sets }) {
                Ok(p) if p.len() < MAX_PAYLOAD => p,
                _ => client.to_string(),
            }
        })
        .collect()
}

/// The client a payload names and the SETs it carries.
pub(super) fn parse(payload: &str) -> (String, Vec<(i64, String)>) {
    if payload.starts_with('{')
        && let Ok(r) = serde_json::from_str::<Received>(payload)
    {
        return (r.client, r.sets);
    }
    (payload.to_string(), Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_ride_along_when_they_fit_and_the_plain_id_still_parses() {
        assert_eq!(parse("plain-client"), ("plain-client".into(), vec![]));
        let w = serde_json::to_string(&WithSets {
            client: "c\"1",
            sets: vec![(7, "a.b.c")],
        })
        .unwrap();
        assert_eq!(parse(&w), ("c\"1".into(), vec![(7, "a.b.c".into())]));
        // A client id that merely looks like JSON is still a client id.
        assert_eq!(parse("{not json").0, "{not json");
    }
}
