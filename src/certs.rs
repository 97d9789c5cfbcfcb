//! `obevents certs --out DIR`: a development PKI for running the sandbox over HTTPS with mutual
//! TLS — a CA, a server certificate for the names the sandbox is reached by, and client
//! certificates for TPPs (CA-issued, for `tls_client_auth`) — written as PEM files an operator
//! points `[tls]` and the TPPs at. Not for production: the CA key sits beside its certificate.

use std::path::Path;

use crate::cli::CertsArgs;
use crate::sandbox::tls::dev::{DevIdentity, DevPki};

/// `obevents certs`; returns the exit code (2 with one line on stderr when it cannot write).
pub fn run_cli(args: CertsArgs) -> u8 {
    match write(&args) {
        Ok(written) => {
            for line in written {
                println!("{line}");
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// Whether `name` can stand in a certificate's subject alternative names: an IP address, or
/// a DNS name of 1–63-character labels (letters, digits, '-' not first or last), its first
/// label possibly the wildcard `*`.
fn host_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let rest = name.strip_prefix("*.").unwrap_or(name);
    name.len() <= 253 && !rest.is_empty() && rest.split('.').all(label)
}

/// Writes the files and says what each is for.
fn write(args: &CertsArgs) -> Result<Vec<String>, String> {
    let names = if args.names.is_empty() {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    } else {
        args.names.clone()
    };
    for name in &names {
        if !host_name(name) {
            return Err(format!(
                "--name {name:?}: not an IP address or a DNS name (labels of letters, digits and '-', a '*.' wildcard first at most)"
            ));
        }
    }
    for client in &args.clients {
        if client.is_empty()
            || client.chars().all(|c| c == '.')
            || !client
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "--client {client:?}: use letters, digits, '-', '_' or '.' (it names the files)"
            ));
        }
    }
    let pki = DevPki::issue("obevents development CA", &names, args.days)?;
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut files: Vec<(String, String, bool)> = vec![
        ("ca.pem".into(), pki.ca_pem.clone(), false),
        ("ca-key.pem".into(), pki.ca_key_pem.clone(), true),
        ("server.pem".into(), pki.server.cert_pem.clone(), false),
        ("server-key.pem".into(), pki.server.key_pem.clone(), true),
    ];
    let mut clients: Vec<(String, DevIdentity)> = Vec::new();
    for cn in &args.clients {
        clients.push((cn.clone(), pki.client_for(cn, args.days)?));
    }
    for (cn, id) in &clients {
        files.push((format!("client-{cn}.pem"), id.cert_pem.clone(), false));
        files.push((format!("client-{cn}-key.pem"), id.key_pem.clone(), true));
    }
    if !args.force
        && let Some((name, _, _)) = files.iter().find(|(n, _, _)| out.join(n).exists())
    {
        return Err(format!(
            "{} already exists (use --force to replace the files)",
            out.join(name).display()
        ));
    }
    let mut said = Vec::new();
    for (name, pem, private) in &files {
        let path = out.join(name);
        write_file(&path, pem, *private)?;
        said.push(format!("wrote {}", path.display()));
    }
    said.push(format!(
        "server certificate for {} valid {} days; client certificates: {}",
        names.join(", "),
        args.days,
        if args.clients.is_empty() {
            "none (add --client NAME)".into()
        } else {
            args.clients.join(", ")
        }
    ));
    Ok(said)
}

/// Writes `pem` to `path`, private keys readable by the owner only.
fn write_file(path: &Path, pem: &str, private: bool) -> Result<(), String> {
    std::fs::write(path, pem).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}
