//! The Yapily-style notification API (YA-01..YA-12) and its signed webhooks (JWD-01..07):
//! subscribing an application's receiver to an event type, the API's refusals, and what each
//! webhook must carry. Delivery timing reuses the push steps (`steps/push.rs`).

use cucumber::{given, then, when};
use reqwest::Method;
use serde_json::{Value, json};

use super::params::Tpp;
use crate::harness::outcome::BLOCKED;
use crate::harness::world::{Creds, HarnessWorld, StepResult, label};

async fn subscribe_nth(w: &mut HarnessWorld, tpp: &str, second: bool) -> StepResult {
    let t = w.yapily_type(second)?;
    w.yapily_subscribe(tpp, &label(tpp, false), &t).await?;
    Ok(())
}

#[when(expr = "TPP {tpp} subscribes its receiver to the first Yapily event type")]
async fn subscribes(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    subscribe_nth(w, &tpp.0, false).await
}

#[given(expr = "TPP {tpp} is subscribed to the first Yapily event type at its receiver")]
async fn is_subscribed(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    subscribe_nth(w, &tpp.0, false).await?;
    let ex = w.last()?;
    if !(200..300).contains(&ex.status()) {
        return Err(format!(
            "YA-02: cannot subscribe TPP {}: {}",
            tpp.0,
            ex.summary()
        ));
    }
    Ok(())
}

#[when(expr = "TPP {tpp} subscribes to an unknown Yapily event type")]
async fn unknown_type(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.yapily_subscribe(&tpp.0, &label(&tpp.0, false), "obevents.no.such.type")
        .await?;
    Ok(())
}

#[when(expr = "TPP {tpp} subscribes with a plain http URL on the public internet")]
async fn plain_http(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w.yapily_type(false)?;
    let body = json!({
        "eventTypeId": t,
        "notification": { "type": "WEBHOOK", "url": "http://tpp.example/hooks" }
    });
    w.yapily_request(
        &tpp.0,
        Method::POST,
        "",
        Some(body.to_string().into_bytes()),
        Creds::Own,
    )
    .await?;
    Ok(())
}

#[when(expr = "TPP {tpp} subscribes with a body that is not JSON")]
async fn not_json(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let body = b"{\"eventTypeId\": ".to_vec();
    w.yapily_request(&tpp.0, Method::POST, "", Some(body), Creds::Own)
        .await?;
    Ok(())
}

#[when(expr = "TPP {tpp} lists its Yapily subscriptions")]
async fn lists(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.yapily_request(&tpp.0, Method::GET, "", None, Creds::Own)
        .await?;
    Ok(())
}

#[when(expr = "TPP {tpp} lists its Yapily subscriptions without credentials")]
async fn lists_anonymously(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.yapily_request(&tpp.0, Method::GET, "", None, Creds::Missing)
        .await?;
    Ok(())
}

#[when(expr = "TPP {tpp} lists its Yapily subscriptions with a wrong secret")]
async fn lists_wrong_secret(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.yapily_request(&tpp.0, Method::GET, "", None, Creds::WrongSecret)
        .await?;
    Ok(())
}

#[when(expr = "TPP {tpp} reads its Yapily subscription")]
async fn reads(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w.yapily_type(false)?;
    w.yapily_request(&tpp.0, Method::GET, &format!("/{t}"), None, Creds::Own)
        .await?;
    Ok(())
}

#[when(expr = "TPP {tpp} deletes its Yapily subscription")]
async fn deletes(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w.yapily_type(false)?;
    w.yapily_request(&tpp.0, Method::DELETE, &format!("/{t}"), None, Creds::Own)
        .await?;
    w.note_change();
    Ok(())
}

#[when(expr = "a Yapily event of the first type is triggered for TPP {tpp}")]
async fn fire_first(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w.yapily_type(false)?;
    w.yapily_fire(&tpp.0, &t).await
}

#[when(expr = "a Yapily event of the second type is triggered for TPP {tpp}")]
async fn fire_second(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w.yapily_type(true)?;
    w.yapily_fire(&tpp.0, &t).await
}

// ---- answers of the API ------------------------------------------------------------------------

fn body(w: &HarnessWorld) -> Result<Value, String> {
    let ex = w.last()?;
    ex.json()
        .ok_or_else(|| format!("the answer is not JSON: {}", ex.summary()))
}

#[then(expr = "the Yapily answer is {int}")]
async fn status(w: &mut HarnessWorld, want: u16) -> StepResult {
    let ex = w.last()?;
    if ex.status() == want {
        return Ok(());
    }
    let rule = match want {
        401 => "YA-01",
        404 | 204 => "YA-05",
        _ => "YA-02",
    };
    Err(format!("{rule}: expected {want}, got {}", ex.summary()))
}

#[then(expr = "the Yapily answer refuses the request under {word}")]
async fn refused(w: &mut HarnessWorld, rule: String) -> StepResult {
    let ex = w.last()?;
    let s = ex.status();
    if !(400..500).contains(&s) || s == 401 || s == 403 {
        return Err(format!(
            "{rule}: the request was not refused with a 4xx: {}",
            ex.summary()
        ));
    }
    if !ex.json().is_some_and(|v| v.is_object()) {
        return Err(format!(
            "{rule}: the refusal carries no JSON error body: {}",
            ex.summary()
        ));
    }
    Ok(())
}

#[then(expr = "the Yapily answer is the subscription of the receiver")]
async fn is_the_subscription(w: &mut HarnessWorld) -> StepResult {
    let v = body(w)?;
    let t = w.yapily_type(false)?;
    let tpp = w.last_caller.clone().unwrap_or_else(|| "A".into());
    let url = w.mailboxes.get(&label(&tpp, false)).map(|m| m.url.clone());
    let mut problems = Vec::new();
    if !v.pointer("/meta/tracingId").is_some_and(Value::is_string) {
        problems.push("YA-02: the answer has no meta.tracingId".to_string());
    }
    let data = v.get("data").cloned().unwrap_or(Value::Null);
    if data.get("eventTypeId").and_then(Value::as_str) != Some(t.as_str()) {
        problems.push(format!("YA-02: data.eventTypeId is not {t:?}: {data}"));
    }
    if data.pointer("/notification/url").and_then(Value::as_str) != url.as_deref() {
        problems.push(format!(
            "YA-02: data.notification.url is not {url:?}: {data}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[then(expr = "the Yapily subscription list holds exactly the receiver's subscription")]
async fn list_holds(w: &mut HarnessWorld) -> StepResult {
    let v = body(w)?;
    let t = w.yapily_type(false)?;
    let items = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("YA-05: the list has no data array: {v}"))?;
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|i| i.get("eventTypeId").and_then(Value::as_str))
        .collect();
    if ids != [t.as_str()] {
        return Err(format!(
            "YA-05: the list holds {ids:?}, expected exactly [{t:?}]"
        ));
    }
    Ok(())
}

#[then(expr = "the Yapily subscription list is empty")]
async fn list_empty(w: &mut HarnessWorld) -> StepResult {
    let v = body(w)?;
    match v.get("data").and_then(Value::as_array) {
        Some(a) if a.is_empty() => Ok(()),
        _ => Err(format!("YA-05: expected an empty data array: {v}")),
    }
}

// ---- webhooks ------------------------------------------------------------------------------------

/// Fails with every recorded webhook problem whose rule starts with one of `prefixes`.
fn webhook_problems(w: &HarnessWorld, prefixes: &[&str]) -> StepResult {
    let found: Vec<&String> = w
        .push_problems
        .iter()
        .filter(|p| prefixes.iter().any(|pre| p.starts_with(pre)))
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(found
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

#[then(expr = "every webhook to TPP {tpp} is the common event object of the triggered type")]
async fn event_objects(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let _ = tpp;
    webhook_problems(w, &["YA-07", "YA-08"])
}

#[then(expr = "every webhook to TPP {tpp} carries a valid yapily-signature")]
async fn signatures(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let _ = tpp;
    webhook_problems(w, &["JWD-"])
}

#[then(expr = "every webhook to TPP {tpp} carries one event id")]
async fn one_event_id(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let m = w
        .mailboxes
        .get(&label(&tpp.0, false))
        .ok_or("no webhook was awaited in this scenario")?;
    let ids: Vec<Option<String>> = m
        .kept
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(String::from))
        })
        .collect();
    if ids.iter().all(Option::is_none) {
        // No id at all is the common event object's defect (YA-07), judged on its own: there
        // is no id for the retries to keep or to change.
        return Err(format!(
            "{BLOCKED}none of the {} webhooks carries an event id (YA-07), so whether retries \
             keep it cannot be judged",
            ids.len()
        ));
    }
    let first = ids.first().cloned().flatten();
    if first.is_some() && ids.iter().all(|i| *i == first) {
        Ok(())
    } else {
        Err(format!(
            "YA-09: the retries of one notification carry different event ids: {ids:?}"
        ))
    }
}
