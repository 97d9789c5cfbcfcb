//! Unit tests of the polling session (`poll_script`) and its judgments (`poll_judge`) over
//! made-up request logs: a conformant client passes every judgment (a short-polling and a
//! long-polling one), and each defect fails only the judgment of its rule.

use std::time::Duration;

use serde_json::{Value, json};

use super::poll_judge as judge;
use super::poll_script::{Answer, Ask, Script, Step};
use super::polling::{Issued, Logged, Record, TokenRef};
use crate::harness::profile::tpp_polling::{ErrCodes, PollingClient};
use crate::harness::referee::sets::{Crafted, Defect};

fn set(jti: &str) -> Crafted {
    Crafted {
        jti: jti.into(),
        body: format!("SET-{jti}"),
        content_type: "application/jwt",
        defect: Defect::Valid,
    }
}

fn script() -> Script {
    Script::new(vec![set("v1"), set("v2"), set("v3"), set("v4")], set("bad"))
}

fn ask(ack: &[&str]) -> Ask {
    Ask {
        max_events: None,
        return_immediately: Some(true),
        ack: ack.iter().map(|s| s.to_string()).collect(),
    }
}

fn served(a: &Answer) -> (Vec<String>, bool) {
    match a {
        Answer::Serve { sets, more, .. } => (sets.iter().map(|(j, _)| j.clone()).collect(), *more),
        other => panic!("not a serve: {other:?}"),
    }
}

#[test]
fn the_session_runs_its_steps_in_order() {
    let mut s = script();
    assert_eq!(
        served(&s.answer(&ask(&[]))),
        (vec!["v1".into(), "v2".into()], true)
    );
    assert_eq!(
        served(&s.answer(&ask(&["v1", "v2"]))),
        (vec!["v3".into(), "bad".into()], false)
    );
    // An ack-only poll gets nothing, and the repeat still waits.
    let only = Ask {
        max_events: Some(0),
        ..ask(&["v3"])
    };
    assert_eq!(served(&s.answer(&only)), (vec![], true));
    assert_eq!(s.step(), Step::Repeat);
    let (again, _) = served(&s.answer(&ask(&[])));
    assert_eq!(again, vec!["v1".to_string()]);
    assert_eq!(s.repeated, Some(("v1".into(), true)));
    assert_eq!(s.answer(&ask(&["v1"])), Answer::TooMany);
    assert_eq!(s.answer(&ask(&["v1"])), Answer::Revoke);
    assert_eq!(served(&s.answer(&ask(&["v1"]))), (vec!["v4".into()], false));
    for _ in 0..3 {
        assert!(!s.complete());
        assert_eq!(served(&s.answer(&ask(&["v4"]))), (vec![], false));
    }
    assert!(s.complete());
}

/// One logged poll at `at` ms, answered `took` ms later.
struct Poll {
    at: u64,
    took: u64,
    body: Value,
    token: usize,
    status: u16,
    served: Vec<&'static str>,
    more: Option<bool>,
    step: Step,
}

fn poll(at: u64, body: Value, status: u16, served: &[&'static str], step: Step) -> Poll {
    Poll {
        at,
        took: 2,
        body,
        token: 0,
        status,
        served: served.to_vec(),
        more: (status == 200).then_some(false),
        step,
    }
}

fn logged(p: Poll) -> Logged {
    Logged {
        at: Duration::from_millis(p.at),
        answered: Duration::from_millis(p.at + p.took),
        method: "POST".into(),
        path: super::polling::EVENTS_PATH.into(),
        token: TokenRef::Issued(p.token),
        interaction_id: Some(uuid::Uuid::new_v4().to_string()),
        content_type: Some("application/json".into()),
        body: Some(p.body),
        status: p.status,
        served: p.served.iter().map(|s| s.to_string()).collect(),
        more_available: p.more,
        retry_after: (p.status == 429).then_some(1),
        step: Some(p.step),
    }
}

/// A conformant short-polling client's session: pace 600 ms after empty answers.
fn clean(ri: bool) -> Vec<Poll> {
    let b = |v: Value| {
        let mut v = v;
        v["returnImmediately"] = json!(ri);
        v
    };
    let errs = json!({"bad": {"err": "invalid_key", "description": "signature"}});
    let mut first = poll(0, b(json!({})), 200, &["v1", "v2"], Step::Pages);
    first.more = Some(true);
    let mut dead = poll(2100, b(json!({"ack": ["v1"]})), 401, &[], Step::DeadToken);
    dead.more = None;
    let mut after = poll(
        2110,
        b(json!({"ack": ["v1"]})),
        200,
        &["v4"],
        Step::AfterToken,
    );
    after.token = 1;
    let mut empties: Vec<Poll> = [2120, 2730, 3340]
        .iter()
        .enumerate()
        .map(|(i, at)| {
            let body = if i == 0 {
                json!({"ack": ["v4"]})
            } else {
                json!({})
            };
            let mut p = poll(*at, b(body), 200, &[], Step::Empty);
            p.token = 1;
            p
        })
        .collect();
    let mut v = vec![
        first,
        poll(
            10,
            b(json!({"ack": ["v1", "v2"]})),
            200,
            &["v3", "bad"],
            Step::Pages,
        ),
        poll(
            20,
            b(json!({"ack": ["v3"], "setErrs": errs})),
            200,
            &["v1"],
            Step::Repeat,
        ),
        poll(30, b(json!({"ack": ["v1"]})), 429, &[], Step::TooMany),
        dead,
        after,
    ];
    v.append(&mut empties);
    for p in v.iter_mut().filter(|p| p.status != 200) {
        p.more = None;
    }
    v
}

fn record(polls: Vec<Poll>) -> Record {
    let mut script = script();
    for j in ["v1", "v2", "v3", "v4"] {
        script.valid_served.insert(j.into(), String::new());
    }
    script.repeated = Some(("v1".into(), true));
    let issued = |t: &str| Issued {
        token: t.into(),
        scope: Some("accounts".into()),
        dead: false,
    };
    Record {
        log: polls.into_iter().map(logged).collect(),
        dropped: 0,
        tokens: vec![issued("t0"), issued("t1")],
        script,
    }
}

fn client(long_poll: bool) -> PollingClient {
    PollingClient {
        err_codes: ErrCodes::Rfc8935,
        min_empty_wait: Duration::from_millis(500),
        long_poll,
        session_timeout: Duration::from_secs(10),
        addr: None,
    }
}

/// Every judgment's verdict, by the rule it stands for.
fn verdicts(r: &Record, c: &PollingClient) -> Vec<(&'static str, bool)> {
    let schemas =
        crate::harness::schema::Schemas::for_version(crate::model::bank::SpecVersion::V3_1_11)
            .unwrap();
    vec![
        ("R8936-22", judge::acknowledged(r).is_ok()),
        ("R8936-34", judge::only_served(r).is_ok()),
        ("R8935-05", judge::bad_never_acked(r).is_ok()),
        ("R8936-13", judge::bad_reported(r, c).is_ok()),
        ("R8936-20", judge::repeat_reacked(r).is_ok()),
        ("AP-04", judge::bodies_valid(r, &schemas).is_ok()),
        ("R8936-33", judge::follows_more(r, c).is_ok()),
        ("AP-19", judge::honours_retry_after(r).is_ok()),
        ("AP-21", judge::renews_token(r).is_ok()),
        ("AP-20", judge::paces_empty(r, c).is_ok()),
        ("G-03", judge::token_and_scope(r).is_ok()),
        ("G-05", judge::interaction_ids(r).is_ok()),
    ]
}

fn failing(r: &Record, c: &PollingClient) -> Vec<&'static str> {
    verdicts(r, c)
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(rule, _)| rule)
        .collect()
}

#[test]
fn a_conformant_client_passes_every_judgment() {
    assert_eq!(
        failing(&record(clean(true)), &client(false)),
        Vec::<&str>::new()
    );
    // A long-polling client needs no wait after an empty answer.
    let mut long = clean(false);
    for p in long.iter_mut().filter(|p| p.step == Step::Empty) {
        p.at = 2120 + (p.at - 2120) / 100;
    }
    assert_eq!(failing(&record(long), &client(true)), Vec::<&str>::new());
}

/// A change that makes a clean session defective.
type Change = Box<dyn Fn(&mut Vec<Poll>)>;

#[test]
fn each_defect_fails_its_own_judgment_only() {
    let cases: Vec<(&str, Change)> = vec![
        (
            "R8936-20",
            Box::new(|v| v[3..=5].iter_mut().for_each(|p| p.body["ack"] = json!([]))),
        ),
        ("AP-19", Box::new(|v| v[4].at = 100)),
        ("AP-20", Box::new(|v| v[8].at = 2200)),
        (
            "R8936-33",
            Box::new(|v| v[1..].iter_mut().for_each(|p| p.at += 690)),
        ),
        (
            "AP-04",
            Box::new(|v| v[8].body = json!({"returnImmediately": true, "acks": []})),
        ),
        (
            "R8936-34",
            Box::new(|v| v[7].body["ack"] = json!(["v4", "never-served"])),
        ),
    ];
    for (rule, change) in cases {
        let mut polls = clean(true);
        change(&mut polls);
        let mut r = record(polls);
        // The AP-19 case moves the 401 poll: keep the log in arrival order.
        r.log.sort_by_key(|l| l.at);
        assert_eq!(failing(&r, &client(false)), vec![rule], "{rule}");
    }
}
