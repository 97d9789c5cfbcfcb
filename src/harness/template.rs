//! Filling the harness's request templates: a profile's trigger and actions, a feature's
//! docstring bodies and paths. `{name}` placeholders take values the harness knows (ids the
//! bank issued among them), and a value is escaped for the place it lands in, so an id holding
//! `"`, `\`, `/` or a line break cannot break the request or change its meaning. The rule is
//! in the README (Target profiles, placeholders).

use std::collections::HashMap;

/// Where a template's text goes: it decides how a placeholder's value is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A JSON body: inside a JSON string a value is escaped as JSON string content; outside
    /// one it goes in as it is, since there the harness puts JSON of its own (`{enabled}`,
    /// `{account_ids}`).
    Json,
    /// An `application/x-www-form-urlencoded` body: each value form-encoded.
    Form,
    /// A URL or a path: each value percent-encoded as a path segment, except `{base_url}` and
    /// `{api_base}`, which are the URL's own beginning.
    Url,
    /// A header value: the characters a header cannot carry (CR, LF, other controls)
    /// percent-encoded, so a value can neither end the header nor add another.
    Header,
    /// Command arguments, a prompt, a body of another media type: as it is (a command gets
    /// its arguments without a shell in between).
    Plain,
}

impl Context {
    /// The context of a request body whose `Content-Type` is `content_type`: JSON for
    /// `application/json` and `+json` types (and, without a type, for a template that opens
    /// with `{` or `[`), form encoding for `application/x-www-form-urlencoded`.
    pub fn of_body(content_type: Option<&str>, template: &str) -> Context {
        let Some(ct) = content_type else {
            let start = template.trim_start();
            return if start.starts_with('{') || start.starts_with('[') {
                Context::Json
            } else {
                Context::Plain
            };
        };
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media == "application/json" || media.ends_with("+json") {
            Context::Json
        } else if media == "application/x-www-form-urlencoded" {
            Context::Form
        } else {
            Context::Plain
        }
    }

    /// `value` of placeholder `name` escaped for this context (`in_string`: inside a JSON
    /// string, for [`Context::Json`]).
    fn escape(self, name: &str, value: &str, in_string: bool) -> String {
        match self {
            Context::Json if in_string => json_string_content(value),
            Context::Json | Context::Plain => value.to_string(),
            Context::Form => url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
            Context::Url if URL_PREFIXES.contains(&name) => value.to_string(),
            Context::Url => path_segment(value),
            Context::Header => header_value(value),
        }
    }
}

/// Placeholders whose values begin a URL: they stay as they are in URLs.
const URL_PREFIXES: [&str; 2] = ["base_url", "api_base"];

/// Replaces `{name}` placeholders with their values escaped for `context`; unknown names stay
/// as they are, so JSON braces survive.
///
/// ```
/// use std::collections::HashMap;
/// use obevents::harness::template::{Context, render};
/// let vars = HashMap::from([("client_id", "tpp-\"a\"".to_string())]);
/// assert_eq!(
///     render(r#"{"clientId":"{client_id}"}"#, &vars, Context::Json),
///     r#"{"clientId":"tpp-\"a\""}"#
/// );
/// ```
pub fn render(template: &str, vars: &HashMap<&str, String>, context: Context) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut json = JsonScan::default();
    while let Some(start) = rest.find('{') {
        let text = &rest[..start];
        json.read(text);
        out.push_str(text);
        let after = &rest[start + 1..];
        match after.find('}').map(|end| (&after[..end], end)) {
            Some((name, end)) if vars.contains_key(name) => {
                out.push_str(&context.escape(name, &vars[name], json.in_string));
                rest = &after[end + 1..];
            }
            _ => {
                json.read("{");
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether the template text read so far leaves us inside a JSON string (the values put in
/// are not read: they are escaped to stay inside it).
#[derive(Default)]
struct JsonScan {
    in_string: bool,
    escaped: bool,
}

impl JsonScan {
    fn read(&mut self, text: &str) {
        for c in text.chars() {
            if self.escaped {
                self.escaped = false;
            } else if self.in_string && c == '\\' {
                self.escaped = true;
            } else if c == '"' {
                self.in_string = !self.in_string;
            }
        }
    }
}

/// `s` as the content of a JSON string (without the quotes).
fn json_string_content(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
}

/// `s` percent-encoded for a URL path segment: everything but letters, digits, `-._~` and the
/// `:`/`@` a segment may hold (an event type URN stays readable).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` with the bytes a header value cannot hold (controls other than tab) percent-encoded.
fn header_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_control() && c != '\t' {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id with a quote, a backslash and a line break.
    const HOSTILE: &str = "a\"b\\c\nd";

    fn vars() -> HashMap<&'static str, String> {
        HashMap::from([
            ("consent_id", HOSTILE.to_string()),
            ("client_id", "c1".to_string()),
            ("enabled", "true".to_string()),
            ("account_ids", r#"["x\"1","y"]"#.to_string()),
            ("base_url", "http://127.0.0.1:8080/p".to_string()),
        ])
    }

    #[test]
    fn unknown_placeholders_and_json_braces_stay() {
        assert_eq!(
            render(
                r#"{"clientId":"{client_id}","x":{unknown}}"#,
                &vars(),
                Context::Json
            ),
            r#"{"clientId":"c1","x":{unknown}}"#
        );
    }

    /// Inside a JSON string the value is escaped; outside one the harness's JSON goes in as
    /// it is; the body parses and holds the exact id.
    #[test]
    fn a_json_body_holds_the_exact_id() {
        let body = render(
            r#"{"consentId":"{consent_id}","note":"id \"{consent_id}\" here","enabled":{enabled},"accountIds":{account_ids}}"#,
            &vars(),
            Context::Json,
        );
        let v: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
        assert_eq!(v["consentId"], HOSTILE);
        assert_eq!(v["note"], format!("id \"{HOSTILE}\" here"));
        assert_eq!(v["enabled"], true);
        assert_eq!(v["accountIds"][0], "x\"1");
    }

    #[test]
    fn urls_encode_values_as_path_segments_but_keep_the_base() {
        let url = render(
            "{base_url}/consents/{consent_id}/refresh?c={client_id}",
            &vars(),
            Context::Url,
        );
        assert_eq!(
            url,
            "http://127.0.0.1:8080/p/consents/a%22b%5Cc%0Ad/refresh?c=c1"
        );
        assert_eq!(path_segment("urn:x/y z"), "urn:x%2Fy%20z");
    }

    #[test]
    fn forms_and_headers_encode_what_would_break_them() {
        assert_eq!(
            render("id={consent_id}&c={client_id}", &vars(), Context::Form),
            "id=a%22b%5Cc%0Ad&c=c1"
        );
        assert_eq!(
            render("{consent_id}", &vars(), Context::Header),
            "a\"b\\c%0Ad"
        );
        assert_eq!(render("{consent_id}", &vars(), Context::Plain), HOSTILE);
    }

    #[test]
    fn the_body_context_follows_the_content_type() {
        let json = Context::of_body(Some("application/json; charset=utf-8"), "x");
        assert_eq!(json, Context::Json);
        assert_eq!(
            Context::of_body(Some("application/merge-patch+json"), "x"),
            Context::Json
        );
        assert_eq!(
            Context::of_body(Some("application/x-www-form-urlencoded"), "{"),
            Context::Form
        );
        assert_eq!(Context::of_body(Some("text/plain"), "{"), Context::Plain);
        assert_eq!(Context::of_body(None, " {\"a\":1}"), Context::Json);
        assert_eq!(Context::of_body(None, "a=1"), Context::Plain);
    }
}
