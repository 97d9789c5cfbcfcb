//! The Tatra-banka-style API's operations (`--bank tatra`) as the document shows them.

use serde_json::{Value, json};

use crate::model::Dialect;
use crate::sandbox::http::openapi::components::{obj, string};
use crate::sandbox::http::openapi::ops::{JSON, OpDoc, Param, Reply, Security, Tag};

const ERRORS: &[Reply] = &[
    Reply::Body(400, "Invalid request", JSON, "TatraError"),
    Reply::Body(
        401,
        "Missing or wrong application credentials",
        JSON,
        "TatraError",
    ),
];

const CONSENT_NOT_FOUND: Reply = Reply::Body(
    404,
    "Unknown consent, or another application's",
    JSON,
    "TatraError",
);

const REQUEST_ID: Param = Param {
    name: "X-Request-ID",
    location: "header",
    required: false,
    description: "Echoed on the answer",
    range: None,
};

const TATRA: OpDoc = OpDoc {
    id: "",
    tag: Tag::Tatra,
    summary: "",
    description: "",
    security: Security::Application,
    request: None,
    params: &[REQUEST_ID],
    responses: &[],
    errors: ERRORS,
    signed: false,
    dialect: Dialect::Tatra,
};

pub const GET_SETTINGS: OpDoc = OpDoc {
    id: "tatraGetWebhookSettings",
    summary: "The application's webhook settings",
    responses: &[Reply::Body(200, "OK", JSON, "TatraWebhookSettings")],
    ..TATRA
};
pub const PUT_SETTINGS: OpDoc = OpDoc {
    id: "tatraPutWebhookSettings",
    summary: "Enable or disable webhooks, with the endpoint url and security header",
    description: "Enabling activates webhooks at the next full hour (UTC) unless the sandbox runs with activation immediate; events raised before then are dropped. Disabling cancels pending deliveries; a new url moves them.",
    request: Some((JSON, "TatraWebhookSettingsRequest")),
    responses: &[Reply::Body(200, "OK", JSON, "TatraWebhookSettings")],
    ..TATRA
};
pub const CREATE_CONSENT: OpDoc = OpDoc {
    id: "tatraCreateConsent",
    summary: "Create a consent with accounts at Tatra banka and other banks (authorised at once)",
    request: Some((JSON, "TatraConsentRequest")),
    params: &[Param {
        required: true,
        ..REQUEST_ID
    }],
    responses: &[Reply::Body(201, "Created", JSON, "TatraConsent")],
    ..TATRA
};
pub const GET_CONSENT: OpDoc = OpDoc {
    id: "tatraGetConsent",
    summary: "One of the application's consents",
    responses: &[
        Reply::Body(200, "OK", JSON, "TatraConsent"),
        CONSENT_NOT_FOUND,
    ],
    ..TATRA
};
pub const DELETE_CONSENT: OpDoc = OpDoc {
    id: "tatraDeleteConsent",
    summary: "Delete a consent; its pending webhooks stop",
    responses: &[Reply::Empty(204, "Deleted"), CONSENT_NOT_FOUND],
    ..TATRA
};
pub const REFRESH: OpDoc = OpDoc {
    id: "tatraRefreshConsent",
    summary: "Start refreshing the consent's accounts at other banks; one accountEvent per bank follows",
    responses: &[
        Reply::Body(202, "Started", JSON, "TatraRefreshStarted"),
        CONSENT_NOT_FOUND,
    ],
    ..TATRA
};
pub const GET_TASK: OpDoc = OpDoc {
    id: "tatraGetRefreshTask",
    summary: "Where a refresh task stands, per bank",
    responses: &[
        Reply::Body(200, "OK", JSON, "TatraRefreshTask"),
        Reply::Body(
            404,
            "Unknown task, or another application's",
            JSON,
            "TatraError",
        ),
    ],
    ..TATRA
};
pub const ACTIVATE: OpDoc = OpDoc {
    id: "tatraSandboxActivateWebhooks",
    summary: "Sandbox only: activate the application's enabled webhooks now",
    responses: &[
        Reply::Body(200, "OK", JSON, "TatraWebhookSettings"),
        Reply::Body(409, "Webhooks are not enabled", JSON, "TatraError"),
    ],
    ..TATRA
};
pub const TRANSACTION: OpDoc = OpDoc {
    id: "tatraSandboxRaiseTransaction",
    summary: "Sandbox only: a transaction arrived on Tatra banka accounts of a consent",
    request: Some((JSON, "TatraTransactionRequest")),
    responses: &[
        Reply::Body(
            202,
            "Raised (or dropped, saying why)",
            JSON,
            "TatraTransactionRaised",
        ),
        CONSENT_NOT_FOUND,
    ],
    ..TATRA
};

/// The API's component schemas (open objects, as the other dialects' are). The webhook bodies
/// themselves are described for the harness in `schemas/tatra/`.
pub fn schemas() -> Value {
    let bank_status = || json!({ "enum": ["IN_PROGRESS", "FINISHED"] });
    let task_bank = obj(
        json!({ "bankCode": string(), "bankName": string(), "taskStatus": bank_status() }),
        &["bankCode", "bankName", "taskStatus"],
    );
    let consent_account = obj(
        json!({ "accountId": string(), "bankCode": string(), "bankName": string(), "iban": string() }),
        &["accountId", "bankCode", "bankName", "iban"],
    );
    json!({
        "TatraError": obj(json!({ "errorCode": string(), "errorDescription": string() }), &["errorCode", "errorDescription"]),
        "TatraWebhookSettingsRequest": obj(json!({
            "enabled": { "type": "boolean" },
            "url": { "type": ["string", "null"], "format": "uri", "maxLength": 2048, "description": "absolute http(s) URL without parameters; required when enabled" },
            "securityHeader": { "type": ["string", "null"], "pattern": "^[ a-zA-Z0-9=+/]*$", "maxLength": 1024 },
        }), &["enabled"]),
        "TatraWebhookSettings": obj(json!({
            "enabled": { "type": "boolean" },
            "url": { "type": ["string", "null"] },
            "securityHeader": string(),
            "activeFrom": { "type": ["string", "null"], "format": "date-time" },
            "active": { "type": "boolean" },
        }), &["enabled", "url", "securityHeader", "activeFrom", "active"]),
        "TatraConsentRequest": obj(json!({
            "accounts": { "type": "array", "minItems": 1, "maxItems": 20, "items": obj(json!({
                "bankCode": { "enum": ["TATR", "SLSP", "SUBA", "CEKO"] },
            }), &["bankCode"]) },
        }), &[]),
        "TatraConsent": obj(json!({
            "consentId": string(), "consentStatus": { "const": "VALID" },
            "accounts": { "type": "array", "items": consent_account },
        }), &["consentId", "consentStatus", "accounts"]),
        "TatraRefreshStarted": obj(json!({ "taskId": string() }), &["taskId"]),
        "TatraRefreshTask": obj(json!({
            "taskId": string(), "consentId": string(),
            "taskStatus": bank_status(),
            "banks": { "type": "array", "items": task_bank },
        }), &["taskId", "consentId", "taskStatus", "banks"]),
        "TatraTransactionRequest": obj(json!({
            "consentId": string(),
            "accountIds": { "type": "array", "minItems": 1, "maxItems": 20, "items": string() },
        }), &["consentId"]),
        "TatraTransactionRaised": obj(json!({
            "consentId": string(),
            "accounts": { "type": "array", "items": obj(json!({ "accountId": string() }), &["accountId"]) },
            "delivery": { "type": ["string", "null"] },
            "dropped": { "type": ["string", "null"] },
        }), &["consentId", "accounts", "delivery", "dropped"]),
    })
}
