//! Hostile and broken clients: after each, the server still answers and never with a 5xx.
// Helpers outside #[test] fns panic on failed steps, like assertions.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generous bound for "the server closed the connection by itself": the request timeout in
/// the test config is 1 s.
const CLOSE_WITHIN: Duration = Duration::from_secs(6);

#[tokio::test]
async fn random_bytes_are_refused_and_the_connection_closed() {
    let h = Harness::start().await;
    for seed in 1..=8u64 {
        let out = raw(h.addr, &noise(seed, 4096), CLOSE_WITHIN).await;
        out.assert_closed_without_5xx();
    }
    // Garbage that looks almost like HTTP.
    let near_misses: &[&[u8]] = &[
        b"GET\r\n\r\n",
        b"POST /api/v1/heartbeat HTTP/9.9\r\n\r\n",
        b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
        b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /api/v1/heartbeat HTTP/1.1\r\nBad Header\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"POST /%%%% HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for req in near_misses {
        let out = raw(h.addr, req, CLOSE_WITHIN).await;
        out.assert_closed_without_5xx();
    }
    h.assert_alive().await;
}

#[tokio::test]
async fn huge_headers_get_431_or_a_closed_connection() {
    let h = Harness::start().await;
    let mut req = b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 100 * 1024));
    req.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let out = raw(h.addr, &req, CLOSE_WITHIN).await;
    out.assert_closed_without_5xx();
    assert!(
        out.status == Some(431) || out.status.is_none(),
        "expected 431 or a reset: {:?}",
        out.status
    );

    // Many small headers.
    let mut req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..500 {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let out = raw(h.addr, &req, CLOSE_WITHIN).await;
    out.assert_closed_without_5xx();
    assert_eq!(out.status, Some(431), "{:?}", out.response);

    // A huge key in the Authorization header through a normal client.
    let res = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .bearer_auth("k".repeat(12 * 1024))
        .send()
        .await
        .expect("send");
    let status = res.status().as_u16();
    assert_eq!(status, 401);
    h.assert_alive().await;
}

#[tokio::test]
async fn slowloris_head_is_cut_off_within_the_timeout() {
    let h = Harness::start().await;
    let mut s = tokio::net::TcpStream::connect(h.addr)
        .await
        .expect("connect");
    s.write_all(b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = tokio::time::Instant::now();
    let mut buf = Vec::new();
    // Keep dribbling a header byte now and then, as a slowloris client does.
    let closed = tokio::time::timeout(CLOSE_WITHIN, async {
        let mut chunk = [0u8; 512];
        loop {
            tokio::select! {
                r = s.read(&mut chunk) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                },
                _ = tokio::time::sleep(Duration::from_millis(300)) => {
                    if s.write_all(b"X").await.is_err() {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "slow head kept open for {CLOSE_WITHIN:?}");
    assert!(
        started.elapsed() >= TIMEOUT / 2,
        "closed too early: {:?}",
        started.elapsed()
    );
    if let Some(code) = status_of(&buf) {
        assert!(code < 500, "{}", String::from_utf8_lossy(&buf));
    }

    // A connection that never says anything is closed too.
    let out = raw(h.addr, b"", CLOSE_WITHIN).await;
    assert!(out.closed, "silent connection kept open: {out:?}");

    h.assert_alive().await;
}

#[tokio::test]
async fn slow_body_is_cut_off_without_a_5xx() {
    let h = Harness::start().await;
    let out = raw(
        h.addr,
        b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer home-key-0123456789\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"seq\":",
        CLOSE_WITHIN,
    )
    .await;
    out.assert_closed_without_5xx();
    if let Some(code) = out.status {
        assert!(code == 400 || code == 408, "{out:?}");
    }
    assert_eq!(h.metrics.heartbeats_received(), 0);
    h.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_are_all_answered() {
    let h = Harness::start().await;
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let client = h.client.clone();
        let url = h.url(match i % 5 {
            0 | 1 => "/api/v1/heartbeat",
            2 => "/healthz",
            3 => "/metrics",
            _ => "/nowhere",
        });
        tasks.push(tokio::spawn(async move {
            let req = if i % 5 < 2 {
                let key = if i % 5 == 0 { KEY } else { "bad-key" };
                client
                    .post(url)
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"seq":{i},"boot_id":"b"}}"#))
            } else {
                client.get(url)
            };
            let res = req.send().await.expect("answered");
            (i, res.status().as_u16())
        }));
    }
    let mut ok_beats = 0;
    for t in tasks {
        let (i, status) = t.await.expect("task");
        assert!(status < 500, "request {i}: {status}");
        let expected = match i % 5 {
            0 => 200,
            1 => 401,
            2 | 3 => 200,
            _ => 404,
        };
        assert_eq!(status, expected, "request {i}");
        if i % 5 == 0 {
            ok_beats += 1;
        }
    }
    assert_eq!(h.metrics.heartbeats_received(), ok_beats);
    h.assert_alive().await;
}

#[tokio::test]
async fn half_sent_requests_and_abrupt_closes_do_not_hurt() {
    let h = Harness::start().await;
    for cut in [10usize, 40, 90, 130] {
        let full = b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer home-key-0123456789\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"seq\":1}";
        let mut s = tokio::net::TcpStream::connect(h.addr)
            .await
            .expect("connect");
        let _ = s.write_all(&full[..cut.min(full.len())]).await;
        drop(s);
    }
    h.assert_alive().await;
    assert_eq!(h.beat(KEY, None).await.0, 200);
}
