//! PostgreSQL: the polling queue's reads and acknowledgements (`POST /events`), and the
//! per-replica copies of the signed SETs those reads serve.
//!
//! Round trips are what a poll costs here (each is a loopback hop to a server process that
//! shares the machine's cores), so:
//! - a poll that only reads (no `ack`, no `setErrs`: every empty short poll and every re-read
//!   of a woken long poll) is combined with the polls that arrive while other reads are in
//!   flight into one statement ([`Reads`], the read-side counterpart of group commit): one
//!   round trip answers all of them, each from its own TPP's rows, while a poll on an idle
//!   replica reads at once, on its own task;
//! - a poll that acknowledges is one statement: the `UPDATE` in a data-modifying CTE and the
//!   select beside it (atomic, as the transaction it replaces was);
//! - the SETs themselves come from [`TokenCache`] (a stored SET never changes), so the reads
//!   return keys only.
//!
//! Nothing here decides what a TPP is served from memory: which SETs await, and whether one
//! was acknowledged, is read from the database on every poll (AP-09: a replica never serves a
//! SET another replica saw acknowledged).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::oneshot;

use super::PgStore;
use crate::sandbox::domain::{PollBatch, PollOps};
use crate::sandbox::store::schema::{event_state, sql};
use crate::sandbox::store::{Result, StoreError};

/// Combined reads in flight at once: while they run, arriving polls queue for the next one.
/// Two keeps the server busy (one statement executing while the other's answer travels)
/// without spreading the polls over more, smaller statements.
const READS_IN_FLIGHT: usize = 2;
/// The most polls one combined read answers.
const MAX_COMBINED: usize = 64;

impl PgStore {
    pub async fn poll(&self, ops: &PollOps<'_>) -> Result<PollBatch> {
        let fetch = i64::try_from(ops.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let reads_only = ops.ack.is_empty() && ops.set_errs.is_empty();
        // When the combined read fails, this poll reads alone below (and reports its own
        // error if that fails too).
        if reads_only
            && ops.scope_select
            && ops.limit > 0
            && let Some(keys) = self.reads.read(ops.client_id.as_str(), fetch).await
        {
            return batch_of(keys, ops.limit, &self.tokens, &self.pool).await;
        }
        let mut c = self.conn().await?;
        if reads_only {
            return select_batch(&c, ops, &self.tokens).await;
        }
        if ops.set_errs.is_empty() && ops.scope_acks && ops.scope_select {
            return ack_and_select(&c, ops, fetch, &self.tokens).await;
        }
        let tx = c.transaction().await?;
        apply_acks(&tx, ops).await?;
        apply_errors(&tx, ops).await?;
        let batch = select_batch(&tx, ops, &self.tokens).await?;
        tx.commit().await?;
        Ok(batch)
    }
}

/// The acknowledgements of a poll that also reports errors or runs under a fault.
async fn apply_acks(tx: &impl GenericClient, ops: &PollOps<'_>) -> Result<()> {
    if ops.ack.is_empty() {
        return Ok(());
    }
    if ops.scope_acks {
        tx.execute(
            sql!(
                "UPDATE events SET state = ",
                event_state::ACKNOWLEDGED,
                " WHERE seq IN (SELECT seq FROM events WHERE client_id = $1 AND jti = ANY($2)
                   AND state <> ",
                event_state::ACKNOWLEDGED,
                " ORDER BY seq FOR UPDATE)"
            ),
            &[&ops.client_id.as_str(), &ops.ack],
        )
        .await?;
    } else {
        tx.execute(
            sql!(
                "UPDATE events SET state = ",
                event_state::ACKNOWLEDGED,
                " WHERE seq IN (SELECT seq FROM events WHERE jti = ANY($1) AND state <> ",
                event_state::ACKNOWLEDGED,
                " ORDER BY seq FOR UPDATE)"
            ),
            &[&ops.ack],
        )
        .await?;
    }
    Ok(())
}

/// The `setErrs` of a poll, after its acknowledgements.
async fn apply_errors(tx: &impl GenericClient, ops: &PollOps<'_>) -> Result<()> {
    for (jti, err, desc) in ops.set_errs {
        tx.execute(
            sql!(
                "UPDATE events SET err = $3, err_description = $4,
                   state = CASE WHEN $5 AND state = ",
                event_state::AWAITING,
                " THEN ",
                event_state::DROPPED,
                " ELSE state END
                 WHERE client_id = $1 AND jti = $2"
            ),
            &[&ops.client_id.as_str(), jti, err, desc, &ops.drop_errored],
        )
        .await?;
    }
    Ok(())
}

/// Every acknowledging statement locks the rows it changes in `seq` order (`FOR UPDATE` in
/// a sorted subquery): two polls acknowledging overlapping SETs in different orders would
/// otherwise each hold a row the other waits for, and PostgreSQL would abort one of them as a
/// deadlock (a 500 to that TPP).
///
/// The acknowledgement and the select of one poll as one statement. The select reads the
/// snapshot the statement started with, so it still sees the rows its own `UPDATE` changes;
/// it leaves out every jti the poll acknowledges, whether this statement or a concurrent one
/// acknowledged it (R8936-24: an acknowledged jti never comes back in the same answer).
const ACK_THEN_SELECT: &str = sql!(
    "WITH acked AS (UPDATE events SET state = ",
    event_state::ACKNOWLEDGED,
    " WHERE seq IN (SELECT seq FROM events WHERE client_id = $1 AND jti = ANY($2) AND state <> ",
    event_state::ACKNOWLEDGED,
    " ORDER BY seq FOR UPDATE)) SELECT seq, jti FROM events WHERE client_id = $1 AND state = ",
    event_state::AWAITING,
    " AND jti <> ALL($2) ORDER BY seq LIMIT $3"
);
/// [`ACK_THEN_SELECT`] for an acknowledge-only poll: only whether SETs still await.
const ACK_THEN_ANY: &str = sql!(
    "WITH acked AS (UPDATE events SET state = ",
    event_state::ACKNOWLEDGED,
    " WHERE seq IN (SELECT seq FROM events WHERE client_id = $1 AND jti = ANY($2) AND state <> ",
    event_state::ACKNOWLEDGED,
    " ORDER BY seq FOR UPDATE)) SELECT EXISTS (SELECT 1 FROM events WHERE client_id = $1 AND state = ",
    event_state::AWAITING,
    " AND jti <> ALL($2))"
);

async fn ack_and_select(
    c: &deadpool_postgres::Object,
    ops: &PollOps<'_>,
    fetch: i64,
    tokens: &TokenCache,
) -> Result<PollBatch> {
    let client = ops.client_id.as_str();
    if ops.limit == 0 {
        let stmt = c.prepare_cached(ACK_THEN_ANY).await?;
        let row = c.query_one(&stmt, &[&client, &ops.ack]).await?;
        return Ok(PollBatch {
            sets: Vec::new(),
            more_available: row.try_get(0)?,
        });
    }
    let stmt = c.prepare_cached(ACK_THEN_SELECT).await?;
    let keys = keys_of(&c.query(&stmt, &[&client, &ops.ack, &fetch]).await?)?;
    with_tokens(c, keys, ops.limit, tokens).await
}

/// The poll's reads: whether any SET awaits, and the keys of the oldest awaiting ones (the
/// unscoped forms serve only the events-leak fault).
const ANY_AWAITING_OF_CLIENT: &str = sql!(
    "SELECT EXISTS (SELECT 1 FROM events WHERE client_id = $1 AND state = ",
    event_state::AWAITING,
    ")"
);
const ANY_AWAITING: &str = sql!(
    "SELECT EXISTS (SELECT 1 FROM events WHERE state = ",
    event_state::AWAITING,
    ")"
);
const AWAITING_OF_CLIENT: &str = sql!(
    "SELECT seq, jti FROM events WHERE client_id = $1 AND state = ",
    event_state::AWAITING,
    " ORDER BY seq LIMIT $2"
);
const AWAITING: &str = sql!(
    "SELECT seq, jti FROM events WHERE state = ",
    event_state::AWAITING,
    " ORDER BY seq LIMIT $1"
);
/// [`AWAITING_OF_CLIENT`] for many polls at once: row `i` of the arrays is poll `i`, and each
/// poll's rows come from one indexed range scan of its own TPP's awaiting SETs.
const AWAITING_OF_CLIENTS: &str = sql!(
    "SELECT p.i, e.seq, e.jti
     FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS p(client_id, n, i)
     CROSS JOIN LATERAL (SELECT seq, jti FROM events
       WHERE events.client_id = p.client_id AND state = ",
    event_state::AWAITING,
    " ORDER BY seq LIMIT p.n) e
     ORDER BY p.i, e.seq"
);
const TOKENS: &str = "SELECT seq, token FROM events WHERE seq = ANY($1)";

/// The oldest awaiting SETs and whether any were left out (AP-12): one indexed range scan of
/// at most `limit + 1` rows for the keys (index-only where the visibility map allows), then the
/// tokens this replica does not hold yet.
async fn select_batch(
    c: &impl GenericClient,
    ops: &PollOps<'_>,
    tokens: &TokenCache,
) -> Result<PollBatch> {
    if ops.limit == 0 {
        let exists = if ops.scope_select {
            let stmt = c.prepare_cached(ANY_AWAITING_OF_CLIENT).await?;
            c.query_one(&stmt, &[&ops.client_id.as_str()]).await?
        } else {
            c.query_one(ANY_AWAITING, &[]).await?
        };
        return Ok(PollBatch {
            sets: Vec::new(),
            more_available: exists.try_get(0)?,
        });
    }
    let fetch = i64::try_from(ops.limit.saturating_add(1)).unwrap_or(i64::MAX);
    let rows = if ops.scope_select {
        let stmt = c.prepare_cached(AWAITING_OF_CLIENT).await?;
        c.query(&stmt, &[&ops.client_id.as_str(), &fetch]).await?
    } else {
        c.query(AWAITING, &[&fetch]).await?
    };
    with_tokens(c, keys_of(&rows)?, ops.limit, tokens).await
}

/// `(seq, jti)` of rows whose first two columns are those.
fn keys_of(rows: &[tokio_postgres::Row]) -> Result<Vec<(i64, String)>> {
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// The batch of the first `limit` of `keys` (`limit + 1` were fetched, so one more says more
/// are available), with their SETs: from the cache, the rest read in one statement.
async fn with_tokens(
    c: &impl GenericClient,
    mut keys: Vec<(i64, String)>,
    limit: usize,
    tokens: &TokenCache,
) -> Result<PollBatch> {
    let more_available = keys.len() > limit;
    keys.truncate(limit);
    let mut found = tokens.get_many(keys.iter().map(|k| k.0));
    let missing: Vec<i64> = keys
        .iter()
        .map(|k| k.0)
        .filter(|seq| !found.contains_key(seq))
        .collect();
    if !missing.is_empty() {
        let stmt = c.prepare_cached(TOKENS).await?;
        for r in c.query(&stmt, &[&missing]).await? {
            let seq: i64 = r.try_get(0)?;
            // Awaiting rows always hold a token (CHECK); an empty one would mean corruption.
            let token: Option<String> = r.try_get(1)?;
            let token: Arc<str> = token
                .ok_or_else(|| StoreError::Corrupt(format!("awaiting event {seq} has no SET")))?
                .into();
            tokens.put(seq, Arc::clone(&token));
            found.insert(seq, token);
        }
    }
    let mut batch = PollBatch {
        sets: Vec::with_capacity(keys.len()),
        more_available,
    };
    for (seq, jti) in keys {
        // A row acknowledged and deleted between the two reads is simply not served.
        if let Some(token) = found.get(&seq) {
            batch.sets.push((jti, token.to_string()));
        }
    }
    Ok(batch)
}

/// [`with_tokens`] for keys a combined read returned: a connection is taken only when the
/// cache misses.
async fn batch_of(
    keys: Vec<(i64, String)>,
    limit: usize,
    tokens: &TokenCache,
    pool: &Pool,
) -> Result<PollBatch> {
    let wanted = keys.len().min(limit);
    let found = tokens.get_many(keys.iter().take(limit).map(|k| k.0));
    if found.len() == wanted {
        let more_available = keys.len() > limit;
        let sets = keys
            .into_iter()
            .take(limit)
            .filter_map(|(seq, jti)| found.get(&seq).map(|t| (jti, t.to_string())))
            .collect();
        return Ok(PollBatch {
            sets,
            more_available,
        });
    }
    let c = pool.get().await?;
    with_tokens(&c, keys, limit, tokens).await
}

/// One poll's read waiting to be combined: its TPP, how many keys, where the answer goes
/// (`None`: the combined read failed, read alone).
struct Read {
    client_id: String,
    fetch: i64,
    reply: oneshot::Sender<Option<Vec<(i64, String)>>>,
}

/// The combiner of read-only polls. A poll that finds fewer than [`READS_IN_FLIGHT`] combined
/// reads running runs its own at once, on its own task (an idle replica's poll costs no
/// hand-off); one that finds them all running queues, and the first of them to finish takes
/// every read queued meanwhile into one [`AWAITING_OF_CLIENTS`] on a task of its own. So a
/// busy replica's polls share round trips, and none waits for more than the read ahead of it.
pub(super) struct Reads {
    pool: Pool,
    state: Mutex<Combining>,
}

#[derive(Default)]
struct Combining {
    queue: Vec<Read>,
    in_flight: usize,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reads")
    }
}

/// A running combined read's place; released (handing the queue on) however its future ends,
/// dropped mid-read included.
struct Slot(Arc<Reads>);

impl Drop for Slot {
    fn drop(&mut self) {
        Reads::release(&self.0);
    }
}

impl Reads {
    pub(super) fn new(pool: Pool) -> Reads {
        Reads {
            pool,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Combining> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The keys of `client_id`'s oldest `fetch` awaiting SETs, read with whichever polls are
    /// waiting too; `None` when the combined read failed.
    async fn read(self: &Arc<Self>, client_id: &str, fetch: i64) -> Option<Vec<(i64, String)>> {
        let (reply, answer) = oneshot::channel();
        let read = Read {
            client_id: client_id.to_string(),
            fetch,
            reply,
        };
        let mine = {
            let mut s = self.lock();
            if s.in_flight >= READS_IN_FLIGHT {
                s.queue.push(read);
                None
            } else {
                s.in_flight += 1;
                Some(read)
            }
        };
        let Some(read) = mine else {
            return answer.await.ok().flatten();
        };
        let slot = Slot(Arc::clone(self));
        answer_all(&self.pool, vec![read]).await;
        drop(slot);
        answer.await.ok().flatten()
    }

    /// Ends a combined read: the reads queued meanwhile go out together on a task of their
    /// own (keeping the place), or the place is freed.
    fn release(this: &Arc<Self>) {
        let mut s = this.lock();
        if s.queue.is_empty() {
            s.in_flight -= 1;
            return;
        }
        let n = s.queue.len().min(MAX_COMBINED);
        let reads: Vec<Read> = s.queue.drain(..n).collect();
        drop(s);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to read on (shutting down): the queued polls read alone.
            this.lock().in_flight -= 1;
            return;
        };
        let slot = Slot(Arc::clone(this));
        runtime.spawn(async move {
            answer_all(&slot.0.pool, reads).await;
            drop(slot);
        });
    }
}

/// Runs one combined read and hands each poll its rows (every poll `None` if it failed).
async fn answer_all(pool: &Pool, reads: Vec<Read>) {
    let clients: Vec<&str> = reads.iter().map(|r| r.client_id.as_str()).collect();
    let fetches: Vec<i64> = reads.iter().map(|r| r.fetch).collect();
    let rows = async {
        let c = pool.get().await?;
        let stmt = c.prepare_cached(AWAITING_OF_CLIENTS).await?;
        Ok::<_, StoreError>(c.query(&stmt, &[&clients, &fetches]).await?)
    }
    .await;
    let mut per_read: Vec<Vec<(i64, String)>> = vec![Vec::new(); reads.len()];
    let parsed = rows.and_then(|rows| {
        for r in &rows {
            let i: i64 = r.try_get(0)?;
            let slot = usize::try_from(i - 1)
                .ok()
                .and_then(|i| per_read.get_mut(i))
                .ok_or_else(|| StoreError::Corrupt(format!("combined read row {i}")))?;
            slot.push((r.try_get(1)?, r.try_get(2)?));
        }
        Ok(())
    });
    if let Err(e) = &parsed {
        tracing::warn!(error = %e, polls = reads.len(), "combined poll read failed; each reads alone");
    }
    for (read, keys) in reads.into_iter().zip(per_read) {
        // A poll that gave up (its request was dropped) no longer listens.
        let _ = read.reply.send(parsed.is_ok().then_some(keys));
    }
}

/// Signed SETs by event `seq`. A stored SET never changes, so a replica may keep copies: the
/// poll path then reads only keys from the database, not ~1 KB per SET. Bounded: emptied
/// when full, which costs a few re-reads, never a wrong answer.
#[derive(Debug, Default)]
pub struct TokenCache {
    map: Mutex<HashMap<i64, Arc<str>>>,
}

impl TokenCache {
    /// At most this many SETs (about 10 MB) per replica.
    const CAPACITY: usize = 10_000;

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<str>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get_many(&self, seqs: impl Iterator<Item = i64>) -> HashMap<i64, Arc<str>> {
        let map = self.lock();
        seqs.filter_map(|s| map.get(&s).map(|t| (s, Arc::clone(t))))
            .collect()
    }

    pub(super) fn put(&self, seq: i64, token: Arc<str>) {
        let mut map = self.lock();
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(seq, token);
    }
}
