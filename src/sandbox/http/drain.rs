//! Requests answered before their body was read (a 401 from the token check, a 403, 406 or
//! 415, an unknown path…). hyper then reads what happens to be buffered and, if the body is
//! not all there, closes the connection after the answer — without saying so, and with the
//! client possibly still sending, which turns into a connection reset on the client's side.
//!
//! Tagging such answers `Connection: close` alone was tried and made it worse (commit
//! 4c7bb87, reverted): hyper then closes even when the rest of the body was about to arrive,
//! so a client sending a body it had already started writing saw resets on requests that
//! used to keep their connection. Here instead the unread rest of the body is read and
//! discarded before the answer leaves, within `body_limit_bytes` and `DRAIN_WITHIN`: the
//! connection stays usable and nothing is cut. Only when that bound is exceeded (a body over
//! the limit, a client sending too slowly, `Expect: 100-continue` not yet honoured) does the
//! answer say `Connection: close`, which is then true: hyper closes, and the transport's
//! lingering close (`sandbox::edge_io`) reads what the client still sends so that it gets the
//! answer rather than a reset.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Version, header};
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::sandbox::state::AppState;

/// How long the unread rest of a refused body may take to arrive before the connection is
/// closed instead.
const DRAIN_WITHIN: Duration = Duration::from_secs(2);

/// A body the handler dropped unfinished, and how many bytes it had read of it.
type Leftover = Arc<Mutex<Option<(Body, usize)>>>;

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// What [`finish`] needs of a request whose body [`track`] watches.
pub struct Watch {
    expects_continue: bool,
    leftover: Leftover,
    /// The body was declared longer than the limit and never read (see [`track`]).
    over_limit: bool,
}

/// The declared `Content-Length`, if the request has a valid one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A body no read of which can succeed: `Limited` with nothing allowed fails its first frame
/// with `LengthLimitError`, the error axum's body extractors answer 413 for.
fn over_limit_body() -> Body {
    Body::new(http_body_util::Limited::new(
        http_body_util::Full::new(Bytes::from_static(b"\0")),
        0,
    ))
}

/// Before the request runs: watch its body, if it has one (HTTP/1 only: HTTP/2 resets a
/// single stream instead, and forbids `Connection`). Part of the edge layer
/// (`middleware::edge`); see the module doc. A body declared longer than `limit` is not
/// read at all: the handler gets one that fails at once as over the limit, so each API
/// answers its own 413 without waiting for bytes a client may send slowly or never, and the
/// answer closes the connection.
pub fn track(mut req: Request, limit: usize) -> (Request, Option<Watch>) {
    if declared_length(req.headers()).is_some_and(|n| n > limit as u64) {
        *req.body_mut() = over_limit_body();
        let watch = (req.version() < Version::HTTP_2).then(|| Watch {
            expects_continue: false,
            leftover: Leftover::default(),
            over_limit: true,
        });
        return (req, watch);
    }
    if req.version() >= Version::HTTP_2 || !has_body(req.headers()) {
        return (req, None);
    }
    let expects_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let leftover = Leftover::default();
    let req = req.map(|body| {
        Body::new(Tracked {
            inner: Some(body),
            read: 0,
            ended: false,
            leftover: Arc::clone(&leftover),
        })
    });
    let watch = Watch {
        expects_continue,
        leftover,
        over_limit: false,
    };
    (req, Some(watch))
}

/// After the answer is made: read what the handler left of the body, or say the connection
/// closes.
pub async fn finish(state: &AppState, mut resp: Response, watch: Option<Watch>) -> Response {
    let Some(watch) = watch else {
        return resp;
    };
    if watch.over_limit {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    let unread = watch
        .leftover
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some((body, read)) = unread else {
        return resp;
    };
    // A client waiting for 100-continue has sent nothing; asking for the body now would
    // only make it send what nobody wants.
    let drained = !(watch.expects_continue && read == 0)
        && drain(body, state.cfg.body_limit.saturating_sub(read)).await;
    if !drained {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Reads `body` to its end if it fits in `budget` bytes and arrives within `DRAIN_WITHIN`.
async fn drain(mut body: Body, budget: usize) -> bool {
    let mut left = budget;
    let work = async move {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                if data.len() > left {
                    return false;
                }
                left -= data.len();
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_WITHIN, work)
        .await
        .unwrap_or(false)
}

/// The request body as the handler sees it; hands itself to the layer when dropped before
/// its end, instead of being discarded with the rest of the request.
struct Tracked {
    inner: Option<Body>,
    read: usize,
    ended: bool,
    leftover: Leftover,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.ended = true,
            Poll::Ready(Some(Ok(frame))) => {
                this.read += frame.data_ref().map_or(0, Bytes::len);
                this.ended = inner.is_end_stream();
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let Some(body) = self.inner.take()
            && !body.is_end_stream()
        {
            let mut slot = self.leftover.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some((body, self.read));
        }
    }
}
