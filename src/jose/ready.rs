//! The one-time pass through OpenSSL that every signing and verifying path waits for.
//!
//! OpenSSL 3.0 (Debian 12's) can fail an algorithm or decoder fetch made by several threads at
//! once while its tables are still empty (openssl/openssl#13682). Here it showed as a valid SET
//! refused with `X509_PUBKEY_get0: decode error`: the reference TPP's polling client verified
//! its first page while the receiver's start-up was generating and using a key on another
//! thread, about one run in twenty on a loaded machine. One of each fetch done alone fills the
//! tables for good, so [`ready`] runs them once per process — RSA key generation, PS256 and
//! RS256 signing and verification (a verifier built from the public JWK, as for a JWKS), an EC
//! P-256 key with ES256, and HMAC-SHA256 — and every entry point of this module that reaches
//! OpenSSL calls it first. Threads that arrive meanwhile wait for the pass to finish rather than
//! race it. Servers still call it at start-up, off their async workers, so the first request
//! does not pay for it.

use std::sync::OnceLock;

use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jws::{ES256, HS256, JwsSigner, JwsVerifier, PS256, RS256};

use super::{JoseError, KeyRole, key_err};

/// The outcome of the pass, once it ran (kept as text: `JoseError` is cloned out of it).
static DONE: OnceLock<Result<(), String>> = OnceLock::new();

/// Runs the pass the first time any thread asks, and waits for it; later calls return at once.
pub fn ready() -> Result<(), JoseError> {
    DONE.get_or_init(|| exercise().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| JoseError::Key(format!("OpenSSL warm-up: {e}")))
}

/// One of each OpenSSL operation the product uses. Calls nothing that waits on [`ready`]: the
/// pass runs inside `DONE`'s initialisation.
fn exercise() -> Result<(), JoseError> {
    // The process's unpublished key: a later `for_process(Unpublished)` reuses it.
    let rsa = super::process_jwk(KeyRole::Unpublished)?;
    let public = rsa.to_public_key().map_err(key_err)?;
    round(
        &PS256.signer_from_jwk(&rsa).map_err(key_err)?,
        &PS256.verifier_from_jwk(&public).map_err(key_err)?,
    )?;
    round(
        &RS256.signer_from_jwk(&rsa).map_err(key_err)?,
        &RS256.verifier_from_jwk(&public).map_err(key_err)?,
    )?;
    let ec = Jwk::generate_ec_key(EcCurve::P256).map_err(key_err)?;
    let ec_public = ec.to_public_key().map_err(key_err)?;
    round(
        &ES256.signer_from_jwk(&ec).map_err(key_err)?,
        &ES256.verifier_from_jwk(&ec_public).map_err(key_err)?,
    )?;
    let secret = [7u8; 32];
    round(
        &HS256.signer_from_bytes(secret).map_err(key_err)?,
        &HS256.verifier_from_bytes(secret).map_err(key_err)?,
    )
}

fn round(signer: &dyn JwsSigner, verifier: &dyn JwsVerifier) -> Result<(), JoseError> {
    let input = b"obevents: one pass through OpenSSL";
    let signature = signer.sign(input).map_err(key_err)?;
    verifier
        .verify(input, &signature)
        .map_err(|e| JoseError::BadSignature(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pass_succeeds_and_every_later_call_returns_its_outcome() {
        ready().unwrap();
        ready().unwrap();
        assert!(DONE.get().is_some_and(Result::is_ok));
    }
}
