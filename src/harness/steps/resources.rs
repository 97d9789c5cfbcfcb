//! Event subscriptions (ES-*) and callback URLs (CB-*): create, list, replace, delete, and what
//! their answers must show.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use reqwest::Method;
use serde_json::{Value, json};

use super::params::{Tpp, unquote};
use crate::harness::context::Purpose;
use crate::harness::profile::BankEventType;
use crate::harness::template::Context;
use crate::harness::world::{HarnessWorld, StepResult, listed_items};

/// A body-less request to the event API as TPP `who` (the answer becomes the last response).
async fn send(
    w: &mut HarnessWorld,
    who: &str,
    method: Method,
    path: impl AsRef<str>,
) -> StepResult {
    w.call(who, Purpose::Events, method, path.as_ref(), None, false)
        .await
        .map(|_| ())
}

fn docstring(step: &Step) -> Result<&str, String> {
    step.docstring
        .as_deref()
        .ok_or_else(|| "this step needs a docstring body".to_string())
}

fn parse_body(text: &str) -> Result<Value, String> {
    serde_json::from_str(text.trim()).map_err(|e| format!("the docstring is not JSON: {e}"))
}

// ---- event subscriptions ------------------------------------------------------------------------

#[when(expr = "TPP {tpp} creates a polling event subscription")]
async fn create_polling(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let body = w.subscription_body(None)?;
    w.create_subscription(&tpp.0, body).await.map(|_| ())
}

#[when(expr = "TPP {tpp} creates an event subscription with:")]
async fn create_with(w: &mut HarnessWorld, tpp: Tpp, step: &Step) -> StepResult {
    let text = w.fill(&tpp.0, docstring(step)?, Context::Json).await?;
    w.create_subscription(&tpp.0, parse_body(&text)?)
        .await
        .map(|_| ())
}

#[when(expr = "TPP {tpp} lists its event subscriptions")]
async fn list(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    send(w, &tpp.0, Method::GET, "/event-subscriptions").await
}

async fn replace(
    w: &mut HarnessWorld,
    caller: &str,
    id: &str,
    types: Vec<BankEventType>,
) -> StepResult {
    let version = w.ctx()?.profile.bank.subscription_version.clone();
    let codes: Vec<&str> = types.iter().map(|t| t.code()).collect();
    let body =
        json!({ "Data": { "EventSubscriptionId": id, "Version": version, "EventTypes": codes } });
    w.put_subscription(caller, id, body).await?;
    Ok(())
}

#[when(expr = "TPP {tpp} replaces its event subscription with every supported event type")]
async fn replace_all(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let id = w.subscription_id(&tpp.0).await?;
    let types = w.ctx()?.profile.bank.event_types.clone();
    replace(w, &tpp.0, &id, types).await
}

#[when(
    expr = "TPP {tpp} replaces its event subscription with the second triggerable event type only"
)]
async fn replace_second(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let id = w.subscription_id(&tpp.0).await?;
    let t = w
        .ctx()?
        .profile
        .trigger_types
        .get(1)
        .cloned()
        .ok_or("the profile's trigger produces fewer than 2 event types")?;
    replace(w, &tpp.0, &id, vec![t]).await
}

/// A signed PUT of `path` as TPP `tpp` with the docstring `template` (placeholders filled).
async fn put_docstring(w: &mut HarnessWorld, tpp: &str, path: &str, template: &str) -> StepResult {
    let body = parse_body(&w.fill(tpp, template, Context::Json).await?)?;
    w.call(tpp, Purpose::Events, Method::PUT, path, Some(body), true)
        .await
        .map(|_| ())
}

#[when(expr = "TPP {tpp} replaces its event subscription with:")]
async fn replace_with(w: &mut HarnessWorld, tpp: Tpp, step: &Step) -> StepResult {
    let id = w.subscription_id(&tpp.0).await?;
    let path = format!("/event-subscriptions/{id}");
    put_docstring(w, &tpp.0, &path, docstring(step)?).await
}

#[when(expr = "TPP {tpp} replaces the event subscription of TPP {tpp}")]
async fn replace_other(w: &mut HarnessWorld, caller: Tpp, owner: Tpp) -> StepResult {
    let id = w.subscription_id(&owner.0).await?;
    let types = w.ctx()?.profile.bank.event_types.clone();
    replace(w, &caller.0, &id, types).await
}

#[when(expr = "TPP {tpp} replaces an event subscription that does not exist")]
async fn replace_unknown(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let types = w.ctx()?.profile.bank.event_types.clone();
    replace(w, &tpp.0, &uuid::Uuid::new_v4().to_string(), types).await
}

#[when(expr = "TPP {tpp} deletes its event subscription")]
async fn delete_own(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    // A bank that registers push receivers by stream: the stream is what delivers.
    if w.stream_actions().is_some() && w.tpp(&tpp.0).await?.stream_id.is_some() {
        return w.delete_stream(&tpp.0).await;
    }
    let id = w.subscription_id(&tpp.0).await?;
    send(
        w,
        &tpp.0,
        Method::DELETE,
        format!("/event-subscriptions/{id}"),
    )
    .await?;
    w.note_change();
    Ok(())
}

#[when(expr = "TPP {tpp} deletes the event subscription of TPP {tpp}")]
async fn delete_other(w: &mut HarnessWorld, caller: Tpp, owner: Tpp) -> StepResult {
    let id = w.subscription_id(&owner.0).await?;
    send(
        w,
        &caller.0,
        Method::DELETE,
        format!("/event-subscriptions/{id}"),
    )
    .await
}

#[when(expr = "TPP {tpp} deletes an event subscription that does not exist")]
async fn delete_unknown(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let id = uuid::Uuid::new_v4();
    send(
        w,
        &tpp.0,
        Method::DELETE,
        format!("/event-subscriptions/{id}"),
    )
    .await
}

/// Compares a subscription `Data` from an answer with the one sent (ES-02, ES-10).
fn compare_subscription(sent: &Value, got: &Value) -> Result<(), String> {
    let (Some(s), Some(g)) = (sent.get("Data"), got.get("Data")) else {
        return Err("the answer has no Data object".into());
    };
    match g.get("EventSubscriptionId").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.chars().count() <= 40 => {}
        other => {
            return Err(format!(
                "ES-02: Data.EventSubscriptionId must be a 1..40 character string, got {other:?}"
            ));
        }
    }
    if let Some(id) = s.get("EventSubscriptionId")
        && g.get("EventSubscriptionId") != Some(id)
    {
        return Err(format!(
            "ES-10: the answer's EventSubscriptionId {} is not the one replaced ({id})",
            g["EventSubscriptionId"]
        ));
    }
    if s.get("Version") != g.get("Version") {
        return Err(format!(
            "Data.Version sent {:?}, answered {:?}",
            s.get("Version"),
            g.get("Version")
        ));
    }
    if let Some(u) = s.get("CallbackUrl")
        && g.get("CallbackUrl") != Some(u)
    {
        return Err(format!(
            "Data.CallbackUrl sent {u}, answered {:?}",
            g.get("CallbackUrl")
        ));
    }
    if let Some(sent_types) = crate::harness::world::subscription_types(s) {
        let got_types = crate::harness::world::subscription_types(g);
        if got_types.as_ref() != Some(&sent_types) {
            return Err(format!(
                "ES-07/ES-10: Data.EventTypes sent {:?}, answered {:?}",
                s.get("EventTypes"),
                g.get("EventTypes")
            ));
        }
    }
    Ok(())
}

#[then(expr = "the subscription response reflects the request")]
async fn reflects(w: &mut HarnessWorld) -> StepResult {
    let ex = w.last()?;
    let sent = w
        .last_sent
        .clone()
        .ok_or("no subscription request was sent")?;
    let got = ex
        .json()
        .ok_or_else(|| format!("the answer is not JSON: {}", ex.summary()))?;
    compare_subscription(&sent, &got)
}

/// The subscriptions a list answer holds. A list that is not an array is read leniently: its
/// shape is ES-08's defect, which the schema check on every list answer reports once, so the
/// scenarios about what the list holds judge only that.
fn listed(ex: &crate::harness::client::Exchange) -> Result<Vec<Value>, String> {
    let v = ex
        .json()
        .ok_or_else(|| format!("the answer is not JSON: {}", ex.summary()))?;
    Ok(listed_items(
        &v,
        "/Data/EventSubscription",
        "EventSubscriptionId",
    ))
}

#[then(expr = "the subscription list is empty")]
async fn list_empty(w: &mut HarnessWorld) -> StepResult {
    let items = listed(w.last()?)?;
    if items.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "ES-08/ES-11: expected no subscription, the list has {}",
            items.len()
        ))
    }
}

async fn list_holds(w: &mut HarnessWorld, owner: Option<&str>) -> StepResult {
    let items = listed(w.last()?)?;
    if items.len() != 1 {
        return Err(format!(
            "ES-03/ES-08: expected exactly one subscription, the list has {}",
            items.len()
        ));
    }
    let name = owner.ok_or("no request was sent")?.to_string();
    let stored = w
        .tpp(&name)
        .await?
        .subscription
        .clone()
        .ok_or("no subscription was created")?;
    compare_subscription(&json!({ "Data": stored }), &json!({ "Data": items[0] }))
}

#[then(expr = "the subscription list holds exactly the created subscription")]
#[then(expr = "the subscription list holds exactly the replaced subscription")]
async fn list_created(w: &mut HarnessWorld) -> StepResult {
    // The list answers whoever asked it.
    let owner = w.last_caller.clone();
    list_holds(w, owner.as_deref()).await
}

#[then(expr = "the response links are absolute URLs")]
async fn links_absolute(w: &mut HarnessWorld) -> StepResult {
    let v = w.last()?.json().ok_or("the answer is not JSON")?;
    let Some(links) = v.get("Links").and_then(Value::as_object) else {
        return Err("G-16: the answer has no Links object".into());
    };
    if links.get("Self").and_then(Value::as_str).is_none() {
        return Err("G-16: Links.Self is missing".into());
    }
    for (k, l) in links {
        let Some(s) = l.as_str() else { continue };
        if url::Url::parse(s).is_err() {
            return Err(format!("G-16: Links.{k} {s:?} is not an absolute URL"));
        }
    }
    Ok(())
}

// ---- callback URLs ------------------------------------------------------------------------------

async fn create_callback(w: &mut HarnessWorld, tpp: &str, url: &str) -> Result<u16, String> {
    let version = w.ctx()?.profile.bank.subscription_version.clone();
    let body = json!({ "Data": { "Url": url, "Version": version } });
    let ex = w
        .call(
            tpp,
            Purpose::Events,
            Method::POST,
            "/callback-urls",
            Some(body),
            true,
        )
        .await?;
    if ex.status() == 201
        && let Some(data) = ex.json().and_then(|v| v.get("Data").cloned())
    {
        w.tpp(tpp).await?.callback_url = Some(data);
    }
    Ok(ex.status())
}

#[when(expr = "TPP {tpp} registers a callback URL with:")]
async fn register_callback_with(w: &mut HarnessWorld, tpp: Tpp, step: &Step) -> StepResult {
    let text = w.fill(&tpp.0, docstring(step)?, Context::Json).await?;
    let body = parse_body(&text)?;
    w.call(
        &tpp.0,
        Purpose::Events,
        Method::POST,
        "/callback-urls",
        Some(body),
        true,
    )
    .await
    .map(|_| ())
}

fn callback_id(w: &HarnessWorld, tpp: &str) -> Result<String, String> {
    w.tpps
        .get(tpp)
        .and_then(|s| s.callback_url.as_ref())
        .and_then(|d| {
            d.get("CallbackUrlId")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .ok_or_else(|| format!("TPP {tpp} has no callback URL in this scenario"))
}

#[when(expr = "TPP {tpp} registers the callback URL {string}")]
async fn register_callback(w: &mut HarnessWorld, tpp: Tpp, url: String) -> StepResult {
    create_callback(w, &tpp.0, &unquote(&url)).await.map(|_| ())
}

#[given(expr = "TPP {tpp} has registered a callback URL")]
async fn has_callback(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let status = create_callback(
        w,
        &tpp.0,
        "https://tpp.example/open-banking/v3.1/event-notifications",
    )
    .await?;
    if status != 201 {
        return Err(format!(
            "CB-02: cannot register a callback URL for TPP {}: {}",
            tpp.0,
            w.last()?.summary()
        ));
    }
    Ok(())
}

#[when(expr = "TPP {tpp} lists its callback URLs")]
async fn list_callbacks(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    send(w, &tpp.0, Method::GET, "/callback-urls").await
}

async fn replace_callback_at(w: &mut HarnessWorld, tpp: &str, id: &str, url: &str) -> StepResult {
    let version = w.ctx()?.profile.bank.subscription_version.clone();
    let body = json!({ "Data": { "CallbackUrlId": id, "Url": url, "Version": version } });
    let ex = w
        .call(
            tpp,
            Purpose::Events,
            Method::PUT,
            &format!("/callback-urls/{id}"),
            Some(body),
            true,
        )
        .await?;
    if ex.status() == 200
        && let Some(data) = ex.json().and_then(|v| v.get("Data").cloned())
    {
        w.tpp(tpp).await?.callback_url = Some(data);
    }
    Ok(())
}

#[when(expr = "TPP {tpp} replaces its callback URL with {string}")]
async fn replace_callback(w: &mut HarnessWorld, tpp: Tpp, url: String) -> StepResult {
    let id = callback_id(w, &tpp.0)?;
    replace_callback_at(w, &tpp.0, &id, &unquote(&url)).await
}

#[when(expr = "TPP {tpp} replaces its callback URL with:")]
async fn replace_callback_with(w: &mut HarnessWorld, tpp: Tpp, step: &Step) -> StepResult {
    let id = callback_id(w, &tpp.0)?;
    put_docstring(w, &tpp.0, &format!("/callback-urls/{id}"), docstring(step)?).await
}

#[when(expr = "TPP {tpp} replaces a callback URL that does not exist")]
async fn replace_callback_unknown(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    replace_callback_at(
        w,
        &tpp.0,
        &uuid::Uuid::new_v4().to_string(),
        "https://tpp.example/open-banking/v3.1/event-notifications",
    )
    .await
}

#[when(expr = "TPP {tpp} deletes its callback URL")]
async fn delete_callback(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let id = callback_id(w, &tpp.0)?;
    send(w, &tpp.0, Method::DELETE, format!("/callback-urls/{id}")).await
}

#[when(expr = "TPP {tpp} deletes a callback URL that does not exist")]
async fn delete_callback_unknown(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let id = uuid::Uuid::new_v4();
    send(w, &tpp.0, Method::DELETE, format!("/callback-urls/{id}")).await
}

#[when(expr = "TPP {tpp} deletes the callback URL of TPP {tpp}")]
async fn delete_callback_other(w: &mut HarnessWorld, caller: Tpp, owner: Tpp) -> StepResult {
    let id = callback_id(w, &owner.0)?;
    send(w, &caller.0, Method::DELETE, format!("/callback-urls/{id}")).await
}

fn compare_callback(sent: &Value, got: &Value) -> Result<(), String> {
    let (Some(s), Some(g)) = (sent.get("Data"), got.get("Data")) else {
        return Err("the answer has no Data object".into());
    };
    match g.get("CallbackUrlId").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.chars().count() <= 40 => {}
        other => {
            return Err(format!(
                "CB-02: Data.CallbackUrlId must be a 1..40 character string, got {other:?}"
            ));
        }
    }
    for field in ["Url", "Version"] {
        if s.get(field) != g.get(field) {
            return Err(format!(
                "CB-02: Data.{field} sent {:?}, answered {:?}",
                s.get(field),
                g.get(field)
            ));
        }
    }
    Ok(())
}

#[then(expr = "the callback URL response reflects the request")]
async fn callback_reflects(w: &mut HarnessWorld) -> StepResult {
    let ex = w.last()?;
    let sent = w
        .last_sent
        .clone()
        .ok_or("no callback URL request was sent")?;
    let got = ex
        .json()
        .ok_or_else(|| format!("the answer is not JSON: {}", ex.summary()))?;
    compare_callback(&sent, &got)
}

#[then(expr = "the callback URL list holds exactly the registered callback URL")]
async fn callback_list_holds(w: &mut HarnessWorld) -> StepResult {
    let ex = w.last()?.clone();
    let v = ex.json().ok_or("the answer is not JSON")?;
    let items = v
        .pointer("/Data/CallbackUrl")
        .and_then(Value::as_array)
        .cloned()
        .ok_or("CB-02: Data.CallbackUrl is not an array")?;
    if items.len() != 1 {
        return Err(format!(
            "CB-03: expected exactly one callback URL, the list has {}",
            items.len()
        ));
    }
    let caller = w.last_caller.clone().unwrap_or_else(|| "A".into());
    let stored = w
        .tpp(&caller)
        .await?
        .callback_url
        .clone()
        .ok_or("no callback URL was registered")?;
    compare_callback(&json!({ "Data": stored }), &json!({ "Data": items[0] }))
}

#[then(expr = "the callback URL list is empty")]
async fn callback_list_empty(w: &mut HarnessWorld) -> StepResult {
    let v = w.last()?.json().ok_or("the answer is not JSON")?;
    match v.pointer("/Data/CallbackUrl").and_then(Value::as_array) {
        Some(a) if a.is_empty() => Ok(()),
        Some(a) => Err(format!(
            "CB-01: expected no callback URL, the list has {}",
            a.len()
        )),
        None => Err("G-15: Data.CallbackUrl must be an array, [] when there is none".into()),
    }
}
