//! Recording what a scenario finds: problems of the checks that run on every answer (SET
//! verification, poll schema, the drain's acknowledgement check) are charged to the scenario only
//! when it is tagged with their rule; the rest become findings the run reports once each.

use serde_json::{Value, json};

use super::client::Exchange;
use super::outcome::{BLOCKED, Seen, rules_in};
use super::world::{HarnessWorld, StepResult};

impl HarnessWorld {
    /// Splits `problems` (lines starting with the rule IDs they break) into those of the
    /// scenario's own rules, which it returns for the step to fail on, and the others, recorded
    /// as findings with `evidence`. A problem naming no rule stays the scenario's.
    pub fn triage(&mut self, problems: Vec<String>, evidence: Option<&Exchange>) -> Vec<String> {
        let mut own = Vec::new();
        for p in problems {
            let named = rules_in(&p);
            if named.is_empty() || named.iter().any(|r| self.rules.contains(r)) {
                own.push(p);
            } else {
                self.findings.push(Seen {
                    message: p,
                    evidence: evidence.cloned(),
                });
            }
        }
        own
    }

    /// `failure` of a check on the last poll answer, or a block when that answer held SETs the
    /// bank keeps serving after they were acknowledged: they took room in the batch or answered
    /// a long poll early, so the scenario's own rule cannot be judged.
    pub fn excuse(&self, failure: String) -> String {
        match self.last_poll.as_ref().map(|p| p.stuck) {
            Some(n) if n > 0 => format!(
                "{BLOCKED}the answer held {n} SET(s) the bank keeps serving after they were acknowledged \
                 (AP-09), so this check cannot be judged; {failure}"
            ),
            _ => failure,
        }
    }

    /// A drain found the bank serving `keys` again right after they were acknowledged (AP-09):
    /// they are excluded from every later expectation of the run, and the defect is a finding
    /// (or this scenario's failure, when it is about AP-09).
    pub async fn served_again(&mut self, name: &str, keys: &[String], ex: &Exchange) -> StepResult {
        let ctx = self.ctx()?;
        ctx.mark_stuck(keys);
        let problem = format!(
            "AP-09: TPP {name}'s acknowledged SETs are served again in the next poll, so its queue cannot \
             be drained; they are left out of later expectations"
        );
        tracing::warn!("{problem}: {keys:?}");
        if let Some(own) = self.triage(vec![problem], Some(ex)).pop() {
            return Err(own);
        }
        // Reporting them as errors is the one other way a TPP can tell the bank it is done
        // with them; a bank that drops errored SETs then serves what comes after them.
        let body = json!({ "returnImmediately": true, "maxEvents": 0, "setErrs": set_errs(keys) });
        let next = std::mem::take(&mut self.next);
        let sent = self.poll(name, body, false).await;
        self.next = next;
        sent.map(|_| ())
    }
}

/// A `setErrs` member reporting every one of `keys` as an error.
pub fn set_errs(keys: &[String]) -> Value {
    let mut m = serde_json::Map::new();
    for k in keys {
        m.insert(
            k.clone(),
            json!({ "err": "invalid_key", "description": "obevents harness: reported as an error on purpose" }),
        );
    }
    Value::Object(m)
}
