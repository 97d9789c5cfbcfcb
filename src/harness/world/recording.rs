//! Recording what a scenario finds: problems of the checks that run on every answer (SET
//! verification, poll schema, interaction id, empty strings, the drain's acknowledgement check)
//! are charged to the scenario only when it is tagged with their rule; the rest become findings
//! the run reports once each.

use serde_json::{Value, json};

use super::{HarnessWorld, StepResult};
use crate::harness::client::Exchange;
use crate::harness::outcome::{BLOCKED, SEEN_ON, Seen, rules_in};
use crate::harness::profile::Conformance;

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

    /// The checks every API answer gets: `x-fapi-interaction-id` played back or minted (G-06),
    /// no empty strings in the body (G-15). Problems of other rules than the scenario's become
    /// findings; the scenario's own are returned as the step's failure.
    pub fn check_answer(&mut self, ex: &Exchange) -> StepResult {
        if self.ctx()?.profile.conformance != Conformance::Obie {
            // Interaction ids and the empty-string rule are OBIE's, not RFC 8936's.
            return Ok(());
        }
        let mut problems = Vec::new();
        let path = url::Url::parse(&ex.url)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| ex.url.clone());
        let seen = format!("{SEEN_ON}{} {path} ({})", ex.method, ex.status());
        match (
            ex.request_header("x-fapi-interaction-id"),
            ex.header("x-fapi-interaction-id"),
        ) {
            (_, None) => {
                problems.push(format!("G-06: an answer carries no x-fapi-interaction-id{seen}"))
            }
            (Some(sent), Some(got)) if sent != got => problems.push(format!(
                "G-06: an answer does not play back the request's x-fapi-interaction-id{seen}: sent {sent}, got {got}"
            )),
            _ => {}
        }
        if let Some(body) = ex.json() {
            let mut empty = Vec::new();
            empty_strings(&body, String::new(), &mut empty);
            for pointer in empty {
                problems.push(format!(
                    "G-15: {pointer} is an empty string (absent optional fields are omitted){seen}"
                ));
            }
        }
        let own = self.triage(problems, Some(ex));
        if own.is_empty() {
            Ok(())
        } else {
            Err(own.join("\n"))
        }
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

/// JSON pointers of every empty string in `v`.
fn empty_strings(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.is_empty() => out.push(if at.is_empty() { "/".into() } else { at }),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                empty_strings(x, format!("{at}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                empty_strings(x, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_strings_are_found_wherever_they_are() {
        let body = json!({
            "Data": { "CallbackUrl": "", "EventTypes": ["a", ""], "Version": "3.1" },
            "Meta": {}
        });
        let mut found = Vec::new();
        empty_strings(&body, String::new(), &mut found);
        assert_eq!(found, ["/Data/CallbackUrl", "/Data/EventTypes/1"]);
        let mut none = Vec::new();
        empty_strings(&json!({ "Meta": {}, "sets": {} }), String::new(), &mut none);
        assert!(none.is_empty());
    }
}
