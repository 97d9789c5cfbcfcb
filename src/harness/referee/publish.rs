//! Publishing a TPP run's verdicts (a TPP profile's `[publish]`): the run's summary goes to the
//! hosted sandbox the TPP practises against (`PUT /sandbox/referee-run`, with a token of the
//! TPP's client there), where the portal's Referee page shows it. The sandbox keeps texts to
//! its own bounds, so longer ones are cut here, saying so, rather than refused there.

use std::time::Duration;

use serde_json::Value;

use crate::harness::profile::tpp_publish::PublishSettings;

/// What the sandbox keeps of one text (`sandbox::referee_runs::MAX_TEXT`).
const MAX_TEXT: usize = crate::sandbox::referee_runs::MAX_TEXT;
/// The whole exchange (token and upload) must end within this.
const WITHIN: Duration = Duration::from_secs(20);

/// `summary` as the sandbox takes it: without the catalogue's rule list (the page shows the
/// scenarios' rules) and with every text within [`MAX_TEXT`] characters.
pub fn trimmed(summary: &Value) -> Value {
    fn cut(v: &mut Value) {
        match v {
            Value::String(s) if s.chars().count() > MAX_TEXT => {
                let kept: String = s.chars().take(MAX_TEXT - 1).collect();
                *s = format!("{kept}…");
            }
            Value::Array(items) => items.iter_mut().for_each(cut),
            Value::Object(members) => members.values_mut().for_each(cut),
            _ => {}
        }
    }
    let mut out = summary.clone();
    if let Some(o) = out.as_object_mut() {
        o.remove("rules");
    }
    cut(&mut out);
    out
}

fn client(p: &PublishSettings) -> Result<reqwest::Client, String> {
    let b = reqwest::Client::builder()
        .timeout(WITHIN)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    let b = super::tls::with_pems(b, "publish", p.ca_pem.as_deref(), p.identity_pem.as_deref())?;
    b.build().map_err(|e| format!("publish: {e}"))
}

/// The words of a refusal: OBIE `Errors[0].Message`, OAuth `error_description`, or the
/// body's start.
fn refusal(status: reqwest::StatusCode, body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let words = v["Errors"][0]["Message"]
        .as_str()
        .or_else(|| v["error_description"].as_str())
        .or_else(|| v["error"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(200).collect());
    format!("{status}: {words}")
}

/// Sends `summary` (a `--tpp` run's `summary.json`) to the sandbox of `p`; the address of the
/// portal page that shows it.
pub async fn publish(p: &PublishSettings, summary: &Value) -> Result<String, String> {
    let http = client(p)?;
    // A base URL with a path prefix keeps it: `/token` is under it, not beside it.
    let base = if p.url.path().ends_with('/') {
        p.url.clone()
    } else {
        let mut u = p.url.clone();
        u.set_path(&format!("{}/", p.url.path()));
        u
    };
    let at_base = |path: &str| base.join(path).map_err(|e| format!("publish.url: {e}"));
    let token = http
        .post(at_base("token")?)
        .basic_auth(&p.client_id, Some(&p.client_secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .map_err(|e| format!("publish: cannot reach the sandbox's /token: {e}"))?;
    let status = token.status();
    let body = token.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!(
            "publish: the sandbox refused client {}: {}",
            p.client_id,
            refusal(status, &body)
        ));
    }
    let access = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(str::to_string))
        .ok_or("publish: the sandbox's /token answered without an access_token")?;
    let put = http
        .put(at_base("sandbox/referee-run")?)
        .bearer_auth(access)
        .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
        .json(&trimmed(summary))
        .send()
        .await
        .map_err(|e| format!("publish: cannot reach the sandbox's /sandbox/referee-run: {e}"))?;
    let status = put.status();
    if !status.is_success() {
        let body = put.text().await.unwrap_or_default();
        return Err(format!(
            "publish: the sandbox refused the run: {}",
            refusal(status, &body)
        ));
    }
    let page: String = url::form_urlencoded::byte_serialize(p.client_id.as_bytes()).collect();
    Ok(at_base(&format!("portal/tpps/{}/referee", page.replace('+', "%20")))?.to_string())
}
