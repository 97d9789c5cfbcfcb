//! `GET /openapi.json`: an OpenAPI 3.1 description of everything this sandbox serves, built
//! from the route table (`routes.rs`) the router itself is built from, so it cannot drift from
//! the code (see `routes.rs` for the tests that keep it so). The OBIE bodies are described by
//! the same JSON Schemas the harness validates with, in the personality's spec version;
//! security requirements come from the extractors' scope policies; operations the personality
//! does not offer are left out.
//!
//! The document is built once per sandbox; each answer fills in `servers` and the token URL
//! from the configured public URL, or else from the request's `Host`, so a client generated
//! from it talks to the address it was fetched from.

pub mod components;
pub mod ops;

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header, uri::Authority};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::json_response;
use super::routes::Op;
use crate::sandbox::http::error::EdgeError;
use crate::sandbox::state::AppState;
use ops::{JSON, OpDoc, Reply, Security, Tag};

/// The document once the table is complete (the route serving it is part of the table).
pub type Slot = Arc<OnceLock<Result<Value, String>>>;

/// The document for `ops` as `state`'s personality serves them (without `servers`).
pub fn document(ops: &[Op], schemas: &[fn() -> Value], state: &AppState) -> Result<Value, String> {
    let personality = &state.cfg.personality;
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for op in ops
        .iter()
        .filter(|op| state.cfg.personality.serves(op.doc.dialect))
    {
        let item = paths.entry(op.path.clone()).or_insert_with(|| json!({}));
        if let Value::Object(item) = item {
            item.insert(op.verb.key().to_string(), operation(op, state));
        }
        if !tags.contains(&op.doc.tag) {
            tags.push(op.doc.tag);
        }
    }
    let tags: Vec<Value> = Tag::ALL
        .iter()
        .filter(|t| tags.contains(t))
        .map(|t| json!({ "name": t.name(), "description": t.description() }))
        .collect();
    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("obevents sandbox ({})", personality.bank),
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "Mock Open Banking (OBIE Read/Write {}) bank for event notifications: subscriptions, callback URLs, aggregated polling, push, and sandbox-only triggers. Personality {}.",
                personality.spec_version.as_str(),
                personality.bank
            ),
        },
        // Filled in per request (`serve`).
        "servers": [],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": components::schemas(personality.spec_version, schemas)?,
            "responses": components::responses(),
            "headers": components::headers(),
            "parameters": components::parameters(),
            "securitySchemes": components::security_schemes("/token"),
        },
    }))
}

fn operation(op: &Op, state: &AppState) -> Value {
    let d = op.doc;
    let mut o = Map::new();
    o.insert("operationId".into(), json!(d.id));
    o.insert("tags".into(), json!([d.tag.name()]));
    o.insert("summary".into(), json!(d.summary));
    if !d.description.is_empty() {
        o.insert("description".into(), json!(d.description));
    }
    o.insert("parameters".into(), Value::Array(parameters(op)));
    if let Some((media, schema)) = d.request {
        o.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { media: { "schema": schema_ref(schema) } } }),
        );
    }
    let mut responses = Map::new();
    for reply in d.responses.iter().chain(d.errors) {
        let (status, body) = response(reply, d, state);
        responses.insert(status.to_string(), body);
    }
    o.insert("responses".into(), Value::Object(responses));
    o.insert("security".into(), security(d.security, state));
    Value::Object(o)
}

/// Path parameters from the template, then the interaction id, the request signature on
/// signed operations with a body, and the operation's own.
fn parameters(op: &Op) -> Vec<Value> {
    let mut out: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({
                "name": name, "in": "path", "required": true,
                "description": format!("{name} as the sandbox returned it"),
                "schema": { "type": "string" },
            })
        })
        .collect();
    out.push(json!({ "$ref": "#/components/parameters/InteractionId" }));
    if op.doc.signed && op.doc.request.is_some() {
        out.push(json!({ "$ref": "#/components/parameters/JwsSignature" }));
    }
    out.extend(op.doc.params.iter().map(|p| {
        let schema = match p.range {
            Some((min, max)) => json!({ "type": "integer", "minimum": min, "maximum": max }),
            None => json!({ "type": "string" }),
        };
        json!({
            "name": p.name, "in": p.location, "required": p.required,
            "description": p.description, "schema": schema,
        })
    }));
    out
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn response(reply: &Reply, d: &OpDoc, state: &AppState) -> (u16, Value) {
    let (status, description, body) = match *reply {
        Reply::Shared(status, name) => {
            return (
                status,
                json!({ "$ref": format!("#/components/responses/{name}") }),
            );
        }
        Reply::Body(status, description, media, schema) => {
            (status, description, Some((media, schema)))
        }
        Reply::Empty(status, description) => (status, description, None),
        Reply::PollSuccess => {
            let status = state.cfg.personality.poll_status.as_u16();
            (
                status,
                "SETs keyed by jti, and moreAvailable",
                Some((JSON, "OBEventPollingResponse1")),
            )
        }
    };
    let mut headers = Map::new();
    headers.insert(
        "x-fapi-interaction-id".into(),
        json!({ "$ref": "#/components/headers/InteractionId" }),
    );
    let success = (200..300).contains(&status);
    if d.signed && success && body.is_some() {
        headers.insert(
            "x-jws-signature".into(),
            json!({ "$ref": "#/components/headers/JwsSignature" }),
        );
    }
    if status == 201 && d.tag != Tag::Helpers && d.tag != Tag::Authorisation {
        headers.insert(
            "Location".into(),
            json!({ "$ref": "#/components/headers/Location" }),
        );
    }
    let mut r = json!({ "description": description, "headers": headers });
    if let (Some((media, schema)), Value::Object(m)) = (body, &mut r) {
        m.insert(
            "content".into(),
            json!({ media: { "schema": schema_ref(schema) } }),
        );
    }
    (status, r)
}

/// Alternatives of a security requirement: any one of them suffices.
fn security(s: Security, state: &AppState) -> Value {
    match s {
        Security::Public => json!([]),
        Security::Scopes(allowed) => Value::Array(
            allowed(state)
                .iter()
                .map(|scope| json!({ "TppOAuth2": [scope] }))
                .collect(),
        ),
        Security::AnyToken => json!([{ "TppOAuth2": [] }]),
        Security::TokenOrAdmin => json!([{ "TppOAuth2": [] }, { "AdminBasic": [] }]),
        Security::Admin => json!([{ "AdminBasic": [] }]),
        // Basic, or the credentials (or an assertion) in the form: no scheme needed then.
        Security::Client => json!([{ "ClientSecretBasic": [] }, {}]),
        Security::Application => json!([{ "ClientSecretBasic": [] }]),
    }
}

/// The base URL clients should use: the configured public URL, else the scheme of the bound
/// address with the authority the client addressed (`Host`, or the URI's in HTTP/2).
fn public_base(state: &AppState, headers: &HeaderMap, uri: &Uri) -> String {
    if state.cfg.public_url.is_some() {
        return state.base_url.clone();
    }
    let scheme = state.base_url.split("://").next().unwrap_or("http");
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.parse::<Authority>().ok())
        .or_else(|| uri.authority().cloned())
        .filter(|a| !a.as_str().contains('@'));
    match host {
        Some(a) => format!("{scheme}://{a}"),
        None => state.base_url.clone(),
    }
}

/// The handler: the built document with `servers` and the token URL for this caller.
pub async fn serve(
    slot: Slot,
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let doc = match slot.get() {
        Some(Ok(doc)) => doc,
        Some(Err(e)) => {
            return EdgeError::Internal(format!("openapi document: {e}")).into_response();
        }
        None => return EdgeError::Internal("openapi document not built".into()).into_response(),
    };
    let base = public_base(&state, &headers, &uri);
    let mut doc = doc.clone();
    if let Value::Object(m) = &mut doc {
        m.insert(
            "servers".into(),
            json!([{ "url": base, "description": "this sandbox" }]),
        );
    }
    if let Some(url) =
        doc.pointer_mut("/components/securitySchemes/TppOAuth2/flows/clientCredentials/tokenUrl")
    {
        *url = json!(format!("{base}/token"));
    }
    json_response(StatusCode::OK, &doc)
}
