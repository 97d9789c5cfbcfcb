//! What the push worker holds and how much more it may claim: a global number of slots (at
//! most that many requests out at once), per-URL lanes (at most `per_destination` requests at
//! once to one callback URL, as a real TPP endpoint is not sent more), and the deliveries
//! claimed ahead that wait, in claim order, for a slot and their URL's lane.
//!
//! Why claim ahead: the claim is a database transaction, and on SQLite it shares the one
//! connection with the group commit that records outcomes. Claiming only as many rows as
//! there were free lanes left every request done before the next claim came back idle (the
//! worker used about one of two cores, the rest was waiting), and made claims small, so each
//! paid a transaction's fixed cost for a few rows. So the worker holds up to one more round
//! of each limit claimed and started but not yet sent (`AHEAD`), and a request that ends
//! hands its slot to a waiting delivery at once while the next claim runs.
//!
//! What that costs: a delivery's attempt is on record (in flight) from its claim, a few
//! milliseconds before it is sent when the worker is busy, about one attempt of its URL when
//! that URL is slow; the attempt's `started_at` is set again to when its turn came with its
//! outcome. The lease covers a wait of one request timeout and 5 s (see [`lease_for`]), the
//! longest one attempt of the same URL can hold a lane: a delivery that waited longer (slots
//! congested) is not sent at all but left to its lease, then claimed again with its attempt
//! shown as interrupted, so a claim's lease never runs out while its attempt waits.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::sandbox::domain::{DueDelivery, Timestamp};
use crate::sandbox::store::claim::Claim;

/// Rows claimed per look at most.
const BATCH: usize = 256;
/// Per-URL lanes kept before idle ones are dropped.
const MAX_DESTINATIONS: usize = 1_024;
/// Rounds of each limit held claimed ahead of what is sent: one more slot's worth in all,
/// one more lane's worth per URL.
const AHEAD: usize = 1;

/// The longest a claimed delivery waits in the worker: one attempt of its URL (a request
/// bounded by `request_timeout`, with 5 s for its lookup and scheduling) holding the lane.
pub fn max_wait_for(request_timeout: Duration) -> Duration {
    request_timeout.saturating_add(Duration::from_secs(5))
}

/// How long a claim holds its deliveries: the longest wait in the worker
/// ([`max_wait_for`]), then its own request, with 5 s for the rest (its lookup, the outcome's
/// commit). Past it, the claiming worker is taken for dead and its attempt for interrupted, so
/// a longer lease would also make a PostgreSQL replica wait longer to take over a dead one's
/// deliveries.
pub fn lease_for(request_timeout: Duration) -> Duration {
    max_wait_for(request_timeout)
        .saturating_add(request_timeout)
        .saturating_add(Duration::from_secs(5))
}

/// An attempt's hold on a slot and its URL's lane while its request is out.
pub struct Held {
    slot: Option<OwnedSemaphorePermit>,
    lane: Option<OwnedSemaphorePermit>,
    freed: Arc<Notify>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // Released before the worker is told, so its next look counts them as free.
        drop((self.slot.take(), self.lane.take()));
        self.freed.notify_one();
    }
}

/// The worker's slots, lanes and the claimed deliveries waiting for them.
pub struct Lanes {
    slots: Arc<Semaphore>,
    concurrency: usize,
    lanes: HashMap<String, Arc<Semaphore>>,
    per_destination: usize,
    /// The longest a claimed delivery may wait to be sent (the lease allows for no more).
    max_wait: Duration,
    /// Claimed (attempt started), not yet sent; oldest claimed first.
    waiting: VecDeque<DueDelivery>,
    /// How many of `waiting` go to each URL (absent = none).
    waiting_per_url: HashMap<String, usize>,
    /// Signalled whenever an attempt's request is over and its slot and lane are free.
    pub freed: Arc<Notify>,
}

impl Lanes {
    pub fn new(concurrency: usize, per_destination: usize, max_wait: Duration) -> Lanes {
        let concurrency = concurrency.max(1);
        Lanes {
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            lanes: HashMap::new(),
            per_destination: per_destination.max(1),
            max_wait,
            waiting: VecDeque::new(),
            waiting_per_url: HashMap::new(),
            freed: Arc::new(Notify::new()),
        }
    }

    /// Requests out now.
    pub fn sending(&self) -> usize {
        self.concurrency - self.slots.available_permits()
    }

    /// Deliveries claimed and waiting to be sent.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// How many more deliveries the worker may hold claimed: free slots, plus the rounds
    /// ahead, less what waits.
    fn free(&self) -> usize {
        (self.concurrency * (1 + AHEAD)).saturating_sub(self.sending() + self.waiting())
    }

    /// A claim for what the worker may still hold, within each URL's lanes and the
    /// deliveries already waiting for them; `None` while that is fewer than `floor` and every
    /// slot is busy (a busy worker waits until a claim is worth its transaction, while the
    /// waiting deliveries keep its slots busy). Called after [`Lanes::ready`]: a slot still
    /// free then is one no waiting delivery can use (their URLs' lanes are full), so any
    /// claim is worth it, for other URLs' rows.
    pub fn claim(&mut self, lease: Duration, floor: usize) -> Option<Claim> {
        let limit = self.free().min(BATCH);
        let floor = if self.slots.available_permits() > 0 {
            1
        } else {
            floor.max(1)
        };
        if limit < floor {
            return None;
        }
        if self.lanes.len() > MAX_DESTINATIONS {
            let per = self.per_destination;
            self.lanes.retain(|_, s| s.available_permits() < per);
        }
        let per = self.per_destination;
        let default_room = per * (1 + AHEAD);
        // Only URLs in use differ from the default room: the idle ones are not listed.
        let mut room: HashMap<String, usize> = self
            .lanes
            .iter()
            .filter(|(_, lane)| lane.available_permits() < per)
            .map(|(url, lane)| (url.clone(), default_room - (per - lane.available_permits())))
            .collect();
        for (url, n) in &self.waiting_per_url {
            let r = room.entry(url.clone()).or_insert(default_room);
            *r = r.saturating_sub(*n);
        }
        Some(Claim {
            now: Timestamp::now(),
            lease,
            limit,
            room,
            default_room,
        })
    }

    /// Takes out every delivery still waiting, oldest claimed first (the worker is stopping).
    pub fn take_waiting(&mut self) -> Vec<DueDelivery> {
        self.waiting_per_url.clear();
        self.waiting.drain(..).collect()
    }

    /// Queues claimed deliveries behind those already waiting.
    pub fn push(&mut self, claimed: Vec<DueDelivery>) {
        for d in claimed {
            *self.waiting_per_url.entry(d.url.clone()).or_insert(0) += 1;
            self.waiting.push_back(d);
        }
    }

    /// The waiting deliveries that can be sent now (a slot free and their URL's lane free),
    /// oldest claimed first, each with its hold; the rest keep waiting in their order. One
    /// that has waited longer than the lease allows for is dropped unsent (see the module
    /// doc).
    pub fn ready(&mut self) -> Vec<(DueDelivery, Held)> {
        self.drop_overdue();
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.waiting.len() && self.slots.available_permits() > 0 {
            let url = &self.waiting[i].url;
            let per = self.per_destination;
            let lane = self
                .lanes
                .entry(url.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(per)));
            let Ok(lane) = Arc::clone(lane).try_acquire_owned() else {
                i += 1;
                continue;
            };
            // Only this loop takes slots, and one was free.
            let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
                break;
            };
            let Some(d) = self.take(i) else {
                break;
            };
            let held = Held {
                slot: Some(slot),
                lane: Some(lane),
                freed: Arc::clone(&self.freed),
            };
            out.push((d, held));
        }
        out
    }

    /// Removes the waiting delivery at `i`.
    fn take(&mut self, i: usize) -> Option<DueDelivery> {
        let d = self.waiting.remove(i)?;
        if let Some(n) = self.waiting_per_url.get_mut(&d.url) {
            *n -= 1;
            if *n == 0 {
                self.waiting_per_url.remove(&d.url);
            }
        }
        Some(d)
    }

    /// Drops the deliveries claimed longer ago than `max_wait`: sent now, their attempt could
    /// outlive its lease and be claimed again while it runs.
    fn drop_overdue(&mut self) {
        let limit = i64::try_from(self.max_wait.as_millis()).unwrap_or(i64::MAX);
        let now = Timestamp::now();
        let mut i = 0;
        while i < self.waiting.len() {
            if now.millis_since(self.waiting[i].started_at) <= limit {
                i += 1;
                continue;
            }
            if let Some(d) = self.take(i) {
                tracing::warn!(
                    delivery = %d.id,
                    url = %d.url,
                    "a claimed delivery waited longer than its lease allows and was not sent; \
                     it is claimed again when the lease runs out"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::store::claim::tests::due;

    fn ids(ready: &[(DueDelivery, Held)]) -> Vec<&str> {
        ready.iter().map(|(d, _)| d.id.as_str()).collect()
    }

    #[test]
    fn waiting_deliveries_go_out_in_claim_order_within_slots_and_lanes() {
        let mut lanes = Lanes::new(3, 1, Duration::from_secs(60));
        lanes.push(vec![due("a", "u1"), due("b", "u1"), due("c", "u2")]);
        lanes.push(vec![due("d", "u3"), due("e", "u4")]);
        let mut first = lanes.ready();
        // u1's one lane is taken by a, so b waits; three slots go to a, c, d.
        assert_eq!(ids(&first), ["a", "c", "d"]);
        assert_eq!((lanes.sending(), lanes.waiting()), (3, 2));
        assert!(lanes.ready().is_empty(), "no slot is free");
        drop(first.remove(0));
        // a's slot and lane are free: b (u1) is older than e.
        assert_eq!(ids(&lanes.ready()), ["b"]);
        assert_eq!(lanes.waiting(), 1);
    }

    #[test]
    fn a_claim_asks_for_what_may_be_held_and_each_urls_room_less_what_waits() {
        let lease = Duration::from_secs(1);
        let mut lanes = Lanes::new(2, 2, Duration::from_secs(60));
        // Idle: one delivery is worth a claim, whatever the floor.
        let idle = lanes.claim(lease, 100).unwrap();
        assert_eq!((idle.limit, idle.default_room), (4, 4));
        assert!(idle.room.is_empty());
        lanes.push(vec![due("a", "u1"), due("b", "u1"), due("c", "u1")]);
        let held = lanes.ready();
        assert_eq!(ids(&held), ["a", "b"]);
        // Every slot busy: fewer free than the floor waits for more to end.
        assert!(lanes.claim(lease, 2).is_none());
        let c = lanes.claim(lease, 1).unwrap();
        // 4 in all less 2 sending and 1 waiting; u1: 4 less 2 sending and 1 waiting.
        assert_eq!(c.limit, 1);
        assert_eq!(c.room.get("u1"), Some(&1));
        assert_eq!(c.room.len(), 1);
        drop(held);
        assert_eq!(lanes.claim(lease, 2).unwrap().limit, 3);
    }

    #[test]
    fn a_delivery_that_waited_past_what_the_lease_allows_is_not_sent() {
        let mut lanes = Lanes::new(2, 1, Duration::from_secs(10));
        let mut old = due("old", "u1");
        old.started_at = Timestamp::now().saturating_sub(Duration::from_secs(11));
        let mut fresh = due("fresh", "u1");
        fresh.started_at = Timestamp::now();
        lanes.push(vec![old, fresh]);
        assert_eq!(ids(&lanes.ready()), ["fresh"]);
        assert_eq!(lanes.waiting(), 0);
    }

    #[test]
    fn a_free_slot_no_waiting_delivery_can_use_is_worth_a_claim() {
        let lease = Duration::from_secs(1);
        let mut lanes = Lanes::new(4, 1, Duration::from_secs(60));
        lanes.push(vec![due("a", "u1"), due("b", "u1")]);
        let held = lanes.ready();
        assert_eq!(ids(&held), ["a"]);
        // b waits for u1's lane; three slots are free, so even a high floor claims.
        assert_eq!(lanes.claim(lease, 100).map(|c| c.limit), Some(6));
    }

    #[test]
    fn the_lease_covers_a_wait_for_the_lane_and_the_attempt() {
        assert_eq!(lease_for(Duration::from_secs(10)), Duration::from_secs(30));
    }
}
