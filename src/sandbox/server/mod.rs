//! Serving connections within bounds, so a sandbox open to many TPPs cannot be stalled by
//! slow or idle clients: a listen backlog of its own, a timeout for request headers
//! (half-sent headers, silent connections), an idle timeout for kept-alive connections, and a
//! connection cap beyond which new connections are answered 503 and closed instead of
//! waiting. `obevents sandbox` also raises the file-descriptor soft limit to the hard limit.
//! With TLS configured, each connection's handshake runs in its own task, bounded by the header
//! read timeout, and the client certificate it presented rides on each of its requests.
//! Below hyper, `edge_io` reshapes hyper's own parse-error answers and closes lingeringly.
//! Each connection is served by a builder fixed to its HTTP version (`version`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

mod timeouts;
mod version;

use super::config::ServerLimits;
use super::edge_io::EdgeIo;
use super::state::AppState;
use super::tls::{PeerCert, TlsConfig};
use timeouts::{Phase, TimedIo};
use version::Builders;

/// Binds `addr` with the configured listen backlog.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Raises the soft file-descriptor limit to the hard limit; returns the limit in force.
pub fn raise_fd_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the file-descriptor limit");
            None
        }
    }
}

/// Serves `router` (built over `state`) on `listener` until the shutdown token is cancelled,
/// then lets open connections finish (held long polls are answered at once) for at most 10 s.
pub async fn serve(state: AppState, router: axum::Router, listener: TcpListener) {
    let tls = state.cfg.tls.clone();
    serve_with(state, router, listener, tls.as_ref()).await;
}

/// [`serve`] in plain HTTP whatever `[tls]` says, with the same bounds: the separate metrics
/// address (a scraper on the operator's network, not a TPP).
pub async fn serve_plain(state: AppState, router: axum::Router, listener: TcpListener) {
    serve_with(state, router, listener, None).await;
}

async fn serve_with(
    state: AppState,
    router: axum::Router,
    listener: TcpListener,
    tls: Option<&TlsConfig>,
) {
    let limits = state.cfg.server.clone();
    let idle = limits
        .idle_timeout
        .max(state.cfg.long_poll_timeout + Duration::from_secs(1));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own header timeout is off: it would cut kept-alive connections after it while
    // they wait for the next request; `timeouts` enforces both timeouts on the socket.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    let builders = Arc::new(Builders::new(builder));
    let tls = tls.map(|t| Handshake {
        tls: t.clone(),
        acceptor: t.acceptor(),
        timeout: limits.header_read_timeout,
        builders: builders.clone(),
    });
    let graceful = GracefulShutdown::new();
    let active = Arc::new(AtomicUsize::new(0));
    let shutdown = state.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or similar: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        if active.load(Ordering::Relaxed) >= limits.max_connections {
            // A TLS client would read a plain-text answer as garbage: just close.
            if tls.is_none() {
                shed(&stream);
            } else {
                tracing::warn!("connection cap reached; a new TLS connection was closed");
            }
            continue;
        }
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot::take(&active);
        let phase = Phase::new();
        let io = TimedIo::new(stream, phase.clone(), limits.header_read_timeout, idle);
        let conn = Conn { phase, slot, peer };
        match &tls {
            Some(handshake) => handshake.spawn(io, conn, &router, graceful.watcher()),
            None => {
                let (watcher, stop) = (graceful.watcher(), shutdown.clone());
                spawn_plain(io, conn, &router, &builders, watcher, stop, &limits);
            }
        }
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("connections still open 10 s after shutdown began; closing");
        }
    }
}

/// Serves one plain-text connection in its own task: its HTTP version read within the header
/// timeout, counted from the connection's start as `TimedIo` counts it (a client that sends
/// nothing in time, or is still silent when the sandbox stops, is closed), then HTTP, watched
/// by the graceful shutdown.
fn spawn_plain(
    io: TimedIo,
    conn: Conn,
    router: &axum::Router,
    builders: &Arc<Builders>,
    watcher: Watcher,
    stop: CancellationToken,
    limits: &ServerLimits,
) {
    let within = tokio::time::Instant::now() + limits.header_read_timeout;
    let service = TowerToHyperService::new(phased(router, &conn.phase, conn.peer, None));
    let builders = builders.clone();
    tokio::spawn(async move {
        let sniffed = tokio::select! {
            v = tokio::time::timeout_at(within, version::plain(io.stream())) => v,
            _ = stop.cancelled() => Ok(Ok(None)),
        };
        if let Ok(Ok(Some(v))) = sniffed {
            let served = builders
                .of(Some(v))
                .serve_connection(TokioIo::new(EdgeIo::new(io)), service);
            let _ = watcher.watch(served.into_owned()).await;
        }
        drop(conn.slot);
    });
}

/// One connection's service: the router, telling `phase` when a request's head was parsed and
/// when its response is finished, with the peer's address (`ConnectInfo`, for the access log)
/// and the TLS client certificate (if any) on every request.
fn phased(
    router: &axum::Router,
    phase: &Arc<Phase>,
    addr: SocketAddr,
    peer: Option<PeerCert>,
) -> impl tower::Service<
    axum::extract::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>>
             + Send
             + 'static,
> + Clone
+ Send
+ 'static {
    let (on_request, on_response) = (phase.clone(), phase.clone());
    router
        .clone()
        .map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                on_request.request_started();
                req.extensions_mut().insert(ConnectInfo(addr));
                if let Some(peer) = &peer {
                    req.extensions_mut().insert(peer.clone());
                }
                req
            },
        )
        .map_response(move |resp| on_response.track(resp))
}

/// A TLS handshake bounded by the header read timeout, so a client that connects and stays
/// silent (or stops half-way) holds its connection slot no longer than one sending half a
/// request would.
#[derive(Clone)]
struct Handshake {
    tls: TlsConfig,
    acceptor: tokio_rustls::TlsAcceptor,
    timeout: Duration,
    builders: Arc<Builders>,
}

impl Handshake {
    /// Serves one TLS connection in its own task: the handshake, then HTTP (the version ALPN
    /// negotiated) with the client certificate on every request, watched by the graceful
    /// shutdown like any connection.
    fn spawn(&self, io: TimedIo, conn: Conn, router: &axum::Router, watcher: Watcher) {
        let (handshake, router) = (self.clone(), router.clone());
        let builders = self.builders.clone();
        tokio::spawn(async move {
            if let Some((io, cert)) = handshake.run(io).await {
                let service =
                    TowerToHyperService::new(phased(&router, &conn.phase, conn.peer, Some(cert)));
                let v = version::negotiated(io.get_ref().1.alpn_protocol());
                let served = builders
                    .of(v)
                    .serve_connection(TokioIo::new(EdgeIo::new(io)), service);
                let _ = watcher.watch(served.into_owned()).await;
            }
            drop(conn.slot);
        });
    }

    /// The encrypted stream and the client certificate it presented, or `None` (logged at
    /// debug: failed handshakes are the client's business) when the handshake failed.
    async fn run(self, io: TimedIo) -> Option<(TlsStream<TimedIo>, PeerCert)> {
        let stream = match tokio::time::timeout(self.timeout, self.acceptor.accept(io)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return None;
            }
        };
        let peer = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| self.tls.client_cert(chain))
            .map(Arc::new);
        Some((stream, PeerCert(peer)))
    }
}

/// What a connection's task carries beside its stream: its phase, its counted slot and
/// the peer's address.
struct Conn {
    phase: Arc<Phase>,
    slot: ConnectionSlot,
    peer: SocketAddr,
}

/// Answers a connection over the cap with 503 (best effort, never waiting) and closes it.
fn shed(stream: &TcpStream) {
    const BODY: &str = r#"{"Code":"503 Service Unavailable","Message":"the sandbox has too many open connections; retry later","Errors":[{"ErrorCode":"UK.OBIE.UnexpectedError","Message":"the sandbox has too many open connections; retry later"}]}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(response.as_bytes());
    tracing::warn!("connection cap reached; a new connection was answered 503");
}

/// One counted connection; the count drops when the connection ends.
struct ConnectionSlot(Arc<AtomicUsize>);

impl ConnectionSlot {
    fn take(active: &Arc<AtomicUsize>) -> ConnectionSlot {
        active.fetch_add(1, Ordering::Relaxed);
        ConnectionSlot(Arc::clone(active))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
