//! Headless Chromium over WebDriver for the browser tests: each test starts `chromedriver` on a
//! free 127.0.0.1 port (its session ended and the driver killed on drop, so no Chromium is left
//! behind even by a failing test), opens a session with a fresh profile directory, and drives it with fantoccini. Every
//! wait is bounded. Missing `chromedriver` or Chromium fails the test with what to install.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::LIMIT;

/// Browser tests run one at a time: Chromium is heavy and the machine has few cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// The Chromium binary: `OBEVENTS_CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("OBEVENTS_CHROMIUM") {
        return PathBuf::from(p);
    }
    [
        "/usr/lib/chromium/chromium",
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| {
        panic!(
            "Chromium is not installed: the portal's browser tests need the Debian packages \
                 chromium and chromium-driver (`apt-get install chromium chromium-driver`; .ci/run \
                 installs them), or OBEVENTS_CHROMIUM naming a Chromium binary"
        )
    })
}

fn chromedriver() -> PathBuf {
    let name = std::env::var("OBEVENTS_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(&name))
        .chain(std::iter::once(PathBuf::from(&name)))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "chromedriver is not installed: the portal's browser tests need the Debian packages \
             chromium and chromium-driver (`apt-get install chromium chromium-driver`; .ci/run \
             installs them), or OBEVENTS_CHROMEDRIVER naming the driver"
        )
    })
}

/// A running chromedriver with one browser session.
pub struct Browser {
    pub client: Client,
    pub base: String,
    driver: Child,
    port: u16,
    /// The WebDriver session, until `close` ended it.
    session: Option<String>,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that panicked never reached `close`: end the session with a plain blocking
        // request, so chromedriver quits its Chromium before the driver itself is killed.
        if let Some(session) = &self.session {
            delete_session(self.port, session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `DELETE /session/{id}` to the driver on `port`, blocking, bounded to a few seconds.
fn delete_session(port: u16, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let req = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_ok() {
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session of `width`×900 for the sandbox at
    /// `base`.
    pub async fn start(base: &str, width: u32) -> Browser {
        let binary = chromium();
        let port = free_port();
        let mut cmd = Command::new(chromedriver());
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let driver = cmd.spawn().expect("chromedriver starts");
        let profile =
            std::env::temp_dir().join(format!("obevents-chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).expect("a profile directory");
        let client = connect(port, &binary, &profile, width).await;
        let session = client.session_id().await.ok().flatten();
        let browser = Browser {
            client,
            base: base.trim_end_matches('/').to_string(),
            driver,
            port,
            session,
            profile,
        };
        browser
            .client
            .set_window_size(width, 900)
            .await
            .expect("window size");
        browser
    }

    /// Ends the session (Chromium quits) before the driver is killed.
    pub async fn close(mut self) {
        if tokio::time::timeout(LIMIT, self.client.clone().close())
            .await
            .is_ok()
        {
            self.session = None;
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    /// The path of the page shown.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current url")
            .path()
            .to_string()
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        el.clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        el.send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// The element `css`, waiting (bounded) for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                return el;
            }
            if tokio::time::Instant::now() >= deadline {
                let src = self.client.source().await.unwrap_or_default();
                panic!("no {css} on {}:\n{src}", self.path().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_default()
    }

    /// The page's whole visible text.
    pub async fn body_text(&self) -> String {
        self.text("body").await
    }

    /// Waits (bounded) until the page's visible text contains `needle`.
    pub async fn wait_text(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let text = self.body_text().await;
            if text.contains(needle) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{needle:?} never appeared on {}:\n{text}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` (a function body) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    /// Waits (bounded) until `script` returns true.
    pub async fn wait_js(&self, script: &str) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        while self.js(script).await != Value::Bool(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never true: {script}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in through the form: `kind` "tpp" (`who` = client id) or "operator" (`who` = user).
    pub async fn sign_in(&self, kind: &str, who: &str, secret: &str) {
        self.goto("/portal/sign-in").await;
        if kind == "tpp" {
            self.fill("#client_id", who).await;
            self.fill("#client_secret", secret).await;
            self.click("#tpp-sign-in button[type=submit]").await;
        } else {
            self.fill("#username", who).await;
            self.fill("#password", secret).await;
            self.click("#operator-sign-in button[type=submit]").await;
        }
    }
}

/// Connects to the driver on `port`, waiting (bounded) for it to listen.
async fn connect(
    port: u16,
    binary: &std::path::Path,
    profile: &std::path::Path,
    width: u32,
) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": binary,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                format!("--window-size={width},900"),
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    let caps = caps.as_object().cloned().expect("capabilities");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + LIMIT * 2;
    loop {
        let attempt = ClientBuilder::rustls()
            .expect("a WebDriver client")
            .capabilities(caps.clone())
            .connect(&url)
            .await;
        match attempt {
            Ok(c) => return c,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no WebDriver session from chromedriver on port {port}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
