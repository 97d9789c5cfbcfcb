//! G-08: a request whose `Accept` admits no JSON is refused with 406 before anything else
//! runs. A plain tower layer rather than `axum::middleware::from_fn`: `from_fn` clones the
//! wrapped route and boxes two futures per request, a few percent of a short poll's CPU; this
//! one passes the route's own future through.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::future::{Either, Ready, ready};
use tower::{Layer, Service};

use super::error::EdgeError;

/// Wraps each route of a table in [`AcceptCheck`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptLayer;

impl<S> Layer<S> for AcceptLayer {
    type Service = AcceptCheck<S>;
    fn layer(&self, inner: S) -> AcceptCheck<S> {
        AcceptCheck(inner)
    }
}

/// The route `S` behind the `Accept` check.
#[derive(Debug, Clone)]
pub struct AcceptCheck<S>(S);

impl<S> Service<Request> for AcceptCheck<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if refused(&req) {
            Either::Left(ready(Ok(EdgeError::NotAcceptable.into_response())))
        } else {
            Either::Right(self.0.call(req))
        }
    }
}

/// Whether `req` names media types and JSON is none of them. An empty `Accept` is treated
/// like an absent one (any media type).
fn refused(req: &Request) -> bool {
    req.headers().get(header::ACCEPT).is_some_and(|accept| {
        !accept.as_bytes().iter().all(u8::is_ascii_whitespace)
            && !accepts_json(accept.to_str().unwrap_or(""))
    })
}

fn accepts_json(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q_zero = parts.any(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
        });
        !q_zero && matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    })
}

#[cfg(test)]
mod tests {
    use super::accepts_json;

    #[test]
    fn accept_header() {
        assert!(accepts_json("application/json"));
        assert!(accepts_json("text/html, application/json;q=0.5"));
        assert!(accepts_json("*/*"));
        assert!(accepts_json("application/json; charset=utf-8"));
        assert!(!accepts_json("text/xml"));
        assert!(!accepts_json("application/json;q=0"));
        assert!(!accepts_json("application/jose+jwe"));
    }
}
