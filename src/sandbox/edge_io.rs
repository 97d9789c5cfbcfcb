//! What happens on a connection below hyper, where the router cannot reach:
//!
//! - **Parse errors get the API's error shape.** hyper answers a request it cannot parse (bad
//!   request line, bad header bytes, too many or too large headers, a URI too long) itself,
//!   before any service runs, with an empty 400/414/431 and no content type — and offers no
//!   hook to change it (`proto::h1::role::Server::on_error` builds a bare head; neither
//!   hyper's `http1::Builder` nor hyper-util's auto builder can customise it). Those answers are
//!   recognised here as hyper writes them (status 400/414/431, exactly the headers
//!   `connection: close`, `content-length: 0` and `date`, which no response of the router ever
//!   is: every one carries `x-fapi-interaction-id` or a body) and replaced by the same status
//!   with an `OBErrorResponse1` body, a content type, an interaction id and
//!   `Connection: close`. The path is unknown at that point, so the OBIE shape is the default.
//! - **Lingering close.** When the server closes a connection whose client is still sending
//!   (a request refused before its body was read, a parse error), dropping the socket with
//!   unread data makes the kernel send a reset, and the client may lose the answer it was
//!   sent. After hyper is done, the socket is kept for a moment in a task that reads and
//!   discards what still arrives (bounded in bytes and time), as HTTP servers do.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::http::error::codes;

/// How long and how much a closing connection is read and discarded.
const LINGER_FOR: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// An HTTP/1 connection's transport with hyper's parse-error answers reshaped and a lingering
/// close when dropped.
pub struct EdgeIo<T: AsyncRead + Unpin + Send + 'static> {
    /// `None` only once dropped.
    inner: Option<T>,
    /// A replacement answer still to be written, and how much of it was.
    pending: Vec<u8>,
    written: usize,
}

impl<T: AsyncRead + Unpin + Send + 'static> EdgeIo<T> {
    pub fn new(inner: T) -> EdgeIo<T> {
        EdgeIo {
            inner: Some(inner),
            pending: Vec::new(),
            written: 0,
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection already released")
}

/// If `head` is one of hyper's automatic parse-error answers, the answer to send instead.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    const STATUSES: [(&[u8], &str, &str); 3] = [
        (
            b"HTTP/1.1 400 ",
            codes::HEADER_INVALID,
            "the request line or a header could not be parsed",
        ),
        (
            b"HTTP/1.1 414 ",
            codes::FIELD_INVALID,
            "the request URI is too long",
        ),
        (
            b"HTTP/1.1 431 ",
            codes::HEADER_INVALID,
            "the request headers are too many or too large",
        ),
    ];
    let (_, code, message) = STATUSES.iter().find(|(p, _, _)| head.starts_with(p))?;
    if head.len() > 512 || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.trim_end_matches("\r\n").split("\r\n");
    let status_line = lines.next()?;
    let mut date = None;
    let mut names = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        if name == "date" {
            date = Some(value.trim());
        }
        if name == "content-length" && value.trim() != "0" {
            return None;
        }
        names.push(name);
    }
    names.sort();
    if names != ["connection", "content-length", "date"] {
        return None;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let status = status_line.strip_prefix("HTTP/1.1 ")?;
    let body = serde_json::json!({
        "Code": status,
        "Id": id,
        "Message": message,
        "Errors": [{ "ErrorCode": code, "Message": message }],
    })
    .to_string();
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/json; charset=utf-8\r\nconnection: close\r\nx-fapi-interaction-id: {id}\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(d) = date {
        out.push_str(&format!("date: {d}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> EdgeIo<T> {
    /// Writes what remains of a replacement answer; ready when nothing does.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let io = self.inner.as_mut().ok_or_else(gone)?;
            match Pin::new(io).poll_write(cx, &self.pending[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for EdgeIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(io) => Pin::new(io).poll_read(cx, buf),
            None => Poll::Ready(Err(gone())),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for EdgeIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        if let Some(answer) = replacement(data) {
            // hyper's bytes count as written; the replacement goes out instead.
            this.pending = answer;
            this.written = 0;
            let _ = this.poll_pending(cx)?;
            return Poll::Ready(Ok(data.len()));
        }
        match this.inner.as_mut() {
            Some(io) => Pin::new(io).poll_write(cx, data),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // A head written alone goes through the check above; a head with a body never
        // matches, so the rest is passed through untouched.
        let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(first), None) = (non_empty.next(), non_empty.next()) {
            return self.poll_write(cx, first);
        }
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        match this.inner.as_mut() {
            Some(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|io| io.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        match this.inner.as_mut() {
            Some(io) => Pin::new(io).poll_flush(cx),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        match this.inner.as_mut() {
            Some(io) => Pin::new(io).poll_shutdown(cx),
            None => Poll::Ready(Err(gone())),
        }
    }
}

impl<T: AsyncRead + Unpin + Send + 'static> Drop for EdgeIo<T> {
    fn drop(&mut self) {
        let (Some(io), Ok(rt)) = (self.inner.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        rt.spawn(linger(io));
    }
}

/// Reads and discards until the client closes, `LINGER_BYTES` were read or `LINGER_FOR`
/// passed; then the socket is dropped with nothing unread, so no reset is sent.
async fn linger<T: AsyncRead + Unpin>(mut io: T) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER_FOR, async {
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::replacement;

    #[test]
    fn only_hypers_bare_parse_error_heads_are_replaced() {
        let bare = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 13:00:52 GMT\r\n\r\n";
        let out = String::from_utf8(replacement(bare).expect("replaced")).expect("utf-8");
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("content-type: application/json; charset=utf-8\r\n"));
        assert!(out.contains("connection: close\r\n"));
        assert!(out.contains("date: Tue, 01 Dec 2026 13:00:52 GMT\r\n"));
        let body = out.split("\r\n\r\n").nth(1).expect("body");
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["Errors"][0]["ErrorCode"], "UK.OBIE.Header.Invalid");
        let declared = out
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse::<usize>().ok());
        assert_eq!(declared, Some(body.len()));
        // Answers of the router carry an interaction id or a body: left alone.
        let routed = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\nx-fapi-interaction-id: a\r\ndate: x\r\n\r\n";
        assert!(replacement(routed).is_none());
        let ok = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert!(replacement(ok).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 2\r\ndate: x\r\n\r\n";
        assert!(replacement(with_body).is_none());
    }
}
