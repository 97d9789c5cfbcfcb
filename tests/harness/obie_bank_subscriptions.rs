//! The independent OBIE bank's event subscription API (ES-02…ES-11): one subscription per TPP,
//! request objects checked as OBEventSubscription1 says, and the list a [`Defect::ListAsObject`]
//! bank answers as an object.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{API, Bank, Defect, Shared, Subscription, TYPES, bad, gate, ob_error};

/// What a subscription request's `Data` holds once checked (ES-04, ES-05, ES-07; closed
/// objects from 3.1.4).
fn subscription_data(body: &[u8], put_id: Option<&str>) -> Result<Subscription, Response> {
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad(
            "UK.OBIE.Field.Invalid",
            "",
            "the body is not a JSON object",
        ));
    };
    if let Some(k) = top.keys().find(|k| *k != "Data") {
        return Err(bad("UK.OBIE.Field.Unexpected", k, "unexpected member"));
    }
    let data = match top.get("Data") {
        None => return Err(bad("UK.OBIE.Field.Missing", "Data", "Data is required")),
        Some(Value::Object(d)) => d,
        Some(_) => {
            return Err(bad(
                "UK.OBIE.Field.Invalid",
                "Data",
                "Data is not an object",
            ));
        }
    };
    let id = match (put_id, data.get("EventSubscriptionId")) {
        (None, _) => String::new(),
        (Some(_), None) => {
            return Err(bad(
                "UK.OBIE.Field.Missing",
                "Data.EventSubscriptionId",
                "EventSubscriptionId is required",
            ));
        }
        (Some(want), Some(Value::String(s))) if s == want => s.clone(),
        (Some(_), Some(_)) => {
            return Err(bad(
                "UK.OBIE.Field.Invalid",
                "Data.EventSubscriptionId",
                "EventSubscriptionId is not the one in the path",
            ));
        }
    };
    let version = match data.get("Version") {
        None => {
            return Err(bad(
                "UK.OBIE.Field.Missing",
                "Data.Version",
                "Version is required",
            ));
        }
        Some(Value::String(v)) if (1..=10).contains(&v.chars().count()) => v.clone(),
        Some(_) => {
            return Err(bad(
                "UK.OBIE.Field.Invalid",
                "Data.Version",
                "Version is a 1..10 character string",
            ));
        }
    };
    let callback = match data.get("CallbackUrl") {
        None => None,
        Some(Value::String(u))
            if url::Url::parse(u).is_ok()
                && u.ends_with(&format!(
                    "/v{}/event-notifications",
                    version_prefix(&version)
                )) =>
        {
            Some(u.clone())
        }
        Some(_) => {
            return Err(bad(
                "UK.OBIE.Field.Invalid",
                "Data.CallbackUrl",
                "CallbackUrl is a URL ending in /<version>/event-notifications",
            ));
        }
    };
    let types = match data.get("EventTypes") {
        None => None,
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for t in a {
                match t.as_str() {
                    Some(s) if TYPES.iter().any(|(c, _)| *c == s) => out.push(s.to_string()),
                    Some(_) => {
                        return Err(bad(
                            "UK.OBIE.Unsupported.EventType",
                            "Data.EventTypes",
                            "an event type this bank does not support",
                        ));
                    }
                    None => {
                        return Err(bad(
                            "UK.OBIE.Field.Invalid",
                            "Data.EventTypes",
                            "EventTypes holds strings",
                        ));
                    }
                }
            }
            Some(out)
        }
        Some(_) => {
            return Err(bad(
                "UK.OBIE.Field.Invalid",
                "Data.EventTypes",
                "EventTypes is an array",
            ));
        }
    };
    Ok(Subscription {
        id,
        owner: String::new(),
        version,
        callback,
        types,
    })
}

/// `3.1.11` → `3.1` (the major.minor a CallbackUrl names).
fn version_prefix(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn subscription_json(s: &Subscription) -> Value {
    let mut d = json!({ "EventSubscriptionId": s.id, "Version": s.version });
    if let Some(u) = &s.callback {
        d["CallbackUrl"] = json!(u);
    }
    if let Some(t) = &s.types {
        d["EventTypes"] = json!(t);
    }
    d
}

fn resource(b: &Bank, path: &str, data: Value) -> Value {
    let base = b.base.lock().unwrap().clone();
    json!({ "Data": data, "Links": { "Self": format!("{base}{API}{path}") }, "Meta": {} })
}

pub(super) async fn create(State(b): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    let client = match gate(&b, &h, &Method::POST) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut s = match subscription_data(&body, None) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut data = b.data.lock().unwrap();
    if data.subscriptions.iter().any(|x| x.owner == client) {
        return ob_error(
            StatusCode::CONFLICT,
            "UK.OBIE.Rules.ResourceAlreadyExists",
            None,
            "this client has an event subscription already",
        );
    }
    s.id = uuid::Uuid::new_v4().to_string();
    s.owner = client;
    data.subscriptions.push(s.clone());
    drop(data);
    let path = format!("/event-subscriptions/{}", s.id);
    (
        StatusCode::CREATED,
        Json(resource(&b, &path, subscription_json(&s))),
    )
        .into_response()
}

pub(super) async fn list(State(b): State<Shared>, h: HeaderMap) -> Response {
    let client = match gate(&b, &h, &Method::GET) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mine: Vec<Value> = b
        .data
        .lock()
        .unwrap()
        .subscriptions
        .iter()
        .filter(|s| s.owner == client)
        .map(subscription_json)
        .collect();
    let listed = if b.defect == Some(Defect::ListAsObject) {
        mine.into_iter().next().unwrap_or_else(|| json!({}))
    } else {
        Value::Array(mine)
    };
    Json(resource(
        &b,
        "/event-subscriptions",
        json!({ "EventSubscription": listed }),
    ))
    .into_response()
}

/// The subscription `id` for `client`: 400 NotFound when unknown (G-11), 403 when another's.
fn owned(b: &Bank, client: &str, id: &str) -> Result<Subscription, Response> {
    let data = b.data.lock().unwrap();
    match data.subscriptions.iter().find(|s| s.id == id) {
        None => Err(bad(
            "UK.OBIE.Resource.NotFound",
            "EventSubscriptionId",
            "no such event subscription",
        )),
        Some(s) if s.owner != client => Err(StatusCode::FORBIDDEN.into_response()),
        Some(s) => Ok(s.clone()),
    }
}

pub(super) async fn replace(
    State(b): State<Shared>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let client = match gate(&b, &h, &Method::PUT) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = owned(&b, &client, &id) {
        return r;
    }
    let mut s = match subscription_data(&body, Some(&id)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    s.owner = client;
    let mut data = b.data.lock().unwrap();
    data.subscriptions.retain(|x| x.id != id);
    data.subscriptions.push(s.clone());
    drop(data);
    let path = format!("/event-subscriptions/{id}");
    Json(resource(&b, &path, subscription_json(&s))).into_response()
}

pub(super) async fn delete(
    State(b): State<Shared>,
    Path(id): Path<String>,
    h: HeaderMap,
) -> Response {
    let client = match gate(&b, &h, &Method::DELETE) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = owned(&b, &client, &id) {
        return r;
    }
    b.data.lock().unwrap().subscriptions.retain(|x| x.id != id);
    StatusCode::NO_CONTENT.into_response()
}
