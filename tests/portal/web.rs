//! A portal client over plain HTTP: keeps the session cookie, reads the CSRF token from the
//! pages, follows nothing by itself (redirects are asserted).

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::common::LIMIT;

/// One answer of the portal.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// The `Set-Cookie` values.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect()
    }

    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> Option<String> {
        field_value(&self.body, "csrf")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The `value` of the first input named `name` in `html`.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

/// `name=value` of a `Set-Cookie` header, when it sets that cookie to a non-empty value.
fn cookie_pair(set_cookie: &str, name: &str) -> Option<String> {
    let pair = set_cookie.split(';').next()?.trim();
    let (k, v) = pair.split_once('=')?;
    (k == name && !v.is_empty()).then(|| pair.to_string())
}

/// A browser-like portal client (cookies by hand, no redirects followed).
#[derive(Clone)]
pub struct Portal {
    pub base: String,
    http: reqwest::Client,
    /// `obevents_portal=…` once signed in.
    pub session: Option<String>,
    /// The session's CSRF token, read from a page after sign-in.
    pub csrf: Option<String>,
}

impl Portal {
    pub fn new(base: &str) -> Portal {
        Portal {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(LIMIT)
                .build()
                .unwrap(),
            session: None,
            csrf: None,
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder, cookie: Option<&str>) -> Page {
        let rb = match cookie {
            Some(c) => rb.header(COOKIE, c),
            None => rb,
        };
        let r = rb.send().await.expect("portal request");
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let rb = self.http.get(format!("{}{path}", self.base));
        self.send(rb, self.session.as_deref()).await
    }

    /// POSTs `fields` with the session's CSRF token (unless `fields` names `csrf` itself).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut pairs: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "csrf")
            && let Some(t) = &self.csrf
        {
            pairs.push(("csrf".into(), t.clone()));
        }
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let rb = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(rb, self.session.as_deref()).await
    }

    /// Fills and posts the sign-in form (`kind` tpp or operator); on success keeps the session
    /// and its CSRF token. Returns the answer to the POST.
    pub async fn sign_in(&mut self, fields: &[(&str, &str)]) -> Page {
        let form = self.get("/portal/sign-in").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let pre = form
            .set_cookies()
            .iter()
            .find_map(|c| cookie_pair(c, "obevents_portal_signin"))
            .expect("a sign-in cookie");
        let mut pairs: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        pairs.push(("csrf".into(), form.csrf().expect("the form's token")));
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let rb = self
            .http
            .post(format!("{}/portal/sign-in", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let answer = self.send(rb, Some(&pre)).await;
        if let Some(s) = answer
            .set_cookies()
            .iter()
            .find_map(|c| cookie_pair(c, "obevents_portal"))
        {
            self.session = Some(s);
            let home = answer.location().expect("a redirect home").to_string();
            let page = self.get(&home).await;
            self.csrf = page.csrf();
        }
        answer
    }

    pub async fn sign_in_tpp(&mut self, id: &str, secret: &str) -> Page {
        self.sign_in(&[
            ("kind", "tpp"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .await
    }

    pub async fn sign_in_operator(&mut self) -> Page {
        let (user, password) = crate::common::ADMIN;
        self.sign_in(&[
            ("kind", "operator"),
            ("username", user),
            ("password", password),
        ])
        .await
    }

    /// A TPP's page path.
    pub fn tpp(id: &str, rest: &str) -> String {
        format!("/portal/tpps/{id}{rest}")
    }
}

/// A signed-in TPP portal client.
pub async fn tpp_portal(base: &str, id: &str, secret: &str) -> Portal {
    let mut p = Portal::new(base);
    let r = p.sign_in_tpp(id, secret).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(p.session.is_some() && p.csrf.is_some());
    p
}

/// Polls `get(path)` until `ok(body)`, bounded by [`LIMIT`].
pub async fn wait_page(p: &Portal, path: &str, ok: impl Fn(&str) -> bool) -> Page {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let page = p.get(path).await;
        if ok(&page.body) {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never showed what was expected:\n{}",
            page.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
