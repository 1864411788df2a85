//! Admin panel stories in a real headless Chromium, against the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use browser::{Browser, DESKTOP};
use common::Sandbox;

#[tokio::test]
async fn the_browser_reaches_the_running_monitor() {
    let Some(b) = Browser::start("the_browser_reaches_the_running_monitor", DESKTOP).await else {
        return;
    };
    let sb = Sandbox::new();
    let server = sb.serve(&[]);
    b.goto(&format!("{}/healthz", server.base)).await;
    let body = b.text("body").await;
    assert!(body.contains("ok"), "{body}");
    b.close().await;
}
