//! The sandbox's state: a [`Store`] whose async methods speak the domain, over one of two
//! engines. All SQL of the product lives under this module, one file per engine and concern.
//!
//! - [`sqlite`]: the embedded default (a file or `:memory:`), one process.
//! - [`postgres`]: one database shared by several `obevents sandbox` replicas.
//!
//! `Store` is an enum, not a trait object (DESIGN.md §3): the set of engines is closed, every
//! call is a direct `match`, and the SQLite arm stays a synchronous call on the poll path.
//! Invariants live in the database (unique indexes, transactions), never in a process lock, so
//! they hold across replicas. Both engines apply ordered migrations ([`migrations`]) on open and
//! refuse a database written by a newer binary. [`schema`] spells once what their SQL shares
//! (state codes, column lists). A write that changes several rows (a trigger with its events,
//! a subscription with its pending deliveries) is one `Store` method and one transaction.
//!
//! The methods take and return typed ids and [`Timestamp`]s; the engines bind an id's text and
//! a time in the unit its column has always held (seconds, milliseconds or RFC 3339 text, see
//! `domain::timestamp`), so the schema is the same as before the types existed.

pub mod claim;
pub mod group;
pub mod migrations;
pub mod postgres;
pub(crate) mod schema;
pub mod sqlite;
#[doc(hidden)]
pub mod testing;

use tokio_util::sync::CancellationToken;

use super::domain::{
    Attempt, AttemptVerdict, Bound, BoundReached, CallbackUrl, CallbackUrlId, Client, ClientId,
    Consent, ConsentId, ConsentStatus, ConsentStatusChange, DeliveryId, DeliveryRecord,
    EventRecord, NewEvent, PollBatch, PollOps, RetryOutcome, Subscription, SubscriptionId, TaskId,
    TatraConsent, TatraSettings, TatraTask, Timestamp, TppBounds, YapilySubscription,
};

/// Store-layer errors; the HTTP layer maps them once (`sandbox::http::error`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {}", pg_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database connection pool: {0}")]
    Pool(String),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error(
        "the database was written by a newer obevents (schema version {found}; this binary knows up to {known}): upgrade obevents or use another database"
    )]
    TooNew { found: i64, known: i64 },
    #[error("{0}")]
    Open(String),
    /// A write that would take a TPP past a `[limits]` bound; nothing of it was stored.
    #[error(transparent)]
    BoundReached(#[from] BoundReached),
    /// The group commit holding this write failed as a whole (`group`); every write in it
    /// gets the one error.
    #[error(transparent)]
    Batch(std::sync::Arc<StoreError>),
}

/// One write of a group commit ([`Store::apply_writes`]): what [`Store::commit_trigger`],
/// and [`Store::record_attempt`] do alone.
#[derive(Debug, Clone)]
pub enum Write {
    Trigger {
        change: Option<ConsentStatusChange>,
        /// Shared, so the caller keeps them to wake and count after the commit.
        events: std::sync::Arc<[NewEvent]>,
    },
    RecordAttempt {
        delivery_id: DeliveryId,
        attempt: Attempt,
        verdict: AttemptVerdict,
    },
}

impl Write {
    /// Events the write stores (bounds how many one transaction takes).
    pub fn events(&self) -> usize {
        match self {
            Write::Trigger { events, .. } => events.len().max(1),
            _ => 1,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection pool's use at one moment (PostgreSQL), as `/metrics` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    pub busy: usize,
    pub idle: usize,
    pub max: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// What one retention batch removes (`sandbox::retention` runs them). Rows with work still
/// to do are never taken: a pending delivery, an attempt in flight, and the event either
/// belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Events not awaiting polling (acknowledged, dropped, push-only) created before the
    /// cutoff, with their deliveries and attempts.
    FinishedEvents,
    /// Awaiting (unacknowledged) SETs created before the cutoff, with their deliveries and
    /// attempts: only when the operator asks.
    AwaitingEvents,
    /// Delivered, failed and cancelled deliveries last changed before the cutoff, with their
    /// attempts; their events stay.
    FinishedDeliveries,
    /// Completed attempt rows started before the cutoff.
    Attempts,
}

/// Which engine a `--db` value names.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// A PostgreSQL error with the server's message or the cause of a failed connection, which
/// the error's own `Display` leaves out ("db error", "error connecting to server").
fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `db` as it may be shown in logs and errors: a PostgreSQL URL without its password.
pub fn redacted(db: &str) -> String {
    if !is_postgres_url(db) {
        return db.to_string();
    }
    match url::Url::parse(db) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "postgres://(unparsable URL)".into(),
    }
}

/// Calls the same-named method on the engine; the SQLite arm is synchronous.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*),
            Store::Postgres(p) => p.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Opens (creating and migrating if needed) the database `db`: a `postgres://` URL, a
    /// SQLite file path, or `:memory:`.
    pub async fn open(db: &str) -> Result<Store> {
        if is_postgres_url(db) {
            Ok(Store::Postgres(postgres::PgStore::open(db).await?))
        } else {
            Ok(Store::Sqlite(sqlite::SqliteStore::open(db)?))
        }
    }

    /// The engine's name, for logs and the bench.
    pub fn engine(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// The per-TPP bounds this handle holds in the transactions that insert events and
    /// subscriptions (unbounded until set).
    pub fn with_bounds(self, bounds: TppBounds) -> Store {
        match self {
            Store::Sqlite(s) => Store::Sqlite(s.with_bounds(bounds)),
            Store::Postgres(p) => Store::Postgres(p.with_bounds(bounds)),
        }
    }

    /// Deletes one batch of at most `limit` rows of the kind `what` older than `before`, in
    /// one transaction; returns how many rows of that kind went (their children go with them
    /// by the foreign keys' cascades). On PostgreSQL rows another replica's sweep holds are
    /// skipped, so sweeps on several replicas share the work.
    pub async fn sweep(&self, what: Sweep, before: Timestamp, limit: usize) -> Result<usize> {
        dispatch!(self.sweep(what, before, limit))
    }

    /// How many events the TPP has stored, as the bound counts them.
    pub async fn stored_events(&self, client_id: &ClientId) -> Result<u64> {
        dispatch!(self.stored_events(client_id))
    }

    /// Starts forwarding other replicas' "event stored for client X" notices to `wake` until
    /// `stop` is cancelled. Only PostgreSQL has other replicas; for SQLite this does nothing.
    pub fn spawn_wakeups(
        &self,
        wake: impl Fn(postgres::Wakeup<'_>) + Send + Sync + 'static,
        stop: CancellationToken,
    ) {
        if let Store::Postgres(p) = self {
            p.spawn_listener(wake, stop);
        }
    }

    // ---- operations (readiness, metrics) ----------------------------------------------------

    /// One cheap round trip to the database (`SELECT 1`), for the readiness probe: on
    /// PostgreSQL it also takes (or opens) a pool connection, so an unreachable server fails it.
    pub async fn ping(&self) -> Result<()> {
        dispatch!(self.ping())
    }

    /// Pending deliveries due at `now` that no worker has claimed (the push queue's depth).
    pub async fn due_count(&self, now: Timestamp) -> Result<u64> {
        dispatch!(self.due_count(now))
    }

    /// The connection pool's use now (PostgreSQL); `None` on SQLite, which has one connection.
    pub fn pool_use(&self) -> Option<PoolUse> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(p) => Some(p.pool_use()),
        }
    }

    // ---- meta -------------------------------------------------------------------------------

    /// Returns the value under `key`, storing `make()` first if there is none. The insert is
    /// conflict-free, so two replicas starting at once agree on one value (signing key, token
    /// secret) and a restart finds the same `kid`.
    pub async fn meta_get_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String> {
        dispatch!(self.meta_get_or_insert(key, make))
    }

    // ---- clients ----------------------------------------------------------------------------

    /// Inserts a client, or replaces one with the same id (seeded clients follow the config file).
    pub async fn upsert_client(&self, c: &Client) -> Result<()> {
        dispatch!(self.upsert_client(c))
    }

    pub async fn client(&self, client_id: &ClientId) -> Result<Option<Client>> {
        dispatch!(self.client(client_id))
    }

    /// Removes clients seeded from an earlier config that the current one (`keep`) no longer
    /// names: a `[[clients]]` entry taken out stops working after a restart.
    pub async fn prune_seeded_clients(&self, keep: &[ClientId]) -> Result<usize> {
        dispatch!(self.prune_seeded_clients(keep))
    }

    // ---- event subscriptions ----------------------------------------------------------------

    /// The client's subscriptions, oldest first (normally zero or one).
    pub async fn subscriptions_of(&self, client_id: &ClientId) -> Result<Vec<Subscription>> {
        dispatch!(self.subscriptions_of(client_id))
    }

    pub async fn subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>> {
        dispatch!(self.subscription(id))
    }

    /// Inserts `s`; returns false when the client already has one (ES-03), as the database's
    /// unique index says. `allow_second` (a fault) admits it as an extra row instead.
    /// [`StoreError::BoundReached`] when it would take the TPP past its bound of
    /// subscriptions (all kinds together, counted in the same transaction); so for the other
    /// subscription inserts.
    pub async fn insert_subscription(&self, s: &Subscription, allow_second: bool) -> Result<bool> {
        dispatch!(self.insert_subscription(s, allow_second))
    }

    /// Full replace of a subscription's mutable fields (ES-10), in one transaction with its
    /// pending pushes: they follow a changed CallbackUrl, and stop when it is removed if
    /// `cancel_removed` (the push-after-delete fault keeps them going).
    pub async fn replace_subscription(&self, s: &Subscription, cancel_removed: bool) -> Result<()> {
        dispatch!(self.replace_subscription(s, cancel_removed))
    }

    /// Deletes the subscription and, if `cancel_pending`, cancels the pending pushes to its
    /// CallbackUrl, in one transaction; false when there was no such subscription.
    pub async fn delete_subscription(
        &self,
        id: &SubscriptionId,
        cancel_pending: bool,
    ) -> Result<bool> {
        dispatch!(self.delete_subscription(id, cancel_pending))
    }

    // ---- Yapily-style subscriptions ---------------------------------------------------------

    /// Inserts `s`; false when the application already subscribes to the type (YA-03), as the
    /// database's unique index says. `allow_second` (a fault) admits it as an extra row.
    pub async fn insert_yapily_subscription(
        &self,
        s: &YapilySubscription,
        allow_second: bool,
    ) -> Result<bool> {
        dispatch!(self.insert_yapily_subscription(s, allow_second))
    }

    /// The application's subscriptions, oldest first; deleted ones kept by a fault only when
    /// `with_deleted`.
    pub async fn yapily_subscriptions_of(
        &self,
        client_id: &ClientId,
        with_deleted: bool,
    ) -> Result<Vec<YapilySubscription>> {
        dispatch!(self.yapily_subscriptions_of(client_id, with_deleted))
    }

    /// Removes the subscription, or with `keep` (a fault) only marks it deleted; without `keep`
    /// the pending deliveries to its URL are cancelled unless the URL still serves another of
    /// the application's subscriptions (YA-06). One transaction; false when there was none.
    pub async fn delete_yapily_subscription(
        &self,
        client_id: &ClientId,
        event_type_id: &str,
        keep: bool,
    ) -> Result<bool> {
        let now = Timestamp::now();
        dispatch!(self.delete_yapily_subscription(client_id, event_type_id, keep, now))
    }

    /// The newest webhook URL of another application; only the `yapily-to-other-app` fault asks.
    pub async fn foreign_yapily_url(&self, client_id: &ClientId) -> Result<Option<String>> {
        dispatch!(self.foreign_yapily_url(client_id))
    }

    // ---- Tatra-style webhooks ---------------------------------------------------------------

    /// The application's webhook settings, if it ever stored any.
    pub async fn tatra_settings(&self, client_id: &ClientId) -> Result<Option<TatraSettings>> {
        dispatch!(self.tatra_settings(client_id))
    }

    /// Inserts or replaces the application's one settings row (the primary key keeps it one).
    pub async fn put_tatra_settings(&self, s: &TatraSettings) -> Result<()> {
        dispatch!(self.put_tatra_settings(s, Timestamp::now()))
    }

    /// Stores a settings change with what it does to pending deliveries, in one transaction
    /// (TB-05): a new url takes them along; disabling cancels them if `cancel_when_disabled`
    /// (a fault keeps sending).
    pub async fn replace_tatra_settings(
        &self,
        s: &TatraSettings,
        cancel_when_disabled: bool,
    ) -> Result<()> {
        let now = Timestamp::now();
        dispatch!(self.replace_tatra_settings(s, cancel_when_disabled, now))
    }

    /// The most recently set enabled webhook url of another application; only the
    /// `tatra-to-other-tpp` fault asks.
    pub async fn foreign_tatra_url(&self, client_id: &ClientId) -> Result<Option<String>> {
        dispatch!(self.foreign_tatra_url(client_id))
    }

    pub async fn insert_tatra_consent(&self, c: &TatraConsent) -> Result<()> {
        dispatch!(self.insert_tatra_consent(c))
    }

    /// The consent if `client_id` owns it (another application's is `None`, as an unknown one).
    pub async fn tatra_consent(
        &self,
        client_id: &ClientId,
        id: &ConsentId,
    ) -> Result<Option<TatraConsent>> {
        dispatch!(self.tatra_consent(client_id, id))
    }

    /// Removes the application's consent and cancels the pending Tatra deliveries of its
    /// events, in one transaction; false when it owns no such consent.
    pub async fn delete_tatra_consent(&self, client_id: &ClientId, id: &ConsentId) -> Result<bool> {
        let now = Timestamp::now();
        dispatch!(self.delete_tatra_consent(client_id, id, now))
    }

    /// Records that the accounts were refreshed; per account, true when this is the first time
    /// (`ADDED`), false when it was refreshed before (`UPDATED`).
    pub async fn mark_tatra_refreshed(&self, account_ids: &[String]) -> Result<Vec<bool>> {
        dispatch!(self.mark_tatra_refreshed(account_ids, Timestamp::now()))
    }

    pub async fn insert_tatra_task(&self, t: &TatraTask) -> Result<()> {
        dispatch!(self.insert_tatra_task(t))
    }

    /// The refresh task if `client_id` started it.
    pub async fn tatra_task(&self, client_id: &ClientId, id: &TaskId) -> Result<Option<TatraTask>> {
        dispatch!(self.tatra_task(client_id, id))
    }

    // ---- callback urls ----------------------------------------------------------------------

    pub async fn callback_urls_of(&self, client_id: &ClientId) -> Result<Vec<CallbackUrl>> {
        dispatch!(self.callback_urls_of(client_id))
    }

    /// The CallbackUrl of the newest subscription of any TPP other than `client_id`; only the
    /// `push-to-other-tpp` fault asks.
    pub async fn foreign_callback_url(&self, client_id: &ClientId) -> Result<Option<String>> {
        dispatch!(self.foreign_callback_url(client_id))
    }

    pub async fn callback_url(&self, id: &CallbackUrlId) -> Result<Option<CallbackUrl>> {
        dispatch!(self.callback_url(id))
    }

    /// Inserts unless the client already has a registration (CB-03, a unique index), or as an
    /// extra row when `allow_second` (a fault).
    pub async fn insert_callback_url(&self, c: &CallbackUrl, allow_second: bool) -> Result<bool> {
        dispatch!(self.insert_callback_url(c, allow_second))
    }

    /// Full replace; pending pushes follow a changed url, in the same transaction.
    pub async fn replace_callback_url(&self, c: &CallbackUrl) -> Result<()> {
        dispatch!(self.replace_callback_url(c))
    }

    /// Deletes the registration and, if `cancel_pending`, cancels the pending pushes to its
    /// url, in one transaction; false when there was no such registration.
    pub async fn delete_callback_url(
        &self,
        id: &CallbackUrlId,
        cancel_pending: bool,
    ) -> Result<bool> {
        dispatch!(self.delete_callback_url(id, cancel_pending))
    }

    // ---- consents ---------------------------------------------------------------------------

    pub async fn insert_consent(&self, c: &Consent) -> Result<()> {
        dispatch!(self.insert_consent(c))
    }

    pub async fn consent(&self, consent_id: &ConsentId) -> Result<Option<Consent>> {
        dispatch!(self.consent(consent_id))
    }

    /// A status change that raises no event (authorise): made only if the consent is still
    /// `from`; false (and nothing changed) when it is not.
    pub async fn set_consent_status(
        &self,
        consent_id: &ConsentId,
        from: ConsentStatus,
        status: ConsentStatus,
        at: Timestamp,
    ) -> Result<bool> {
        let change = ConsentStatusChange {
            consent_id: consent_id.clone(),
            from,
            status,
            at,
        };
        self.commit_trigger(Some(&change), &[]).await
    }

    // ---- events -----------------------------------------------------------------------------

    /// Commits what one trigger did, in one transaction: an optional consent status change, the
    /// events it raised (format-neutral rows with their signed SETs) and their delivery rows.
    /// Durable once this returns true. The change is guarded in SQL (`status = change.from`):
    /// when the consent is no longer in that status (another request changed it first), nothing
    /// is stored and this returns false. On error nothing of it was stored either; that
    /// includes [`StoreError::BoundReached`] when the events would take a TPP past its bound
    /// of stored events (counted in the same transaction).
    pub async fn commit_trigger(
        &self,
        change: Option<&ConsentStatusChange>,
        events: &[NewEvent],
    ) -> Result<bool> {
        dispatch!(self.commit_trigger(change, events))
    }

    /// Applies `writes` in one transaction, each in a savepoint of its own: a write that fails
    /// or whose guard no longer holds (`Ok(false)`) is rolled back alone and the rest commit.
    /// Per write, what its own method returns (`true` for a recorded attempt). `Err` when the
    /// transaction itself failed: then nothing of any of them was stored.
    pub async fn apply_writes(&self, writes: &[Write]) -> Result<Vec<Result<bool>>> {
        dispatch!(self.apply_writes(writes))
    }

    /// [`Store::apply_writes`] for the group commit's writer: on SQLite on the blocking pool.
    /// A batch's transaction, with its WAL write, holds the thread it runs on from a hundred
    /// microseconds (a lone trigger) to milliseconds (a few hundred push records), too long
    /// for a runtime thread the HTTP connections share; the engine's other calls are single
    /// statements and run inline. Running even a lone trigger's commit inline cost ingest 4–6
    /// points of its ratio in alternating runs, for 0.1 ms off a trigger's p50.
    pub(crate) async fn apply_batch(&self, writes: Vec<Write>) -> Result<Vec<Result<bool>>> {
        match self {
            Store::Sqlite(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || s.apply_writes(&writes))
                    .await
                    .map_err(|e| StoreError::Open(format!("the group commit's task failed: {e}")))?
            }
            Store::Postgres(p) => p.apply_writes(&writes).await,
        }
    }

    /// Stores events without a state change (injection, bulk fill): all or nothing.
    pub async fn insert_events(&self, events: &[NewEvent]) -> Result<()> {
        self.commit_trigger(None, events).await.map(drop)
    }

    /// Which of `jtis` were never stored for `client_id` (HSBC's unknown-ack check).
    pub async fn unknown_jtis(&self, client_id: &ClientId, jtis: &[String]) -> Result<Vec<String>> {
        dispatch!(self.unknown_jtis(client_id, jtis))
    }

    /// One poll: apply acks, then errors, then choose the oldest awaiting SETs, in one
    /// transaction (R8936-24: an acknowledged jti never comes back in the same answer).
    pub async fn poll(&self, ops: &PollOps<'_>) -> Result<PollBatch> {
        dispatch!(self.poll(ops))
    }

    /// Deletes every stored event of a client (sandbox reset) with its deliveries; its count
    /// of stored events drops by as many in the same transaction.
    pub async fn reset_events(&self, client_id: &ClientId) -> Result<usize> {
        dispatch!(self.reset_events(client_id))
    }

    /// A client's stored events, newest first, for the sandbox inspection endpoint.
    pub async fn events_of(&self, client_id: &ClientId, limit: usize) -> Result<Vec<EventRecord>> {
        dispatch!(self.events_of(client_id, limit))
    }

    // ---- deliveries -------------------------------------------------------------------------

    /// Claims and starts pending deliveries due at `claim.now`, soonest first, within each
    /// URL's room (see [`claim`]): each one's next attempt moves to the lease's end, so no
    /// other worker (on any replica) takes it while this one tries, and its attempt row is
    /// written in flight in the same transaction. If the worker dies, the lease runs out, the
    /// delivery is claimed again and the attempt is shown as interrupted.
    ///
    /// On SQLite the claim runs on the blocking pool: it may wait for the connection while
    /// the group commit's writer holds it for a batch, and a runtime thread waiting there
    /// would stall the requests and sends scheduled on it.
    pub async fn claim_due(&self, claim: &claim::Claim) -> Result<claim::Claimed> {
        match self {
            Store::Sqlite(s) => {
                let (s, claim) = (s.clone(), claim.clone());
                tokio::task::spawn_blocking(move || s.claim_due(&claim))
                    .await
                    .map_err(|e| StoreError::Open(format!("the claim's task failed: {e}")))?
            }
            Store::Postgres(p) => p.claim_due(claim).await,
        }
    }

    /// When the soonest pending delivery is due, if any.
    pub async fn next_due(&self) -> Result<Option<Timestamp>> {
        dispatch!(self.next_due())
    }

    /// Records one attempt and moves the delivery on, in one transaction. A delivered OBIE
    /// SET counts as acknowledged; one that finally failed stays awaiting for polling.
    pub async fn record_attempt(
        &self,
        delivery_id: &DeliveryId,
        attempt: &Attempt,
        verdict: AttemptVerdict,
    ) -> Result<()> {
        dispatch!(self.record_attempt(delivery_id, attempt, verdict))
    }

    /// A client's deliveries with their attempts, newest first.
    pub async fn deliveries_of(
        &self,
        client_id: &ClientId,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>> {
        dispatch!(self.deliveries_of(client_id, limit))
    }

    /// Makes a delivery of `client_id` (of any client: `None`, the operator) due at `now`
    /// again (pending) unless it was delivered or an attempt of it is in flight; says which.
    pub async fn retry_delivery(
        &self,
        client_id: Option<&ClientId>,
        delivery_id: &DeliveryId,
        now: Timestamp,
    ) -> Result<RetryOutcome> {
        dispatch!(self.retry_delivery(client_id, delivery_id, now))
    }

    /// Hands back deliveries the push worker claimed and never sent (it stopped with them
    /// still waiting for a slot or their URL's lane), each as `(delivery, its attempt's
    /// number)`: the in-flight attempt the claim wrote is removed and the delivery made due at
    /// `now` with the count of attempts it had before the claim, so the next claim (after a
    /// restart, or by another replica) sends it as that same attempt, and its history shows no
    /// attempt that never went out. A delivery changed since its claim (cancelled, or its
    /// count of attempts moved) is left as it is. Returns how many were handed back.
    pub async fn release_unsent(
        &self,
        unsent: &[(DeliveryId, i64)],
        now: Timestamp,
    ) -> Result<usize> {
        dispatch!(self.release_unsent(unsent, now))
    }

    /// At start: on SQLite, which no other process can share, the attempts a previous process
    /// left in flight are marked interrupted and their deliveries made due now. On PostgreSQL
    /// another replica may be making them, so their leases are left to run out.
    pub async fn reclaim_leases(&self, now: Timestamp) -> Result<usize> {
        match self {
            Store::Sqlite(s) => s.reclaim_leases(now),
            Store::Postgres(_) => Ok(0),
        }
    }
}

/// How many of `events` each TPP gets, by client id in order (the order both engines lock
/// the TPPs' count rows in, so two commits cannot wait on each other).
pub(crate) fn per_client(events: &[NewEvent]) -> std::collections::BTreeMap<&str, i64> {
    let mut n = std::collections::BTreeMap::new();
    for e in events {
        *n.entry(e.client_id.as_str()).or_insert(0) += 1;
    }
    n
}

/// `Err` when `count` rows of the kind `bound` take `client_id` past `max`.
pub(crate) fn within(client_id: &str, bound: Bound, count: i64, max: Option<u64>) -> Result<()> {
    match max {
        Some(limit) if u64::try_from(count).unwrap_or(0) > limit => Err(BoundReached {
            client_id: client_id.into(),
            bound,
            limit,
        }
        .into()),
        _ => Ok(()),
    }
}

/// JSON text of a string list (subscription event types, consent permissions).
pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn parse_list(s: &str) -> Result<Vec<String>> {
    json_of(s)
}

/// A JSON column read back (lists, Tatra accounts and banks).
pub(crate) fn json_of<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Where a client's pending deliveries to `old` go when their destination becomes `new`:
/// `Some(Some(url))` moves them, `Some(None)` cancels them (only if `cancel_removed`), `None`
/// leaves them (unchanged url, or kept by a fault). Both engines apply it inside the
/// transaction that changes the destination.
pub(crate) fn follow<'a>(
    old: &str,
    new: Option<&'a str>,
    cancel_removed: bool,
) -> Option<Option<&'a str>> {
    match new {
        Some(new) if new == old => None,
        Some(new) => Some(Some(new)),
        None if cancel_removed => Some(None),
        None => None,
    }
}

/// Where a Tatra application's pending deliveries go after a settings change (TB-05): to its
/// url while enabled, or while disabled if `cancel_when_disabled` is off (a fault keeps
/// sending); nowhere (cancelled) once disabled otherwise.
pub(crate) fn tatra_destination(s: &TatraSettings, cancel_when_disabled: bool) -> Option<&str> {
    if s.enabled || !cancel_when_disabled {
        s.url.as_deref()
    } else {
        None
    }
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// How much of a response body an attempt row keeps.
pub const EXCERPT_CHARS: usize = 512;

mod portal;
mod referee_runs;
mod tpp_faults;

#[cfg(test)]
mod tests;
