//! HTTP exchanges with the target, recorded as evidence: the request and response as sent and
//! received (credentials masked), the time taken, and later the decoded SETs of a poll.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

/// One request and its answer (or the transport error), as the report shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: String,
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// Header and claims of each SET in a poll answer, for the report.
    pub decoded_sets: Vec<Value>,
    #[serde(skip)]
    pub started: Option<Instant>,
    #[serde(skip)]
    pub finished: Option<Instant>,
}

impl Exchange {
    pub fn status(&self) -> u16 {
        self.status.unwrap_or(0)
    }

    /// The request's body as JSON, if it was JSON.
    pub fn request_json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.request_body.as_deref()?).ok()
    }

    /// The response header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The response body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.response_body).ok()
    }

    /// Wall time between sending and the complete answer.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.elapsed_ms)
    }

    /// A one-line summary for failure messages.
    pub fn summary(&self) -> String {
        match (&self.error, self.status) {
            (Some(e), _) => format!("{} {} failed: {e}", self.method, self.url),
            (None, Some(s)) => {
                // One line: a pretty-printed JSON body is shown compact.
                let compact = serde_json::from_str::<Value>(&self.response_body)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| self.response_body.clone());
                let body: String = compact.chars().take(300).collect();
                format!("{} {} -> {s} {body}", self.method, self.url)
            }
            (None, None) => format!("{} {}", self.method, self.url),
        }
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set_header(name, Some(value.into()));
        self
    }
    /// Sets (`Some`) or removes (`None`) a header, replacing any earlier value.
    pub fn set_header(&mut self, name: &str, value: Option<String>) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            self.headers.push((name.to_string(), v));
        }
    }
    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self.header("Content-Type", "application/json")
    }
    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.header("Content-Type", content_type)
    }
}

/// Masks secrets in a header value: for `Authorization` the scheme stays and the credential
/// goes; any header whose name suggests a credential (a trigger's admin key, say) is hidden.
pub fn mask_header(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n == "authorization" || n == "proxy-authorization" {
        let scheme = value.split_whitespace().next().unwrap_or("");
        return format!("{scheme} ***");
    }
    if [
        "key", "token", "secret", "password", "cookie", "session", "auth",
    ]
    .iter()
    .any(|w| n.contains(w))
    {
        return "***".into();
    }
    value.to_string()
}

/// Masks credentials in a body: form fields and JSON members that carry secrets or tokens.
pub fn mask_body(body: &str) -> String {
    const SECRET_KEYS: [&str; 4] = [
        "client_secret",
        "client_assertion",
        "access_token",
        "password",
    ];
    if let Ok(mut v) = serde_json::from_str::<Value>(body) {
        fn walk(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    for (k, val) in m.iter_mut() {
                        if SECRET_KEYS.contains(&k.as_str()) {
                            *val = Value::String("***".into());
                        } else {
                            walk(val);
                        }
                    }
                }
                Value::Array(a) => a.iter_mut().for_each(walk),
                _ => {}
            }
        }
        walk(&mut v);
        return v.to_string();
    }
    if body.contains('=') && !body.contains('{') {
        return url::form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| {
                if SECRET_KEYS.contains(&k.as_ref()) {
                    format!("{k}=***")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join("&");
    }
    body.to_string()
}

/// Sends `req` and records the exchange. Transport errors become an exchange with `error` set.
pub async fn send(http: &reqwest::Client, req: Request) -> Exchange {
    let mut builder = http.request(req.method.clone(), &req.url);
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    if let Some(b) = &req.body {
        builder = builder.body(b.clone());
    }
    let mut ex = Exchange {
        method: req.method.to_string(),
        url: req.url.clone(),
        request_headers: req
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), mask_header(k, v)))
            .collect(),
        request_body: req
            .body
            .as_ref()
            .map(|b| mask_body(&String::from_utf8_lossy(b))),
        status: None,
        response_headers: Vec::new(),
        response_body: String::new(),
        error: None,
        elapsed_ms: 0,
        decoded_sets: Vec::new(),
        started: None,
        finished: None,
    };
    let started = Instant::now();
    ex.started = Some(started);
    match builder.send().await {
        Ok(resp) => {
            ex.status = Some(resp.status().as_u16());
            ex.response_headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).to_string(),
                    )
                })
                .collect();
            match resp.bytes().await {
                Ok(b) => ex.response_body = String::from_utf8_lossy(&b).to_string(),
                Err(e) => ex.error = Some(format!("reading the body: {e}")),
            }
        }
        Err(e) => ex.error = Some(describe(&e)),
    }
    let finished = Instant::now();
    ex.finished = Some(finished);
    ex.elapsed_ms = finished.duration_since(started).as_millis() as u64;
    ex
}

/// A transport error with its causes, on one line.
pub fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask_body("grant_type=client_credentials&client_secret=s3cr3t"),
            "grant_type=client_credentials&client_secret=***"
        );
        assert!(!mask_body(r#"{"client_secret":"x","a":{"access_token":"y"}}"#).contains('x'));
        assert_eq!(mask_header("Authorization", "Bearer abc.def"), "Bearer ***");
    }
}
