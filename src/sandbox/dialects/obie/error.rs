//! The OBIE dialect's error: why an OBIE operation refused, in the API's terms. Operations
//! return it; [`IntoResponse`] is the one place it becomes an `OBErrorResponse1` answer
//! (through `http::error::ob_response`, the shape the edge errors share).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::jose::JoseError;
use crate::sandbox::http::error::{EdgeError, ErrorItem, bound_item, codes, internal, ob_response};
use crate::sandbox::store::StoreError;

/// Every way an OBIE operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum ObError {
    /// 400: the request names invalid or missing fields (every problem, each with its `Path`),
    /// an id that names no resource (G-11), or a resource in the wrong state.
    #[error("{}", first(.0))]
    Invalid(Vec<ErrorItem>),
    /// 403: the resource belongs to another TPP (G-10).
    #[error("the {0} belongs to another TPP")]
    NotOwner(&'static str),
    /// 409: the TPP already has one (ES-03, CB-03).
    #[error("{0}")]
    AlreadyExists(&'static str),
    /// 404 where a fault makes the bank answer so (`unknown-id-404`, `empty-queue-404`).
    #[error("{}", .0.message)]
    NotFound(ErrorItem),
    /// Refused at the edge (authentication, framing) while the operation was being prepared.
    #[error(transparent)]
    Edge(#[from] EdgeError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("signing: {0}")]
    Signing(#[from] JoseError),
}

pub type ObResult<T> = Result<T, ObError>;

fn first(items: &[ErrorItem]) -> &str {
    items
        .first()
        .map_or("invalid request", |i| i.message.as_str())
}

impl ObError {
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> ObError {
        ObError::Invalid(vec![ErrorItem::at(codes::FIELD_INVALID, path, message)])
    }

    /// G-11: an id that names no resource is a 400 `UK.OBIE.Resource.NotFound`.
    pub fn unknown_id(what: &str, id: &str) -> ObError {
        ObError::Invalid(vec![ErrorItem::new(
            codes::RESOURCE_NOT_FOUND,
            format!("no {what} with id {id}"),
        )])
    }

    /// A consent not in the status the operation needs.
    pub fn consent_status(message: impl Into<String>) -> ObError {
        ObError::Invalid(vec![ErrorItem::new(
            codes::RESOURCE_INVALID_CONSENT_STATUS,
            message,
        )])
    }

    /// The first problem's message, for dialects that report one line (WSO2).
    pub fn first_message(&self) -> String {
        match self {
            ObError::Invalid(items) => first(items).to_string(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ObError {
    fn into_response(self) -> Response {
        match self {
            ObError::Invalid(items) => ob_response(StatusCode::BAD_REQUEST, items),
            ObError::NotOwner(what) => ob_response(
                StatusCode::FORBIDDEN,
                vec![ErrorItem::new(
                    codes::FORBIDDEN_NOT_OWNER,
                    format!("the {what} belongs to another TPP"),
                )],
            ),
            ObError::AlreadyExists(message) => ob_response(
                StatusCode::CONFLICT,
                vec![ErrorItem::new(codes::RESOURCE_ALREADY_EXISTS, message)],
            ),
            ObError::NotFound(item) => ob_response(StatusCode::NOT_FOUND, vec![item]),
            ObError::Edge(e) => e.into_response(),
            // A per-TPP bound: nothing was stored; 409 until room is made.
            ObError::Store(StoreError::BoundReached(b)) => {
                ob_response(StatusCode::CONFLICT, vec![bound_item(&b)])
            }
            ObError::Store(e) => internal(&e.to_string()),
            ObError::Signing(e) => internal(&format!("signing: {e}")),
        }
    }
}
