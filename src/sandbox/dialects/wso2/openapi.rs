//! The WSO2 Event Creation API as `/openapi.json` shows it (`--bank wso2` only).

use serde_json::{Value, json};

use crate::model::Dialect;
use crate::sandbox::http::openapi::components::{obj, string};
use crate::sandbox::http::openapi::ops::{FORM, JSON, NONE, OpDoc, Param, Reply, Security, Tag};

const WSO2: OpDoc = OpDoc {
    id: "",
    tag: Tag::Wso2,
    summary: "Create events for a TPP (WSO2 Open Banking accelerator style)",
    description: "Form field request: base64 of a JSON object whose keys are event types and values detail objects. The TPP's client id and the consent id arrive in headers (underscored spellings are accepted too).",
    security: Security::Admin,
    request: Some((FORM, "Wso2CreateEventsForm")),
    params: &[
        Param {
            name: "x-wso2-client-id",
            location: "header",
            required: true,
            description: "The TPP's client id",
            range: None,
        },
        Param {
            name: "x-wso2-resource-id",
            location: "header",
            required: false,
            description: "The consent (resource) the events are about",
            range: None,
        },
    ],
    responses: &[
        Reply::Body(201, "Created", JSON, "Wso2CreateEventsResult"),
        Reply::Body(400, "Invalid request", JSON, "Wso2Error"),
        Reply::Body(401, "Unauthorized (invalid_client)", JSON, "Wso2Error"),
        Reply::Body(500, "Unexpected error (server_error)", JSON, "Wso2Error"),
    ],
    errors: NONE,
    signed: false,
    dialect: Dialect::Wso2,
};
pub const WSO2_CREATE_FS: OpDoc = OpDoc {
    id: "wso2CreateEvents",
    ..WSO2
};
pub const WSO2_CREATE_OB: OpDoc = OpDoc {
    id: "wso2CreateEventsOpenBanking",
    ..WSO2
};

/// The API's component schemas.
pub fn schemas() -> Value {
    json!({
        "Wso2CreateEventsForm": obj(json!({
            "request": { "type": "string", "contentEncoding": "base64", "description": "base64 of a JSON object: event type → details" },
        }), &["request"]),
        "Wso2CreateEventsResult": obj(json!({ "notificationsID": string() }), &["notificationsID"]),
        "Wso2Error": obj(json!({ "error": string(), "error_description": string() }), &["error"]),
    })
}
