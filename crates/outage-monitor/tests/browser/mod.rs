//! A real headless Chromium for the admin panel's browser tests, driven over WebDriver
//! (chromedriver started by the test on a free port, `fantoccini` as the client).
//!
//! Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`); `.ci/run`
//! installs them. Without them a story prints a clear SKIPPED line and passes — except in CI
//! (`CI=true`), where a missing browser is a failure, so nothing skips there.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// Desktop and phone window widths the stories use.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// The narrowest phone the panel must fit without horizontal scrolling.
pub const PHONE: (u32, u32) = (360, 740);

fn find(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A browser session with its chromedriver; both end when it is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium at `size`, or `None` (after printing SKIPPED) when it is not installed
    /// outside CI.
    pub async fn start(story: &str, size: (u32, u32)) -> Option<Browser> {
        let chromium = find(
            "OUTAGE_TEST_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let driver = find("OUTAGE_TEST_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{story}: chromium/chromedriver not found, and CI must not skip browser \
                     tests (.ci/run installs Debian's chromium and chromium-driver)"
                );
            }
            eprintln!(
                "SKIPPED {story}: no chromium + chromedriver (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        Some(Self::launch(&chromium, &driver, size).await)
    }

    async fn launch(chromium: &Path, driver: &Path, size: (u32, u32)) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    "--hide-scrollbars",
                    format!("--window-size={},{}", size.0, size.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "mobileEmulation": if size.0 < 600 {
                    serde_json::json!({"deviceMetrics": {"width": size.0, "height": size.1, "pixelRatio": 2.0}})
                } else {
                    serde_json::Value::Null
                },
            }),
        );
        if size.0 >= 600 {
            // chromedriver refuses a null mobileEmulation.
            caps["goog:chromeOptions"]
                .as_object_mut()
                .expect("object")
                .remove("mobileEmulation");
        }
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start a Chromium session through chromedriver: {e}"),
            }
        };
        if size.0 >= 600 {
            let _ = client.set_window_size(size.0, size.1).await;
        }
        Browser {
            client,
            driver: child,
            _profile: profile,
        }
    }

    /// Opens `url` and waits until the document is loaded.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    /// Types `value` into the field named `name` (clearing it first).
    pub async fn fill(&self, name: &str, value: &str) {
        let el = self
            .client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css(&format!("[name=\"{name}\"]")))
            .await
            .unwrap_or_else(|e| panic!("no field {name}: {e}"));
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
    }

    /// Clicks the first element matching `css` (and waits for it to exist first).
    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Clicks a link or submit button matching `css` and waits until the next page has loaded
    /// (so nothing after it can touch an element of the old page).
    pub async fn submit(&self, css: &str) {
        self.client
            .execute("window.__outage_old_page = true; return true;", vec![])
            .await
            .expect("mark the page");
        self.click(css).await;
        self.wait_for(
            &format!("the page after clicking {css}"),
            "!window.__outage_old_page && document.readyState === 'complete'",
            Duration::from_secs(10),
        )
        .await;
    }

    /// Sends keys to whatever has the focus (`fantoccini::key::Key` values as chars for Tab,
    /// Enter, …), as a keyboard-only user would.
    pub async fn keys(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .expect("a focused element")
            .send_keys(keys)
            .await
            .expect("send keys");
    }

    /// The `id` of the focused element ("" when it has none).
    pub async fn focused_id(&self) -> String {
        self.eval("document.activeElement ? document.activeElement.id : ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Whether an element matching `css` exists now.
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Waits up to `within` for `js` (an expression) to be true in the page.
    pub async fn wait_for(&self, what: &str, js: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let v = self
                .client
                .execute(&format!("return !!({js});"), vec![])
                .await
                .expect("execute script");
            if v == serde_json::Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let body = self.text("body").await;
                panic!("timed out waiting for {what} ({js}); page text:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Evaluates `js` (an expression) in the page.
    pub async fn eval(&self, js: &str) -> serde_json::Value {
        self.client
            .execute(&format!("return ({js});"), vec![])
            .await
            .expect("execute script")
    }

    /// The current URL's path and query.
    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.expect("url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Saves a PNG of the viewport to `path` when `OUTAGE_SCREENSHOTS` names a directory.
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("OUTAGE_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).expect("write png");
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
