//! The sandbox portal (`/portal`): what a TPP's developer or the operator sees and does from a
//! browser, on the sandbox's own port and TLS, in every personality. A TPP signs in with its
//! client id and secret (the authentication and lockout of `POST /token`), the operator with
//! the admin credential; a TPP sees and changes only its own data, the operator any TPP's.
//!
//! - [`session`]: signed, stateless session cookies (why stateless: replicas) and CSRF tokens;
//! - [`page`]: security headers (strict CSP), the portal's error type and page frame;
//! - [`pages`]: sign-in, the operator's TPP list, and per TPP the overview (with Tatra webhook
//!   settings), events, deliveries (with retry), triggers, the TPP's own faults and the
//!   verdicts of the last referee run it published;
//! - [`live`]: server-sent events telling an open page that something changed;
//! - [`view`]: how times and SETs are shown (ISO 8601 UTC with relative time).
//!
//! Not an API: its routes enter the route table with `Routes::add_page`, so `/openapi.json`
//! does not describe them. Handlers call the same domain operations as the JSON helpers
//! (`dialects::*`, `store`), never duplicating their rules. HTML comes from askama templates
//! in `portal/templates/`, checked when the crate compiles and escaping every value by
//! default; the stylesheet and script are embedded in the binary (`assets/`).

pub mod live;
pub mod page;
pub mod pages;
pub mod session;
pub mod view;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::sandbox::http::routes::Routes;
use crate::sandbox::http::routes::Verb::{Get, Post};
use pages::{deliveries, events, faults, overview, referee, sign_in, tpps, triggers};

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

/// Every route of the portal (all under `/portal`), with its own 404/405 pages.
pub fn routes() -> Routes {
    const TPP: &str = "/portal/tpps/{ClientId}";
    let t = |rest: &str| format!("{TPP}{rest}");
    Routes::new()
        .add_page(Get, "/portal", sign_in::root)
        .add_page(Get, "/portal/", sign_in::root)
        .add_page(Get, "/portal/sign-in", sign_in::form)
        .add_page(Post, "/portal/sign-in", sign_in::submit)
        .add_page(Post, "/portal/sign-out", sign_in::sign_out)
        .add_page(Get, "/portal/assets/portal.css", css)
        .add_page(Get, "/portal/assets/portal.js", js)
        .add_page(Get, "/portal/tpps", tpps::show)
        .add_page(Get, TPP, overview::show)
        .add_page(Post, &t("/tatra-settings"), overview::save_tatra)
        .add_page(
            Post,
            &t("/tatra-settings/activate"),
            overview::activate_tatra,
        )
        .add_page(Get, &t("/events"), events::show)
        .add_page(Get, &t("/deliveries"), deliveries::show)
        .add_page(
            Post,
            &t("/deliveries/{DeliveryId}/retry"),
            deliveries::retry,
        )
        .add_page(Get, &t("/triggers"), triggers::show)
        .add_page(Post, &t("/triggers/consent"), triggers::consent)
        .add_page(Post, &t("/triggers/revoke"), triggers::revoke)
        .add_page(Post, &t("/triggers/inject"), triggers::inject)
        .add_page(Post, &t("/triggers/yapily"), triggers::yapily_event)
        .add_page(Post, &t("/triggers/tatra-consent"), triggers::tatra_consent)
        .add_page(
            Post,
            &t("/triggers/tatra-transaction"),
            triggers::tatra_transaction,
        )
        .add_page(Post, &t("/triggers/tatra-refresh"), triggers::tatra_refresh)
        .add_page(Get, &t("/faults"), faults::show)
        .add_page(Post, &t("/faults"), faults::save)
        .add_page(Post, &t("/faults/clear"), faults::clear)
        .add_page(Post, "/portal/faults/clear-all", faults::clear_all)
        .add_page(Get, &t("/referee"), referee::show)
        .add_page(Post, &t("/referee/forget"), referee::forget)
        .add_page(Get, &t("/live"), live::stream)
        .refuse_with(&["/portal"], page::refusal)
}

/// An embedded asset, cacheable for an hour (it changes only with the binary).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    page::secure(h);
    resp
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}
