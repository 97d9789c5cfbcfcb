//! HTTPS for the reference TPP's receiver (`--tls-cert`, `--tls-key`, and `--client-ca` to ask
//! the bank for a client certificate): the sandbox's TLS setup (`sandbox::tls`) serves the
//! receiver's routes, one task per connection, until the stop token is cancelled.

use std::path::Path;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;

use crate::sandbox::tls::{ClientAuthMode, TlsConfig, TlsPem};

/// The receiver's TLS setup from PEM files; with `client_ca`, client certificates it vouches
/// for are required.
pub fn config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<TlsConfig, String> {
    let read =
        |flag: &str, p: &Path| std::fs::read(p).map_err(|e| format!("{flag} {}: {e}", p.display()));
    TlsConfig::from_pem(&TlsPem {
        cert_chain: read("--tls-cert", cert)?,
        key: read("--tls-key", key)?,
        client_ca: client_ca.map(|c| read("--client-ca", c)).transpose()?,
        client_auth: if client_ca.is_some() {
            ClientAuthMode::Required
        } else {
            ClientAuthMode::None
        },
        self_signed_client_certs: false,
    })
}

/// Serves `app` over TLS on `listener` until `stop` is cancelled (connections in flight end on
/// their own).
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: TlsConfig,
    app: Router,
    stop: CancellationToken,
) {
    let acceptor = tls.acceptor();
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("the reference TPP cannot accept: {e}");
                    continue;
                }
            },
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls_stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = TowerToHyperService::new(app);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls_stream), service)
                .await;
        });
    }
}
