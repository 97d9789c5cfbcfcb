//! Which HTTP version a connection speaks, settled before hyper reads from it: on plain TCP by
//! peeking at its first bytes (the HTTP/2 connection preface, RFC 9113 §3.4, or anything else
//! for HTTP/1.1), over TLS by the protocol ALPN negotiated. hyper-util's `auto` builder would
//! otherwise read the first 24 bytes itself and hand them back to hyper alone; hyper's HTTP/1
//! parser then finds a partial head in its 8 KiB read buffer and grows it to 16 KiB for the
//! rest, on every connection, kept as long as the connection (a held long poll: 1.5 KiB of
//! resident memory each, README "Performance"). With the version known, the connection gets a
//! builder fixed to it, whose reader starts with an empty buffer and reads the whole head at
//! once.

use std::io;
use std::time::Duration;

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;

/// The HTTP/2 connection preface a prior-knowledge (h2c) client opens with.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long to wait before peeking again when the bytes so far are the start of the preface.
const PARTIAL_PREFACE_WAIT: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http1,
    Http2,
}

/// The server's connection builder, once per version, and once undecided (the `auto`
/// builder's own detection: a TLS client that negotiated no protocol).
pub struct Builders {
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
    either: auto::Builder<TokioExecutor>,
}

impl Builders {
    pub fn new(either: auto::Builder<TokioExecutor>) -> Builders {
        Builders {
            http1: either.clone().http1_only(),
            http2: either.clone().http2_only(),
            either,
        }
    }

    pub fn of(&self, version: Option<Version>) -> &auto::Builder<TokioExecutor> {
        match version {
            Some(Version::Http1) => &self.http1,
            Some(Version::Http2) => &self.http2,
            None => &self.either,
        }
    }
}

/// The version of a plain-text connection from its first bytes, left unread for hyper; `None`
/// when the client closed before sending any. The caller bounds the wait (header timeout).
pub async fn plain(stream: &TcpStream) -> io::Result<Option<Version>> {
    let mut buf = [0u8; PREFACE.len()];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(v) = decide(&buf[..n]) {
            return Ok(Some(v));
        }
        // The start of the preface and no more yet: readiness stays set while those bytes
        // are unread, so wait a moment rather than peek in a loop.
        tokio::time::sleep(PARTIAL_PREFACE_WAIT).await;
    }
}

/// The version `first` bytes of a connection show, or `None` while they are a proper
/// beginning of the HTTP/2 preface.
fn decide(first: &[u8]) -> Option<Version> {
    if !PREFACE.starts_with(first) {
        Some(Version::Http1)
    } else if first.len() == PREFACE.len() {
        Some(Version::Http2)
    } else {
        None
    }
}

/// The version ALPN settled on a TLS connection, if it settled one.
pub fn negotiated(alpn: Option<&[u8]>) -> Option<Version> {
    match alpn? {
        b"h2" => Some(Version::Http2),
        b"http/1.1" => Some(Version::Http1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_decide() {
        assert_eq!(decide(b"POST /events HTTP/1.1\r\n"), Some(Version::Http1));
        assert_eq!(decide(b"G"), Some(Version::Http1));
        assert_eq!(decide(b"PO"), Some(Version::Http1));
        assert_eq!(decide(b"P"), None);
        assert_eq!(decide(b"PRI * HTTP/2.0\r\n"), None);
        assert_eq!(decide(PREFACE), Some(Version::Http2));
        assert_eq!(negotiated(Some(b"h2")), Some(Version::Http2));
        assert_eq!(negotiated(Some(b"http/1.1")), Some(Version::Http1));
        assert_eq!(negotiated(None), None);
    }

    #[tokio::test]
    async fn peeking_leaves_the_bytes_for_hyper() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            c.write_all(b"\r\nSM\r\n\r\n").await.unwrap();
            c
        });
        let (mut server, _) = listener.accept().await.unwrap();
        let found = tokio::time::timeout(Duration::from_secs(5), plain(&server)).await;
        assert_eq!(found.unwrap().unwrap(), Some(Version::Http2));
        let mut all = [0u8; 24];
        server.read_exact(&mut all).await.unwrap();
        assert_eq!(&all, PREFACE);
        drop(client.await.unwrap());
        // A client that closes without a byte.
        let quiet = tokio::spawn(async move { drop(TcpStream::connect(addr).await.unwrap()) });
        let (server, _) = listener.accept().await.unwrap();
        quiet.await.unwrap();
        let found = tokio::time::timeout(Duration::from_secs(5), plain(&server)).await;
        assert_eq!(found.unwrap().unwrap(), None);
    }
}
