//! The sandbox's API error: what went wrong in OBIE terms. Domain code returns it; the HTTP layer
//! renders it (`http::error`) as an `OBErrorResponse1` in exactly one place.

use axum::http::StatusCode;

use super::store::StoreError;

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
    pub const METHOD_NOT_ALLOWED: &str = "GB.OBEvents.MethodNotAllowed";
    pub const NOT_ACCEPTABLE: &str = "GB.OBEvents.NotAcceptable";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "GB.OBEvents.UnsupportedMediaType";
    pub const PAYLOAD_TOO_LARGE: &str = "GB.OBEvents.PayloadTooLarge";
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

/// Every way an API call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// G-10: missing, invalid or expired token; rendered with no body.
    #[error("unauthorised")]
    Unauthorized { invalid_token: bool },
    #[error("forbidden: {}", .0.message)]
    Forbidden(ErrorItem),
    #[error("bad request")]
    BadRequest(Vec<ErrorItem>),
    #[error("conflict: {}", .0.message)]
    Conflict(ErrorItem),
    /// A path the API does not define (G-11 MAY), or a fault that turns 400 into 404.
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

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(item: ErrorItem) -> ApiError {
        ApiError::BadRequest(vec![item])
    }
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::bad_request(ErrorItem::at(codes::FIELD_INVALID, path, message))
    }
    pub fn missing(path: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::bad_request(ErrorItem::at(codes::FIELD_MISSING, path, message))
    }
    /// G-11: an id that names no resource is a 400, not a 404.
    pub fn not_found_id(what: &str, id: &str) -> ApiError {
        ApiError::bad_request(ErrorItem::new(
            codes::RESOURCE_NOT_FOUND,
            format!("no {what} with id {id}"),
        ))
    }
    pub fn not_owner(what: &str) -> ApiError {
        ApiError::Forbidden(ErrorItem::new(
            codes::FORBIDDEN_NOT_OWNER,
            format!("the {what} belongs to another TPP"),
        ))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `OBError1` items of this error (empty for 401, which has no body).
    pub fn items(&self) -> Vec<ErrorItem> {
        match self {
            ApiError::Unauthorized { .. } => Vec::new(),
            ApiError::Forbidden(i) | ApiError::Conflict(i) | ApiError::NotFound(i) => {
                vec![i.clone()]
            }
            ApiError::BadRequest(items) => items.clone(),
            ApiError::MethodNotAllowed => vec![ErrorItem::new(
                codes::METHOD_NOT_ALLOWED,
                "this method is not supported on this resource",
            )],
            ApiError::NotAcceptable => vec![ErrorItem::at(
                codes::NOT_ACCEPTABLE,
                "Accept",
                "the API answers only application/json",
            )],
            ApiError::UnsupportedMediaType(got) => vec![ErrorItem::at(
                codes::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type",
                format!("expected application/json, got {got}"),
            )],
            ApiError::PayloadTooLarge(limit) => vec![ErrorItem::new(
                codes::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {limit} bytes"),
            )],
            ApiError::Internal(_) => vec![ErrorItem::new(
                codes::UNEXPECTED_ERROR,
                "an unexpected error occurred",
            )],
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::jose::JoseError> for ApiError {
    fn from(e: crate::jose::JoseError) -> Self {
        ApiError::Internal(format!("signing: {e}"))
    }
}
