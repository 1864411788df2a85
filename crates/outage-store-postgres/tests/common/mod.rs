//! Throwaway PostgreSQL databases for tests.
//!
//! `OUTAGE_TEST_POSTGRES_URL` names a server and a database to connect to for administration
//! (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); each test creates its own database
//! `om_test_<random>` there and drops it when its [`TestDb`] goes away. Without the variable
//! the tests print one SKIPPED line and pass, except under CI (`CI` set), where they fail: CI
//! must never skip them silently.

#![allow(dead_code)] // each test binary uses a part of this module

use std::io::Write as _;
use std::sync::Once;

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

/// The variable naming the PostgreSQL server the tests may use.
pub const URL_VAR: &str = "OUTAGE_TEST_POSTGRES_URL";

static SKIP_NOTICE: Once = Once::new();

/// Whether this runs under CI (`CI` set to anything but empty, `0` or `false`).
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The admin URL, or `None` after printing a SKIPPED line (once per test binary). Panics under
/// CI when the variable is unset.
pub fn admin_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ => {
            assert!(
                !under_ci(),
                "{URL_VAR} is not set, but CI is: the PostgreSQL store tests must run in CI \
                 (set {URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres)"
            );
            SKIP_NOTICE.call_once(|| {
                // Straight to stderr: the test harness captures `eprintln!` of passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nSKIPPED: PostgreSQL store tests ({URL_VAR} is not set; e.g. \
                     {URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres)"
                );
            });
            None
        }
    }
}

/// `url` with its database (the path) replaced by `db`; the query string is kept.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn admin(url: &str) -> PgConnection {
    match PgConnection::connect(url).await {
        Ok(c) => c,
        Err(e) => panic!("cannot connect to {URL_VAR} ({}): {e}", redact(url)),
    }
}

fn redact(url: &str) -> String {
    outage_store_postgres::config::redact(url)
}

/// A database made for one test and dropped (best effort, `WITH (FORCE)`) with this value.
pub struct TestDb {
    /// URL of the new database.
    pub url: String,
    /// Its name.
    pub name: String,
    admin_url: String,
}

impl TestDb {
    /// A fresh empty database, or `None` when the PostgreSQL tests are skipped.
    pub async fn create() -> Option<Self> {
        let admin_url = admin_url()?;
        let name = format!(
            "om_test_{}_{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let mut conn = admin(&admin_url).await;
        let mut tries = 0;
        loop {
            // Several tests at once may copy template1; retry if PostgreSQL says it is busy.
            match sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
            {
                Ok(_) => break,
                Err(e) if tries < 20 && e.to_string().contains("being accessed by other") => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create test database {name}: {e}"),
            }
        }
        let _ = conn.close().await;
        Some(Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        })
    }

    /// A plain connection to the test database, as another program would have.
    pub async fn connect(&self) -> PgConnection {
        admin(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // A thread with its own runtime: Drop may run inside (or outside) a tokio runtime.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_string()) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not drop test database {}: {e}",
                self.name
            );
        }
    }
}

#[test]
fn urls_get_their_database_replaced() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
}
