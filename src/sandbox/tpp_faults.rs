//! Per-TPP bank faults (issue 22 item 8): a TPP practising against a hosted sandbox chooses,
//! for its own client only, the faults it wants to meet (`/sandbox/faults`, the portal's
//! Faults page); other TPPs are unaffected. This module owns which faults may be chosen
//! ([`Fault::per_tpp`]), the checks of a choice ([`parse_choice`]) and the per-replica cache
//! of each TPP's effective set ([`FaultCache`]): the sandbox's own `--fault` list united with
//! the TPP's choice, read from the store (`tpp_faults`) at most once a [`FaultCache::TTL`] per
//! TPP, so the polling hot path costs one map lookup, and a choice made through another
//! replica applies here within the TTL. The same rows and cache carry the TPP's practice
//! behaviours (`behaviours`), which break no rule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::behaviours::{Behaviour, Behaviours};
use super::domain::{ChosenFault, ClientId};
use super::faults::{Area, Fault, Faults};
use super::store::{Result, Store};

impl Fault {
    /// Whether a TPP may choose this fault for its own client: its effect is confined to that
    /// TPP's own traffic (its requests' answers, its polls, its subscriptions and settings) or
    /// its own events and deliveries (its SETs, pushes and webhooks). The others are global-only
    /// (`obevents sandbox --fault`):
    /// - the common area (`no-interaction-id`, `401-with-body`, `error-without-errors`,
    ///   `wrong-error-code`) bends the middleware every request passes through before its
    ///   caller is known, unauthenticated requests included;
    /// - the faults that reach another TPP (`events-leak-to-other-tpp`, `ack-not-scoped`,
    ///   `push-to-other-tpp`, `yapily-to-other-app`, `tatra-to-other-tpp`) would serve or
    ///   send one TPP's events to another, or let one TPP's ack release another's SETs: the
    ///   TPP that did not choose them would meet them.
    pub fn per_tpp(self) -> bool {
        !matches!(
            self,
            Fault::EventsLeakToOtherTpp
                | Fault::AckNotScoped
                | Fault::PushToOtherTpp
                | Fault::YapilyToOtherApp
                | Fault::TatraToOtherTpp
        ) && self.area() != Area::Common
    }

    /// The faults a TPP may choose, in the catalogue's order.
    pub fn per_tpp_list() -> impl Iterator<Item = Fault> {
        Fault::ALL.iter().copied().filter(|f| f.per_tpp())
    }
}

/// A fault on the wire (the helpers' JSON, the portal): its name.
impl serde::Serialize for Fault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Why a TPP's choice of faults is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChoiceError {
    #[error("unknown fault {0:?}: GET /sandbox/faults lists the faults a TPP may choose")]
    Unknown(String),
    #[error(
        "{0} is not chosen per TPP: its effect reaches beyond the TPP's own traffic, so only the operator switches it on (obevents sandbox --fault)"
    )]
    NotPerTpp(Fault),
    #[error("at most {max} faults may be chosen; {given} were given")]
    TooMany { given: usize, max: usize },
}

/// The most names one choice may hold: every per-TPP fault once.
pub fn max_choice() -> usize {
    Fault::per_tpp_list().count()
}

/// Checks a TPP's choice (fault names): every name known and per-TPP, at most
/// [`max_choice`] of them; duplicates count once. `Err` holds every problem, so one answer
/// names them all.
pub fn parse_choice(names: &[String]) -> std::result::Result<Vec<Fault>, Vec<ChoiceError>> {
    if names.len() > max_choice() {
        return Err(vec![ChoiceError::TooMany {
            given: names.len(),
            max: max_choice(),
        }]);
    }
    let mut chosen = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match name.parse::<Fault>() {
            Ok(f) if f.per_tpp() => {
                if !chosen.contains(&f) {
                    chosen.push(f);
                }
            }
            Ok(f) => errors.push(ChoiceError::NotPerTpp(f)),
            Err(_) => errors.push(ChoiceError::Unknown(name.clone())),
        }
    }
    if errors.is_empty() {
        chosen.sort();
        Ok(chosen)
    } else {
        Err(errors)
    }
}

/// The faults stored rows name that this binary knows and allows per TPP (a row written by a
/// newer binary, or a fault no longer per-TPP, is left out rather than refused).
pub fn known(rows: &[ChosenFault]) -> Vec<Fault> {
    rows.iter()
        .filter_map(|r| r.fault.parse::<Fault>().ok())
        .filter(|f| f.per_tpp())
        .collect()
}

/// The practice behaviours stored rows name that this binary knows (the same table holds a
/// TPP's faults and behaviours; a name is one or the other).
pub fn known_behaviours(rows: &[ChosenFault]) -> Behaviours {
    Behaviours::new(
        rows.iter()
            .filter_map(|r| r.fault.parse::<Behaviour>().ok()),
    )
}

/// What one TPP meets, as cached: the effective faults and its behaviours.
#[derive(Debug, Clone)]
struct Entry {
    at: Instant,
    faults: Arc<Faults>,
    behaviours: Behaviours,
}

/// Each TPP's effective faults and practice behaviours, per replica, read again after
/// [`FaultCache::TTL`]. Bounded: past [`FaultCache::MAX_TPPS`] entries the stale ones are
/// dropped (all of them if none is).
#[derive(Debug, Default)]
pub struct FaultCache {
    map: Mutex<HashMap<ClientId, Entry>>,
}

impl FaultCache {
    /// How long a TPP's set is used before the store is asked again: the longest a choice
    /// made through another replica takes to apply here.
    pub const TTL: Duration = Duration::from_secs(1);
    const MAX_TPPS: usize = 10_000;

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sandbox's `global` faults united with those `client_id` chose: from the cache while
    /// fresh, else one indexed read of the store.
    pub async fn effective(
        &self,
        store: &Store,
        global: &Faults,
        client_id: &ClientId,
    ) -> Result<Arc<Faults>> {
        Ok(self.entry(store, global, client_id).await?.faults)
    }

    /// [`FaultCache::effective`] with the practice behaviours `client_id` chose (one cache
    /// entry holds both).
    pub async fn choices(
        &self,
        store: &Store,
        global: &Faults,
        client_id: &ClientId,
    ) -> Result<(Arc<Faults>, Behaviours)> {
        let e = self.entry(store, global, client_id).await?;
        Ok((e.faults, e.behaviours))
    }

    async fn entry(&self, store: &Store, global: &Faults, client_id: &ClientId) -> Result<Entry> {
        if let Some(e) = self.lock().get(client_id)
            && e.at.elapsed() < Self::TTL
        {
            return Ok(e.clone());
        }
        let rows = store.tpp_faults_of(client_id).await?;
        let entry = Entry {
            at: Instant::now(),
            faults: Arc::new(Faults::new(global.iter().chain(known(&rows)))),
            behaviours: known_behaviours(&rows),
        };
        let mut map = self.lock();
        if map.len() >= Self::MAX_TPPS {
            map.retain(|_, e| e.at.elapsed() < Self::TTL);
            if map.len() >= Self::MAX_TPPS {
                map.clear();
            }
        }
        map.insert(client_id.clone(), entry.clone());
        Ok(entry)
    }

    /// Forgets `client_id`'s set (every TPP's with `None`) after a change made here, so this
    /// replica applies it at once.
    pub fn forget(&self, client_id: Option<&ClientId>) {
        match client_id {
            Some(c) => {
                self.lock().remove(c);
            }
            None => self.lock().clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_tpp_faults_leave_out_the_global_ones() {
        assert!(Fault::AckedRedelivered.per_tpp());
        assert!(Fault::MoreAvailableAlwaysFalse.per_tpp());
        assert!(Fault::PushNoRetry5xx.per_tpp());
        assert!(Fault::SetForeignKey.per_tpp());
        assert!(!Fault::NoInteractionId.per_tpp());
        assert!(!Fault::WrongErrorCode.per_tpp());
        assert!(!Fault::EventsLeakToOtherTpp.per_tpp());
        assert!(!Fault::PushToOtherTpp.per_tpp());
        assert!(max_choice() < Fault::ALL.len());
    }

    #[test]
    fn a_choice_is_checked_whole() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_choice(&names(&[
                "more-available-always-false",
                "acked-redelivered"
            ])),
            Ok(vec![
                Fault::AckedRedelivered,
                Fault::MoreAvailableAlwaysFalse
            ])
        );
        assert_eq!(
            parse_choice(&names(&["acked-redelivered", "acked-redelivered"])),
            Ok(vec![Fault::AckedRedelivered])
        );
        assert_eq!(
            parse_choice(&names(&["nope", "push-to-other-tpp"])),
            Err(vec![
                ChoiceError::Unknown("nope".into()),
                ChoiceError::NotPerTpp(Fault::PushToOtherTpp)
            ])
        );
        let many = vec!["acked-redelivered".to_string(); max_choice() + 1];
        assert!(matches!(
            parse_choice(&many).unwrap_err()[0],
            ChoiceError::TooMany { .. }
        ));
    }

    #[test]
    fn stored_names_this_binary_does_not_allow_are_left_out() {
        let row = |f: &str| ChosenFault {
            client_id: ClientId::from("a"),
            fault: f.into(),
            created_at: crate::sandbox::domain::Timestamp::from_secs(0),
        };
        let rows = [
            row("acked-redelivered"),
            row("from-a-newer-release"),
            row("push-to-other-tpp"),
        ];
        assert_eq!(known(&rows), vec![Fault::AckedRedelivered]);
    }
}
