//! What `/openapi.json` says about each operation: one [`OpDoc`] per route, named by the route
//! table (`routes.rs`) where the route is added. Bodies name component schemas
//! (`components.rs`); errors every endpoint of an area shares are lists of shared responses.

use crate::model::Dialect;
use crate::sandbox::http::extract::{AccountsScope, EventApiScopes, PollingScopes, ScopePolicy};
use crate::sandbox::state::AppState;

/// The description of one operation.
#[derive(Debug)]
pub struct OpDoc {
    /// `operationId`, unique in the document (client generators name methods after it).
    pub id: &'static str,
    pub tag: Tag,
    pub summary: &'static str,
    pub description: &'static str,
    pub security: Security,
    /// Request body: media type and component schema.
    pub request: Option<(&'static str, &'static str)>,
    pub params: &'static [Param],
    pub responses: &'static [Reply],
    /// Shared error answers of the operation's area.
    pub errors: &'static [Reply],
    /// Responses carry `x-jws-signature`, requests may (G-14).
    pub signed: bool,
    /// The API style the operation belongs to: it is served (and documented) only where the
    /// personality serves that dialect. OBIE's, which every personality serves, also stands for
    /// the cross-cutting operations (authorisation server, helpers, health).
    pub dialect: Dialect,
}

/// Groups of operations (OpenAPI tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Subscriptions,
    CallbackUrls,
    Polling,
    Consents,
    Authorisation,
    Helpers,
    Wso2,
    Yapily,
    Tatra,
    Operations,
}

impl Tag {
    pub const ALL: [Tag; 10] = [
        Tag::Subscriptions,
        Tag::CallbackUrls,
        Tag::Polling,
        Tag::Consents,
        Tag::Authorisation,
        Tag::Helpers,
        Tag::Wso2,
        Tag::Yapily,
        Tag::Tatra,
        Tag::Operations,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tag::Subscriptions => "Event subscriptions",
            Tag::CallbackUrls => "Callback URLs",
            Tag::Polling => "Aggregated polling",
            Tag::Consents => "Account access consents",
            Tag::Authorisation => "Authorisation server",
            Tag::Helpers => "Sandbox helpers",
            Tag::Wso2 => "WSO2 Event Creation API",
            Tag::Yapily => "Yapily-style notifications",
            Tag::Tatra => "Tatra-banka-style webhooks",
            Tag::Operations => "Operations",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Tag::Subscriptions => "OBIE Event Subscription API (one subscription per TPP)",
            Tag::CallbackUrls => {
                "OBIE legacy Callback URL API; an event subscription supersedes it"
            }
            Tag::Polling => "OBIE aggregated polling (RFC 8936), long polling per personality",
            Tag::Consents => "AIS consents, enough to own the resources events refer to",
            Tag::Authorisation => "Discovery, JWKS, dynamic registration and client credentials",
            Tag::Helpers => {
                "Sandbox-only triggers and inspection: the TPP's own token, or the admin credential for any TPP"
            }
            Tag::Wso2 => "WSO2 accelerator style event creation (personality wso2)",
            Tag::Yapily => {
                "Event-type subscriptions and signed JSON webhooks (personality yapily); HTTP Basic with the application's client id and secret"
            }
            Tag::Tatra => {
                "Webhook settings, Premium API consents and refresh, JSON webhooks with the application's security header (personality tatra); HTTP Basic with the application's client id and secret"
            }
            Tag::Operations => "Probes and this description",
        }
    }
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy)]
pub enum Security {
    Public,
    /// A TPP access token with one of these scopes (the extractor's own policy, so the
    /// document cannot disagree with what is enforced).
    Scopes(fn(&AppState) -> &'static [&'static str]),
    /// The TPP's access token with any scope, or the operator's admin credential.
    TokenOrAdmin,
    /// The TPP's access token, any scope.
    AnyToken,
    /// The operator's admin credential (HTTP Basic).
    Admin,
    /// Token endpoint client authentication (Basic, or credentials/assertion in the form).
    Client,
    /// HTTP Basic with the application's client id and secret (a dialect API).
    Application,
}

/// A query or header parameter (path parameters come from the path template).
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub location: &'static str,
    pub required: bool,
    pub description: &'static str,
    /// `Some((min, max))` for an integer, `None` for a string.
    pub range: Option<(u32, u32)>,
}

/// One documented answer.
#[derive(Debug)]
pub enum Reply {
    /// Status, description, media type and component schema.
    Body(u16, &'static str, &'static str, &'static str),
    /// Status and description, no body.
    Empty(u16, &'static str),
    /// Status and the name of a shared response in `components/responses`.
    Shared(u16, &'static str),
    /// `POST /events`: 200, or 201 where the personality answers so (AP-06).
    PollSuccess,
}

pub const JSON: &str = "application/json; charset=utf-8";
const FORM: &str = "application/x-www-form-urlencoded";

// The shared OBIE-shaped error answers (`components/responses`), listed per area below.
const BAD_REQUEST: Reply = Reply::Shared(400, "ObBadRequest");
const UNAUTHORIZED: Reply = Reply::Shared(401, "Unauthorized");
const FORBIDDEN: Reply = Reply::Shared(403, "ObForbidden");
const NOT_ACCEPTABLE: Reply = Reply::Shared(406, "ObNotAcceptable");
const TOO_LARGE: Reply = Reply::Shared(413, "ObPayloadTooLarge");
const MEDIA_TYPE: Reply = Reply::Shared(415, "ObUnsupportedMediaType");
const SERVER_ERROR: Reply = Reply::Shared(500, "ObServerError");

/// Errors every OBIE endpoint may answer (README "Rules every OBIE endpoint follows").
const OB_ERRORS: &[Reply] = &[
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_ACCEPTABLE,
    TOO_LARGE,
    MEDIA_TYPE,
    SERVER_ERROR,
];
/// Sandbox helpers answer in the OBIE shape, without the `Accept` check.
const HELPER_ERRORS: &[Reply] = &[BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, SERVER_ERROR];
/// Helpers that read a JSON body.
const HELPER_BODY_ERRORS: &[Reply] = &[
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    TOO_LARGE,
    MEDIA_TYPE,
    SERVER_ERROR,
];
const OAUTH_ERRORS: &[Reply] = &[
    Reply::Shared(400, "OAuthBadRequest"),
    Reply::Shared(413, "OAuthPayloadTooLarge"),
];
const NONE: &[Reply] = &[];

fn event_api_scopes(s: &AppState) -> &'static [&'static str] {
    EventApiScopes::allowed(s)
}
fn polling_scopes(s: &AppState) -> &'static [&'static str] {
    PollingScopes::allowed(s)
}
fn accounts_scope(s: &AppState) -> &'static [&'static str] {
    AccountsScope::allowed(s)
}

/// Fields every OBIE resource operation shares; each const below overrides what differs.
const OB: OpDoc = OpDoc {
    id: "",
    tag: Tag::Subscriptions,
    summary: "",
    description: "",
    security: Security::Scopes(event_api_scopes),
    request: None,
    params: &[],
    responses: &[],
    errors: OB_ERRORS,
    signed: true,
    dialect: Dialect::Obie,
};

pub const CREATE_SUBSCRIPTION: OpDoc = OpDoc {
    id: "createEventSubscription",
    summary: "Create the TPP's event subscription",
    description: "One per TPP (a second is 409 UK.OBIE.Rules.ResourceAlreadyExists). EventTypes must be supported by the personality (400 UK.OBIE.Unsupported.EventType otherwise); CallbackUrl must end in /v{major}.{minor}/event-notifications.",
    request: Some((JSON, "OBEventSubscription1")),
    responses: &[
        Reply::Body(201, "Created", JSON, "OBEventSubscriptionResponse1"),
        Reply::Shared(409, "ObConflict"),
    ],
    ..OB
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
    ..OB
};
pub const REPLACE_SUBSCRIPTION: OpDoc = OpDoc {
    id: "changeEventSubscription",
    summary: "Replace an event subscription",
    description: "Full replace; Data.EventSubscriptionId must equal the path.",
    request: Some((JSON, "OBEventSubscriptionResponse1")),
    responses: &[Reply::Body(200, "OK", JSON, "OBEventSubscriptionResponse1")],
    ..OB
};
pub const DELETE_SUBSCRIPTION: OpDoc = OpDoc {
    id: "deleteEventSubscription",
    summary: "Delete an event subscription",
    responses: &[Reply::Empty(204, "Deleted")],
    ..OB
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
    ..OB
};
pub const LIST_CALLBACK_URLS: OpDoc = OpDoc {
    id: "getCallbackUrls",
    tag: Tag::CallbackUrls,
    summary: "The TPP's callback URLs",
    responses: &[Reply::Body(200, "OK", JSON, "OBCallbackUrlsResponse1")],
    ..OB
};
pub const REPLACE_CALLBACK_URL: OpDoc = OpDoc {
    id: "changeCallbackUrl",
    tag: Tag::CallbackUrls,
    summary: "Replace a callback URL",
    request: Some((JSON, "OBCallbackUrlResponse1")),
    responses: &[Reply::Body(200, "OK", JSON, "OBCallbackUrlResponse1")],
    ..OB
};
pub const DELETE_CALLBACK_URL: OpDoc = OpDoc {
    id: "deleteCallbackUrl",
    tag: Tag::CallbackUrls,
    summary: "Delete a callback URL",
    responses: &[Reply::Empty(204, "Deleted")],
    ..OB
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
    ..OB
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
    ..OB
};
pub const GET_CONSENT: OpDoc = OpDoc {
    id: "getAccountAccessConsentsConsentId",
    tag: Tag::Consents,
    summary: "One of the TPP's account-access-consents",
    security: Security::Scopes(accounts_scope),
    responses: &[Reply::Body(200, "OK", JSON, "AccountAccessConsentResponse")],
    signed: false,
    ..OB
};

/// Fields the authorisation server's operations share.
const AS: OpDoc = OpDoc {
    tag: Tag::Authorisation,
    security: Security::Public,
    errors: NONE,
    signed: false,
    ..OB
};

pub const DISCOVERY: OpDoc = OpDoc {
    id: "getOpenIdConfiguration",
    summary: "Authorisation server metadata",
    responses: &[Reply::Body(200, "OK", JSON, "OpenIdConfiguration")],
    ..AS
};
pub const JWKS: OpDoc = OpDoc {
    id: "getJwks",
    summary: "The bank's public signing keys (SETs, response signatures)",
    responses: &[Reply::Body(200, "OK", JSON, "JwkSet")],
    ..AS
};
pub const REGISTER: OpDoc = OpDoc {
    id: "registerClient",
    summary: "Register a TPP (RFC 7591 subset)",
    request: Some((JSON, "ClientRegistrationRequest")),
    responses: &[Reply::Body(
        201,
        "Registered",
        JSON,
        "ClientRegistrationResponse",
    )],
    errors: OAUTH_ERRORS,
    ..AS
};
pub const TOKEN: OpDoc = OpDoc {
    id: "requestToken",
    summary: "Client credentials access token (RFC 6749 §4.4)",
    description: "Client authentication: client_secret_basic, client_secret_post or private_key_jwt. Ten failed authentications of one client id within 60 s give 429 with Retry-After.",
    security: Security::Client,
    request: Some((FORM, "TokenRequest")),
    responses: &[
        Reply::Body(200, "OK", JSON, "TokenResponse"),
        Reply::Shared(401, "OAuthUnauthorized"),
        Reply::Shared(429, "OAuthTooManyRequests"),
    ],
    errors: OAUTH_ERRORS,
    ..AS
};

/// Fields the sandbox helpers share.
const HELPER: OpDoc = OpDoc {
    tag: Tag::Helpers,
    security: Security::TokenOrAdmin,
    errors: HELPER_ERRORS,
    signed: false,
    ..OB
};
/// `?limit=` from 1 to `max`.
const fn limit(description: &'static str, max: u32) -> Param {
    Param {
        name: "limit",
        location: "query",
        required: false,
        description,
        range: Some((1, max)),
    }
}
const CLIENT_ID: Param = Param {
    name: "clientId",
    location: "query",
    required: false,
    description: "The TPP acted on: optional with the TPP's own token (it may only name itself), required with the admin credential",
    range: None,
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
pub const LIST_EVENTS: OpDoc = OpDoc {
    id: "sandboxListEvents",
    summary: "A TPP's stored SETs, newest first, with their state",
    params: &[CLIENT_ID, limit("At most this many (default 100)", 1000)],
    responses: &[Reply::Body(200, "OK", JSON, "StoredEvents")],
    ..HELPER
};
pub const RESET: OpDoc = OpDoc {
    id: "sandboxReset",
    summary: "Delete a TPP's stored SETs",
    request: Some((JSON, "ResetRequest")),
    responses: &[Reply::Body(200, "OK", JSON, "ResetResult")],
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
pub const LIST_DELIVERIES: OpDoc = OpDoc {
    id: "sandboxListDeliveries",
    summary: "A TPP's push deliveries, newest first, each with every attempt",
    params: &[CLIENT_ID, limit("At most this many (default 50)", 200)],
    responses: &[Reply::Body(200, "OK", JSON, "Deliveries")],
    ..HELPER
};
pub const RETRY_DELIVERY: OpDoc = OpDoc {
    id: "sandboxRetryDelivery",
    summary: "Make one of the caller's deliveries due now",
    security: Security::AnyToken,
    responses: &[Reply::Body(202, "Accepted", JSON, "DeliveryRetry")],
    ..HELPER
};

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
        Reply::Body(401, "Unauthorized", JSON, "Wso2Unauthorized"),
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

pub const HEALTHZ: OpDoc = OpDoc {
    id: "healthz",
    tag: Tag::Operations,
    summary: "Liveness probe",
    responses: &[Reply::Body(
        200,
        "ok",
        "text/plain; charset=utf-8",
        "HealthText",
    )],
    ..AS
};
pub const OPENAPI: OpDoc = OpDoc {
    id: "getOpenApiDocument",
    tag: Tag::Operations,
    summary: "This description (OpenAPI 3.1) of everything the sandbox serves",
    responses: &[Reply::Body(200, "OK", JSON, "OpenApiDocument")],
    ..AS
};
