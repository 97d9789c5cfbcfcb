//! What `/openapi.json` says about each operation: one [`OpDoc`] per route, named by the route
//! table (`routes.rs`) where the route is added. Bodies name component schemas
//! (`components.rs`); errors every endpoint of an area shares are lists of shared responses.

use crate::model::Dialect;
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
            Tag::Operations => "Probes, metrics and this description",
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
pub const FORM: &str = "application/x-www-form-urlencoded";

// The shared OBIE-shaped error answers (`components/responses`), listed per area below.
pub const BAD_REQUEST: Reply = Reply::Shared(400, "ObBadRequest");
pub const UNAUTHORIZED: Reply = Reply::Shared(401, "Unauthorized");
pub const FORBIDDEN: Reply = Reply::Shared(403, "ObForbidden");
pub const NOT_ACCEPTABLE: Reply = Reply::Shared(406, "ObNotAcceptable");
pub const TOO_LARGE: Reply = Reply::Shared(413, "ObPayloadTooLarge");
pub const MEDIA_TYPE: Reply = Reply::Shared(415, "ObUnsupportedMediaType");
pub const SERVER_ERROR: Reply = Reply::Shared(500, "ObServerError");
pub const TOO_MANY: Reply = Reply::Shared(429, "ObTooManyRequests");

/// Errors every OBIE endpoint may answer (README "Rules every OBIE endpoint follows").
pub const OB_ERRORS: &[Reply] = &[
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_ACCEPTABLE,
    TOO_LARGE,
    MEDIA_TYPE,
    SERVER_ERROR,
];
/// Sandbox helpers answer in the OBIE shape, without the `Accept` check.
pub const HELPER_ERRORS: &[Reply] = &[BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, TOO_MANY, SERVER_ERROR];
/// Helpers that read a JSON body.
pub const HELPER_BODY_ERRORS: &[Reply] = &[
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    TOO_MANY,
    TOO_LARGE,
    MEDIA_TYPE,
    SERVER_ERROR,
];
pub const OAUTH_ERRORS: &[Reply] = &[
    Reply::Shared(400, "OAuthBadRequest"),
    Reply::Shared(413, "OAuthPayloadTooLarge"),
];
pub const NONE: &[Reply] = &[];

/// Fields every OBIE resource operation shares; each const below overrides what differs.
pub const OB: OpDoc = OpDoc {
    id: "",
    tag: Tag::Subscriptions,
    summary: "",
    description: "",
    security: Security::Public,
    request: None,
    params: &[],
    responses: &[],
    errors: OB_ERRORS,
    signed: true,
    dialect: Dialect::Obie,
};

/// Fields the authorisation server's operations share.
pub const AS: OpDoc = OpDoc {
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
pub const HELPER: OpDoc = OpDoc {
    tag: Tag::Helpers,
    security: Security::TokenOrAdmin,
    errors: HELPER_ERRORS,
    signed: false,
    ..OB
};
/// `?limit=` from 1 to `max`.
pub const fn limit(description: &'static str, max: u32) -> Param {
    Param {
        name: "limit",
        location: "query",
        required: false,
        description,
        range: Some((1, max)),
    }
}
pub const CLIENT_ID: Param = Param {
    name: "clientId",
    location: "query",
    required: false,
    description: "The TPP acted on: optional with the TPP's own token (it may only name itself), required with the admin credential",
    range: None,
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
pub const LIST_DELIVERIES: OpDoc = OpDoc {
    id: "sandboxListDeliveries",
    summary: "A TPP's push deliveries, newest first, each with every attempt",
    params: &[CLIENT_ID, limit("At most this many (default 50)", 200)],
    responses: &[Reply::Body(200, "OK", JSON, "Deliveries")],
    ..HELPER
};
pub const RETRY_DELIVERY: OpDoc = OpDoc {
    id: "sandboxRetryDelivery",
    summary: "Make one of the caller's deliveries due now (the admin credential: any TPP's)",
    responses: &[
        Reply::Body(202, "Accepted", JSON, "DeliveryRetry"),
        Reply::Body(
            409,
            "Already acknowledged, or an attempt is in flight",
            JSON,
            "OBErrorResponse1",
        ),
    ],
    ..HELPER
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
pub const READYZ: OpDoc = OpDoc {
    id: "readyz",
    tag: Tag::Operations,
    summary: "Readiness probe: the store answers a query",
    description: "200 `ready` while a query on the database succeeds (within 2 s); 503 with the reason while it does not, e.g. when PostgreSQL is unreachable. /healthz stays a liveness probe.",
    responses: &[
        Reply::Body(200, "ready", "text/plain; charset=utf-8", "ReadyText"),
        Reply::Body(
            503,
            "The database does not answer; the body says why",
            "text/plain; charset=utf-8",
            "NotReadyText",
        ),
    ],
    ..AS
};
pub const METRICS: OpDoc = OpDoc {
    id: "metrics",
    tag: Tag::Operations,
    summary: "Metrics in the Prometheus text format",
    description: "Prometheus text format 0.0.4, or OpenMetrics text when the Accept header asks for application/openmetrics-text. Served here behind the admin credential unless [metrics] address serves it on an address of its own.",
    security: Security::Admin,
    responses: &[
        Reply::Body(
            200,
            "The metrics",
            "text/plain; version=0.0.4; charset=utf-8",
            "MetricsText",
        ),
        UNAUTHORIZED,
        Reply::Body(
            429,
            "Too many failed admin authentications lately (the admin credential's budget); Retry-After says when to try again",
            "text/plain; charset=utf-8",
            "LockedText",
        ),
    ],
    ..AS
};
/// `/metrics` on the separate `[metrics] address` (not part of the main port's document).
pub const METRICS_OPEN: OpDoc = OpDoc {
    security: Security::Public,
    responses: &[Reply::Body(
        200,
        "The metrics",
        "text/plain; version=0.0.4; charset=utf-8",
        "MetricsText",
    )],
    ..METRICS
};
pub const OPENAPI: OpDoc = OpDoc {
    id: "getOpenApiDocument",
    tag: Tag::Operations,
    summary: "This description (OpenAPI 3.1) of everything the sandbox serves",
    responses: &[Reply::Body(200, "OK", JSON, "OpenApiDocument")],
    ..AS
};
