//! Test support shared by the unit and integration tests (not product API): throwaway
//! PostgreSQL databases, so every store and API test can run on both engines.
//!
//! The PostgreSQL tests need a server: `OBEVENTS_TEST_POSTGRES` names an account that may
//! create databases (`.ci/run` starts one and sets it). Without it they are skipped with a
//! message, except under CI (`CI` set), where a missing server is a failure, not a skip.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

/// The variable naming the test server, e.g. `postgres://obevents:obevents@127.0.0.1:5432/postgres`.
pub const ENV: &str = "OBEVENTS_TEST_POSTGRES";

/// The test server's URL, or `None` (after saying so) when PostgreSQL tests are to be skipped.
///
/// # Panics
/// Under CI without the variable: the PostgreSQL half of the suite must not silently vanish.
pub fn server_or_skip(test: &str) -> Option<String> {
    match std::env::var(ENV).ok().filter(|s| !s.is_empty()) {
        Some(url) => Some(url),
        None if std::env::var_os("CI").is_some() => {
            panic!("{ENV} is not set under CI: the PostgreSQL tests must run (see .ci/run)")
        }
        None => {
            eprintln!("skipping {test} on PostgreSQL: set {ENV}=postgres://USER:PASS@HOST/DB");
            None
        }
    }
}

/// A database created for one test and dropped (with its connections) when this is dropped.
#[derive(Debug)]
pub struct TempPg {
    pub url: String,
    server: String,
    name: String,
}

impl TempPg {
    /// Creates an empty database on `server`.
    pub async fn create(server: &str) -> Result<TempPg, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "obevents_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4().simple()
        );
        admin(server, &format!("CREATE DATABASE {name}")).await?;
        let mut url = url::Url::parse(server).map_err(|e| format!("{ENV}: {e}"))?;
        url.set_path(&format!("/{name}"));
        Ok(TempPg {
            url: url.to_string(),
            server: server.to_string(),
            name,
        })
    }
}

impl TempPg {
    /// The database's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` on the server's own database (as the test account), e.g. to cut this
    /// database off while a sandbox uses it.
    pub async fn on_server(&self, sql: &str) -> Result<(), String> {
        admin(&self.server, sql).await
    }
}

impl Drop for TempPg {
    fn drop(&mut self) {
        // Drop runs inside and outside runtimes alike: a thread of its own with its own runtime.
        let server = self.server.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(admin(&server, &sql));
            }
        })
        .join();
    }
}

async fn admin(server: &str, sql: &str) -> Result<(), String> {
    let (client, conn) = tokio_postgres::connect(server, NoTls)
        .await
        .map_err(|e| format!("cannot reach the test PostgreSQL ({ENV}): {e}"))?;
    let driver = tokio::spawn(conn);
    let result = client.batch_execute(sql).await.map_err(|e| e.to_string());
    drop(client);
    let _ = driver.await;
    result
}
