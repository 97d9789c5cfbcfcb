//! Development certificates made at run time: a CA, a server certificate, and client
//! certificates, CA-issued or self-signed. The main job's HTTPS + mTLS pass and the tests use
//! throwaway ones for loopback (never stored, so nothing private is committed); `obevents
//! certs` writes longer-lived ones for an operator's development sandbox.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;

/// A CA and a server certificate it issued for `127.0.0.1`, `::1` and `localhost`.
pub struct DevPki {
    pub ca_pem: String,
    /// The CA's private key (PKCS#8 PEM), for `obevents certs` to write beside it.
    pub ca_key_pem: String,
    pub server: DevIdentity,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for DevPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevPki").finish_non_exhaustive()
    }
}

/// A certificate and its private key, as PEM (the key PKCS#8), and the certificate's DER.
#[derive(Clone)]
pub struct DevIdentity {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

fn err(e: rcgen::Error) -> String {
    format!("cannot make a test certificate: {e}")
}

/// Valid from an hour ago (clock skew) for `days`.
fn params_for(cn: &str, sans: Vec<String>, days: i64) -> Result<CertificateParams, String> {
    let mut p = CertificateParams::new(sans).map_err(err)?;
    p.distinguished_name
        .push(DnType::OrganizationName, "obevents");
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(days);
    Ok(p)
}

/// For one run: valid for a day.
fn params(cn: &str, sans: Vec<String>) -> Result<CertificateParams, String> {
    params_for(cn, sans, 1)
}

fn identity(cert: rcgen::Certificate, key: &KeyPair) -> DevIdentity {
    DevIdentity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
    }
}

impl DevPki {
    /// A CA and a loopback server certificate that live for one run.
    pub fn generate() -> Result<DevPki, String> {
        let loopback = ["localhost", "127.0.0.1", "::1"].map(String::from);
        DevPki::issue("obevents test CA", &loopback, 1)
    }

    /// A CA named `ca_name` and a server certificate for `names` (DNS names or IP
    /// addresses), both valid for `days`.
    pub fn issue(ca_name: &str, names: &[String], days: i64) -> Result<DevPki, String> {
        let mut ca = params_for(ca_name, Vec::new(), days)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(err)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca, ca_key);
        let mut sp = params_for("obevents sandbox", names.to_vec(), days)?;
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().map_err(err)?;
        let server = identity(
            sp.signed_by(&server_key, &issuer).map_err(err)?,
            &server_key,
        );
        Ok(DevPki {
            ca_pem: ca_cert.pem(),
            ca_key_pem,
            server,
            issuer,
        })
    }

    /// A client certificate with subject `CN=cn,O=obevents` issued by the CA, for one run.
    pub fn client(&self, cn: &str) -> Result<DevIdentity, String> {
        self.client_for(cn, 1)
    }

    /// A client certificate with subject `CN=cn,O=obevents` issued by the CA, valid `days`.
    pub fn client_for(&self, cn: &str, days: i64) -> Result<DevIdentity, String> {
        let mut p = params_for(cn, Vec::new(), days)?;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(err)?;
        Ok(identity(
            p.signed_by(&key, &self.issuer).map_err(err)?,
            &key,
        ))
    }
}

impl DevIdentity {
    /// A self-signed client certificate with subject `CN=cn,O=obevents`.
    pub fn self_signed(cn: &str) -> Result<DevIdentity, String> {
        let mut p = params(cn, Vec::new())?;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(err)?;
        Ok(identity(p.self_signed(&key).map_err(err)?, &key))
    }

    /// Certificate and key in one PEM, as reqwest's `Identity::from_pem` takes them.
    pub fn identity_pem(&self) -> Vec<u8> {
        format!("{}\n{}", self.cert_pem, self.key_pem).into_bytes()
    }

    /// The public key as a JWK carrying the certificate in `x5c`: how a
    /// `self_signed_tls_client_auth` client registers its certificate (RFC 8705 §2.2.2).
    pub fn jwk(&self) -> Value {
        super::cert::certificate_jwk(&self.cert_der).unwrap_or_default()
    }
}
