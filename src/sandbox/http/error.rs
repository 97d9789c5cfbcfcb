//! Renders [`ApiError`] as HTTP: the one place an error becomes a status, headers and an
//! `OBErrorResponse1` body (G-10, G-12). 5xx causes are logged here and never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::model::{ObError1, ObErrorResponse1};
use crate::sandbox::error::ApiError;

/// The media type of every JSON body, as the v3.1.11 OpenAPI declares it.
pub const JSON: &str = "application/json; charset=utf-8";

/// Serialises `value` as an `application/json; charset=utf-8` response with `status`.
pub fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
            body,
        )
            .into_response(),
        Err(e) => ApiError::Internal(format!("serialising a response: {e}")).into_response(),
    }
}

/// G-12 bounds `Message` and `Path` to 500 characters; messages quote what the client sent,
/// which can be longer.
fn clip(s: String) -> String {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Unauthorized { invalid_token } => {
                // G-10: 401 carries no body; RFC 6750 §3 / R8936-28: name the scheme.
                let challenge = if *invalid_token {
                    r#"Bearer realm="obevents", error="invalid_token""#
                } else {
                    r#"Bearer realm="obevents""#
                };
                return (
                    status,
                    [(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(challenge),
                    )],
                )
                    .into_response();
            }
            ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
            _ => {}
        }
        let errors: Vec<ObError1> = self
            .items()
            .into_iter()
            .map(|i| ObError1 {
                error_code: i.code,
                message: clip(i.message),
                path: i.path.map(clip),
                url: i.url,
            })
            .collect();
        let message = match &self {
            ApiError::BadRequest(items) if items.len() > 1 => {
                format!("{} problems with the request", items.len())
            }
            _ => errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
        };
        let body = ObErrorResponse1 {
            code: high_level_code(status),
            id: None,
            message,
            errors,
        };
        json_response(status, &body)
    }
}
