//! `GET /openapi.json` (issue 13 item 6): for every personality the document validates against
//! the official OpenAPI 3.1 schema (vendored in `fixtures/openapi`, see its PROVENANCE.md), every
//! component schema is a valid JSON Schema 2020-12 whose references resolve, every `$ref`
//! points into the document, operation ids are unique, `servers` names the sandbox, and the
//! router and the document agree: every documented operation is served (neither 404 nor 405)
//! and every method the document leaves out of a path is a 405.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use super::common::*;
use obevents::sandbox::Bank;

const OAS_31: &str = include_str!("../../fixtures/openapi/oas-3.1-schema-2025-09-15.json");
const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

async fn fetch(bank: &TestBank) -> Value {
    let r = Resp::of(bank.request(Method::GET, "/openapi.json")).await;
    r.expect(200).assert_json_type();
    assert!(r.header("x-fapi-interaction-id").is_some());
    r.json()
}

fn assert_valid_openapi(doc: &Value, bank: Bank) {
    let schema: Value = serde_json::from_str(OAS_31).expect("vendored schema is JSON");
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the OAS 3.1 schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{bank}: {errors:#?}");
}

/// Every `$ref` is local and points at something in the document.
fn assert_refs_resolve(doc: &Value, at: &str, v: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref") {
                let r = r.as_str().expect("$ref is a string");
                let pointer = r
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("{at}: external $ref {r}"));
                assert!(
                    doc.pointer(pointer).is_some(),
                    "{at}: $ref {r} resolves to nothing"
                );
            }
            for (k, x) in m {
                assert_refs_resolve(doc, &format!("{at}/{k}"), x);
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| assert_refs_resolve(doc, &format!("{at}/{i}"), x)),
        _ => {}
    }
}

/// Each component schema is a valid 2020-12 schema and compiles with the components beside it
/// (so its references to other components resolve).
fn assert_component_schemas_compile(doc: &Value) {
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for (name, schema) in schemas {
        jsonschema::meta::validate(schema)
            .unwrap_or_else(|e| panic!("components/schemas/{name} is no JSON Schema: {e}"));
        let wrapper = json!({
            "$ref": format!("#/components/schemas/{name}"),
            "components": { "schemas": schemas },
        });
        jsonschema::draft202012::new(&wrapper)
            .unwrap_or_else(|e| panic!("components/schemas/{name} does not compile: {e}"));
    }
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_valid_oas_3_1_for_every_personality() {
    for bank_kind in Bank::ALL {
        let bank = TestBank::start_bank(bank_kind).await;
        let doc = fetch(&bank).await;
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1."))
        );
        assert_valid_openapi(&doc, bank_kind);
        assert_refs_resolve(&doc, "", &doc);
        assert_component_schemas_compile(&doc);
        let ops = operations(&doc);
        let ids: HashSet<&str> = ops
            .iter()
            .map(|(_, _, op)| op["operationId"].as_str().expect("operationId"))
            .collect();
        assert_eq!(
            ids.len(),
            ops.len(),
            "{bank_kind}: operationIds are not unique"
        );
        assert_eq!(doc["servers"][0]["url"], json!(bank.url), "{bank_kind}");
        assert_eq!(
            doc["components"]["securitySchemes"]["TppOAuth2"]["flows"]["clientCredentials"]["tokenUrl"],
            json!(format!("{}/token", bank.url))
        );
        bank.stop().await;
    }
}

/// Calls `method path` with placeholder ids and, for operations with a body, `{}`.
async fn call(bank: &TestBank, method: &str, path: &str, op: Option<&Value>) -> u16 {
    let concrete: String = path
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "no-such-id"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
    let mut rb = bank.request(method, &concrete);
    if let Some(content) = op.and_then(|op| op["requestBody"]["content"].as_object()) {
        let media = content.keys().next().expect("a media type");
        let body = if media.starts_with("application/json") {
            "{}"
        } else {
            ""
        };
        rb = rb.header("content-type", media.as_str()).body(body);
    }
    Resp::of(rb).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_serves_exactly_what_the_document_lists() {
    for bank_kind in Bank::ALL {
        let bank = TestBank::start_bank(bank_kind).await;
        let doc = fetch(&bank).await;
        for (path, method, op) in operations(&doc) {
            let status = call(&bank, &method, &path, Some(&op)).await;
            assert!(
                status != 404 && status != 405,
                "{bank_kind}: documented {method} {path} answered {status}"
            );
        }
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in METHODS.iter().chain(&["patch"]) {
                if item.get(*method).is_none() {
                    let status = call(&bank, method, path, None).await;
                    assert_eq!(status, 405, "{bank_kind}: undocumented {method} {path}");
                }
            }
        }
        // What the personality does not offer is neither documented nor served.
        let wso2_path = "/api/fs/event-notifications/create-events";
        if doc["paths"].get(wso2_path).is_none() {
            assert_eq!(
                call(&bank, "post", wso2_path, None).await,
                404,
                "{bank_kind}"
            );
        }
        bank.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_follows_the_personality_and_the_public_url() {
    let bank = TestBank::start_bank(Bank::Ob312).await;
    let doc = fetch(&bank).await;
    let poll = &doc["paths"]["/open-banking/v3.1/events"]["post"];
    assert!(poll["responses"].get("201").is_some(), "{poll}");
    assert_eq!(poll["security"], json!([{ "TppOAuth2": ["eventpolling"] }]));
    assert!(
        doc["paths"]
            .get("/api/fs/event-notifications/create-events")
            .is_none()
    );
    bank.stop().await;

    let mut cfg = config(Bank::Wso2);
    cfg.public_url = Some("https://bank.example/sandbox".into());
    let bank = TestBank::start(cfg).await;
    let doc = fetch(&bank).await;
    assert_eq!(
        doc["servers"][0]["url"],
        json!("https://bank.example/sandbox")
    );
    let create = &doc["paths"]["/api/fs/event-notifications/create-events"]["post"];
    assert_eq!(create["security"], json!([{ "AdminBasic": [] }]));
    let sub = &doc["paths"]["/open-banking/v3.1/event-subscriptions"]["post"];
    assert_eq!(
        sub["requestBody"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
        json!("#/components/schemas/OBEventSubscription1")
    );
    bank.stop().await;
}
