//! The judgments of a TPP's polling client, made over the referee's [`Record`] of the polling
//! session (`features/tpp_polling.feature`): one function per scenario. Each answers `Ok` (the
//! duty was met every time it arose), a failure naming the rule and the requests that broke
//! it, or `blocked: …` when the session never reached the point the judgment needs (a client
//! that stopped polling, or one whose earlier defect left nothing to judge here).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use super::poll_script::{RETRY_AFTER, Step};
use super::polling::{Logged, POLL_SCOPES, Record, TokenRef};
use crate::harness::profile::tpp_polling::PollingClient;

type Judged = Result<(), String>;

/// How many later successful polls a duty may take (an acknowledgement "in the next poll",
/// with one more allowed for a client that acknowledges in an ack-only request first).
const NEXT_POLLS: usize = 2;

fn blocked<T>(why: impl std::fmt::Display) -> Result<T, String> {
    Err(format!("blocked: {why}"))
}

fn polls(r: &Record) -> Vec<&Logged> {
    r.log.iter().filter(|l| l.is_poll()).collect()
}

/// The polls answered 200 after index `i` of `polls`, at most [`NEXT_POLLS`].
fn next_ok<'a>(polls: &[&'a Logged], i: usize) -> Vec<&'a Logged> {
    polls[i + 1..]
        .iter()
        .filter(|p| p.status == 200)
        .take(NEXT_POLLS)
        .copied()
        .collect()
}

fn set_errs(l: &Logged) -> Vec<(String, Value)> {
    l.member("setErrs")
        .and_then(Value::as_object)
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Each first serving of a valid SET is acknowledged in the next successful poll(s).
pub fn acknowledged(r: &Record) -> Judged {
    let polls = polls(r);
    let (mut judged, mut missing) = (0, Vec::new());
    for (i, p) in polls.iter().enumerate() {
        if p.status != 200 || p.step == Some(Step::Repeat) {
            continue;
        }
        let later = next_ok(&polls, i);
        for jti in p
            .served
            .iter()
            .filter(|j| r.script.valid_served.contains_key(*j))
        {
            if later.is_empty() {
                continue;
            }
            judged += 1;
            if !later.iter().any(|l| l.acks().contains(jti)) {
                missing.push(format!("{jti} (served at {} ms)", p.at.as_millis()));
            }
        }
    }
    if judged == 0 {
        return blocked("no valid SET was served with a successful poll after it");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "R8936-22/R8936-21: {} of {judged} valid SETs were not in the ack of the next {NEXT_POLLS} \
         successful polls: {}",
        missing.len(),
        missing.join(", ")
    ))
}

/// No `ack` or `setErrs` names a jti the referee had not served before that request.
pub fn only_served(r: &Record) -> Judged {
    let polls = polls(r);
    if polls.is_empty() {
        return blocked("the client made no poll");
    }
    let mut served: HashSet<&str> = HashSet::new();
    let mut unknown = Vec::new();
    for p in &polls {
        let named = p
            .acks()
            .into_iter()
            .chain(set_errs(p).into_iter().map(|(k, _)| k));
        for jti in named {
            if !served.contains(jti.as_str()) {
                unknown.push(format!("{jti} (at {} ms)", p.at.as_millis()));
            }
        }
        served.extend(p.served.iter().map(String::as_str));
    }
    if unknown.is_empty() {
        return Ok(());
    }
    Err(format!(
        "R8936-34: ack/setErrs name jtis the referee never served to this client: {}",
        unknown.join(", ")
    ))
}

/// Where the SET with the bad signature was served.
fn bad_served(r: &Record, polls: &[&Logged]) -> Result<usize, String> {
    polls
        .iter()
        .position(|p| p.status == 200 && p.served.contains(&r.script.bad_jti))
        .map_or_else(
            || blocked("the SET with a bad signature was never served"),
            Ok,
        )
}

/// The SET whose signature does not verify is never acknowledged.
pub fn bad_never_acked(r: &Record) -> Judged {
    let polls = polls(r);
    let i = bad_served(r, &polls)?;
    match polls[i + 1..]
        .iter()
        .find(|p| p.acks().contains(&r.script.bad_jti))
    {
        None => Ok(()),
        Some(p) => Err(format!(
            "R8935-05/J-06: the SET {} whose signature does not verify was acknowledged: {}",
            r.script.bad_jti,
            p.summary()
        )),
    }
}

/// The SET whose signature does not verify is reported in `setErrs` with a code of the family
/// the profile declares, and a description.
pub fn bad_reported(r: &Record, client: &PollingClient) -> Judged {
    let polls = polls(r);
    let i = bad_served(r, &polls)?;
    let later = next_ok(&polls, i);
    if later.is_empty() {
        return blocked("no successful poll followed the SET with a bad signature");
    }
    let jti = &r.script.bad_jti;
    let Some(report) = later.iter().find_map(|p| {
        set_errs(p)
            .into_iter()
            .find(|(k, _)| k == jti)
            .map(|(_, v)| v)
    }) else {
        return Err(format!(
            "R8936-12/R8936-13: the SET {jti} whose signature does not verify is not in the \
             setErrs of the next {NEXT_POLLS} successful polls"
        ));
    };
    let err = report["err"].as_str().unwrap_or_default();
    let described = report["description"]
        .as_str()
        .is_some_and(|d| !d.trim().is_empty());
    if !client.err_codes.allows(err) || !described {
        return Err(format!(
            "R8936-13/R8936-12: the report {report} needs an err of the declared family \
             ({}) and a description",
            client.err_codes.name()
        ));
    }
    Ok(())
}

/// A SET served again after it was acknowledged is acknowledged again.
pub fn repeat_reacked(r: &Record) -> Judged {
    let Some((jti, true)) = &r.script.repeated else {
        return blocked(
            "the client had acknowledged no SET when the referee served one again, so there \
             was no repeat of an acknowledged SET",
        );
    };
    let polls = polls(r);
    let Some(i) = polls
        .iter()
        .position(|p| p.step == Some(Step::Repeat) && p.served.contains(jti))
    else {
        return blocked("the repeated SET was not served");
    };
    let later = next_ok(&polls, i);
    if later.is_empty() {
        return blocked("no successful poll followed the repeated SET");
    }
    if later.iter().any(|p| p.acks().contains(jti)) {
        return Ok(());
    }
    Err(format!(
        "R8936-20: the SET {jti}, served again after it was acknowledged, was not acknowledged \
         again in the next {NEXT_POLLS} successful polls"
    ))
}

/// Every poll is `application/json` and its body an `OBEventPolling1`.
pub fn bodies_valid(r: &Record, schemas: &crate::harness::schema::Schemas) -> Judged {
    let polls = polls(r);
    if polls.is_empty() {
        return blocked("the client made no poll");
    }
    let mut bad = Vec::new();
    for p in &polls {
        let media = p.content_type.as_deref().unwrap_or_default();
        let media = media.split(';').next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case("application/json") {
            bad.push(format!("Content-Type {media:?} at {} ms", p.at.as_millis()));
            continue;
        }
        let Some(body) = &p.body else {
            bad.push(format!(
                "a body that is not JSON at {} ms",
                p.at.as_millis()
            ));
            continue;
        };
        let problems = schemas.problems("OBEventPolling1", body);
        if !problems.is_empty() {
            bad.push(format!(
                "{body} at {} ms: {}",
                p.at.as_millis(),
                problems.join("; ")
            ));
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(format!(
        "AP-04/R8936-01: {} of {} polls are not an application/json OBEventPolling1: {}",
        bad.len(),
        polls.len(),
        bad.into_iter().take(3).collect::<Vec<_>>().join(" | ")
    ))
}

/// The next request comes "at once" after `moreAvailable: true`: sooner than the client's own
/// wait between empty polls (from 100 ms to 1 s; 1 s for a long-polling client).
pub fn at_once(client: &PollingClient) -> Duration {
    if client.long_poll {
        return Duration::from_secs(1);
    }
    client
        .min_empty_wait
        .clamp(Duration::from_millis(100), Duration::from_secs(1))
}

fn gap(before: &Logged, after: &Logged) -> Duration {
    after.at.saturating_sub(before.answered)
}

/// After `moreAvailable: true` the client polls again at once.
pub fn follows_more(r: &Record, client: &PollingClient) -> Judged {
    let polls = polls(r);
    let bound = at_once(client);
    let mut judged = 0;
    for w in polls.windows(2) {
        if w[0].more_available != Some(true) {
            continue;
        }
        judged += 1;
        let g = gap(w[0], w[1]);
        if g >= bound {
            return Err(format!(
                "R8936-33: after an answer with moreAvailable true the next poll came {} ms \
                 later (at once means under {} ms)",
                g.as_millis(),
                bound.as_millis()
            ));
        }
    }
    if judged == 0 {
        return blocked("no answer with moreAvailable true was followed by a poll");
    }
    Ok(())
}

/// After the 429 the next poll waits at least `Retry-After`.
pub fn honours_retry_after(r: &Record) -> Judged {
    let polls = polls(r);
    let Some(i) = polls.iter().position(|p| p.status == 429) else {
        return blocked("the session never reached its 429");
    };
    let Some(next) = polls.get(i + 1) else {
        return blocked("the client made no poll after the 429");
    };
    let g = gap(polls[i], next);
    let least = Duration::from_secs(RETRY_AFTER);
    if g + Duration::from_millis(20) >= least {
        return Ok(());
    }
    Err(format!(
        "AP-19: after 429 with Retry-After: {RETRY_AFTER} the next poll came {} ms later",
        g.as_millis()
    ))
}

/// After the 401 that revoked its token the client polls with a new token and presents the
/// refused one at most once more.
pub fn renews_token(r: &Record) -> Judged {
    let polls = polls(r);
    let Some(i) = polls.iter().position(|p| p.step == Some(Step::DeadToken)) else {
        return blocked("the session never reached its revoked token");
    };
    let dead = polls[i].token.clone();
    let later = &polls[i + 1..];
    let again = later.iter().filter(|p| p.token == dead).count();
    if again > 1 {
        return Err(format!(
            "AP-21: the token refused with 401 invalid_token was presented {again} more times"
        ));
    }
    let renewed = later
        .iter()
        .any(|p| matches!(p.token, TokenRef::Issued(_)) && p.token != dead);
    if !renewed {
        return Err(format!(
            "AP-21: after the 401 invalid_token no poll carried a new token ({} polls after it)",
            later.len()
        ));
    }
    Ok(())
}

/// A short poll (`returnImmediately: true`) answered empty is followed by the declared wait.
pub fn paces_empty(r: &Record, client: &PollingClient) -> Judged {
    let polls = polls(r);
    let mut judged = 0;
    let tolerance = Duration::from_millis(20);
    for w in polls.windows(2) {
        let p = w[0];
        let empty = p.status == 200 && p.served.is_empty() && p.more_available == Some(false);
        let ack_only = p.member("maxEvents").and_then(Value::as_i64) == Some(0);
        if !empty || ack_only {
            continue;
        }
        judged += 1;
        let short = p.member("returnImmediately").and_then(Value::as_bool) == Some(true);
        let g = gap(p, w[1]);
        if short && g + tolerance < client.min_empty_wait {
            return Err(format!(
                "AP-20: after an empty short poll the next poll came {} ms later; the client \
                 declares at least {} ms (or long polls with returnImmediately false)",
                g.as_millis(),
                client.min_empty_wait.as_millis()
            ));
        }
    }
    if judged == 0 {
        return blocked("no empty answer was followed by a poll");
    }
    Ok(())
}

/// Every poll carries a token the referee issued, with a scope `POST /events` accepts.
pub fn token_and_scope(r: &Record) -> Judged {
    let polls = polls(r);
    if polls.is_empty() {
        return blocked("the client made no poll");
    }
    for p in &polls {
        let n = match &p.token {
            TokenRef::Issued(n) => *n,
            other => {
                return Err(format!(
                    "G-03: a poll without a client-credentials token from the token endpoint \
                     ({other:?}): {}",
                    p.summary()
                ));
            }
        };
        let scope = r.tokens.get(n).and_then(|t| t.scope.clone());
        if let Some(s) = scope
            && !s.split(' ').any(|s| POLL_SCOPES.contains(&s))
        {
            return Err(format!(
                "AP-22: a poll's token has scope {s:?}, none of {}",
                POLL_SCOPES.join(", ")
            ));
        }
    }
    Ok(())
}

/// Every `x-fapi-interaction-id` the client sends is an RFC 4122 UUID.
pub fn interaction_ids(r: &Record) -> Judged {
    let polls = polls(r);
    if polls.is_empty() {
        return blocked("the client made no poll");
    }
    let bad: Vec<&str> = polls
        .iter()
        .filter_map(|p| p.interaction_id.as_deref())
        .filter(|id| id.len() != 36 || uuid::Uuid::parse_str(id).is_err())
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(format!(
        "G-05: x-fapi-interaction-id must be an RFC 4122 UUID, got {:?}",
        bad.into_iter().take(3).collect::<Vec<_>>()
    ))
}
