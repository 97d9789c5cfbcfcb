//! The sandbox's metrics: one Prometheus registry per running sandbox, held by the shared state,
//! with a typed handle for everything `/metrics` reports (the README lists every name). The
//! services count through the methods here; `http::probes` encodes the registry, after setting
//! the gauges that are read from the store at scrape time (due deliveries, pool use).
//!
//! Why `prometheus-client` (the Prometheus project's own Rust client) rather than the `metrics`
//! facade with its exporter: its registry is a value, not a process-wide recorder, so every
//! sandbox in one process (the harness's embedded ones, a test binary's hundreds) counts for
//! itself; label sets are Rust types, so a label cannot take a value nobody chose; and it
//! brings no HTTP server or background task of its own.
//!
//! Cardinality is bounded by construction: requests are labelled by the matched route
//! *template* (never the raw path), a known method name or `other`, and the status; event
//! types beyond [`MAX_EVENT_TYPES`] distinct ones are counted as `other`.
//!
//! The request path costs one read-locked map lookup and one histogram update; counters whose
//! labels are fixed (polls, lockouts) are looked up once, here, and kept as handles.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::Method;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

use super::domain::{Dialect, NewEvent};
use super::store::PoolUse;

/// Distinct event types per dialect counted by name before further ones are counted as
/// `other` (the dialects validate types, so this only guards against one that does not).
pub const MAX_EVENT_TYPES: usize = 64;

/// Latency buckets of HTTP requests, in seconds: sub-millisecond polls up to held long polls.
const REQUEST_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
/// Latency buckets of push attempts, in seconds (a TPP's receiver, up to the request timeout).
const ATTEMPT_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The route a request matched, as its template (`/sandbox/deliveries/{id}/retry`), or none
/// (an unknown path, answered by the fallback).
#[derive(Clone, Debug)]
pub struct Route(Option<MatchedPath>);

impl Route {
    pub fn new(matched: Option<&MatchedPath>) -> Route {
        Route(matched.cloned())
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// A request method as a label: the methods HTTP defines, anything else `other` (a client
/// may send any token as a method).
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Route,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    dialect: &'static str,
    event_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PollLabels {
    mode: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    dialect: &'static str,
    outcome: &'static str,
    answer: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DialectLabel {
    dialect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabel {
    credential: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    state: &'static str,
}

/// How one push attempt ended, for [`Metrics::push_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The destination accepted it: the delivery is done.
    Delivered,
    /// It will be tried again.
    Retry,
    /// No more tries: the delivery failed.
    Failed,
}

impl AttemptOutcome {
    pub fn label(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Failed => "failed",
        }
    }
}

/// What came back from the destination, for [`Metrics::push_attempt`]: a status (counted by
/// class) or why there was none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptAnswer {
    Status(u16),
    Timeout,
    Connection,
    /// Not sent: the destination was refused (guard, invalid URL).
    Refused,
}

impl AttemptAnswer {
    fn label(self) -> &'static str {
        match self {
            AttemptAnswer::Status(s) => match s {
                100..=199 => "1xx",
                200..=299 => "2xx",
                300..=399 => "3xx",
                400..=499 => "4xx",
                _ => "5xx",
            },
            AttemptAnswer::Timeout => "timeout",
            AttemptAnswer::Connection => "connection",
            AttemptAnswer::Refused => "refused",
        }
    }
}

/// Every metric of one sandbox, with the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    events: Family<EventLabels, Counter>,
    /// Distinct event types admitted so far, per dialect (in [`Dialect::ALL`]'s order).
    event_types: [AtomicUsize; Dialect::ALL.len()],
    polls: [[Counter; 2]; 2],
    held_polls: Gauge,
    attempts: Family<AttemptLabels, Counter>,
    attempt_latency: Family<DialectLabel, Histogram, fn() -> Histogram>,
    due: Gauge,
    /// The push worker's requests out and claimed deliveries waiting, as of its last look.
    push_sending: Gauge,
    push_waiting: Gauge,
    lockouts: Family<CredentialLabel, Counter>,
    pool: PoolGauges,
}

/// Registers `metric` under `name` (prefixed `obevents_`) and returns the handle to count with.
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// The connection pool's gauges (PostgreSQL), set at scrape time.
#[derive(Debug, Default)]
struct PoolGauges {
    connections: Family<PoolLabel, Gauge>,
    max: Gauge,
    waiting: Gauge,
}

impl PoolGauges {
    fn register(&self, r: &mut Registry) {
        r.register(
            "store_pool_connections",
            "Database connections of this replica's pool, by state (busy, idle)",
            self.connections.clone(),
        );
        r.register(
            "store_pool_max_connections",
            "The pool's size limit",
            self.max.clone(),
        );
        r.register(
            "store_pool_waiting",
            "Requests waiting for a database connection",
            self.waiting.clone(),
        );
    }
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

fn attempt_histogram() -> Histogram {
    Histogram::new(ATTEMPT_BUCKETS)
}

impl Metrics {
    /// A fresh registry. `pooled` registers the connection-pool gauges (PostgreSQL only: SQLite
    /// has one connection and no pool).
    pub fn new(pooled: bool) -> Metrics {
        let mut r = Registry::with_prefix("obevents");
        let requests = register(
            &mut r,
            "http_request_duration_seconds",
            "HTTP requests by method, route template and status, with their latency (its _count is the number of requests)",
            Family::new_with_constructor(request_histogram as fn() -> Histogram),
        );
        let events = register(
            &mut r,
            "events_raised",
            "Events raised (stored with their deliveries), by dialect and event type",
            Family::default(),
        );
        let poll_family: Family<PollLabels, Counter> = register(
            &mut r,
            "polls",
            "Aggregated polls (POST /events) answered, by mode (short, long) and result (sets, empty)",
            Family::default(),
        );
        let poll = |mode, result| poll_family.get_or_create_owned(&PollLabels { mode, result });
        let polls = [
            [poll("short", "empty"), poll("short", "sets")],
            [poll("long", "empty"), poll("long", "sets")],
        ];
        let held_polls = register(
            &mut r,
            "long_polls_held",
            "Long polls being held now, waiting for an event or their timeout",
            Gauge::default(),
        );
        let attempts = register(
            &mut r,
            "push_attempts",
            "Push attempts by dialect, outcome (delivered, retry, failed: the delivered and failed ones are deliveries that ended) and answer (status class, timeout, connection, refused)",
            Family::default(),
        );
        let attempt_latency = register(
            &mut r,
            "push_attempt_duration_seconds",
            "Latency of push attempts by dialect, from sending to the answer (or the error)",
            Family::new_with_constructor(attempt_histogram as fn() -> Histogram),
        );
        let due = register(
            &mut r,
            "push_due_deliveries",
            "Pending deliveries whose next attempt is due now and not yet claimed (read from the store at scrape time)",
            Gauge::default(),
        );
        let push_sending = register(
            &mut r,
            "push_requests_in_flight",
            "Push requests this replica's worker has sent and not yet had answered",
            Gauge::default(),
        );
        let push_waiting = register(
            &mut r,
            "push_claimed_waiting",
            "Deliveries this replica's worker has claimed and not yet sent, waiting for a free slot or their URL's lane",
            Gauge::default(),
        );
        let lockouts = register(
            &mut r,
            "auth_lockouts",
            "Lockouts begun after too many failed authentications, by credential (client, admin)",
            Family::default(),
        );
        let pool = PoolGauges::default();
        if pooled {
            pool.register(&mut r);
        }
        Metrics {
            registry: r,
            requests,
            events,
            event_types: Default::default(),
            polls,
            held_polls,
            attempts,
            attempt_latency,
            due,
            push_sending,
            push_waiting,
            lockouts,
            pool,
        }
    }

    /// One answered HTTP request.
    pub fn request(&self, method: &'static str, route: Route, status: u16, took: Duration) {
        let labels = RequestLabels {
            method,
            route,
            status,
        };
        self.requests
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Events stored by `dialect`'s API (after their transaction committed).
    pub fn events_raised(&self, dialect: Dialect, events: &[NewEvent]) {
        for e in events {
            let mut labels = EventLabels {
                dialect: dialect.name(),
                event_type: e.event_type.clone(),
            };
            // A new type is admitted while its dialect has room (two racing ones may both be).
            if self.events.get(&labels).is_none() {
                let at = Dialect::ALL.iter().position(|d| *d == dialect).unwrap_or(0);
                if self.event_types[at].fetch_add(1, Ordering::Relaxed) >= MAX_EVENT_TYPES {
                    labels.event_type = "other".into();
                }
            }
            self.events.get_or_create(&labels).inc();
        }
    }

    /// One aggregated poll answered: long or short, with or without SETs.
    pub fn poll(&self, long: bool, returned: usize) {
        self.polls[usize::from(long)][usize::from(returned > 0)].inc();
    }

    /// Counts a long poll as held until the returned guard is dropped.
    pub fn hold_long_poll(&self) -> HeldPoll {
        self.held_polls.inc();
        HeldPoll(self.held_polls.clone())
    }

    /// One push attempt of `dialect`, recorded with its outcome.
    pub fn push_attempt(
        &self,
        dialect: Dialect,
        outcome: AttemptOutcome,
        answer: AttemptAnswer,
        took: Duration,
    ) {
        let labels = AttemptLabels {
            dialect: dialect.name(),
            outcome: outcome.label(),
            answer: answer.label(),
        };
        self.attempts.get_or_create(&labels).inc();
        self.attempt_latency
            .get_or_create(&DialectLabel {
                dialect: dialect.name(),
            })
            .observe(took.as_secs_f64());
    }

    /// A client id (`credential = "client"`) or another credential was locked out.
    pub fn lockout(&self, credential: &'static str) {
        self.lockouts
            .get_or_create(&CredentialLabel { credential })
            .inc();
    }

    /// The due-delivery count read at scrape time.
    pub fn set_due(&self, due: usize) {
        self.due.set(i64::try_from(due).unwrap_or(i64::MAX));
    }

    /// What the push worker holds now: requests out, and claimed deliveries waiting to be sent.
    pub fn set_push_worker(&self, sending: usize, waiting: usize) {
        self.push_sending
            .set(i64::try_from(sending).unwrap_or(i64::MAX));
        self.push_waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// The push worker's `(requests out, claimed deliveries waiting)` as last set.
    pub fn push_worker(&self) -> (i64, i64) {
        (self.push_sending.get(), self.push_waiting.get())
    }

    /// The pool's use read at scrape time.
    pub fn set_pool(&self, p: PoolUse) {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        let pool = &self.pool;
        let state = |state| pool.connections.get_or_create_owned(&PoolLabel { state });
        state("busy").set(n(p.busy));
        state("idle").set(n(p.idle));
        pool.max.set(n(p.max));
        pool.waiting.set(n(p.waiting));
    }

    /// The registry in the Prometheus text format (0.0.4), or in OpenMetrics text when the
    /// scraper asks for it (Prometheus does); with the content type to answer with.
    pub fn encode(&self, openmetrics: bool) -> (String, &'static str) {
        use prometheus_client::encoding::{prometheus_text, text};
        let mut out = String::with_capacity(16 * 1024);
        let (result, content_type) = if openmetrics {
            (
                text::encode(&mut out, &self.registry),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
        } else {
            (
                prometheus_text::encode(&mut out, &self.registry),
                prometheus_text::CONTENT_TYPE,
            )
        };
        if let Err(e) = result {
            // Writing to a String cannot fail; a label that cannot be encoded would.
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        (out, content_type)
    }
}

/// A long poll counted as held; dropping it (answered, timed out, cancelled) uncounts it.
#[derive(Debug)]
pub struct HeldPoll(Gauge);

impl Drop for HeldPoll {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_family_with_bounded_labels() {
        let m = Metrics::new(true);
        m.request("GET", Route::new(None), 404, Duration::from_millis(2));
        m.poll(false, 0);
        m.poll(true, 3);
        let held = m.hold_long_poll();
        m.push_attempt(
            Dialect::Yapily,
            AttemptOutcome::Retry,
            AttemptAnswer::Status(503),
            Duration::from_millis(5),
        );
        m.lockout("client");
        m.set_due(7);
        m.set_push_worker(5, 9);
        m.set_pool(PoolUse {
            busy: 2,
            idle: 3,
            max: 16,
            waiting: 0,
        });
        let (text, ct) = m.encode(false);
        assert!(ct.starts_with("text/plain; version=0.0.4"));
        for line in [
            r#"obevents_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1"#,
            r#"obevents_polls_total{mode="short",result="empty"} 1"#,
            r#"obevents_polls_total{mode="long",result="sets"} 1"#,
            "obevents_long_polls_held 1",
            r#"obevents_push_attempts_total{dialect="yapily",outcome="retry",answer="5xx"} 1"#,
            r#"obevents_auth_lockouts_total{credential="client"} 1"#,
            "obevents_push_due_deliveries 7",
            "obevents_push_requests_in_flight 5",
            "obevents_push_claimed_waiting 9",
            r#"obevents_store_pool_connections{state="busy"} 2"#,
            "obevents_store_pool_max_connections 16",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        drop(held);
        assert!(m.encode(false).0.contains("obevents_long_polls_held 0"));
        let (open, ct) = m.encode(true);
        assert!(ct.starts_with("application/openmetrics-text"));
        assert!(open.ends_with("# EOF\n"), "{open}");
        // SQLite has no pool: its gauges are not reported at all.
        assert!(!Metrics::new(false).encode(false).0.contains("pool"));
    }

    #[test]
    fn event_types_beyond_the_bound_count_as_other() {
        let m = Metrics::new(false);
        let event = |t: String| {
            let id = crate::sandbox::domain::EventId::random();
            let client = crate::sandbox::domain::ClientId::from("tpp-1");
            NewEvent::webhook(id, &client, &t, ("r", "t"), "{}".into(), Vec::new())
        };
        for i in 0..MAX_EVENT_TYPES + 5 {
            m.events_raised(Dialect::Yapily, &[event(format!("type-{i}"))]);
        }
        // Another dialect has a budget of its own.
        m.events_raised(Dialect::Tatra, &[event("transactionEvent".into())]);
        let text = m.encode(false).0;
        let families = text
            .lines()
            .filter(|l| l.starts_with("obevents_events_raised_total{dialect=\"yapily\""))
            .count();
        assert_eq!(families, MAX_EVENT_TYPES + 1, "{text}");
        assert!(
            text.contains(r#"obevents_events_raised_total{dialect="yapily",event_type="other"} 5"#)
        );
        assert!(text.contains(
            r#"obevents_events_raised_total{dialect="tatra",event_type="transactionEvent"} 1"#
        ));
    }

    #[test]
    fn methods_are_a_closed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "other");
    }
}
