//! Practice behaviours (issue 22 item 8): what a conformant bank may do and a TPP's polling
//! client must cope with — throttling with 429, slow answers, SETs listed out of the order they
//! happened. Unlike faults they break no rule (no scenario fails a bank for them), so they are
//! not in the fault table; a TPP chooses them for its own client beside its faults, through the
//! same helper (`PUT /sandbox/faults`, member `behaviours`), storage (`tpp_faults` rows) and
//! per-replica cache (`tpp_faults::FaultCache`). This module owns the list, the choice's
//! checks and the per-replica throttle state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::domain::ClientId;

/// A behaviour a TPP may choose to meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behaviour {
    Throttle429,
    SlowPolls,
    NewestFirst,
}

/// How long `slow-polls` holds each answer.
pub const SLOW_BY: Duration = Duration::from_secs(2);
/// The least time `throttle-429` lets pass between two accepted polls of one TPP.
pub const THROTTLE_GAP: Duration = Duration::from_secs(1);

impl Behaviour {
    pub const ALL: &'static [Behaviour] = &[
        Behaviour::Throttle429,
        Behaviour::SlowPolls,
        Behaviour::NewestFirst,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Throttle429 => "throttle-429",
            Behaviour::SlowPolls => "slow-polls",
            Behaviour::NewestFirst => "sets-newest-first",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Behaviour::Throttle429 => {
                "a POST /events less than 1 s after the TPP's last accepted one is answered 429 with Retry-After: 1 (acks in it are not applied): a client that hurries, or retries at once, meets a storm of them"
            }
            Behaviour::SlowPolls => {
                "every POST /events of the TPP is answered 2 s later than it would be: a client with a short timeout gives up on answers that carry SETs"
            }
            Behaviour::NewestFirst => {
                "each poll answer lists its SETs newest first, the reverse of the order they happened: a client must not rely on the order of the sets object"
            }
        }
    }
}

impl std::fmt::Display for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Behaviour {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Behaviour::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                format!("unknown behaviour {s:?}: GET /sandbox/faults lists availableBehaviours")
            })
    }
}

impl serde::Serialize for Behaviour {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The behaviours one TPP meets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behaviours(Vec<Behaviour>);

impl Behaviours {
    pub fn new(b: impl IntoIterator<Item = Behaviour>) -> Behaviours {
        let mut v: Vec<Behaviour> = b.into_iter().collect();
        v.sort();
        v.dedup();
        Behaviours(v)
    }
    pub fn has(&self, b: Behaviour) -> bool {
        self.0.contains(&b)
    }
    pub fn list(&self) -> &[Behaviour] {
        &self.0
    }
}

/// Checks a choice of behaviour names: every name known; duplicates count once. `Err` names
/// every unknown one.
pub fn parse_choice(names: &[String]) -> Result<Behaviours, Vec<String>> {
    let mut errors = Vec::new();
    let mut chosen = Vec::new();
    for n in names {
        match n.parse::<Behaviour>() {
            Ok(b) => chosen.push(b),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(Behaviours::new(chosen))
    } else {
        Err(errors)
    }
}

/// When each TPP's last poll was accepted, per replica (`throttle-429`). Bounded: past
/// [`Throttle::MAX_TPPS`] entries those older than the gap are dropped (all, if none is).
#[derive(Debug, Default)]
pub struct Throttle {
    last: Mutex<HashMap<ClientId, Instant>>,
}

impl Throttle {
    const MAX_TPPS: usize = 10_000;

    /// `None` when `client_id` may poll now (and the poll is counted), else the seconds of
    /// the `Retry-After` to answer with.
    pub fn check(&self, client_id: &ClientId) -> Option<u64> {
        let mut map = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(at) = map.get(client_id)
            && now.duration_since(*at) < THROTTLE_GAP
        {
            return Some(THROTTLE_GAP.as_secs().max(1));
        }
        if map.len() >= Self::MAX_TPPS {
            map.retain(|_, at| now.duration_since(*at) < THROTTLE_GAP);
            if map.len() >= Self::MAX_TPPS {
                map.clear();
            }
        }
        map.insert(client_id.clone(), now);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::faults::Fault;

    #[test]
    fn names_parse_and_never_collide_with_a_fault() {
        for b in Behaviour::ALL {
            assert_eq!(b.name().parse::<Behaviour>(), Ok(*b));
            // One table stores both: a name must say which it is.
            assert!(b.name().parse::<Fault>().is_err(), "{b} is also a fault");
        }
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_choice(&names(&["slow-polls", "throttle-429", "slow-polls"])),
            Ok(Behaviours::new([
                Behaviour::Throttle429,
                Behaviour::SlowPolls
            ]))
        );
        assert_eq!(
            parse_choice(&names(&["nope", "slow-polls"]))
                .unwrap_err()
                .len(),
            1
        );
    }

    #[test]
    fn the_throttle_lets_one_poll_a_second_through() {
        let t = Throttle::default();
        let (a, b) = (ClientId::from("a"), ClientId::from("b"));
        assert_eq!(t.check(&a), None);
        assert_eq!(t.check(&a), Some(1));
        assert_eq!(
            t.check(&a),
            Some(1),
            "a refused poll does not restart the gap"
        );
        assert_eq!(t.check(&b), None, "per TPP");
    }
}
