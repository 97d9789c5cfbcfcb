//! The two connection timeouts, enforced below hyper on the socket itself, because hyper has
//! one knob for both and applies it at the wrong moments (with hyper-util's protocol detection
//! it does not time a connection that sends nothing at all, and it cuts a kept-alive connection
//! after the *header* timeout while it waits for the next request):
//!
//! - the **header timeout** bounds a request's head: from the connection's start to the end of
//!   its first request's head, and from the first byte of any later request's head to its end;
//!   a silent connection and one trickling half a head are both closed after it;
//! - the **idle timeout** bounds the quiet between two requests of a kept-alive connection, and
//!   any wait for a read while a request is being served (a request body that stopped).
//!
//! [`Phase`] is what the connection's service tells its IO: a request's head was parsed (the
//! service was called) and its response was finished (the body was dropped by hyper).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Where a connection stands between its IO and its service.
#[derive(Debug)]
pub struct Phase {
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
struct State {
    /// Requests whose head was parsed and whose response is not finished.
    in_flight: usize,
    /// When the connection went quiet: its start, or the end of its last response.
    quiet_since: Instant,
    /// Whether a response was finished: quiet time is idle time from then on.
    served: bool,
    /// The first byte of a head not yet parsed.
    head_since: Option<Instant>,
}

impl Phase {
    pub fn new() -> Arc<Phase> {
        Arc::new(Phase {
            state: Mutex::new(State {
                in_flight: 0,
                quiet_since: Instant::now(),
                served: false,
                head_since: None,
            }),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The service was called: the head is complete.
    pub fn request_started(&self) {
        self.with(|s| {
            s.in_flight += 1;
            s.head_since = None;
        });
    }

    fn response_finished(&self) {
        self.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.quiet_since = Instant::now();
                s.served = true;
            }
        });
    }

    /// Bytes arrived: while no request is in flight, they begin a head.
    fn bytes_read(&self) {
        self.with(|s| {
            if s.in_flight == 0 && s.head_since.is_none() {
                s.head_since = Some(Instant::now());
            }
        });
    }

    /// When a read that waits now must give up, or `None` while a request is in flight (then
    /// only the idle timeout since the last IO applies).
    fn read_deadline(&self, header: Duration, idle: Duration) -> Option<Instant> {
        self.with(|s| {
            if s.in_flight > 0 {
                return None;
            }
            Some(match (s.head_since, s.served) {
                (Some(first_byte), true) => first_byte + header,
                // The first request's head: counted from the connection's start.
                (_, false) => s.quiet_since + header,
                (None, true) => s.quiet_since + idle,
            })
        })
    }

    /// Wraps a response so that its end (hyper drops the body once it is written, or the
    /// connection is gone) tells the connection it is quiet again.
    pub fn track(self: &Arc<Self>, resp: Response) -> Response {
        let guard = Finished(self.clone());
        resp.map(|body| {
            Body::new(TrackedBody {
                inner: body,
                _guard: guard,
            })
        })
    }
}

/// Marks the response finished when dropped.
struct Finished(Arc<Phase>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.response_finished();
    }
}

struct TrackedBody {
    inner: Body,
    _guard: Finished,
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A TCP stream whose waiting reads fail with `TimedOut` at the deadline its [`Phase`] gives
/// (hyper then closes the connection). Only waiting reads time out, so a response being
/// produced (a held long poll) is never cut while hyper is not reading.
pub struct TimedIo {
    inner: TcpStream,
    phase: Arc<Phase>,
    header: Duration,
    idle: Duration,
    /// The idle deadline while a request is in flight: any IO moves it.
    busy_until: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl TimedIo {
    pub fn new(inner: TcpStream, phase: Arc<Phase>, header: Duration, idle: Duration) -> TimedIo {
        let now = Instant::now();
        TimedIo {
            inner,
            phase,
            header,
            idle,
            busy_until: now + idle,
            sleep: Box::pin(tokio::time::sleep_until(now + header)),
        }
    }

    /// The socket, for looking at what arrived without reading it (`version::plain`).
    pub fn stream(&self) -> &TcpStream {
        &self.inner
    }

    fn touch(&mut self) {
        self.busy_until = Instant::now() + self.idle;
    }

    fn deadline(&self) -> Instant {
        self.phase
            .read_deadline(self.header, self.idle)
            .unwrap_or(self.busy_until)
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.phase.bytes_read();
                }
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending => {
                let deadline = this.deadline();
                if this.sleep.deadline() != deadline {
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection past its header or idle timeout",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(_))) {
            this.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(_))) {
            this.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deadlines_follow_the_phase() {
        let (h, i) = (Duration::from_secs(10), Duration::from_secs(75));
        let p = Phase::new();
        let start = p.with(|s| s.quiet_since);
        // A new connection: the header timeout from its start, bytes or none.
        assert_eq!(p.read_deadline(h, i), Some(start + h));
        p.bytes_read();
        assert_eq!(p.read_deadline(h, i), Some(start + h));
        p.request_started();
        assert_eq!(p.read_deadline(h, i), None);
        p.response_finished();
        let quiet = p.with(|s| s.quiet_since);
        // Kept alive: idle time until the next head begins, then the header timeout.
        assert_eq!(p.read_deadline(h, i), Some(quiet + i));
        p.bytes_read();
        let first = p.with(|s| s.head_since).unwrap();
        assert_eq!(p.read_deadline(h, i), Some(first + h));
    }
}
