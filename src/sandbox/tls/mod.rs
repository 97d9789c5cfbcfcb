//! HTTPS and mutual TLS for the sandbox: the server's certificate and key (`--tls-cert`,
//! `--tls-key`), whether client certificates are requested (`--client-auth`) and which CA
//! vouches for them (`--client-ca`), built once into a rustls server config; and the client
//! certificate a connection presented ([`ClientCert`], in [`cert`]), which the server puts on
//! every request of that connection for client authentication (RFC 8705) and
//! certificate-bound tokens.
//!
//! Trust model: the TLS layer checks that the client holds the private key of the certificate
//! it presents (the handshake signature). A certificate that chains to `client_ca` is marked
//! CA-verified and may authenticate a `tls_client_auth` client by its subject DN. With
//! `self_signed_client_certs` on (the default), any other certificate is let through the
//! handshake too, unverified: it can authenticate only a `self_signed_tls_client_auth` client
//! that registered that exact certificate, and it can bind tokens to itself. rustls with the
//! aws-lc-rs provider, the same crypto stack reqwest uses.

pub mod cert;
pub mod dev;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

pub use cert::{ClientCert, PeerCert};

/// Whether the server asks for client certificates (`--client-auth`, `[tls] client_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAuthMode {
    /// Not requested: plain HTTPS.
    None,
    /// Requested; a client without one is still served (as a plain bearer-token client).
    Optional,
    /// Requested; the handshake fails without one.
    Required,
}

impl std::str::FromStr for ClientAuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(ClientAuthMode::None),
            "optional" => Ok(ClientAuthMode::Optional),
            "required" => Ok(ClientAuthMode::Required),
            other => Err(format!("{other:?} is not one of none, optional, required")),
        }
    }
}

/// `[tls]` of the config file; paths are relative to the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub client_ca: Option<String>,
    pub client_auth: Option<String>,
    pub self_signed_client_certs: Option<bool>,
}

/// The TLS flags of `obevents sandbox`; each wins over `[tls]`.
#[derive(Debug, Clone, Default)]
pub struct TlsFlags {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    pub client_auth: Option<ClientAuthMode>,
}

/// PEM inputs of a TLS setup, before they are checked and built.
#[derive(Debug, Clone)]
pub struct TlsPem {
    pub cert_chain: Vec<u8>,
    pub key: Vec<u8>,
    pub client_ca: Option<Vec<u8>>,
    pub client_auth: ClientAuthMode,
    pub self_signed_client_certs: bool,
}

/// A validated TLS setup, ready to accept connections.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub client_auth: ClientAuthMode,
    /// Client certificates are checked against a CA (`tls_client_auth` is possible).
    pub has_client_ca: bool,
    /// Certificates no CA vouches for pass the handshake (`self_signed_tls_client_auth`).
    pub self_signed_client_certs: bool,
    server: Arc<rustls::ServerConfig>,
    ca: Option<Arc<dyn ClientCertVerifier>>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certs(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no CERTIFICATE block in the PEM"));
    }
    Ok(certs)
}

impl TlsConfig {
    /// Merges flags over `[tls]` (paths of the file relative to `dir`), reads the PEM files and
    /// builds the setup; `None` when neither asks for TLS. Errors name the flag or field.
    pub fn resolve(
        file: Option<TlsFile>,
        flags: &TlsFlags,
        dir: Option<&Path>,
    ) -> Result<Option<TlsConfig>, String> {
        let file = file.unwrap_or_default();
        let in_dir = |p: &String| dir.map_or_else(|| PathBuf::from(p), |d| d.join(p));
        let pick = |flag: &Option<PathBuf>,
                    field: &Option<String>,
                    name: &str,
                    field_name: &str| match (flag, field) {
            (Some(f), _) => Some((f.clone(), format!("--{name} {}", f.display()))),
            (None, Some(p)) => Some((in_dir(p), format!("config field tls.{field_name}"))),
            (None, None) => None,
        };
        let cert = pick(&flags.cert, &file.cert, "tls-cert", "cert");
        let key = pick(&flags.key, &file.key, "tls-key", "key");
        let ca = pick(&flags.client_ca, &file.client_ca, "client-ca", "client_ca");
        let mode = match (flags.client_auth, &file.client_auth) {
            (Some(m), _) => Some(m),
            (None, Some(s)) => Some(
                s.parse::<ClientAuthMode>()
                    .map_err(|e| format!("config field tls.client_auth: {e}"))?,
            ),
            (None, None) => None,
        };
        let (cert, key) = match (cert, key) {
            (Some(c), Some(k)) => (c, k),
            (None, None) if ca.is_none() && mode.is_none_or(|m| m == ClientAuthMode::None) => {
                return Ok(None);
            }
            (Some(_), None) => return Err("--tls-cert needs --tls-key (or tls.key)".into()),
            _ => {
                return Err(
                    "--client-ca, --client-auth and --tls-key need --tls-cert (or tls.cert)".into(),
                );
            }
        };
        let read = |(path, what): &(PathBuf, String)| {
            std::fs::read(path).map_err(|e| format!("{what}: cannot read {}: {e}", path.display()))
        };
        let pem = TlsPem {
            cert_chain: read(&cert)?,
            key: read(&key)?,
            client_ca: ca.as_ref().map(read).transpose()?,
            // A CA is given to check client certificates, so it asks for them by default.
            client_auth: mode.unwrap_or(if ca.is_some() {
                ClientAuthMode::Optional
            } else {
                ClientAuthMode::None
            }),
            self_signed_client_certs: file.self_signed_client_certs.unwrap_or(true),
        };
        TlsConfig::from_pem(&pem).map(Some)
    }

    /// Checks the PEM inputs and builds the rustls server config.
    pub fn from_pem(pem: &TlsPem) -> Result<TlsConfig, String> {
        let chain = certs("TLS certificate", &pem.cert_chain)?;
        let key = PrivateKeyDer::from_pem_slice(&pem.key)
            .map_err(|e| format!("TLS key: not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"))?;
        let ca = match &pem.client_ca {
            None => None,
            Some(ca_pem) => {
                let mut roots = RootCertStore::empty();
                for c in certs("client CA", ca_pem)? {
                    roots
                        .add(c)
                        .map_err(|e| format!("client CA: unusable certificate: {e}"))?;
                }
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| format!("client CA: {e}"))?;
                Some(v)
            }
        };
        let mode = pem.client_auth;
        if mode != ClientAuthMode::None && ca.is_none() && !pem.self_signed_client_certs {
            return Err("client certificates are requested, but with no client CA and self_signed_client_certs = false none could be accepted".into());
        }
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = if mode == ClientAuthMode::None {
            builder.with_no_client_auth()
        } else {
            builder.with_client_cert_verifier(Arc::new(Verifier {
                ca: ca.clone(),
                mandatory: mode == ClientAuthMode::Required,
                any_cert: pem.self_signed_client_certs,
                algorithms: provider().signature_verification_algorithms,
            }))
        };
        let mut server = builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("TLS certificate and key: {e}"))?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsConfig {
            client_auth: mode,
            has_client_ca: ca.is_some(),
            self_signed_client_certs: pem.self_signed_client_certs,
            server: Arc::new(server),
            ca,
        })
    }

    /// Client certificates are requested at all.
    pub fn mtls(&self) -> bool {
        self.client_auth != ClientAuthMode::None
    }

    /// The token endpoint authentication methods this setup makes possible (RFC 8705 §2).
    pub fn auth_methods(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.mtls() && self.has_client_ca {
            out.push("tls_client_auth");
        }
        if self.mtls() && self.self_signed_client_certs {
            out.push("self_signed_tls_client_auth");
        }
        out
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.server))
    }

    /// What a finished handshake says about the client: its certificate, and whether the
    /// client CA vouches for it (checked again here, since the handshake may have let an
    /// unverified certificate through for `self_signed_tls_client_auth`).
    pub fn client_cert(&self, chain: &[CertificateDer<'_>]) -> Option<ClientCert> {
        let (leaf, intermediates) = chain.split_first()?;
        let ca_verified = self.ca.as_ref().is_some_and(|v| {
            v.verify_client_cert(leaf, intermediates, UnixTime::now())
                .is_ok()
        });
        Some(ClientCert::new(leaf.as_ref().to_vec(), ca_verified))
    }
}

/// The handshake's client-certificate check: CA-issued certificates pass; others pass only
/// when self-signed certificates are allowed. The handshake signature is always verified
/// with the presented certificate's key, so a client holds the key of what it presents.
#[derive(Debug)]
struct Verifier {
    ca: Option<Arc<dyn ClientCertVerifier>>,
    mandatory: bool,
    any_cert: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for Verifier {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // With self-signed certificates allowed, hint nothing: a client should send whatever
        // certificate it has.
        match &self.ca {
            Some(ca) if !self.any_cert => ca.root_hint_subjects(),
            _ => &[],
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let by_ca = match &self.ca {
            Some(ca) => ca.verify_client_cert(end_entity, intermediates, now),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        };
        match by_ca {
            Ok(v) => Ok(v),
            // Still a certificate: it must parse, so a garbage blob is refused here.
            Err(_) if self.any_cert && cert::parses(end_entity) => {
                Ok(ClientCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_and_the_flags_merge_and_a_client_ca_asks_for_certificates() {
        let pki = dev::DevPki::generate().unwrap();
        let dir = std::env::temp_dir().join(format!("obevents-tls-unit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s.pem"), &pki.server.cert_pem).unwrap();
        std::fs::write(dir.join("s.key"), &pki.server.key_pem).unwrap();
        std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
        let file = |ca: bool| TlsFile {
            cert: Some("s.pem".into()),
            key: Some("s.key".into()),
            client_ca: ca.then(|| "ca.pem".into()),
            ..Default::default()
        };
        let none = TlsFlags::default();
        let t = TlsConfig::resolve(Some(file(false)), &none, Some(&dir))
            .unwrap()
            .unwrap();
        assert_eq!(t.client_auth, ClientAuthMode::None);
        assert!(t.auth_methods().is_empty());
        let t = TlsConfig::resolve(Some(file(true)), &none, Some(&dir))
            .unwrap()
            .unwrap();
        assert_eq!(t.client_auth, ClientAuthMode::Optional);
        assert_eq!(
            t.auth_methods(),
            ["tls_client_auth", "self_signed_tls_client_auth"]
        );
        let required = TlsFlags {
            client_auth: Some(ClientAuthMode::Required),
            ..Default::default()
        };
        let t = TlsConfig::resolve(Some(file(true)), &required, Some(&dir))
            .unwrap()
            .unwrap();
        assert_eq!(t.client_auth, ClientAuthMode::Required);
        assert!(TlsConfig::resolve(None, &none, None).unwrap().is_none());
        let e = TlsConfig::resolve(None, &required, None).unwrap_err();
        assert!(e.contains("--tls-cert"), "{e}");
        // A key that is not the certificate's.
        let other = dev::DevPki::generate().unwrap();
        std::fs::write(dir.join("s.key"), &other.server.key_pem).unwrap();
        let e = TlsConfig::resolve(Some(file(false)), &none, Some(&dir)).unwrap_err();
        assert!(e.contains("TLS certificate and key"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
