//! Health, readiness, metrics, graceful shutdown, binding, mounted routers.
// Helpers outside #[test] fns panic on failed steps, like assertions.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use outage_core::source::{HeartbeatSource, SourceError};
use outage_source_http::salvo::{self, Depot, FlowCtrl, Handler, Request, Response, Router};
use outage_source_http::{HttpConfig, HttpSource};

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let h = Harness::start().await;
    h.assert_alive().await;
    let res = h.client.get(h.url("/readyz")).send().await.expect("send");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.text().await.unwrap_or_default().trim(), "ok");
    // HEAD, as some uptime checkers probe.
    for path in ["/healthz", "/readyz"] {
        let res = h.client.head(h.url(path)).send().await.expect("send");
        assert_eq!(res.status().as_u16(), 200, "HEAD {path}");
    }
}

#[tokio::test]
async fn readyz_is_503_with_a_reason_when_the_engine_is_not_ready() {
    let h = Harness::start_with_sink(Arc::new(FakeSink {
        ready: false,
        answer: Ok(up_ack()),
    }))
    .await;
    let res = h.client.get(h.url("/readyz")).send().await.expect("send");
    let (status, v) = json_of(res).await;
    assert_eq!(status, 503);
    assert!(error_of(&v).starts_with("not ready: "), "{v}");
    // Alive all the same.
    h.assert_alive().await;
}

#[tokio::test]
async fn readyz_turns_503_when_the_engine_stops() {
    let mut h = Harness::start().await;
    if let Some(t) = h.tasks.take() {
        t.shutdown().await;
    }
    let res = h.client.get(h.url("/readyz")).send().await.expect("send");
    let (status, v) = json_of(res).await;
    assert_eq!(status, 503, "{v}");
}

/// Parses the exposition text; every sample line must be `name{labels} value`.
fn samples(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let kind = rest.split(' ').nth(1).unwrap_or_default();
                assert!(
                    ["counter", "gauge", "histogram"].contains(&kind),
                    "bad TYPE line {line:?}"
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name in {line:?}"
        );
        let labels = &series[name_end..];
        if !labels.is_empty() {
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "bad labels in {line:?}"
            );
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad label in {line:?}"));
                assert!(!k.is_empty(), "{line:?}");
                assert!(
                    v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                    "{line:?}"
                );
            }
        }
        out.push((series.to_string(), value));
    }
    out
}

async fn scrape(h: &Harness) -> Vec<(String, f64)> {
    let res = h.client.get(h.url("/metrics")).send().await.expect("send");
    assert_eq!(res.status().as_u16(), 200);
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    samples(&res.text().await.unwrap_or_default())
}

fn value(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{series} missing"))
}

#[tokio::test]
async fn metrics_parse_and_counters_move() {
    let h = Harness::start().await;
    let before = scrape(&h).await;
    assert_eq!(value(&before, "outage_heartbeats_received_total"), 0.0);
    assert_eq!(value(&before, "outage_locations{status=\"unknown\"}"), 2.0);
    assert_eq!(value(&before, "outage_notifications_pending"), 0.0);

    for _ in 0..3 {
        assert_eq!(h.beat(KEY, Some(r#"{"seq":1}"#)).await.0, 200);
    }
    assert_eq!(h.beat("wrong", None).await.0, 401);
    assert_eq!(h.beat(KEY, Some("[")).await.0, 400);
    assert_eq!(h.beat(DISABLED_KEY, None).await.0, 403);

    let after = scrape(&h).await;
    assert_eq!(value(&after, "outage_heartbeats_received_total"), 3.0);
    let rejected = |r: &str| {
        value(
            &after,
            &format!("outage_heartbeats_rejected_total{{reason=\"{r}\"}}"),
        )
    };
    assert_eq!(rejected("unauthorized"), 1.0);
    assert_eq!(rejected("malformed"), 1.0);
    assert_eq!(rejected("disabled"), 1.0);
    assert_eq!(rejected("too_large"), 0.0);
    assert_eq!(value(&after, "outage_locations{status=\"up\"}"), 1.0);
    assert_eq!(value(&after, "outage_locations{status=\"unknown\"}"), 1.0);
}

#[tokio::test]
async fn cancelling_the_token_stops_run_gracefully() {
    let mut h = Harness::start().await;
    // An idle keep-alive connection must not hold shutdown up.
    let idle = tokio::net::TcpStream::connect(h.addr)
        .await
        .expect("connect");
    let started = tokio::time::Instant::now();
    let out = h.stop().await;
    assert!(out.is_ok(), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    drop(idle);
    // Nobody answers any more.
    let after = h.client.get(h.url("/healthz")).send().await;
    assert!(after.is_err(), "still serving: {after:?}");
}

#[tokio::test]
async fn in_flight_request_finishes_during_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut h = Harness::start().await;
    let mut s = tokio::net::TcpStream::connect(h.addr)
        .await
        .expect("connect");
    // A first, complete request proves the connection was accepted and is being served.
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut first = Vec::new();
    let mut chunk = [0u8; 1024];
    while !first.ends_with(b"ok\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("healthz answered")
            .expect("read");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&first));
        first.extend_from_slice(&chunk[..n]);
    }
    s.write_all(b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer home-key-0123456789\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"seq\"")
        .await
        .expect("write head");
    // Let the server start reading the body, then ask it to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b":1}").await.expect("write rest");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert_eq!(
        status_of(&buf),
        Some(200),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    let out = h.stop().await;
    assert!(out.is_ok(), "{out:?}");
}

#[tokio::test]
async fn binding_a_busy_address_fails_with_the_address_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let cfg = HttpConfig {
        listen: addr.clone(),
        ..test_config()
    };
    match HttpSource::bind(cfg.clone()) {
        Err(SourceError::Listen { addr: a, reason }) => {
            assert_eq!(a, addr);
            assert!(!reason.is_empty());
        }
        other => panic!("expected Listen error, got {other:?}"),
    }
    // Binding lazily in `run` reports the same.
    let ctx = context_for_run();
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        Box::new(HttpSource::new(cfg)).run(ctx),
    )
    .await
    .expect("run returns");
    match out {
        Err(e @ SourceError::Listen { .. }) => {
            assert!(e.to_string().contains(&addr), "{e}");
        }
        other => panic!("expected Listen error, got {other:?}"),
    }
    let bad = HttpConfig {
        listen: "not an address".into(),
        ..test_config()
    };
    assert!(matches!(
        HttpSource::bind(bad),
        Err(SourceError::Listen { .. })
    ));
}

#[tokio::test]
async fn bind_then_run_serves_on_the_bound_port() {
    let source = HttpSource::bind(test_config()).expect("bind");
    let addr = source.local_addr().expect("bound");
    let ctx = context_for_run();
    let token = ctx.shutdown.clone();
    let server = tokio::spawn(Box::new(source).run(ctx));
    let res = client()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status().as_u16(), 200);
    token.cancel();
    let out = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(out, Ok(Ok(Ok(())))), "{out:?}");
}

fn context_for_run() -> outage_core::source::SourceContext {
    outage_core::source::SourceContext {
        sink: Arc::new(FakeSink {
            ready: true,
            answer: Ok(up_ack()),
        }),
        store: Arc::new(outage_core::memory_store::MemoryStore::new()),
        metrics: Arc::new(outage_core::metrics::Metrics::default()),
        clock: Arc::new(outage_core::SystemClock),
        shutdown: outage_core::source::CancellationToken::new(),
    }
}

/// A handler of a mounted router that reads the source context from the depot.
struct Readiness;

#[salvo::async_trait]
impl Handler for Readiness {
    async fn handle(
        &self,
        _req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let ready = outage_source_http::source_context(depot).map(|c| c.sink.is_ready());
        res.render(format!("ready={ready:?}"));
    }
}

#[tokio::test]
async fn mounted_routers_are_served_with_the_context() {
    let h = Harness::start_with(|s| {
        s.with_router(Router::with_path("api/v1/locations").get(Readiness))
            .with_router(Router::with_path("admin").get(Readiness))
    })
    .await;
    for path in ["/api/v1/locations", "/admin"] {
        let res = h.client.get(h.url(path)).send().await.expect("send");
        assert_eq!(res.status().as_u16(), 200, "{path}");
        assert_eq!(res.text().await.unwrap_or_default(), "ready=Some(true)");
    }
    // Built-in routes still work, and other paths still get JSON 404 / 405.
    assert_eq!(h.beat(KEY, None).await.0, 200);
    let (status, _) = json_of(h.client.get(h.url("/admin/x")).send().await.expect("send")).await;
    assert_eq!(status, 404);
    let (status, _) = json_of(
        h.client
            .post(h.url("/api/v1/locations"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 405);
}
