//! Request-body validation that reports every problem at once, each with the OBIE error code and
//! the `Path` of the field at fault (G-13): missing → `Field.Missing`, wrong type or value →
//! `Field.Invalid`, a member a closed object does not allow → `Field.Unexpected`.

use serde_json::{Map, Value};

use super::error::{ObError, ObResult};
use crate::sandbox::http::error::{ErrorItem, codes};

/// Collects validation errors for one body. At most [`MAX_ERRORS`] are kept and the rest only
/// counted, so no request body, however large or however wrong, makes an error response (or
/// the memory behind it) bigger than a few kilobytes.
#[derive(Debug, Default)]
pub struct Check {
    errors: Vec<ErrorItem>,
    /// Problems found beyond [`MAX_ERRORS`].
    more: usize,
}

/// Errors listed in one response; further ones are counted in a last item.
pub const MAX_ERRORS: usize = 20;

/// Upper bounds of request arrays (and of `setErrs` members), each answered with one 400
/// that names the bound, before any element is looked at.
pub mod bounds {
    /// `ack` of `POST /events`.
    pub const ACK: usize = 1_000;
    /// Members of `setErrs`.
    pub const SET_ERRS: usize = 1_000;
    /// `Data.EventTypes` of a subscription (there are 8 OBEventType1Code values).
    pub const EVENT_TYPES: usize = 16;
    /// `Data.Permissions` of a consent (there are 30 permission codes).
    pub const PERMISSIONS: usize = 64;
}

/// `parent.child` (or `child` at the top level).
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, item: ErrorItem) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(item);
        } else {
            self.more += 1;
        }
    }

    pub fn invalid(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(ErrorItem::at(codes::FIELD_INVALID, path, message));
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Problems found so far, listed or not.
    fn count(&self) -> usize {
        self.errors.len() + self.more
    }

    /// `v` must be an array of at most `max` items, each checked by `item`; a longer one is
    /// refused as a whole, naming the bound.
    pub fn bounded_array<T>(
        &mut self,
        v: &Value,
        path: &str,
        max: usize,
        item: impl FnMut(&mut Check, &Value, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        if let Value::Array(items) = v
            && items.len() > max
        {
            self.invalid(
                path,
                format!(
                    "{path} has {} items; at most {max} are allowed",
                    items.len()
                ),
            );
            return None;
        }
        self.array(v, path, item)
    }

    /// `v` must be an object; `path` "" means the whole body.
    pub fn object<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other if path.is_empty() => {
                self.push(ErrorItem::new(
                    codes::RESOURCE_INVALID_FORMAT,
                    format!(
                        "the body must be a JSON object, not {}",
                        crate::model::json_type_name(other)
                    ),
                ));
                None
            }
            other => {
                self.invalid(
                    path,
                    format!(
                        "{path} must be an object, not {}",
                        crate::model::json_type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// Flags members of `m` not in `allowed` (closed objects).
    pub fn closed(&mut self, m: &Map<String, Value>, allowed: &[&str], path: &str) {
        for key in m.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.push(ErrorItem::at(
                codes::FIELD_UNEXPECTED,
                join(path, key),
                format!("{} is not a member of this object", join(path, key)),
            ));
        }
    }

    /// A required member.
    pub fn required<'a>(
        &mut self,
        m: &'a Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<&'a Value> {
        let v = m.get(key);
        if v.is_none() {
            let p = join(path, key);
            self.push(ErrorItem::at(
                codes::FIELD_MISSING,
                p.clone(),
                format!("{p} is required"),
            ));
        }
        v
    }

    /// A string of `min..=max` characters.
    pub fn string(&mut self, v: &Value, path: &str, min: usize, max: usize) -> Option<String> {
        match v {
            Value::String(s) => {
                let n = s.chars().count();
                if n < min || n > max {
                    self.invalid(
                        path,
                        format!("{path} must be {min} to {max} characters long, it has {n}"),
                    );
                    None
                } else {
                    Some(s.clone())
                }
            }
            other => {
                self.invalid(
                    path,
                    format!(
                        "{path} must be a string, not {}",
                        crate::model::json_type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// An optional string member (absent → `None` with no error).
    pub fn opt_string(
        &mut self,
        m: &Map<String, Value>,
        key: &str,
        path: &str,
        min: usize,
        max: usize,
    ) -> Option<String> {
        m.get(key)
            .and_then(|v| self.string(v, &join(path, key), min, max))
    }

    /// An array, each item checked by `item`.
    pub fn array<T>(
        &mut self,
        v: &Value,
        path: &str,
        mut item: impl FnMut(&mut Check, &Value, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        match v {
            Value::Array(items) => {
                let before = self.count();
                let out: Vec<Option<T>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| item(self, v, &format!("{path}[{i}]")))
                    .collect();
                (self.count() == before).then(|| out.into_iter().flatten().collect())
            }
            other => {
                self.invalid(
                    path,
                    format!(
                        "{path} must be an array, not {}",
                        crate::model::json_type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// Ends validation with the value it built: `Ok` if nothing was found, else one 400
    /// listing every problem. Every check that yields `None` records why, so a missing value
    /// comes with a listed problem; should one ever come without, the answer is still a 400
    /// naming the body, never a success or a server error.
    pub fn done<T>(self, value: Option<T>) -> ObResult<T> {
        if !self.errors.is_empty() {
            return Err(self.into_error());
        }
        value.ok_or_else(|| {
            ObError::Invalid(vec![ErrorItem::new(
                codes::FIELD_INVALID,
                "the request body is not a valid instance of its schema",
            )])
        })
    }

    /// Ends validation: `Ok` if nothing was found, else one 400 listing every problem.
    pub fn finish(self) -> ObResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    fn into_error(mut self) -> ObError {
        if self.more > 0 {
            let more = self.more;
            self.errors.push(ErrorItem::new(
                codes::FIELD_INVALID,
                format!("… and {more} more problems of the same request, not listed"),
            ));
        }
        ObError::Invalid(self.errors)
    }
}

/// `Links` and `Meta` as a PUT body may carry them (closed objects in the OpenAPI: `Links` needs
/// `Self`; every link is an absolute URI; `Meta` holds only its three optional members).
pub fn links_and_meta(c: &mut Check, top: &Map<String, Value>) {
    if let Some(links) = top.get("Links").and_then(|v| c.object(v, "Links")) {
        c.closed(links, &["Self", "First", "Prev", "Next", "Last"], "Links");
        c.required(links, "Self", "Links");
        for (k, v) in links {
            let path = join("Links", k);
            if let Some(s) = c.string(v, &path, 1, 2048)
                && url::Url::parse(&s).is_err()
            {
                c.invalid(path.clone(), format!("{path} must be an absolute URI"));
            }
        }
    }
    if let Some(meta) = top.get("Meta").and_then(|v| c.object(v, "Meta")) {
        c.closed(
            meta,
            &[
                "TotalPages",
                "FirstAvailableDateTime",
                "LastAvailableDateTime",
            ],
            "Meta",
        );
        if let Some(v) = meta.get("TotalPages")
            && !v.is_i64()
        {
            c.invalid("Meta.TotalPages", "Meta.TotalPages must be an integer");
        }
    }
}

/// ES-05 / CB-04: an absolute http(s) URI ending in `/v{major}.{minor}/event-notifications`.
pub fn callback_url_problem(url: &str, check_suffix: bool) -> Option<String> {
    if let Some(p) = crate::sandbox::urls::destination_problem(url, crate::sandbox::urls::MAX_URL) {
        return Some(p);
    }
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return Some(format!("not an absolute URI: {e}")),
    };
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
        return Some("must be an http(s) URL with a host".into());
    }
    if check_suffix && (parsed.query().is_some() || parsed.fragment().is_some()) {
        return Some("must end with /event-notifications: no query string or fragment".into());
    }
    if check_suffix && !has_event_notifications_suffix(parsed.path()) {
        return Some("must end with the API version followed by /event-notifications, e.g. /open-banking/v3.1/event-notifications".into());
    }
    None
}

fn has_event_notifications_suffix(path: &str) -> bool {
    let Some(rest) = path.strip_suffix("/event-notifications") else {
        return false;
    };
    let Some(version) = rest.rsplit('/').next() else {
        return false;
    };
    let Some(digits) = version.strip_prefix('v') else {
        return false;
    };
    let mut parts = digits.split('.');
    let ok =
        |p: Option<&str>| p.is_some_and(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// ES-06: versions a subscription or callback registration may name.
pub fn version_problem(v: &str) -> Option<String> {
    let ok = ["3.0", "3.1"].contains(&v)
        || v.strip_prefix("3.1.").is_some_and(|p| {
            !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit())
        });
    (!ok).then(|| format!("version {v:?} is not supported (use 3.0, 3.1 or 3.1.x)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_suffix() {
        assert!(
            callback_url_problem(
                "https://tpp.example/open-banking/v3.1/event-notifications",
                true
            )
            .is_none()
        );
        assert!(
            callback_url_problem("https://tpp.example/v10.22/event-notifications", true).is_none()
        );
        assert!(
            callback_url_problem("https://tpp.example/open-banking/event-notifications", true)
                .is_some()
        );
        assert!(
            callback_url_problem("https://tpp.example/v3.1/event-notifications/", true).is_some()
        );
        assert!(
            callback_url_problem("https://tpp.example/v3.1.1/event-notifications", true).is_some()
        );
        assert!(callback_url_problem("not a url", false).is_some());
        assert!(
            callback_url_problem("https://tpp.example/v3.1/event-notifications?x=1", true)
                .is_some()
        );
        assert!(callback_url_problem("https://tpp.example/cb", false).is_none());
    }

    #[test]
    fn versions() {
        for ok in ["3.1", "3.0", "3.1.1", "3.1.11"] {
            assert!(version_problem(ok).is_none(), "{ok}");
        }
        for bad in ["", "4", "3.1.", "banana", "3.1.123"] {
            assert!(version_problem(bad).is_some(), "{bad}");
        }
    }
}
