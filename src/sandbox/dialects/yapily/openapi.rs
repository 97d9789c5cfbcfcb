//! The Yapily-style notification API's operations (`--bank yapily`) as the document shows them.

use serde_json::{Value, json};

use crate::model::Dialect;
use crate::sandbox::http::openapi::components::{obj, string};
use crate::sandbox::http::openapi::ops::{JSON, OpDoc, Reply, Security, Tag};

const ERRORS: &[Reply] = &[
    Reply::Body(400, "Invalid request", JSON, "YapilyError"),
    Reply::Body(
        401,
        "Missing or wrong application credentials",
        JSON,
        "YapilyError",
    ),
];

const YAPILY: OpDoc = OpDoc {
    id: "",
    tag: Tag::Yapily,
    summary: "",
    description: "",
    security: Security::Application,
    request: None,
    params: &[],
    responses: &[],
    errors: ERRORS,
    signed: false,
    dialect: Dialect::Yapily,
};

pub const EVENT_TYPES: OpDoc = OpDoc {
    id: "yapilyListEventTypes",
    summary: "The event types an application can subscribe to",
    responses: &[Reply::Body(200, "OK", JSON, "YapilyEnvelope")],
    ..YAPILY
};
pub const SUBSCRIBE: OpDoc = OpDoc {
    id: "yapilyCreateEventSubscription",
    summary: "Subscribe a webhook URL to one event type (one per application and type)",
    request: Some((JSON, "YapilySubscriptionRequest")),
    responses: &[
        Reply::Body(201, "Created", JSON, "YapilyEnvelope"),
        Reply::Body(
            409,
            "Already subscribed to this event type",
            JSON,
            "YapilyError",
        ),
    ],
    ..YAPILY
};
pub const LIST: OpDoc = OpDoc {
    id: "yapilyListEventSubscriptions",
    summary: "The application's subscriptions",
    responses: &[Reply::Body(200, "OK", JSON, "YapilyEnvelope")],
    ..YAPILY
};
pub const READ: OpDoc = OpDoc {
    id: "yapilyGetEventSubscription",
    summary: "The application's subscription to one event type",
    responses: &[
        Reply::Body(200, "OK", JSON, "YapilyEnvelope"),
        Reply::Body(
            404,
            "Not subscribed to this event type",
            JSON,
            "YapilyError",
        ),
    ],
    ..YAPILY
};
pub const UNSUBSCRIBE: OpDoc = OpDoc {
    id: "yapilyDeleteEventSubscription",
    summary: "Unsubscribe from one event type; pending deliveries to its URL stop",
    responses: &[
        Reply::Body(200, "The removed subscription", JSON, "YapilyEnvelope"),
        Reply::Body(
            404,
            "Not subscribed to this event type",
            JSON,
            "YapilyError",
        ),
    ],
    ..YAPILY
};
pub const TRIGGER: OpDoc = OpDoc {
    id: "yapilySandboxRaiseEvent",
    summary: "Sandbox only: raise an event of one type for the calling application",
    request: Some((JSON, "YapilyTriggerRequest")),
    responses: &[
        Reply::Body(201, "Raised; deliveries written", JSON, "YapilyEnvelope"),
        Reply::Body(
            200,
            "Raised; the application is not subscribed",
            JSON,
            "YapilyEnvelope",
        ),
    ],
    ..YAPILY
};
pub const JWKS: OpDoc = OpDoc {
    id: "yapilyGetJwks",
    summary: "The keys yapily-signature is verified with (the bank's JWKS)",
    security: Security::Public,
    errors: &[],
    responses: &[Reply::Body(200, "OK", JSON, "JwkSet")],
    ..YAPILY
};

/// The API's component schemas (open objects, as the other dialects' are).
pub fn schemas() -> Value {
    json!({
        "YapilyError": obj(json!({
            "error": obj(json!({
                "tracingId": string(), "code": { "type": "integer" }, "status": string(), "message": string(),
            }), &["code", "status", "message"]),
        }), &["error"]),
        "YapilyEnvelope": obj(json!({
            "meta": obj(json!({ "tracingId": string(), "count": { "type": "integer" } }), &["tracingId"]),
            "data": {}, "links": { "type": "object" },
        }), &["meta", "data"]),
        "YapilySubscriptionRequest": obj(json!({
            "eventTypeId": string(),
            "notification": obj(json!({ "type": { "const": "WEBHOOK" }, "url": { "type": "string", "format": "uri" } }), &["type", "url"]),
        }), &["eventTypeId", "notification"]),
        "YapilyTriggerRequest": obj(json!({
            "eventTypeId": string(), "objectId": string(), "eventPayload": { "type": "object" },
        }), &["eventTypeId"]),
    })
}
