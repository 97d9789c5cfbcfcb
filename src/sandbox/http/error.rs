//! The edge errors — what goes wrong before a request reaches any dialect's operations — and
//! the one place an OBIE-shaped error becomes HTTP: a status, headers and an `OBErrorResponse1`
//! body (G-10, G-12). The OBIE dialect's own error (`dialects::obie::error`) renders through
//! [`ob_response`] too; the other dialects render their own shapes. 5xx causes are logged here
//! and never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::model::{ObError1, ObErrorResponse1};
use crate::sandbox::domain::{Bound, BoundReached};
use crate::sandbox::store::StoreError;

/// The media type of every JSON body, as the v3.1.11 OpenAPI declares it.
pub const JSON: &str = "application/json; charset=utf-8";

/// Serialises `value` as an `application/json; charset=utf-8` response with `status`.
pub fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_body(status, body),
        Err(e) => EdgeError::Internal(format!("serialising a response: {e}")).into_response(),
    }
}

/// An answer whose JSON body is already written.
pub fn json_body(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
        body,
    )
        .into_response()
}

/// `ErrorCode` values used by the sandbox (G-13), plus the bank-namespaced codes for cases the
/// OB enumeration has no code for.
pub mod codes {
    pub const FIELD_EXPECTED: &str = "UK.OBIE.Field.Expected";
    pub const FIELD_INVALID: &str = "UK.OBIE.Field.Invalid";
    pub const FIELD_INVALID_DATE: &str = "UK.OBIE.Field.InvalidDate";
    pub const FIELD_MISSING: &str = "UK.OBIE.Field.Missing";
    pub const FIELD_UNEXPECTED: &str = "UK.OBIE.Field.Unexpected";
    pub const HEADER_INVALID: &str = "UK.OBIE.Header.Invalid";
    pub const HEADER_MISSING: &str = "UK.OBIE.Header.Missing";
    pub const RESOURCE_INVALID_FORMAT: &str = "UK.OBIE.Resource.InvalidFormat";
    pub const RESOURCE_NOT_FOUND: &str = "UK.OBIE.Resource.NotFound";
    pub const RESOURCE_INVALID_CONSENT_STATUS: &str = "UK.OBIE.Resource.InvalidConsentStatus";
    pub const RESOURCE_ALREADY_EXISTS: &str = "UK.OBIE.Rules.ResourceAlreadyExists";
    pub const SIGNATURE_INVALID: &str = "UK.OBIE.Signature.Invalid";
    pub const SIGNATURE_INVALID_CLAIM: &str = "UK.OBIE.Signature.InvalidClaim";
    pub const SIGNATURE_MALFORMED: &str = "UK.OBIE.Signature.Malformed";
    pub const SIGNATURE_MISSING: &str = "UK.OBIE.Signature.Missing";
    pub const SIGNATURE_MISSING_CLAIM: &str = "UK.OBIE.Signature.MissingClaim";
    pub const UNSUPPORTED_EVENT_TYPE: &str = "UK.OBIE.Unsupported.EventType";
    pub const UNEXPECTED_ERROR: &str = "UK.OBIE.UnexpectedError";
    /// The OB enumeration has no code for a token without the needed scope.
    pub const FORBIDDEN_SCOPE: &str = "GB.OBEvents.Forbidden.Scope";
    /// … nor for a resource that belongs to another TPP.
    pub const FORBIDDEN_NOT_OWNER: &str = "GB.OBEvents.Forbidden.NotOwner";
    pub const NOT_FOUND: &str = "GB.OBEvents.NotFound";
    /// … nor for a helper request the resource's state refuses (a delivery already
    /// acknowledged, or with an attempt in flight).
    pub const CONFLICT: &str = "GB.OBEvents.Conflict";
    /// … nor for a credential locked out after failed attempts.
    pub const TOO_MANY_REQUESTS: &str = "GB.OBEvents.TooManyRequests";
    pub const METHOD_NOT_ALLOWED: &str = "GB.OBEvents.MethodNotAllowed";
    pub const NOT_ACCEPTABLE: &str = "GB.OBEvents.NotAcceptable";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "GB.OBEvents.UnsupportedMediaType";
    pub const PAYLOAD_TOO_LARGE: &str = "GB.OBEvents.PayloadTooLarge";
    /// … nor for a write refused at a per-TPP bound of `[limits]` (409: nothing was stored,
    /// and repeating it fails the same way until room is made).
    pub const LIMIT_STORED_EVENTS: &str = "GB.OBEvents.Limit.StoredEvents";
    pub const LIMIT_SUBSCRIPTIONS: &str = "GB.OBEvents.Limit.Subscriptions";
}

/// A per-TPP bound reached, as the one `OBError1` item of a 409.
pub fn bound_item(b: &BoundReached) -> ErrorItem {
    let code = match b.bound {
        Bound::StoredEvents => codes::LIMIT_STORED_EVENTS,
        Bound::Subscriptions => codes::LIMIT_SUBSCRIPTIONS,
    };
    ErrorItem::new(code, b.message())
}

/// One `OBError1` item.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorItem {
    pub code: String,
    pub message: String,
    pub path: Option<String>,
    pub url: Option<String>,
}

impl ErrorItem {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorItem {
            code: code.into(),
            message: message.into(),
            path: None,
            url: None,
        }
    }
    pub fn at(code: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorItem {
            code: code.into(),
            message: message.into(),
            path: Some(path.into()),
            url: None,
        }
    }
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
}

/// What the edge refuses, in OBIE terms: authentication and scope (the extractors), the
/// framing of a request (media type, size, JSON syntax, path ids, query parameters, request
/// signatures), unknown routes and methods, and the sandbox's own failures.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// G-10: missing, invalid or expired token; rendered with no body.
    #[error("unauthorised")]
    /// `reason`: said in the challenge's `error_description` when the token is valid but the
    /// connection is wrong for it (a certificate-bound token without its certificate).
    Unauthorized {
        invalid_token: bool,
        reason: Option<&'static str>,
    },
    /// Basic credentials that are not the admin credential: 401 with a Basic challenge (the
    /// caller tried Basic, so a Bearer challenge would mislead), no body (G-10).
    #[error("unauthorised (Basic)")]
    BasicUnauthorized,
    /// Too many failed attempts at this credential lately: 429 with `Retry-After` (seconds).
    #[error("too many requests")]
    TooManyRequests(u64),
    /// The TPP's own practice behaviour `throttle-429`: 429 with `Retry-After` (seconds).
    #[error("throttled")]
    Throttled(u64),
    /// A token without the scope, or a helper call naming another TPP.
    #[error("forbidden: {}", .0.message)]
    Forbidden(ErrorItem),
    #[error("bad request")]
    BadRequest(Vec<ErrorItem>),
    /// A path the API does not define (G-11 MAY).
    #[error("not found")]
    NotFound(ErrorItem),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("not acceptable")]
    NotAcceptable,
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("payload too large")]
    PayloadTooLarge(usize),
    /// A server fault: logged in full, shown to the client only as `UK.OBIE.UnexpectedError`.
    #[error("internal: {0}")]
    Internal(String),
}

impl EdgeError {
    pub fn bad_request(item: ErrorItem) -> EdgeError {
        EdgeError::BadRequest(vec![item])
    }
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> EdgeError {
        EdgeError::bad_request(ErrorItem::at(codes::FIELD_INVALID, path, message))
    }
    pub fn missing(path: impl Into<String>, message: impl Into<String>) -> EdgeError {
        EdgeError::bad_request(ErrorItem::at(codes::FIELD_MISSING, path, message))
    }
    /// G-11: an id that names no resource is a 400, not a 404.
    pub fn unknown_id(what: &str, id: &str) -> EdgeError {
        EdgeError::bad_request(ErrorItem::new(
            codes::RESOURCE_NOT_FOUND,
            format!("no {what} with id {id}"),
        ))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            EdgeError::Unauthorized { .. } | EdgeError::BasicUnauthorized => {
                StatusCode::UNAUTHORIZED
            }
            EdgeError::TooManyRequests(_) | EdgeError::Throttled(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            EdgeError::Forbidden(_) => StatusCode::FORBIDDEN,
            EdgeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            EdgeError::NotFound(_) => StatusCode::NOT_FOUND,
            EdgeError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            EdgeError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            EdgeError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            EdgeError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            EdgeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `OBError1` items of this error (empty for 401, which has no body).
    pub fn items(&self) -> Vec<ErrorItem> {
        match self {
            EdgeError::Unauthorized { .. } | EdgeError::BasicUnauthorized => Vec::new(),
            EdgeError::TooManyRequests(secs) => vec![ErrorItem::new(
                codes::TOO_MANY_REQUESTS,
                format!(
                    "too many failed authentications with this credential; retry after {secs} s"
                ),
            )],
            EdgeError::Throttled(secs) => vec![ErrorItem::new(
                codes::TOO_MANY_REQUESTS,
                format!(
                    "polled again too soon (this TPP's practice behaviour throttle-429); retry after {secs} s"
                ),
            )],
            EdgeError::Forbidden(i) | EdgeError::NotFound(i) => vec![i.clone()],
            EdgeError::BadRequest(items) => items.clone(),
            EdgeError::MethodNotAllowed => vec![ErrorItem::new(
                codes::METHOD_NOT_ALLOWED,
                "this method is not supported on this resource",
            )],
            EdgeError::NotAcceptable => vec![ErrorItem::at(
                codes::NOT_ACCEPTABLE,
                "Accept",
                "the API answers only application/json",
            )],
            EdgeError::UnsupportedMediaType(got) => vec![ErrorItem::at(
                codes::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type",
                format!("expected application/json, got {got}"),
            )],
            EdgeError::PayloadTooLarge(limit) => vec![ErrorItem::new(
                codes::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {limit} bytes"),
            )],
            EdgeError::Internal(_) => vec![ErrorItem::new(
                codes::UNEXPECTED_ERROR,
                "an unexpected error occurred",
            )],
        }
    }
}

impl From<StoreError> for EdgeError {
    fn from(e: StoreError) -> Self {
        EdgeError::Internal(e.to_string())
    }
}

/// G-12 bounds `Message` and `Path` to 500 characters; messages quote what the client sent,
/// which can be longer. The other error shapes (OAuth, WSO2, Yapily, Tatra) bound their
/// descriptions the same way, so no error body grows with the request.
pub fn clip(s: String) -> String {
    const MAX: usize = 500;
    if s.chars().count() <= MAX {
        s
    } else {
        let mut out: String = s.chars().take(MAX - 1).collect();
        out.push('…');
        out
    }
}

/// The `Code` of an `OBErrorResponse1`: the status and its reason phrase.
fn high_level_code(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    )
}

/// An `OBErrorResponse1` answer with `status` and `items` (the 401 of G-10 is [`EdgeError`]'s).
pub fn ob_response(status: StatusCode, items: Vec<ErrorItem>) -> Response {
    let count = items.len();
    let errors: Vec<ObError1> = items
        .into_iter()
        .map(|i| ObError1 {
            error_code: i.code,
            message: clip(i.message),
            path: i.path.map(clip),
            url: i.url,
        })
        .collect();
    let message = if count > 1 {
        format!("{count} problems with the request")
    } else {
        errors
            .first()
            .map(|e| e.message.clone())
            .unwrap_or_default()
    };
    let body = ObErrorResponse1 {
        code: high_level_code(status),
        id: None,
        message,
        errors,
    };
    json_response(status, &body)
}

/// A server fault: the cause goes to the log, the client sees only `UK.OBIE.UnexpectedError`.
pub fn internal(cause: &str) -> Response {
    tracing::error!(%cause, "request failed");
    ob_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        vec![ErrorItem::new(
            codes::UNEXPECTED_ERROR,
            "an unexpected error occurred",
        )],
    )
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        match &self {
            EdgeError::Unauthorized {
                invalid_token,
                reason,
            } => {
                // G-10: 401 carries no body; RFC 6750 §3 / R8936-28: name the scheme.
                let challenge = match (invalid_token, reason) {
                    (_, Some(why)) => format!(
                        r#"Bearer realm="obevents", error="invalid_token", error_description="{why}""#
                    ),
                    (true, None) => r#"Bearer realm="obevents", error="invalid_token""#.into(),
                    (false, None) => r#"Bearer realm="obevents""#.into(),
                };
                let value = HeaderValue::from_str(&challenge)
                    .unwrap_or(HeaderValue::from_static(r#"Bearer realm="obevents""#));
                (self.status(), [(header::WWW_AUTHENTICATE, value)]).into_response()
            }
            EdgeError::BasicUnauthorized => (
                self.status(),
                [(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="obevents""#),
                )],
            )
                .into_response(),
            EdgeError::TooManyRequests(secs) | EdgeError::Throttled(secs) => {
                let mut resp = ob_response(self.status(), self.items());
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
                resp
            }
            EdgeError::Internal(cause) => internal(cause),
            _ => ob_response(self.status(), self.items()),
        }
    }
}
