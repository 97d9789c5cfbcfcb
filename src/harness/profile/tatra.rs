//! The `[tatra]` section (with `dialect = "tatra"`): how the harness drives a
//! Tatra-banka-style bank (webhook-dialects.md §2) — its webhook settings, consents and
//! refreshes as `[trigger]`-shaped actions, the activation rule it declares, and how its
//! webhook bodies name their kind.

use std::time::Duration;

use super::{BankSettings, Dialect, ProfileError, TatraFile, Trigger, TriggerFile, err, trigger};

/// When enabled webhook settings take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// At the next full hour after enabling (the seed's rule).
    NextHour,
    /// At once.
    Immediate,
}

/// The validated `[tatra]` section.
#[derive(Debug, Clone)]
pub struct TatraSettings {
    pub home_bank: String,
    pub activation: Activation,
    /// The applications' webhooks are enabled and active before the run and must stay so.
    pub already_active: bool,
    pub kind_field: Option<String>,
    pub consent_id_pointer: String,
    pub accounts_pointer: String,
    pub task_id_pointer: String,
    pub refresh_timeout: Duration,
    pub settings: Option<Trigger>,
    pub activate: Option<Trigger>,
    pub consent: Option<Trigger>,
    pub refresh: Option<Trigger>,
}

impl TatraSettings {
    /// Can the harness make a TPP's settings active again after disabling them: activation
    /// is immediate, or the bank offers a way to activate at once.
    pub fn can_activate(&self) -> bool {
        self.settings.is_some()
            && (self.activation == Activation::Immediate || self.activate.is_some())
    }

    /// Can a scenario have its TPP's webhooks active at its receiver: re-activation works, or
    /// they are active already and only their URL and header change.
    pub fn can_be_active(&self) -> bool {
        self.can_activate() || (self.settings.is_some() && self.already_active)
    }

    /// Does the bank expose the settings as an API (so refusals can be observed)?
    pub fn settings_api(&self) -> bool {
        matches!(self.settings, Some(Trigger::Http { .. }))
    }
}

fn pointer(field: &str, value: Option<String>, default: &str) -> Result<String, ProfileError> {
    let p = value.unwrap_or_else(|| default.to_string());
    if !p.is_empty() && !p.starts_with('/') {
        return err(field, "must be a JSON pointer (\"/consentId\")");
    }
    Ok(p)
}

/// Validates `[tatra]` for `dialect`; the section belongs to `dialect = "tatra"` only.
pub(super) fn tatra(
    dialect: Dialect,
    section: Option<TatraFile>,
    bank: &BankSettings,
    event_timeout: Duration,
    fixed_clients: bool,
) -> Result<Option<TatraSettings>, ProfileError> {
    if dialect != Dialect::Tatra {
        return match section {
            Some(_) => err("tatra", "is only for dialect = \"tatra\""),
            None => Ok(None),
        };
    }
    let f = section.unwrap_or_default();
    let activation = activation(f.activation.as_deref())?;
    let home_bank = f.home_bank.unwrap_or_else(|| "TATR".into());
    if home_bank.trim().is_empty() {
        return err(
            "tatra.home_bank",
            "must name the bank code of the bank's own accounts",
        );
    }
    if let Some(k) = &f.kind_field
        && k.trim().is_empty()
    {
        return err("tatra.kind_field", "must name a field, or be left out");
    }
    let already_active = f.already_active.unwrap_or(false);
    if already_active && !fixed_clients {
        return err(
            "tatra.already_active",
            "needs fixed [[tpp]] clients: applications registered during the run were never enabled",
        );
    }
    let settings = TatraSettings {
        home_bank,
        activation,
        already_active,
        kind_field: f.kind_field,
        consent_id_pointer: pointer(
            "tatra.consent_id_pointer",
            f.consent_id_pointer,
            "/consentId",
        )?,
        accounts_pointer: pointer("tatra.accounts_pointer", f.accounts_pointer, "/accounts")?,
        task_id_pointer: pointer("tatra.task_id_pointer", f.task_id_pointer, "/taskId")?,
        refresh_timeout: f
            .refresh_timeout_ms
            .map(|ms| Duration::from_millis(ms.max(1)))
            .unwrap_or(event_timeout),
        settings: action(f.settings, "settings", bank)?,
        activate: action(f.activate, "activate", bank)?,
        consent: action(f.consent, "consent", bank)?,
        refresh: action(f.refresh, "refresh", bank)?,
    };
    check_actions(&settings)?;
    Ok(Some(settings))
}

fn activation(v: Option<&str>) -> Result<Activation, ProfileError> {
    match v {
        None | Some("next-hour") => Ok(Activation::NextHour),
        Some("immediate") => Ok(Activation::Immediate),
        Some(other) => err(
            "tatra.activation",
            format!("{other:?} is not one of next-hour, immediate"),
        ),
    }
}

/// The action `tatra.<field>`, if given (`kind = "none"` is none); a manual one without a
/// prompt gets the default prompt for that action.
fn action(
    file: Option<TriggerFile>,
    field: &str,
    bank: &BankSettings,
) -> Result<Option<Trigger>, ProfileError> {
    let Some(mut file) = file else {
        return Ok(None);
    };
    if file.kind == "manual" && file.prompt.is_none() {
        file.prompt = Some(manual_prompt(field).to_string());
    }
    let action = trigger::action_at(file, &format!("tatra.{field}"), bank)?;
    Ok(Some(action).filter(|t| !matches!(t, Trigger::None)))
}

/// The harness reads the answers of `consent` and `refresh`, and activation follows enabling.
fn check_actions(settings: &TatraSettings) -> Result<(), ProfileError> {
    for (field, t) in [
        ("consent", &settings.consent),
        ("refresh", &settings.refresh),
    ] {
        if matches!(t, Some(Trigger::Manual { .. })) {
            return err(
                &format!("tatra.{field}.kind"),
                "cannot be manual: the harness must read the answer (use http, or a command \
                 printing it as JSON)",
            );
        }
    }
    if settings.activate.is_some() && settings.settings.is_none() {
        return err(
            "tatra.activate",
            "needs tatra.settings (activation follows enabling)",
        );
    }
    Ok(())
}

/// What a person is asked to do for a manual action without its own prompt.
fn manual_prompt(field: &str) -> &'static str {
    match field {
        "settings" => {
            "Set the webhook settings of application {client_id}: Webhook Enabled = {enabled}, \
             Webhook Endpoint (URL) = {webhook_url}, Webhook Security Header = \
             \"{security_header}\"; then press Enter"
        }
        _ => {
            "Make enabled webhook settings of application {client_id} active now, then press Enter"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::profile::{Profile, ProfileFile};

    fn load(extra: &str) -> Result<Profile, ProfileError> {
        let text = format!(
            "dialect = \"tatra\"\n[target]\nbase_url = \"http://127.0.0.1:1\"\n\
             [registration]\nendpoint = \"/register\"\n{extra}"
        );
        let file: ProfileFile = toml::from_str(&text).map_err(|e| ProfileError(e.to_string()))?;
        Profile::from_file(file, std::path::Path::new("."), None)
    }

    #[test]
    fn defaults_follow_the_seed_and_the_sandbox() {
        let p = load("").unwrap();
        let t = p.tatra.unwrap();
        assert_eq!(t.activation, Activation::NextHour);
        assert_eq!(t.home_bank, "TATR");
        assert_eq!(t.consent_id_pointer, "/consentId");
        assert!(!t.can_activate() && !t.settings_api());
    }

    #[test]
    fn bad_sections_name_their_field() {
        let e = load("[tatra]\nactivation = \"soon\"").unwrap_err().0;
        assert!(e.contains("tatra.activation"), "{e}");
        let e = load("[tatra.consent]\nkind = \"manual\"").unwrap_err().0;
        assert!(e.contains("tatra.consent.kind"), "{e}");
        let e = load("[tatra]\ntask_id_pointer = \"taskId\"").unwrap_err().0;
        assert!(e.contains("tatra.task_id_pointer"), "{e}");
        let e = load("[tatra.activate]\nkind = \"http\"\nurl = \"/a\"")
            .unwrap_err()
            .0;
        assert!(e.contains("tatra.activate"), "{e}");
    }

    #[test]
    fn activation_needs_settings_and_a_way_to_hurry() {
        let settings = "[tatra.settings]\nkind = \"http\"\nurl = \"/s\"\n";
        let t = load(settings).unwrap().tatra.unwrap();
        assert!(t.settings_api() && !t.can_activate());
        let t = load(&format!(
            "{settings}[tatra.activate]\nkind = \"http\"\nurl = \"/a\"\n"
        ))
        .unwrap()
        .tatra
        .unwrap();
        assert!(t.can_activate());
        let t = load(&format!("[tatra]\nactivation = \"immediate\"\n{settings}"))
            .unwrap()
            .tatra
            .unwrap();
        assert!(t.can_activate());
    }

    #[test]
    fn already_active_applications_are_fixed_ones() {
        let settings =
            "[tatra]\nalready_active = true\n[tatra.settings]\nkind = \"http\"\nurl = \"/s\"\n";
        let e = load(settings).unwrap_err().0;
        assert!(e.contains("tatra.already_active"), "{e}");
        let text = format!(
            "dialect = \"tatra\"\n[target]\nbase_url = \"http://127.0.0.1:1\"\n\
             [[tpp]]\nclient_id = \"a\"\nclient_secret = \"s\"\n\
             [[tpp]]\nclient_id = \"b\"\nclient_secret = \"s\"\n{settings}"
        );
        let file: ProfileFile = toml::from_str(&text).unwrap();
        let t = Profile::from_file(file, std::path::Path::new("."), None)
            .unwrap()
            .tatra
            .unwrap();
        assert!(t.can_be_active() && !t.can_activate());
    }

    #[test]
    fn the_section_belongs_to_the_dialect() {
        let text = "[target]\nbase_url = \"http://127.0.0.1:1\"\ntoken_endpoint = \"/t\"\n\
                    [registration]\nendpoint = \"/r\"\n[tatra]\n";
        let file: ProfileFile = toml::from_str(text).unwrap();
        let e = Profile::from_file(file, std::path::Path::new("."), None)
            .unwrap_err()
            .0;
        assert!(e.contains("field tatra"), "{e}");
    }
}
