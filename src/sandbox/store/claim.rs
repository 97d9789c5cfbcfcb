//! What the push worker asks of the store each time it looks for work ([`Claim`]), and the
//! part of answering it both engines share: which due deliveries to take given each
//! destination's room, and the attempt each one starts.
//!
//! A claim *starts* the attempts it takes: in the transaction that leases a delivery, its
//! attempt row is written as in flight. So an attempt is on record before anything is sent
//! (a crash mid-send leaves it visible, shown as interrupted when the next attempt starts),
//! and no second attempt of the delivery (a manual retry, another replica) can begin while
//! it runs — without a transaction per attempt between the claim and the send. The room per
//! destination is what the worker may hold for that URL: its free lanes and one more round of
//! them claimed ahead (`push::lanes`), so a claimed attempt waits in the worker at most for
//! one attempt of its URL to end; its `started_at` is the claim's time while it is in flight
//! and becomes when it was sent with its outcome.

use std::collections::HashMap;
use std::time::Duration;

use crate::sandbox::domain::{DueDelivery, Timestamp};

/// Candidate rows read per claim, per delivery asked for: the room per URL skips some, so
/// more are read than taken (bounded: the read never grows with the table).
const WINDOW: usize = 4;
/// Candidate rows read per claim at most.
const MAX_WINDOW: usize = 1_024;

/// One look for work: up to `limit` deliveries due at `now`, each leased for `lease` and
/// started as its next attempt.
#[derive(Debug, Clone)]
pub struct Claim {
    pub now: Timestamp,
    /// How long the claiming worker holds a delivery: past it, the worker is taken for dead
    /// and its attempt for interrupted.
    pub lease: Duration,
    pub limit: usize,
    /// Deliveries to a URL listed here are claimed up to its number; 0 leaves them due.
    pub room: HashMap<String, usize>,
    /// The room of a URL not listed.
    pub default_room: usize,
}

/// What one claim took.
#[derive(Debug, Default)]
pub struct Claimed {
    /// The deliveries it took, each with its attempt started.
    pub started: Vec<DueDelivery>,
    /// It read as many candidates as its window holds and passed some over because their URL
    /// had no room left: more due rows may lie past the window (one URL's backlog can fill
    /// it), so the worker claims again at once, with those URLs now full and left out, rather
    /// than leave other URLs' rows waiting until the backlogged URL's attempts end.
    pub cut_short: bool,
    /// When the soonest pending delivery is due once this claim's leases are taken (theirs
    /// included), read in the claim's transaction: the worker sleeps until then without
    /// asking the store again (on SQLite that would wait for the connection on a runtime
    /// thread while the group commit holds it).
    pub next_due: Option<Timestamp>,
}

impl Claim {
    /// When the deliveries claimed now are due again if their attempts never finish.
    pub fn lease_until(&self) -> Timestamp {
        self.now.saturating_add(self.lease)
    }

    /// An attempt in flight that started at or after this still holds its lease: its sender
    /// may be sending right now (in this process or another replica), so no other attempt
    /// starts. One that started earlier outlived its lease: its sender died.
    pub fn live_since(&self) -> Timestamp {
        self.now.saturating_sub(self.lease)
    }

    /// How many candidate rows to read.
    pub fn window(&self) -> usize {
        self.limit.saturating_mul(WINDOW).clamp(1, MAX_WINDOW)
    }

    /// URLs with no room: their deliveries are not even read.
    pub fn full_urls(&self) -> Vec<String> {
        let mut full: Vec<String> = self
            .room
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(u, _)| u.clone())
            .collect();
        full.sort();
        full
    }

    /// Decides, one candidate at a time (oldest due first), which this claim takes.
    pub fn chooser(&self) -> Chooser<'_> {
        Chooser {
            claim: self,
            taken: HashMap::new(),
            count: 0,
            read: 0,
            passed_over: false,
        }
    }

    /// From `candidates` (oldest due first), those this claim takes: at most `limit`, and per
    /// URL no more than its room. Each gets the attempt it starts.
    pub fn choose(&self, candidates: Vec<DueDelivery>) -> Claimed {
        let mut chooser = self.chooser();
        let started = candidates
            .into_iter()
            .filter(|d| chooser.take(&d.url))
            .map(|d| self.started(d))
            .collect();
        Claimed {
            started,
            cut_short: chooser.cut_short(),
            next_due: None,
        }
    }

    /// `d`, taken by this claim, with the attempt it starts.
    pub fn started(&self, mut d: DueDelivery) -> DueDelivery {
        d.started_at = self.now;
        d.interaction_id = uuid::Uuid::new_v4().to_string();
        d
    }
}

/// A claim's choice in progress: how many it took, per URL and in all.
pub struct Chooser<'a> {
    claim: &'a Claim,
    taken: HashMap<String, usize>,
    count: usize,
    /// Candidates looked at before the claim had all it asked for.
    read: usize,
    /// Whether one of them was passed over for its URL's room.
    passed_over: bool,
}

impl Chooser<'_> {
    /// Whether the claim has all it asked for.
    pub fn done(&self) -> bool {
        self.count >= self.claim.limit
    }

    /// Takes the next candidate, to `url`, if the claim wants more and the URL has room.
    pub fn take(&mut self, url: &str) -> bool {
        if self.done() {
            return false;
        }
        self.read += 1;
        let room = self
            .claim
            .room
            .get(url)
            .copied()
            .unwrap_or(self.claim.default_room);
        let used = self.taken.get(url).copied().unwrap_or(0);
        if used >= room {
            self.passed_over = true;
            return false;
        }
        self.taken.insert(url.to_string(), used + 1);
        self.count += 1;
        true
    }

    /// See [`Claimed::cut_short`].
    pub fn cut_short(&self) -> bool {
        self.passed_over && !self.done() && self.read >= self.claim.window()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sandbox::domain::Dialect;

    /// A due delivery `id` to `url`, its attempt 1 claimed now (for the worker's tests too).
    pub(crate) fn due(id: &str, url: &str) -> DueDelivery {
        DueDelivery {
            id: id.into(),
            client_id: "a".into(),
            format: Dialect::Obie,
            url: url.into(),
            attempt: 1,
            event_seq: 1,
            created_at: Timestamp::from_millis(0),
            token: None,
            started_at: Timestamp::now(),
            interaction_id: String::new(),
        }
    }

    #[test]
    fn takes_the_oldest_within_each_urls_room_and_the_limit() {
        let claim = Claim {
            now: Timestamp::from_millis(7),
            lease: Duration::from_millis(10),
            limit: 3,
            room: HashMap::from([("u1".to_string(), 1), ("u0".to_string(), 0)]),
            default_room: 2,
        };
        assert_eq!(claim.full_urls(), ["u0"]);
        assert_eq!(claim.lease_until(), Timestamp::from_millis(17));
        assert_eq!(claim.live_since(), Timestamp::from_millis(-3));
        let Claimed {
            started: got,
            cut_short,
            ..
        } = claim.choose(vec![
            due("a", "u1"),
            due("b", "u1"),
            due("c", "u0"),
            due("d", "u2"),
            due("e", "u2"),
            due("f", "u2"),
            due("g", "u3"),
        ]);
        let ids: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a", "d", "e"]);
        assert!(!cut_short, "it had all it asked for");
        assert!(got.iter().all(|d| d.started_at == claim.now));
        assert!(got.iter().all(|d| !d.interaction_id.is_empty()));
        assert_ne!(got[0].interaction_id, got[1].interaction_id);
        assert_eq!(got[0].attempt, 1);
    }

    #[test]
    fn a_window_filled_by_a_url_without_room_is_cut_short() {
        let claim = Claim {
            now: Timestamp::from_millis(7),
            lease: Duration::from_millis(10),
            limit: 2,
            room: HashMap::new(),
            default_room: 1,
        };
        assert_eq!(claim.window(), 8);
        let backlog = |n: usize| (0..n).map(|i| due(&format!("b{i}"), "busy")).collect();
        let full = claim.choose(backlog(8));
        assert_eq!(full.started.len(), 1);
        assert!(full.cut_short, "rows past the window may be other URLs'");
        // Fewer candidates than the window: every due row was seen.
        assert!(!claim.choose(backlog(7)).cut_short);
        // A window of rows all taken (none passed over) says nothing about the rest.
        let spread = (0..8)
            .map(|i| due(&format!("s{i}"), &format!("u{i}")))
            .collect();
        assert!(!claim.choose(spread).cut_short);
    }
}
