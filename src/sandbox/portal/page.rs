//! How a portal answer is made: every page through [`html`] (the security headers: a strict
//! Content-Security-Policy with no inline script or style, `nosniff`, no framing, no caching),
//! redirects through [`see_other`], and the portal's one error type, [`PortalError`], rendered
//! as a page in one place; [`PortalPath`] and [`PortalQuery`] read a route's path and query
//! parameters so that ones the portal cannot read are that page too, not axum's plain-text
//! rejections.

use askama::Template;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::session::Viewer;
use crate::sandbox::domain::ClientId;
use crate::sandbox::http::InteractionId;
use crate::sandbox::store::StoreError;

/// Scripts, styles, images and connections only from the sandbox itself; no inline code, no
/// plugins, no framing, forms post only back to it.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

/// The headers every portal answer carries.
pub fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// A rendered page with `status`.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            secure(resp.headers_mut());
            resp
        }
        Err(e) => PortalError::Internal(format!("rendering a page: {e}")).into_response(),
    }
}

/// 303 to `location` (after a form, so a reload does not post again).
pub fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    secure(resp.headers_mut());
    resp
}

/// `/portal/tpps/{id}{rest}`, the id percent-encoded as a path segment.
pub fn tpp_path(id: &ClientId, rest: &str) -> String {
    let seg: String = url::form_urlencoded::byte_serialize(id.as_str().as_bytes()).collect();
    format!("/portal/tpps/{}{rest}", seg.replace('+', "%20"))
}

/// The page frame's data: who is signed in, which TPP and tab are shown, the CSRF token for the
/// frame's own forms (sign-out), and the live-update stream of the page, if any.
pub struct Nav {
    pub who: String,
    pub csrf: String,
    pub operator: bool,
    pub bank: String,
    /// The TPP the page is about, with its links.
    pub tpp: Option<TppNav>,
    pub tab: &'static str,
}

pub struct TppNav {
    pub id: String,
    pub name: String,
    pub overview: String,
    pub events: String,
    pub deliveries: String,
    pub triggers: String,
    pub faults: String,
    pub referee: String,
    pub live: String,
}

impl Nav {
    pub fn new(viewer: &Viewer, bank: &str, tab: &'static str) -> Nav {
        Nav {
            who: viewer.label(),
            csrf: viewer.csrf.clone(),
            operator: viewer.is_operator(),
            bank: bank.to_string(),
            tpp: None,
            tab,
        }
    }

    /// The frame of TPP `id`'s pages; `mark` is its activity mark when the page was read
    /// (the live stream announces any change after it).
    pub fn for_tpp(mut self, id: &ClientId, name: &str, mark: &str) -> Nav {
        let mark: String = url::form_urlencoded::byte_serialize(mark.as_bytes()).collect();
        self.tpp = Some(TppNav {
            id: id.to_string(),
            name: name.to_string(),
            overview: tpp_path(id, ""),
            events: tpp_path(id, "/events"),
            deliveries: tpp_path(id, "/deliveries"),
            triggers: tpp_path(id, "/triggers"),
            faults: tpp_path(id, "/faults"),
            referee: tpp_path(id, "/referee"),
            live: tpp_path(id, &format!("/live?mark={mark}")),
        });
        self
    }
}

/// Why a portal request was refused; each becomes a page (or a redirect) in
/// [`IntoResponse`], the one place.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// No valid session: to the sign-in page.
    #[error("sign in first")]
    SignIn,
    /// Not a page this viewer may see: another TPP's (whether it exists or not) or an
    /// unknown one, alike.
    #[error("there is no such page, or it is not yours")]
    NotFound,
    /// An operator-only page asked for by a TPP.
    #[error("only the operator may see this page")]
    OperatorOnly,
    /// The form's CSRF token did not match the session's.
    #[error(
        "the form is stale or did not come from this portal (CSRF check failed); reload the page and try again"
    )]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "the sandbox cannot take more live-update streams now; the page still works, reload to see changes"
    )]
    Busy,
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for PortalError {
    fn from(e: StoreError) -> Self {
        PortalError::Internal(format!("store: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
    interaction_id: &'a str,
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let (status, title) = match &self {
            PortalError::SignIn => return see_other("/portal/sign-in"),
            PortalError::NotFound => (StatusCode::NOT_FOUND, "Not found"),
            PortalError::OperatorOnly => (StatusCode::FORBIDDEN, "Operator only"),
            PortalError::Csrf => (StatusCode::FORBIDDEN, "Refused"),
            PortalError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
            PortalError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "Busy"),
            PortalError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Sandbox error"),
        };
        // A 5xx cause is logged, not shown: it may quote internals.
        let message = match &self {
            PortalError::Internal(cause) => {
                tracing::error!(error = %cause, "portal error");
                "the sandbox failed to answer this page; see its log".to_string()
            }
            other => other.to_string(),
        };
        html(
            status,
            &ErrorPage {
                status: status.as_u16(),
                title,
                message,
                interaction_id: "",
            },
        )
    }
}

/// An unknown path or method under `/portal/`: the portal's own 404/405 page rather than an
/// API error body (the refusal shape the route table uses under the portal's prefix).
pub fn refusal(
    _headers: &HeaderMap,
    iid: &InteractionId,
    status: StatusCode,
    message: String,
) -> Response {
    let title = if status == StatusCode::METHOD_NOT_ALLOWED {
        "Method not allowed"
    } else {
        "Not found"
    };
    html(
        status,
        &ErrorPage {
            status: status.as_u16(),
            title,
            message,
            interaction_id: &iid.0,
        },
    )
}

/// A portal route's path parameters (`String`, or a tuple of them). A parameter that is not
/// valid UTF-8 once decoded is the portal's 400 page.
pub struct PortalPath<T>(pub T);

impl<T, S> FromRequestParts<S> for PortalPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = PortalError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PortalError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(PortalPath(v)),
            Err(e) => Err(PortalError::BadRequest(format!(
                "this address cannot be read: {}",
                e.body_text()
            ))),
        }
    }
}

/// A portal page's query parameters (`T`'s fields). A query that does not fit `T` (a field
/// given twice, say) is the portal's 400 page.
pub struct PortalQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for PortalQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PortalError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PortalError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(PortalQuery(v)),
            Err(e) => Err(PortalError::BadRequest(format!(
                "this address's query cannot be read: {}",
                e.body_text()
            ))),
        }
    }
}
