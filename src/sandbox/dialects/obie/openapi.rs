//! The OBIE operations as `/openapi.json` shows them: one [`OpDoc`] per route of
//! [`super::routes`] and [`super::helpers`], built on the shared pieces in
//! `http::openapi::ops`.

use super::extract::{AccountsScope, EventApiScopes, PollingScopes};
use crate::sandbox::http::extract::ScopePolicy;
use crate::sandbox::http::openapi::ops::{
    HELPER, HELPER_BODY_ERRORS, JSON, NONE, OB, OpDoc, Reply, Security, Tag,
};
use crate::sandbox::state::AppState;

/// Fields every OBIE resource operation shares: the subscription APIs' scopes.
const OB_RESOURCE: OpDoc = OpDoc {
    security: Security::Scopes(event_api_scopes),
    ..OB
};

fn event_api_scopes(s: &AppState) -> &'static [&'static str] {
    EventApiScopes::allowed(s)
}
fn polling_scopes(s: &AppState) -> &'static [&'static str] {
    PollingScopes::allowed(s)
}
fn accounts_scope(s: &AppState) -> &'static [&'static str] {
    AccountsScope::allowed(s)
}

pub const CREATE_SUBSCRIPTION: OpDoc = OpDoc {
    id: "createEventSubscription",
    summary: "Create the TPP's event subscription",
    description: "One per TPP (a second is 409 UK.OBIE.Rules.ResourceAlreadyExists). EventTypes must be supported by the personality (400 UK.OBIE.Unsupported.EventType otherwise); CallbackUrl must end in /v{major}.{minor}/event-notifications.",
    request: Some((JSON, "OBEventSubscription1")),
    responses: &[
        Reply::Body(201, "Created", JSON, "OBEventSubscriptionResponse1"),
        Reply::Shared(409, "ObConflict"),
    ],
    ..OB_RESOURCE
};
pub const LIST_SUBSCRIPTIONS: OpDoc = OpDoc {
    id: "getEventSubscriptions",
    summary: "The TPP's event subscriptions",
    responses: &[Reply::Body(
        200,
        "OK",
        JSON,
        "OBEventSubscriptionsResponse1",
    )],
    ..OB_RESOURCE
};
pub const REPLACE_SUBSCRIPTION: OpDoc = OpDoc {
    id: "changeEventSubscription",
    summary: "Replace an event subscription",
    description: "Full replace; Data.EventSubscriptionId must equal the path.",
    request: Some((JSON, "OBEventSubscriptionResponse1")),
    responses: &[Reply::Body(200, "OK", JSON, "OBEventSubscriptionResponse1")],
    ..OB_RESOURCE
};
pub const DELETE_SUBSCRIPTION: OpDoc = OpDoc {
    id: "deleteEventSubscription",
    summary: "Delete an event subscription",
    responses: &[Reply::Empty(204, "Deleted")],
    ..OB_RESOURCE
};
pub const CREATE_CALLBACK_URL: OpDoc = OpDoc {
    id: "createCallbackUrl",
    tag: Tag::CallbackUrls,
    summary: "Create the TPP's callback URL",
    request: Some((JSON, "OBCallbackUrl1")),
    responses: &[
        Reply::Body(201, "Created", JSON, "OBCallbackUrlResponse1"),
        Reply::Shared(409, "ObConflict"),
    ],
    ..OB_RESOURCE
};
pub const LIST_CALLBACK_URLS: OpDoc = OpDoc {
    id: "getCallbackUrls",
    tag: Tag::CallbackUrls,
    summary: "The TPP's callback URLs",
    responses: &[Reply::Body(200, "OK", JSON, "OBCallbackUrlsResponse1")],
    ..OB_RESOURCE
};
pub const REPLACE_CALLBACK_URL: OpDoc = OpDoc {
    id: "changeCallbackUrl",
    tag: Tag::CallbackUrls,
    summary: "Replace a callback URL",
    request: Some((JSON, "OBCallbackUrlResponse1")),
    responses: &[Reply::Body(200, "OK", JSON, "OBCallbackUrlResponse1")],
    ..OB_RESOURCE
};
pub const DELETE_CALLBACK_URL: OpDoc = OpDoc {
    id: "deleteCallbackUrl",
    tag: Tag::CallbackUrls,
    summary: "Delete a callback URL",
    responses: &[Reply::Empty(204, "Deleted")],
    ..OB_RESOURCE
};
pub const POLL_EVENTS: OpDoc = OpDoc {
    id: "pollEvents",
    tag: Tag::Polling,
    summary: "Poll for SETs, acknowledge them and report errors (RFC 8936)",
    description: "maxEvents, returnImmediately (long polling where the personality supports it), ack and setErrs; sets are keyed by jti. Not signed (Message Signing: N/A).",
    security: Security::Scopes(polling_scopes),
    request: Some((JSON, "OBEventPolling1")),
    responses: &[Reply::PollSuccess],
    signed: false,
    ..OB_RESOURCE
};
pub const CREATE_CONSENT: OpDoc = OpDoc {
    id: "createAccountAccessConsents",
    tag: Tag::Consents,
    summary: "Create an account-access-consent (AwaitingAuthorisation)",
    security: Security::Scopes(accounts_scope),
    request: Some((JSON, "AccountAccessConsentRequest")),
    responses: &[Reply::Body(
        201,
        "Created",
        JSON,
        "AccountAccessConsentResponse",
    )],
    signed: false,
    ..OB_RESOURCE
};
pub const GET_CONSENT: OpDoc = OpDoc {
    id: "getAccountAccessConsentsConsentId",
    tag: Tag::Consents,
    summary: "One of the TPP's account-access-consents",
    security: Security::Scopes(accounts_scope),
    responses: &[Reply::Body(200, "OK", JSON, "AccountAccessConsentResponse")],
    signed: false,
    ..OB_RESOURCE
};

pub const AUTHORISE_CONSENT: OpDoc = OpDoc {
    id: "sandboxAuthoriseConsent",
    summary: "Stand-in for the PSU journey: the consent becomes Authorised",
    security: Security::AnyToken,
    responses: &[Reply::Body(200, "OK", JSON, "AccountAccessConsentResponse")],
    ..HELPER
};
pub const REVOKE_CONSENT: OpDoc = OpDoc {
    id: "sandboxRevokeConsent",
    summary: "Revoke an authorised consent as a PSU would (raises consent-authorization-revoked)",
    security: Security::AnyToken,
    responses: &[Reply::Empty(204, "Revoked")],
    ..HELPER
};
pub const INJECT_EVENT: OpDoc = OpDoc {
    id: "sandboxInjectEvent",
    summary: "Raise any event for a TPP",
    request: Some((JSON, "EventInjection")),
    responses: &[
        Reply::Body(201, "Queued", JSON, "EventInjectionResult"),
        Reply::Body(
            200,
            "Not queued: the TPP has no subscription or did not subscribe to the type",
            JSON,
            "EventInjectionResult",
        ),
    ],
    errors: HELPER_BODY_ERRORS,
    ..HELPER
};
pub const EVENT_TYPES: OpDoc = OpDoc {
    id: "sandboxEventTypes",
    summary: "The event types this personality supports",
    security: Security::Public,
    responses: &[Reply::Body(200, "OK", JSON, "SupportedEventTypes")],
    errors: NONE,
    ..HELPER
};
