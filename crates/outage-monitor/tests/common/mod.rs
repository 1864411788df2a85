//! Runs the real `outage-monitor` binary for end-to-end tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_outage-monitor");

/// A scratch directory with its own database.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn db_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("om.db").display())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs a CLI command to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("OUTAGE_STORE__URL", self.db_url())
            .env_remove("OUTAGE_CONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("run outage-monitor");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a CLI command that must succeed with JSON output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert_eq!(out.code, Some(0), "{args:?} failed: {}", out.stderr);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", out.stdout))
    }

    /// Starts `serve` on a free port.
    pub fn serve(&self, extra_env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .current_dir(self.dir.path())
            .env("OUTAGE_STORE__URL", self.db_url())
            .env("OUTAGE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("OUTAGE_MONITOR__LIVE_UPDATE_EVERY", "0s")
            .env("RUST_LOG", "info")
            .env_remove("OUTAGE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn serve");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), stdout.clone());
        collect(child.stderr.take().expect("stderr"), stderr.clone());
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stdout,
            stderr,
        };
        server.wait_ready();
        server
    }
}

fn collect<R: std::io::Read + Send + 'static>(r: R, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap().push(line);
        }
    });
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(200) = reqwest::blocking_get(&format!("{}/readyz", self.base)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "server did not become ready: {:?}",
            self.stderr.lock().unwrap()
        );
    }

    /// Sends one heartbeat; returns the HTTP status.
    pub fn beat(&self, key: &str, body: &serde_json::Value) -> u16 {
        post_json(&format!("{}/api/v1/heartbeat", self.base), key, body)
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits until a stdout line contains `needle`.
    pub fn wait_stdout(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.stdout_lines().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait; returns how long the exit took.
    pub fn terminate(mut self) -> Duration {
        let start = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = start + Duration::from_secs(15);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return start.elapsed();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server ignored SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal blocking HTTP helpers over std (tests avoid pulling in reqwest's blocking feature).
mod reqwest {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    pub fn request(
        url: &str,
        method: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<(u16, String)> {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (host, path) = rest
            .split_once('/')
            .map(|(h, p)| (h, format!("/{p}")))
            .unwrap_or((rest, "/".into()));
        let mut s = TcpStream::connect(host)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        s.write_all(body)?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        let code = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    }

    pub fn blocking_get(url: &str) -> std::io::Result<u16> {
        request(url, "GET", &[], b"").map(|(c, _)| c)
    }
}

pub use reqwest::request;

pub fn post_json(url: &str, key: &str, body: &serde_json::Value) -> u16 {
    let auth = format!("Bearer {key}");
    let bytes = serde_json::to_vec(body).expect("json");
    request(
        url,
        "POST",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &bytes,
    )
    .map(|(c, _)| c)
    .unwrap_or(0)
}

pub fn key_of(v: &serde_json::Value) -> String {
    v["api_key"].as_str().expect("api_key").to_string()
}

pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
