//! A real engine over a memory store, with the HTTP source on 127.0.0.1:0.

// Test helpers: a failed setup step should panic with its message, like an assertion.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outage_core::config::ServerConfig;
use outage_core::domain::{DeviceFacts, LocationId, LocationPatch, NewLocation, Status};
use outage_core::engine::{Engine, EngineConfig, EngineTasks};
use outage_core::keys::KeyHash;
use outage_core::memory_store::MemoryStore;
use outage_core::metrics::Metrics;
use outage_core::source::{
    BeatAck, BeatRejection, CancellationToken, HeartbeatSink, HeartbeatSource, SourceContext,
    SourceError, StatusCounts,
};
use outage_core::{StatusStore, SystemClock};
use outage_source_http::{HttpConfig, HttpSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Key of the enabled location "home" (timeout 30 s).
pub const KEY: &str = "home-key-0123456789";
/// Key of the disabled location "cabin".
pub const DISABLED_KEY: &str = "cabin-key-0123456789";
/// Request timeout used by the tests: short, so stalled clients are cut quickly.
pub const TIMEOUT: Duration = Duration::from_secs(1);

pub struct Harness {
    pub addr: SocketAddr,
    pub base: String,
    pub metrics: Arc<Metrics>,
    pub engine: Engine,
    pub tasks: Option<EngineTasks>,
    pub shutdown: CancellationToken,
    pub server: Option<JoinHandle<Result<(), SourceError>>>,
    pub client: reqwest::Client,
}

pub fn test_config() -> HttpConfig {
    HttpConfig::from_server(&ServerConfig {
        listen: "127.0.0.1:0".into(),
        public_url: None,
        request_timeout: TIMEOUT,
    })
}

pub fn client() -> reqwest::Client {
    // No pooling: the server closes idle connections after a few seconds, and a request on a
    // connection closing under it would be a test artefact.
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default()
}

/// Creates "home" (key [`KEY`], enabled) and "cabin" (key [`DISABLED_KEY`], disabled) at
/// `at`; returns home's id.
pub async fn seed_home_and_cabin(store: &MemoryStore, at: DateTime<Utc>) -> LocationId {
    let new = |name: &str| NewLocation {
        routes: Vec::new(),
        name: name.into(),
        timeout: Duration::from_secs(30),
        chat_id: None,
    };
    let home = store
        .create_location(&new("home"), KeyHash::of(KEY), at)
        .await
        .expect("create home");
    let cabin = store
        .create_location(&new("cabin"), KeyHash::of(DISABLED_KEY), at)
        .await
        .expect("create cabin");
    store
        .update_location(
            cabin.id,
            &LocationPatch {
                enabled: Some(false),
                ..LocationPatch::default()
            },
            at,
        )
        .await
        .expect("disable cabin");
    home.id
}

impl Harness {
    /// Engine with "home" (enabled) and "cabin" (disabled), source serving on a free port.
    pub async fn start() -> Harness {
        Self::start_with(|s| s).await
    }

    /// Like [`Harness::start`], letting the test adjust the source (e.g. mount routers).
    pub async fn start_with(adjust: impl FnOnce(HttpSource) -> HttpSource) -> Harness {
        let store = Arc::new(MemoryStore::new());
        seed_home_and_cabin(&store, Utc::now()).await;
        let metrics = Arc::new(Metrics::default());
        let (engine, tasks) = Engine::start(
            store.clone(),
            vec![],
            Arc::new(SystemClock),
            metrics.clone(),
            EngineConfig::default(),
        )
        .await
        .expect("engine starts");
        let sink: Arc<dyn HeartbeatSink> = Arc::new(engine.clone());
        Self::serve(sink, store, metrics, Some((engine, tasks)), adjust).await
    }

    /// The source over an arbitrary sink (the engine is still started, for its type only).
    pub async fn start_with_sink(sink: Arc<dyn HeartbeatSink>) -> Harness {
        let store: Arc<dyn StatusStore> = Arc::new(MemoryStore::new());
        let metrics = Arc::new(Metrics::default());
        Self::serve(sink, store, metrics, None, |s| s).await
    }

    async fn serve(
        sink: Arc<dyn HeartbeatSink>,
        store: Arc<dyn StatusStore>,
        metrics: Arc<Metrics>,
        engine: Option<(Engine, EngineTasks)>,
        adjust: impl FnOnce(HttpSource) -> HttpSource,
    ) -> Harness {
        let (engine, tasks) = match engine {
            Some((e, t)) => (e, Some(t)),
            None => {
                let (e, t) = Engine::start(
                    store.clone(),
                    vec![],
                    Arc::new(SystemClock),
                    metrics.clone(),
                    EngineConfig::default(),
                )
                .await
                .expect("engine starts");
                (e, Some(t))
            }
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let source = adjust(HttpSource::with_listener(listener, test_config()));
        assert_eq!(source.local_addr(), Some(addr));
        let shutdown = CancellationToken::new();
        let ctx = SourceContext {
            sink,
            store,
            metrics: metrics.clone(),
            clock: Arc::new(SystemClock),
            shutdown: shutdown.clone(),
        };
        let server = tokio::spawn(Box::new(source).run(ctx));
        Harness {
            addr,
            base: format!("http://{addr}"),
            metrics,
            engine,
            tasks,
            shutdown,
            server: Some(server),
            client: client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/v1/heartbeat` with `Authorization: Bearer <key>` and an optional JSON body.
    pub async fn beat(&self, key: &str, json: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .post(self.url("/api/v1/heartbeat"))
            .bearer_auth(key);
        if let Some(body) = json {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        json_of(req.send().await.expect("request")).await
    }

    /// Asserts the server still answers `/healthz`.
    pub async fn assert_alive(&self) {
        let res = self
            .client
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("healthz answers");
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.text().await.unwrap_or_default().trim(), "ok");
    }

    /// Cancels the token and waits (bounded) for `run` to return.
    pub async fn stop(&mut self) -> Result<(), SourceError> {
        self.shutdown.cancel();
        let server = self.server.take().expect("server running");
        let out = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("run returns within 10 s of cancellation")
            .expect("run does not panic");
        if let Some(t) = self.tasks.take() {
            t.shutdown().await;
        }
        out
    }
}

/// Status and JSON body; asserts error bodies are `{"error": "<non-empty>"}` and that no
/// answer is a 5xx unless the test expects it (callers check the code).
pub async fn json_of(res: reqwest::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = res.text().await.unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "status {status}: content type {ct:?}, body {text:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body {text:?} is not JSON: {e}"));
    if status >= 400 {
        let msg = v.get("error").and_then(|m| m.as_str()).unwrap_or_default();
        assert!(!msg.is_empty(), "status {status}: no error message in {v}");
        assert_eq!(
            v.as_object().map(|o| o.len()),
            Some(1),
            "error body has only `error`: {v}"
        );
    }
    (status, v)
}

pub fn error_of(v: &serde_json::Value) -> String {
    v.get("error")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string()
}

/// Writes `bytes` on a fresh connection and reads until the server closes it (or `wait`
/// passes). Returns the status of the first response, if any, and whether the server closed
/// the connection within `wait`.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> RawOutcome {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may close (and reset) early, e.g. after refusing an oversized head.
    let write_error = s.write_all(bytes).await.err();
    let mut buf = Vec::new();
    let started = tokio::time::Instant::now();
    let read = tokio::time::timeout(wait, async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    RawOutcome {
        status: status_of(&buf),
        response: String::from_utf8_lossy(&buf).into_owned(),
        closed: read.is_ok(),
        elapsed: started.elapsed(),
        write_failed: write_error.is_some(),
    }
}

#[derive(Debug)]
pub struct RawOutcome {
    pub status: Option<u16>,
    pub response: String,
    pub closed: bool,
    pub elapsed: Duration,
    pub write_failed: bool,
}

impl RawOutcome {
    /// No 5xx and the connection was closed within the wait.
    pub fn assert_closed_without_5xx(&self) {
        assert!(self.closed, "connection left open: {self:?}");
        if let Some(s) = self.status {
            assert!(s < 500, "server error for a client mistake: {self:?}");
        }
    }
}

/// Status code of the first HTTP response in `buf`.
pub fn status_of(buf: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(buf.get(..buf.len().min(64))?).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// A sink that answers as told (for 503 and readiness).
pub struct FakeSink {
    pub ready: bool,
    pub answer: Result<BeatAck, BeatRejection>,
}

#[async_trait]
impl HeartbeatSink for FakeSink {
    async fn heartbeat(&self, _key: &str, _facts: DeviceFacts) -> Result<BeatAck, BeatRejection> {
        self.answer.clone()
    }

    fn status_counts(&self) -> StatusCounts {
        StatusCounts {
            up: 1,
            ..StatusCounts::default()
        }
    }

    fn is_ready(&self) -> bool {
        self.ready
    }
}

pub fn up_ack() -> BeatAck {
    BeatAck {
        location_id: outage_core::LocationId(1),
        status: Status::Up,
        next_in: Duration::from_secs(7),
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A sink that never answers (a wedged engine or database).
pub struct StuckSink;

#[async_trait]
impl HeartbeatSink for StuckSink {
    async fn heartbeat(&self, _key: &str, _facts: DeviceFacts) -> Result<BeatAck, BeatRejection> {
        std::future::pending().await
    }

    fn status_counts(&self) -> StatusCounts {
        StatusCounts::default()
    }

    fn is_ready(&self) -> bool {
        true
    }
}
