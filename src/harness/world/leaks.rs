//! Another TPP's SETs in a TPP's poll (AP-17): told apart from SETs with a wrong `aud` by whose
//! event they were ([`Origins`](crate::harness::origins::Origins)), charged once under AP-17,
//! and left out of the polling TPP's expectations — they are not its to count, order,
//! acknowledge or judge the claims of — so one leak is not also a FAIL of every rule a
//! scenario judges over that poll.

use crate::harness::context::RunContext;
use crate::harness::defects::Problem;
use crate::harness::set_check::PollCheck;

/// Takes the SETs in `check` that belong to other clients out of it (the poll of TPP `name`,
/// client `client`, audience `aud`); their jtis, and the problem that charges them to AP-17.
pub(super) fn set_aside(
    ctx: &RunContext,
    check: &mut PollCheck,
    name: &str,
    client: &str,
    aud: &str,
) -> (Vec<String>, Option<Problem>) {
    let (elsewhere, own): (Vec<_>, Vec<_>) =
        std::mem::take(&mut check.sets).into_iter().partition(|s| {
            ctx.origins
                .belongs_elsewhere(s.addressed_to(aud), &s.resource_ids(), client)
        });
    check.sets = own;
    if elsewhere.is_empty() {
        return (Vec::new(), None);
    }
    let ids: Vec<String> = elsewhere.iter().map(|s| s.id().to_string()).collect();
    // One aud is enough to show whose they are (a leak serves every other queue).
    let aud_shown = elsewhere[0]
        .claims
        .get("aud")
        .map(|a| a.to_string())
        .unwrap_or_default();
    let shown: Vec<&String> = ids.iter().take(5).collect();
    let problem = Problem::new(
        "AP-17",
        "poll:another-tpps-sets",
        format!(
            "TPP {name}'s poll served {} SET(s) of events raised for other TPPs (aud {}, …): {shown:?}{}; \
             they are left out of TPP {name}'s expectations",
            ids.len(),
            aud_shown,
            if ids.len() > shown.len() { " …" } else { "" }
        ),
    );
    (ids, Some(problem))
}
