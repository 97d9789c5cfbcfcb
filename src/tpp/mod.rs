//! The reference TPP (`obevents tpp …`): a conformant TPP-side implementation the harness's TPP
//! scenarios are proven against, and a starting point for a TPP's own. `tpp receive` is an
//! OBIE / RFC 8935 push receiver ([`receiver`]) that verifies each SET against the bank's JWKS,
//! issuer and the TPP's audience ([`verify`]), answers per RFC 8935 and records what it
//! processed, over HTTP or HTTPS ([`tls`], optionally asking for the bank's client
//! certificate); beside it, Yapily-style and Tatra-style webhook receivers ([`hooks`]: the
//! `yapily-signature` checked by [`yapily`], the security header by [`tatra`]); switchable
//! [`faults`] make it misbehave one rule at a time. It knows nothing of
//! the harness: it is configured by the command line only.

pub mod faults;
pub mod hooks;
pub mod poll_cli;
pub mod poller;
pub mod receiver;
pub mod tatra;
pub mod tls;
pub mod verify;
pub mod yapily;

pub use faults::{TppFault, TppFaults};

use crate::cli::{ReceiveArgs, TppArgs, TppCommand};

/// `obevents tpp`; returns the exit code (2 with one line on stderr for bad input).
pub async fn run_cli(args: TppArgs) -> u8 {
    match args.command {
        TppCommand::Receive(r) => receive(r).await,
        TppCommand::Poll(p) => poll_cli::poll(p).await,
    }
}

async fn receive(args: ReceiveArgs) -> u8 {
    if args.list_faults {
        print!("{}", faults::listing());
        return 0;
    }
    let (Some(jwks_url), Some(issuer), Some(audience)) =
        (args.jwks_url, args.issuer, args.audience)
    else {
        eprintln!("error: --jwks-url, --issuer and --audience are required (see --help)");
        return 2;
    };
    if !args.path.starts_with('/') {
        eprintln!("error: --path {:?} must start with /", args.path);
        return 2;
    }
    if let Err(e) = poll_cli::http_url("--jwks-url", &jwks_url)
        .and_then(|()| poll_cli::processed_file(args.processed.as_deref()))
    {
        eprintln!("error: {e}");
        return 2;
    }
    let tls = match (&args.tls.tls_cert, &args.tls.tls_key) {
        (Some(c), Some(k)) => match tls::config(c, k, args.client_ca.as_deref()) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
        (None, None) if args.client_ca.is_none() => None,
        _ => {
            eprintln!("error: --tls-cert and --tls-key go together (and --client-ca needs them)");
            return 2;
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = match tokio::net::TcpListener::bind(args.addr.as_str()).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.addr);
            return 2;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(args.addr.clone());
    let faults = TppFaults::new(args.faults);
    let expect = verify::Expect { issuer, audience };
    let poller = match poll_cli::config(&args.poll, &jwks_url, &expect, None, &faults) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let cfg = receiver::ReceiverConfig {
        jwks_url,
        expect: expect.clone(),
        path: args.path.clone(),
        processed: args.processed,
        faults,
        hooks: hooks::HooksConfig {
            application_id: args
                .application_id
                .unwrap_or_else(|| expect.audience.clone()),
            tatra_authorization: args.tatra_authorization.filter(|a| !a.is_empty()),
        },
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let polling = poller.map(|p| poller::spawn(p, stop.clone()));
    let task = receiver::spawn(cfg, listener, tls, stop.clone());
    println!("listening on {scheme}://{addr}{}", args.path);
    println!("yapily webhooks at {scheme}://{addr}{}", hooks::YAPILY_PATH);
    println!("tatra webhooks at {scheme}://{addr}{}", hooks::TATRA_PATH);
    let _ = tokio::signal::ctrl_c().await;
    stop.cancel();
    let _ = task.await;
    if let Some(p) = polling {
        let _ = p.await;
    }
    0
}
