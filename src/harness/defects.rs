//! Findings grouped per distinct defect: the one mechanism every check run on every answer
//! reports through. A check states a [`Problem`] — the rules it breaks, a stable *kind* naming
//! the defect (not the SET or request it was seen on), and a message; where it was seen (the
//! [`endpoint_of`] its exchange) completes the [`DefectKey`]. The run [`group`]s every
//! [`Occurrence`] of the scenarios into one [`Finding`] per key, counting occurrences, so one
//! defect seen on thirty SETs and five scenarios is one finding, and two defects on one answer
//! are two.
//!
//! A producer that has only a `"RULE: text"` line ([`Problem::from_message`]) gets a kind made
//! of that text with its volatile parts masked; checks that can name their defect should, so
//! that several messages about one cause (a schema's and a header check's words for a missing
//! `crit`) collapse into one finding.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::client::Exchange;
use super::features::is_rule_id;
use super::profile::Conformance;

/// One defect as a check states it: the rules it breaks (the first is the one it is charged
/// to), what kind of defect it is, and the text shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub rules: Vec<String>,
    /// Stable name of the defect, the same on every SET or request that shows it
    /// (e.g. `set-header:crit`, `schema:OBErrorResponse1`, `ack:served-again`).
    pub kind: String,
    /// The text after the rules.
    pub text: String,
}

impl Problem {
    /// A problem of `rules` (`"AP-13/R8936-16"`) of `kind`, described by `text`.
    ///
    /// ```
    /// use obevents::harness::defects::Problem;
    /// let p = Problem::new("AP-13/R8936-16", "sets-key:jti", "key k1 but jti j1");
    /// assert_eq!(p.message(), "AP-13/R8936-16: key k1 but jti j1");
    /// assert_eq!(p.rules, ["AP-13", "R8936-16"]);
    /// ```
    pub fn new(rules: &str, kind: impl Into<String>, text: impl fmt::Display) -> Problem {
        Problem {
            rules: rules
                .split('/')
                .map(str::trim)
                .filter(|r| is_rule_id(r))
                .map(String::from)
                .collect(),
            kind: kind.into(),
            text: text.to_string(),
        }
    }

    /// A problem from a `"RULE/RULE: text"` line: its kind is the line with ids, jtis and
    /// times masked ([`mask`]) and where it was seen left out.
    ///
    /// ```
    /// use obevents::harness::defects::Problem;
    /// let a = Problem::from_message("J-05: SET 3f2a9c1e-1111-4222-8333-444455556666 lacks crit");
    /// let b = Problem::from_message("J-05: SET 9d0b7e2f-aaaa-4bbb-8ccc-ddddeeeeffff lacks crit");
    /// assert_eq!((a.rules.clone(), a.kind.clone()), (b.rules, b.kind));
    /// ```
    pub fn from_message(message: &str) -> Problem {
        let (head, text) = match message.split_once(':') {
            Some((h, t)) if h.split('/').all(|r| is_rule_id(r.trim())) => (h, t.trim_start()),
            _ => ("", message),
        };
        let mut p = Problem::new(head, String::new(), text);
        p.kind = format!("{}:{}", p.rules.join("/"), mask(text));
        p
    }

    /// The line steps and reports show: the rules, then the text.
    pub fn message(&self) -> String {
        if self.rules.is_empty() {
            self.text.clone()
        } else {
            format!("{}: {}", self.rules.join("/"), self.text)
        }
    }

    /// The problem as `conformance` judges it: only the rules that level judges are kept;
    /// `None` when it judges none of them (an OBIE rule under `rfc8936`), so the defect is
    /// neither a finding nor a failure there.
    pub fn judged(mut self, conformance: Conformance) -> Option<Problem> {
        if self.rules.is_empty() {
            return Some(self);
        }
        self.rules.retain(|r| conformance.judges(r));
        (!self.rules.is_empty()).then_some(self)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// What makes two occurrences the same defect: its kind and the endpoint it was seen on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DefectKey {
    pub kind: String,
    /// `METHOD /path` with ids masked (`DELETE /event-subscriptions/{id}`), or `-` when the
    /// defect was not seen on an exchange.
    pub endpoint: String,
}

/// One sighting of a defect in a scenario, with the exchange that showed it.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub problem: Problem,
    pub endpoint: String,
    pub evidence: Option<Exchange>,
}

impl Occurrence {
    /// `problem` seen on `evidence` (its endpoint taken from it).
    pub fn new(problem: Problem, evidence: Option<&Exchange>) -> Occurrence {
        Occurrence {
            endpoint: evidence.map_or_else(|| "-".to_string(), endpoint_of),
            evidence: evidence.cloned(),
            problem,
        }
    }

    pub fn key(&self) -> DefectKey {
        DefectKey {
            kind: self.problem.kind.clone(),
            endpoint: self.endpoint.clone(),
        }
    }
}

/// A defect as the run reports it: once, with how often and in which scenarios it was seen.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub key: DefectKey,
    /// The rule IDs the defect breaks.
    pub rules: Vec<String>,
    /// The problem as first seen.
    pub message: String,
    /// How many times it was seen (on how many SETs or answers, over the whole run).
    pub occurrences: usize,
    /// `path:line name` of every scenario where it was seen.
    pub scenarios: Vec<String>,
    /// The exchange that first showed it.
    #[serde(skip)]
    pub evidence: Option<Exchange>,
}

/// Groups the occurrences of every scenario (`scenario` label, what it saw) into one finding
/// per [`DefectKey`], in the order they were first seen.
pub fn group(seen: Vec<(String, Vec<Occurrence>)>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let mut index: BTreeMap<DefectKey, usize> = BTreeMap::new();
    for (scenario, list) in seen {
        for o in list {
            let i = *index.entry(o.key()).or_insert_with(|| {
                out.push(Finding {
                    key: o.key(),
                    rules: o.problem.rules.clone(),
                    message: o.problem.message(),
                    occurrences: 0,
                    scenarios: Vec::new(),
                    evidence: o.evidence.clone(),
                });
                out.len() - 1
            });
            out[i].occurrences += 1;
            if !out[i].scenarios.contains(&scenario) {
                out[i].scenarios.push(scenario.clone());
            }
        }
    }
    out
}

/// `METHOD /path` of `ex`, its volatile path segments (ids, jtis, mailboxes) shown as `{id}`.
///
/// ```
/// use obevents::harness::defects::endpoint_of;
/// let mut ex = obevents::harness::client::Exchange {
///     method: "DELETE".into(),
///     url: "http://bank/open-banking/v3.1/event-subscriptions/4f1c2a9e-7d3b-4e8a-9c1f-0a2b3c4d5e6f?x=1".into(),
///     status: Some(400),
///     ..Default::default()
/// };
/// assert_eq!(endpoint_of(&ex), "DELETE /open-banking/v3.1/event-subscriptions/{id}");
/// ex.url = "http://bank/events".into();
/// assert_eq!(endpoint_of(&ex), "DELETE /events");
/// ```
pub fn endpoint_of(ex: &Exchange) -> String {
    let path = url::Url::parse(&ex.url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| ex.url.split(['?', '#']).next().unwrap_or("").to_string());
    let segments: Vec<String> = path
        .split('/')
        .map(|s| {
            if volatile(s) {
                "{id}".to_string()
            } else {
                s.to_string()
            }
        })
        .collect();
    format!("{} {}", ex.method, segments.join("/"))
}

/// Is `word` an id, a jti or a timestamp rather than a word of the text?
fn volatile(word: &str) -> bool {
    let digits = word.chars().filter(char::is_ascii_digit).count();
    (word.len() >= 16 && digits > 0) || (digits >= 6 && digits == word.len())
}

/// `text` with its volatile words (ids, jtis, timestamps) replaced by `…`.
///
/// ```
/// use obevents::harness::defects::mask;
/// assert_eq!(mask("SET 3f2a9c1e-1111-4222-8333-444455556666 at 1790000000"), "SET … at …");
/// ```
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(if volatile(word) { "…" } else { word });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(method: &str, url: &str) -> Exchange {
        Exchange {
            method: method.into(),
            url: url.into(),
            status: Some(200),
            ..Exchange::default()
        }
    }

    /// One kind on one endpoint is one finding however many SETs and scenarios showed it; the
    /// same kind on another endpoint, or another kind, is another (issue 19 §4).
    #[test]
    fn one_finding_per_defect_kind_and_endpoint_with_its_count() {
        let poll = at("POST", "http://bank/events");
        let push = at(
            "POST",
            "http://127.0.0.1:9/4f1c2a9e7d3b4e8a9c1f0a2b3c4d5e6f/v3.1/event-notifications",
        );
        let crit =
            |jti: &str| Problem::new("J-05", "set-header:crit", format!("SET {jti} lacks crit"));
        let seen = vec![
            (
                "a:1 one".to_string(),
                vec![
                    Occurrence::new(crit("j1"), Some(&poll)),
                    Occurrence::new(crit("j2"), Some(&poll)),
                    Occurrence::new(Problem::new("N-02", "schema:claims", "txn"), Some(&poll)),
                ],
            ),
            (
                "b:2 two".to_string(),
                vec![
                    Occurrence::new(crit("j3"), Some(&poll)),
                    Occurrence::new(crit("j4"), Some(&push)),
                ],
            ),
        ];
        let found = group(seen);
        let summary: Vec<(&str, &str, usize, usize)> = found
            .iter()
            .map(|f| {
                (
                    f.key.kind.as_str(),
                    f.key.endpoint.as_str(),
                    f.occurrences,
                    f.scenarios.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("set-header:crit", "POST /events", 3, 2),
                ("schema:claims", "POST /events", 1, 1),
                (
                    "set-header:crit",
                    "POST /{id}/v3.1/event-notifications",
                    1,
                    1
                ),
            ]
        );
        assert_eq!(found[0].message, "J-05: SET j1 lacks crit");
    }

    #[test]
    fn a_problem_keeps_only_the_rules_its_conformance_level_judges() {
        let p = Problem::new("AP-06/R8936-16", "poll:status", "answered 404");
        assert_eq!(
            p.clone().judged(Conformance::Rfc8936).map(|p| p.message()),
            Some("R8936-16: answered 404".to_string())
        );
        assert_eq!(p.clone().judged(Conformance::Obie), Some(p));
        assert_eq!(
            Problem::new("G-06", "iid", "none").judged(Conformance::Rfc8936),
            None
        );
    }
}
