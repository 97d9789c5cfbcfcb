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

/// Two fixed TPPs at a bank, then `extra` TOML.
fn with_tpps(extra: &str) -> Result<Profile, ProfileError> {
    parse(&format!(
        r#"
        [target]
        base_url = "https://bank.example"
        token_endpoint = "/token"
        [[tpp]]
        client_id = "a"
        client_secret = "s"
        [[tpp]]
        client_id = "b"
        client_secret = "s"
        {extra}
        "#
    ))
}

/// The bank's own event types (issue 19 §5): a plain name mapped to its URI, a URN, OBIE's in
/// another spelling; what the trigger is given for each; `[]` leaves the types to the trigger.
#[test]
fn a_bank_may_name_event_types_of_its_own() {
    let p = with_tpps(
        r#"
        [bank]
        event_types = ["payment-created", "urn:example:events:refund", "resource-update"]
        event_type_urns = { "payment-created" = "https://bank.example/events/payment-created" }
        [trigger]
        kind = "manual"
        prompt = "raise {event_type}"
        event_type_values = { "payment-created" = "PAYMENT_CREATED" }
        "#,
    )
    .unwrap();
    let names: Vec<(&str, Option<&str>, bool)> = p
        .trigger_types
        .iter()
        .map(|t| (t.name.as_str(), t.urn.as_deref(), t.ob.is_some()))
        .collect();
    assert_eq!(
        names,
        [
            (
                "payment-created",
                Some("https://bank.example/events/payment-created"),
                false
            ),
            (
                "urn:example:events:refund",
                Some("urn:example:events:refund"),
                false
            ),
            (
                "UK.OBIE.Resource-Update",
                Some("urn:uk:org:openbanking:events:resource-update"),
                true
            ),
        ]
    );
    let values: Vec<String> = p.trigger_types.iter().map(|t| p.trigger_value(t)).collect();
    assert_eq!(
        values,
        [
            "PAYMENT_CREATED",
            "urn:example:events:refund",
            "urn:uk:org:openbanking:events:resource-update"
        ]
    );

    let open = with_tpps(
        "[bank]\nevent_types = []\n[trigger]\nkind = \"manual\"\nprompt = \"go\"\nevent_types = [\"order-shipped\"]",
    )
    .unwrap();
    assert!(open.bank.event_types.is_empty());
    assert_eq!(open.trigger_types[0].code(), "order-shipped");

    for (extra, field) in [
        (
            "[bank]\nevent_types = [\"x\"]\nevent_type_urns = { x = \"not a uri\" }",
            "bank.event_type_urns.x",
        ),
        ("[bank]\nevent_types = [\"x\", \"x\"]", "bank.event_types"),
        (
            "[bank]\nevent_types = [\"x\"]\n[trigger]\nkind = \"manual\"\nprompt = \"go\"\nevent_types = [\"y\"]",
            "trigger.event_types",
        ),
        (
            "[trigger]\nkind = \"manual\"\nprompt = \"go\"\nevent_type_values = { y = \"Y\" }",
            "trigger.event_type_values.y",
        ),
    ] {
        let e = with_tpps(extra).unwrap_err().0;
        assert!(e.contains(field), "{extra}: {e}");
    }
}

/// Settings that cannot go together: `rfc8936` requiring `moreAvailable`, stream actions
/// without `registration = "stream"`, `registration = "stream"` without the create call.
#[test]
fn contradictory_settings_name_their_field() {
    let rfc = parse(
        r#"
        conformance = "rfc8936"
        [target]
        base_url = "https://ssf.example"
        [[tpp]]
        client_id = "a"
        auth_method = "bearer"
        access_token = "t"
        [[tpp]]
        client_id = "b"
        auth_method = "bearer"
        access_token = "u"
        [bank]
        more_available_required = true
        "#,
    )
    .unwrap_err()
    .0;
    assert!(rfc.contains("bank.more_available_required"), "{rfc}");
    let stray = with_tpps(
        "[push]\n[push.stream_delete]\nkind = \"manual\"\nprompt = \"delete {stream_id}\"",
    )
    .unwrap_err()
    .0;
    assert!(stray.contains("push.stream"), "{stray}");
    let missing = with_tpps("[push]\nregistration = \"stream\"")
        .unwrap_err()
        .0;
    assert!(missing.contains("push.stream"), "{missing}");
}
