//! The polling session the referee plays for a TPP's polling client (OBIE aggregated polling,
//! RFC 8936): what each `POST /events` the client makes is answered with. The session moves
//! through fixed steps, one answer (or more) each, so that every duty of a polling recipient
//! is met once:
//!
//! 1. **pages** — four SETs (three valid, one whose signature does not verify) served at most
//!    two at a time with `moreAvailable: true` while more wait (R8936-03, AP-12);
//! 2. **repeat** — a valid SET the client has already acknowledged, served again (R8936-19);
//! 3. **too many** — `429` with `Retry-After` ([`RETRY_AFTER`]);
//! 4. **dead token** — `401 invalid_token`: the token the client used is revoked from now on;
//! 5. **after token** — one more valid SET, for the new token;
//! 6. **empty** — nothing left: `sets: {}`, held [`HOLD`] when the client long-polls. After
//!    [`EMPTY_POLLS`] empty answers the session is complete.
//!
//! Acknowledgements count only in requests answered 200 (a refused request is not processed).
//! This module is pure bookkeeping: the HTTP side and the request log are `polling`'s.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::harness::referee::sets::Crafted;

/// The `Retry-After` of the session's 429 (seconds): short, so runs stay quick.
pub const RETRY_AFTER: u64 = 1;
/// How long an empty long poll (`returnImmediately` not true) is held.
pub const HOLD: Duration = Duration::from_millis(500);
/// Empty answers after which the session is complete (two gaps between empty polls to judge).
pub const EMPTY_POLLS: usize = 3;
/// The most SETs one answer carries, so the four SETs take more than one page.
const PAGE: usize = 2;

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Pages,
    Repeat,
    TooMany,
    DeadToken,
    AfterToken,
    Empty,
}

/// What a poll asks, as far as the script cares.
#[derive(Debug, Default)]
pub struct Ask {
    pub max_events: Option<i64>,
    pub return_immediately: Option<bool>,
    pub ack: Vec<String>,
}

/// How the referee answers one poll.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// `200` with these `(jti, SET)` pairs and `moreAvailable`; held first for a long poll.
    Serve {
        sets: Vec<(String, String)>,
        more: bool,
        hold: Option<Duration>,
    },
    /// `429` with `Retry-After`.
    TooMany,
    /// `401`: the token is revoked (this answer revokes it).
    Revoke,
}

/// The session's state and what it served.
#[derive(Debug)]
pub struct Script {
    step: Step,
    queue: Vec<Crafted>,
    /// The jti of the SET whose signature does not verify.
    pub bad_jti: String,
    /// The jti of the valid SET served after the new token.
    late: Option<Crafted>,
    /// jtis acknowledged in requests answered 200.
    acked: HashSet<String>,
    /// The jti served again in the repeat step, and whether it had been acknowledged before.
    pub repeated: Option<(String, bool)>,
    empty_answers: usize,
    /// Every valid SET served for the first time (the repeat is not one): jti → SET.
    pub valid_served: HashMap<String, String>,
}

impl Script {
    /// A session over `valid` (four valid SETs: three for the pages, one for after the token)
    /// and `bad` (a SET whose signature does not verify).
    pub fn new(mut valid: Vec<Crafted>, bad: Crafted) -> Script {
        let late = valid.pop();
        let bad_jti = bad.jti.clone();
        // The defective SET in the second page, behind two valid ones.
        let at = valid.len().min(PAGE + 1);
        valid.insert(at, bad);
        Script {
            step: Step::Pages,
            queue: valid,
            bad_jti,
            late,
            acked: HashSet::new(),
            repeated: None,
            empty_answers: 0,
            valid_served: HashMap::new(),
        }
    }

    pub fn step(&self) -> Step {
        self.step
    }

    /// Whether the session has run to its end.
    pub fn complete(&self) -> bool {
        self.step == Step::Empty && self.empty_answers >= EMPTY_POLLS
    }

    /// The answer to an authorised poll `ask`; moves the session on.
    pub fn answer(&mut self, ask: &Ask) -> Answer {
        let serving = matches!(self.step, Step::Repeat | Step::AfterToken);
        if serving && ask.max_events == Some(0) {
            // Acknowledge-only (R8936-05): nothing served; the SET still awaits (AP-12).
            self.note_acks(ask);
            return serve(Vec::new(), true, None);
        }
        match self.step {
            Step::Pages => self.page(ask),
            Step::Repeat => {
                self.note_acks(ask);
                self.step = Step::TooMany;
                self.repeat()
            }
            Step::TooMany => {
                self.step = Step::DeadToken;
                Answer::TooMany
            }
            Step::DeadToken => {
                self.step = Step::AfterToken;
                Answer::Revoke
            }
            Step::AfterToken => {
                self.note_acks(ask);
                self.step = Step::Empty;
                let sets = self.late.take().map(|s| self.first_serving(s));
                serve(sets.into_iter().collect(), false, None)
            }
            Step::Empty => {
                self.note_acks(ask);
                self.empty_answers += 1;
                let hold = (ask.return_immediately != Some(true)).then_some(HOLD);
                serve(Vec::new(), false, hold)
            }
        }
    }

    /// Acks count in a request answered 200 (every answer that calls this is one).
    fn note_acks(&mut self, ask: &Ask) {
        self.acked.extend(ask.ack.iter().cloned());
    }

    fn first_serving(&mut self, s: Crafted) -> (String, String) {
        if s.jti != self.bad_jti {
            self.valid_served.insert(s.jti.clone(), s.body.clone());
        }
        (s.jti, s.body)
    }

    fn page(&mut self, ask: &Ask) -> Answer {
        self.note_acks(ask);
        let wanted = match ask.max_events {
            Some(n) if n >= 0 => (n as usize).min(PAGE),
            _ => PAGE,
        };
        let take = wanted.min(self.queue.len());
        let page: Vec<Crafted> = self.queue.drain(..take).collect();
        let sets = page.into_iter().map(|s| self.first_serving(s)).collect();
        let more = !self.queue.is_empty();
        if !more {
            self.step = Step::Repeat;
        }
        serve(sets, more, None)
    }

    /// A valid SET served again: one the client acknowledged if there is one.
    fn repeat(&mut self) -> Answer {
        let mut served: Vec<(&String, &String)> = self.valid_served.iter().collect();
        served.sort();
        let acked = served
            .iter()
            .find(|(j, _)| self.acked.contains(*j))
            .copied();
        let Some((jti, body)) = acked.or(served.first().copied()) else {
            return serve(Vec::new(), false, None);
        };
        let (jti, body) = (jti.clone(), body.clone());
        self.repeated = Some((jti.clone(), self.acked.contains(&jti)));
        serve(vec![(jti, body)], false, None)
    }
}

/// A session with fresh SETs from `maker`: four valid ones and one whose signature does not
/// verify.
pub fn session(maker: &crate::harness::referee::sets::SetMaker) -> Result<Script, String> {
    use crate::harness::referee::sets::Defect;
    let valid = (0..4)
        .map(|_| maker.make(Defect::Valid))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Script::new(valid, maker.make(Defect::BadSignature)?))
}

fn serve(sets: Vec<(String, String)>, more: bool, hold: Option<Duration>) -> Answer {
    Answer::Serve { sets, more, hold }
}
