//! TPP profiles (`obevents test --tpp FILE`): how the harness reaches a TPP it referees — the
//! referee bank it plays (`[referee]`), how the TPP is started for the run (`[start]`), its
//! push receiver (`[push]`), how to see what it processed (`[observe]`) and where its
//! verdicts are published (`[publish]`, `tpp_publish`). Read like a bank profile: unknown
//! fields are refused and every error names the field. Strings may hold the run's
//! placeholders (`{port}`, `{jwks_url}`, …, see [`Vars`]), filled in once the referee runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use super::tpp_dialects::{HookReceiver, TatraReceiver, YapilyReceiver};
use super::{ProfileError, err, tls_pems};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TppProfileFile {
    name: Option<String>,
    #[serde(default)]
    referee: RefereeFile,
    start: Option<StartFile>,
    push: Option<PushFile>,
    polling: Option<super::tpp_polling::PollingFile>,
    observe: Option<ObserveFile>,
    yapily: Option<super::tpp_dialects::YapilyFile>,
    tatra: Option<super::tpp_dialects::TatraFile>,
    publish: Option<super::tpp_publish::PublishFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefereeFile {
    addr: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartFile {
    command: Vec<String>,
    ready_timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushFile {
    url: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    ca_cert: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    answer_within_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObserveFile {
    kind: String,
    path: Option<String>,
    url: Option<String>,
    command: Option<Vec<String>>,
    wait_ms: Option<u64>,
}

/// A validated TPP profile.
#[derive(Debug, Clone)]
pub struct TppProfile {
    pub name: String,
    pub referee: RefereeSettings,
    pub start: Option<StartSettings>,
    pub push: Option<PushReceiver>,
    /// The TPP's polling client (`[polling]`).
    pub polling: Option<super::tpp_polling::PollingClient>,
    pub observe: Option<Observation>,
    /// The TPP's Yapily-style notification receiver.
    pub yapily: Option<YapilyReceiver>,
    /// The TPP's Tatra-style webhook receiver.
    pub tatra: Option<TatraReceiver>,
    /// Where the run's summary is published when it ends (`[publish]`).
    pub publish: Option<super::tpp_publish::PublishSettings>,
    /// The folder of the profile file: relative paths are read from here.
    pub dir: PathBuf,
}

/// The bank the harness plays for the TPP.
#[derive(Debug, Clone)]
pub struct RefereeSettings {
    /// `HOST:PORT` the referee listens on (default `127.0.0.1:0`, a free port).
    pub addr: String,
    /// The `iss` of its SETs (default: its URL).
    pub issuer: Option<String>,
    /// The TPP's client at the referee (default: a fresh one registered for the run); its id
    /// is the `aud` of the SETs meant for the TPP.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// How the TPP is started for the run (and stopped after it).
#[derive(Debug, Clone)]
pub struct StartSettings {
    /// Program and arguments (placeholders allowed).
    pub command: Vec<String>,
    /// How long the TPP's endpoints may take to accept connections.
    pub ready_timeout: Duration,
}

/// The TPP's OBIE / RFC 8935 push receiver.
#[derive(Debug, Clone)]
pub struct PushReceiver {
    /// The receiver's URL (placeholders allowed).
    pub url: String,
    /// Extra CA certificates (PEM) the receiver's server certificate is checked against.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key (PEM, concatenated) for mutual TLS to the receiver.
    pub identity_pem: Option<Vec<u8>>,
    /// The answer time the TPP declares; a slower answer fails R8935-07.
    pub answer_within: Duration,
    /// Extra headers on every push (e.g. an `Authorization` the TPP's gateway wants).
    pub headers: Vec<(String, String)>,
}

/// Where the harness reads which SETs the TPP processed: one jti (or event id) per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObserveSource {
    /// A file the TPP appends to.
    File(String),
    /// An HTTP GET answering the list.
    Http(String),
    /// A command (program and arguments) printing the list on stdout.
    Command(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Observation {
    pub source: ObserveSource,
    /// How long a processed SET may take to show.
    pub wait: Duration,
}

/// The values the placeholders of a TPP profile stand for in one run; each is also given to
/// the start command as the environment variable `OBEVENTS_<NAME>` (upper case).
#[derive(Debug, Clone, Default)]
pub struct Vars(pub Vec<(&'static str, String)>);

impl Vars {
    /// The placeholder names, in the order the README lists them.
    pub const NAMES: [&'static str; 13] = [
        "port",
        "run_dir",
        "base_url",
        "issuer",
        "jwks_url",
        "token_url",
        "client_id",
        "client_secret",
        "audience",
        "ob_iss",
        "trust_anchor",
        "profile_dir",
        "events_url",
    ];

    /// `text` with every `{name}` replaced.
    pub fn render(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in &self.0 {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        out
    }

    /// The `OBEVENTS_*` environment of the start command.
    pub fn env(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(k, v)| (format!("OBEVENTS_{}", k.to_ascii_uppercase()), v.clone()))
            .collect()
    }
}

/// Every `{…}` in `text` names a placeholder.
fn known_placeholders(field: &str, text: &str) -> Result<(), ProfileError> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !Vars::NAMES.contains(&name) {
            return err(
                field,
                format!(
                    "unknown placeholder {{{name}}} (known: {})",
                    Vars::NAMES.map(|n| format!("{{{n}}}")).join(" ")
                ),
            );
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

impl TppProfile {
    /// Reads and validates a TPP profile file.
    pub fn load(path: &Path) -> Result<TppProfile, ProfileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProfileError(format!("cannot read {}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::parse(&text, &dir).map_err(|e| ProfileError(format!("{}: {}", path.display(), e.0)))
    }

    /// Validates the text of a TPP profile whose relative paths are under `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<TppProfile, ProfileError> {
        let f: TppProfileFile = toml::from_str(text).map_err(|e| {
            let loc = e.span().map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" at line {line}")
            });
            ProfileError(format!("{}{}", e.message().trim(), loc.unwrap_or_default()))
        })?;
        let referee = referee(f.referee)?;
        let start = f.start.map(start).transpose()?;
        let push = f.push.map(|p| push(p, dir)).transpose()?;
        let polling = f.polling.map(super::tpp_polling::polling).transpose()?;
        let observe = f.observe.map(observe).transpose()?;
        let publish = f
            .publish
            .map(|p| super::tpp_publish::publish(p, dir))
            .transpose()?;
        let yapily = f
            .yapily
            .map(|y| super::tpp_dialects::yapily(y, dir, known_placeholders))
            .transpose()?;
        let tatra = f
            .tatra
            .map(|t| super::tpp_dialects::tatra(t, dir, known_placeholders))
            .transpose()?;
        if push.is_none() && yapily.is_none() && tatra.is_none() && polling.is_none() {
            return err(
                "push",
                "the profile names no way to reach the TPP (a [push], [yapily] or [tatra] receiver, or a [polling] client)",
            );
        }
        Ok(TppProfile {
            name: f.name.unwrap_or_else(|| "TPP".into()),
            referee,
            start,
            push,
            polling,
            observe,
            yapily,
            tatra,
            publish,
            dir: dir.to_path_buf(),
        })
    }
}

fn referee(r: RefereeFile) -> Result<RefereeSettings, ProfileError> {
    if r.client_secret.is_some() && r.client_id.is_none() {
        return err("referee.client_secret", "needs referee.client_id");
    }
    if let Some(i) = &r.issuer
        && i.trim().is_empty()
    {
        return err("referee.issuer", "must not be empty");
    }
    Ok(RefereeSettings {
        addr: r.addr.unwrap_or_else(|| "127.0.0.1:0".into()),
        issuer: r.issuer,
        client_id: r.client_id,
        client_secret: r.client_secret,
    })
}

fn argv(field: &str, argv: &[String]) -> Result<(), ProfileError> {
    if argv.first().is_none_or(|p| p.trim().is_empty()) {
        return err(field, "must name a program: [\"prog\", \"arg\", …]");
    }
    argv.iter().try_for_each(|a| known_placeholders(field, a))
}

fn start(s: StartFile) -> Result<StartSettings, ProfileError> {
    argv("start.command", &s.command)?;
    Ok(StartSettings {
        command: s.command,
        ready_timeout: Duration::from_millis(s.ready_timeout_ms.unwrap_or(10_000).max(1)),
    })
}

fn push(p: PushFile, dir: &Path) -> Result<PushReceiver, ProfileError> {
    known_placeholders("push.url", &p.url)?;
    super::tpp_dialects::http_url("push.url", &p.url)?;
    let (ca_pem, identity_pem) = tls_pems(
        dir,
        "push",
        p.ca_cert.as_deref(),
        p.client_cert.as_deref(),
        p.client_key.as_deref(),
    )?;
    for (name, value) in &p.headers {
        let ok = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && reqwest::header::HeaderValue::from_str(value).is_ok();
        if !ok {
            return err(&format!("push.headers.{name}"), "not a valid HTTP header");
        }
        known_placeholders(&format!("push.headers.{name}"), value)?;
    }
    let within = p.answer_within_ms.unwrap_or(5_000);
    if within == 0 {
        return err("push.answer_within_ms", "must be at least 1");
    }
    Ok(PushReceiver {
        url: p.url,
        ca_pem,
        identity_pem,
        answer_within: Duration::from_millis(within),
        headers: p.headers.into_iter().collect(),
    })
}

fn observe(o: ObserveFile) -> Result<Observation, ProfileError> {
    let needed = |field: &str| {
        ProfileError(format!(
            "field observe.{field}: needed with kind = {:?}",
            o.kind
        ))
    };
    let one = |field: &str, v: Option<String>| -> Result<String, ProfileError> {
        let v = v.ok_or_else(|| needed(field))?;
        known_placeholders(&format!("observe.{field}"), &v)?;
        Ok(v)
    };
    let given = [
        ("path", o.path.is_some()),
        ("url", o.url.is_some()),
        ("command", o.command.is_some()),
    ];
    let source = match o.kind.as_str() {
        "file" => ObserveSource::File(one("path", o.path.clone())?),
        "http" => ObserveSource::Http(one("url", o.url.clone())?),
        "command" => {
            let c = o.command.clone().ok_or_else(|| needed("command"))?;
            argv("observe.command", &c)?;
            ObserveSource::Command(c)
        }
        other => {
            return err(
                "observe.kind",
                format!("{other:?} is not one of file, http, command"),
            );
        }
    };
    let wanted = match &source {
        ObserveSource::File(_) => "path",
        ObserveSource::Http(_) => "url",
        ObserveSource::Command(_) => "command",
    };
    if let Some((extra, _)) = given.iter().find(|(f, on)| *on && *f != wanted) {
        return err(
            &format!("observe.{extra}"),
            format!("not used with kind = {:?}", o.kind),
        );
    }
    Ok(Observation {
        source,
        wait: Duration::from_millis(o.wait_ms.unwrap_or(5_000).max(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TppProfile, ProfileError> {
        TppProfile::parse(text, Path::new("."))
    }

    #[test]
    fn a_minimal_profile_and_its_errors() {
        let p = parse("[push]\nurl = \"http://127.0.0.1:{port}/event-notifications\"\n").unwrap();
        assert_eq!(p.referee.addr, "127.0.0.1:0");
        assert!(p.observe.is_none() && p.start.is_none());
        assert_eq!(p.push.unwrap().answer_within, Duration::from_millis(5000));
        for (text, field) in [
            ("name = \"x\"\n", "field push"),
            ("[push]\nurl = \"ftp://x\"\n", "field push.url"),
            (
                "[push]\nurl = \"http://x/{nope}\"\n",
                "unknown placeholder {nope}",
            ),
            (
                "[push]\nurl = \"http://x\"\nurll = 1\n",
                "unknown field `urll`",
            ),
            (
                "[push]\nurl = \"http://x\"\n[observe]\nkind = \"file\"\n",
                "field observe.path",
            ),
            (
                "[push]\nurl = \"http://x\"\n[observe]\nkind = \"file\"\npath = \"a\"\nurl = \"b\"\n",
                "field observe.url",
            ),
            (
                "[push]\nurl = \"http://x\"\n[referee]\nclient_secret = \"s\"\n",
                "field referee.client_secret",
            ),
            (
                "[push]\nurl = \"http://x\"\nheaders = { \"bad name\" = \"v\" }\n",
                "field push.headers.bad name",
            ),
        ] {
            let e = parse(text).unwrap_err().0;
            assert!(e.contains(field), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_fixture_profile_loads() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles/tpp-reference.toml");
        let p = TppProfile::load(&path).unwrap();
        assert_eq!(p.start.unwrap().command[0], "obevents");
        assert_eq!(
            p.observe.unwrap().source,
            ObserveSource::File("{run_dir}/processed.txt".into())
        );
    }

    #[test]
    fn a_polling_only_profile_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles/tpp-poller.toml");
        let p = TppProfile::load(&path).unwrap();
        assert!(p.push.is_none());
        let polling = p.polling.unwrap();
        assert_eq!(polling.min_empty_wait, Duration::from_millis(500));
        assert_eq!(p.start.unwrap().command[1], "tpp");
    }

    #[test]
    fn placeholders_are_rendered_and_exported() {
        let v = Vars(vec![
            ("port", "8123".into()),
            ("issuer", "https://i".into()),
        ]);
        assert_eq!(
            v.render("http://h:{port}/x?i={issuer}"),
            "http://h:8123/x?i=https://i"
        );
        assert!(v.env().contains(&("OBEVENTS_PORT".into(), "8123".into())));
    }
}
