//! Tests of profile loading and of the built-in and example profiles.

use super::*;
use crate::sandbox::SandboxConfig;
use crate::sandbox::embedded::declaration;
use crate::sandbox::personality::Bank;
use crate::sandbox::personality::Personality;

fn parse(text: &str) -> Result<Profile, ProfileError> {
    let f: ProfileFile = toml::from_str(text).map_err(|e| ProfileError(e.to_string()))?;
    Profile::from_file(f, Path::new("."), None)
}

#[test]
fn builtin_profiles_parse() {
    for bank in Bank::ALL {
        let p = Profile::for_sandbox(
            "http://127.0.0.1:1",
            &declaration(&SandboxConfig::for_bank(bank)),
        )
        .unwrap();
        assert!(p.bank.realtime);
        assert_eq!(
            p.token_endpoint.as_deref(),
            Some("http://127.0.0.1:1/token")
        );
        assert!(matches!(p.clients, Clients::Register(_)));
    }
}

/// `fixtures/profiles/<bank>.toml` are exactly the built-in profiles for a sandbox started
/// with `fixtures/profiles/sandbox.toml` on 127.0.0.1:8080. `OBEVENTS_BLESS=1` rewrites them.
#[test]
fn example_profiles_match_the_builtin_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles");
    let mut cfg = SandboxConfig::load(Some(&dir.join("sandbox.toml")), None, &[]).unwrap();
    cfg.require_request_signatures = false;
    for bank in Bank::ALL {
        cfg.personality = Personality::of(bank);
        let body = sandbox_profile_toml("http://127.0.0.1:8080", &declaration(&cfg));
        let text = format!(
            "# Example target profile for the obevents sandbox with the {bank} personality, started as\n\
             #   obevents sandbox --bank {bank} --db :memory: --config fixtures/profiles/sandbox.toml\n\
             # Run: obevents test --profile fixtures/profiles/{bank}.toml\n\
             # (Generated from the harness's built-in profile; a unit test keeps the two equal.)\n\n{body}"
        );
        let path = dir.join(format!("{bank}.toml"));
        if std::env::var_os("OBEVENTS_BLESS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap_or_default(),
            text,
            "{} is stale: run with OBEVENTS_BLESS=1",
            path.display()
        );
        Profile::load(&path, None).unwrap();
    }
}

/// `fixtures/profiles/{yapily,tatra}-webhooks.toml` are exactly the built-in dialect profiles
/// for a sandbox started with `fixtures/profiles/sandbox.toml` on 127.0.0.1:8080.
/// `OBEVENTS_BLESS=1` rewrites them.
#[test]
fn example_dialect_profiles_match_the_builtin_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles");
    let cfg = SandboxConfig::load(Some(&dir.join("sandbox.toml")), None, &[]).unwrap();
    let push = cfg.push.declaration();
    let url = "http://127.0.0.1:8080";
    for (bank, body) in [
        ("yapily", super::sandbox::yapily_profile_toml(url, &push)),
        ("tatra", super::sandbox::tatra_profile_toml(url, &push)),
    ] {
        let text = format!(
            "# Example {bank}-dialect profile for the obevents sandbox with the {bank} personality,\n\
             # started as\n\
             #   obevents sandbox --bank {bank} --db :memory: --config fixtures/profiles/sandbox.toml\n\
             # Run: obevents test --profile fixtures/profiles/{bank}-webhooks.toml\n\
             # (Generated from the harness's built-in profile; a unit test keeps the two equal.)\n\n{body}"
        );
        let path = dir.join(format!("{bank}-webhooks.toml"));
        if std::env::var_os("OBEVENTS_BLESS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap_or_default(),
            text,
            "{} is stale: run with OBEVENTS_BLESS=1",
            path.display()
        );
        Profile::load(&path, None).unwrap();
    }
}

/// The real-bank template uses only known fields (its key files do not exist, so it is
/// parsed, not validated).
#[test]
fn template_profile_has_only_known_fields() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles/template-bank.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let file: ProfileFile = toml::from_str(&text).unwrap();
    assert_eq!(file.tpp.len(), 2);
}

#[test]
fn errors_name_fields() {
    let base = r#"
        [target]
        base_url = "https://bank.example"
        token_endpoint = "/token"
        jwks_url = "/jwks"
        issuer = "https://bank.example"
    "#;
    assert!(parse(base).unwrap_err().0.contains("tpp"));
    let two = format!(
        "{base}\n[[tpp]]\nclient_id=\"a\"\nclient_secret=\"s\"\n[[tpp]]\nclient_id=\"b\"\nclient_secret=\"s\"\n"
    );
    assert!(parse(&two).is_ok());
    assert!(
        parse(&format!("{two}\n[bank]\nlong_polling = \"sometimes\""))
            .unwrap_err()
            .0
            .contains("bank.long_polling")
    );
    assert!(
        parse(&format!("{two}\n[trigger]\nkind = \"carrier-pigeon\""))
            .unwrap_err()
            .0
            .contains("trigger.kind")
    );
    assert!(
        parse(&format!("{two}\n[trigger]\nkind = \"http\""))
            .unwrap_err()
            .0
            .contains("trigger.url")
    );
    assert!(
        parse(&format!("{two}\n[bank]\nrequest_signatures = \"required\""))
            .unwrap_err()
            .0
            .contains("request_signing")
    );
}
