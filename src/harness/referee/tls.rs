//! The TLS material of a TPP profile's section on an HTTP client the referee uses (pushing to
//! the TPP, publishing to a sandbox): extra CA certificates and a client identity, with errors
//! naming the profile field.

/// `b` trusting `ca_pem` too and presenting `identity_pem`; errors name `section`'s fields.
pub fn with_pems(
    mut b: reqwest::ClientBuilder,
    section: &str,
    ca_pem: Option<&[u8]>,
    identity_pem: Option<&[u8]>,
) -> Result<reqwest::ClientBuilder, String> {
    if let Some(pem) = identity_pem {
        let id = reqwest::Identity::from_pem(pem)
            .map_err(|e| format!("TPP profile field {section}.client_cert: {e}"))?;
        b = b.identity(id);
    }
    if let Some(pem) = ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("TPP profile field {section}.ca_cert: {e}"))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b)
}
