//! `POST /api/v1/heartbeat` against a real engine: every status code it can answer.
// Helpers outside #[test] fns panic on failed steps, like assertions.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn beat_without_body_is_accepted() {
    let h = Harness::start().await;
    let res = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("send");
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"status": "up", "next_in_s": 10}));
    assert_eq!(h.metrics.heartbeats_received(), 1);
}

#[tokio::test]
async fn empty_object_and_full_body_are_accepted() {
    let h = Harness::start().await;
    let (status, body) = h.beat(KEY, Some("{}")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("up")),
        "{body}"
    );
    let full = r#"{"boot_id":"a1b2c3","uptime_s":3600,"seq":42,"fw":"esp32c3-0.3.1","rssi":-61}"#;
    let (status, body) = h.beat(KEY, Some(full)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["next_in_s"], 10);
    // An empty body with any content type, and a whitespace-only JSON body, are beats
    // without facts.
    for (ct, body) in [
        ("application/x-www-form-urlencoded", ""),
        ("application/json", "  \r\n"),
    ] {
        let res = h
            .client
            .post(h.url("/api/v1/heartbeat"))
            .bearer_auth(KEY)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .expect("send");
        let (status, v) = json_of(res).await;
        assert_eq!(status, 200, "{ct} {body:?}: {v}");
    }
    assert_eq!(h.metrics.heartbeats_received(), 4);
}

#[tokio::test]
async fn charset_parameter_unknown_fields_and_nulls_are_fine() {
    let h = Harness::start().await;
    let res = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .bearer_auth(KEY)
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"seq":1,"fw":null,"battery_mv":3712,"sensors":{"t":21.5,"list":[1,2]}}"#)
        .send()
        .await
        .expect("send");
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn x_api_key_header_works() {
    let h = Harness::start().await;
    let res = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .header("X-API-Key", KEY)
        .send()
        .await
        .expect("send");
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    let res = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .header("x-api-key", "nope")
        .send()
        .await
        .expect("send");
    let (status, body) = json_of(res).await;
    assert_eq!(
        (status, error_of(&body)),
        (401, "unknown API key".to_string())
    );
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_problem() {
    let h = Harness::start().await;
    let cases: &[(&str, &str)] = &[
        (r#"{"seq":1"#, "EOF"),
        ("{not json}", "key must be a string"),
        (
            r#"{"uptime_s":"x"}"#,
            "invalid body: uptime_s: invalid type: string \"x\", expected u64 at line 1 column 15",
        ),
        (
            r#"{"seq":-3}"#,
            "seq: invalid value: integer `-3`, expected u64",
        ),
        (
            r#"{"rssi":"weak"}"#,
            "rssi: invalid type: string \"weak\", expected i32",
        ),
        (r#"{"rssi":2147483648}"#, "rssi: "),
        (
            r#"{"boot_id":17}"#,
            "boot_id: invalid type: integer `17`, expected a string",
        ),
        (r#"{"fw":["1"]}"#, "fw: invalid type: sequence"),
        (r#"[1,2,3]"#, "expected a JSON object"),
        (r#""up""#, "expected a JSON object"),
        ("17", "expected a JSON object"),
        ("null", "expected a JSON object"),
        (r#"{} {}"#, "trailing characters"),
    ];
    let long_boot = format!(r#"{{"boot_id":"{}"}}"#, "b".repeat(65));
    let long_fw = format!(r#"{{"fw":"{}"}}"#, "я".repeat(65));
    let mut all: Vec<(String, &str)> = cases.iter().map(|(b, m)| (b.to_string(), *m)).collect();
    all.push((long_boot, "boot_id: too long: 65 characters, at most 64"));
    all.push((long_fw, "fw: too long: 65 characters, at most 64"));
    for (body, needle) in &all {
        let (status, v) = h.beat(KEY, Some(body)).await;
        assert_eq!(status, 400, "{body}: {v}");
        let msg = error_of(&v);
        assert!(msg.starts_with("invalid body: "), "{body}: {msg}");
        assert!(msg.contains(needle), "{body}: {msg:?} lacks {needle:?}");
    }
    let rejected = h.metrics.render_prometheus(Default::default(), None);
    assert!(
        rejected.contains(&format!(
            "outage_heartbeats_rejected_total{{reason=\"malformed\"}} {}",
            all.len()
        )),
        "{rejected}"
    );
    assert_eq!(h.metrics.heartbeats_received(), 0);
    // 64 characters are still fine.
    let (status, v) = h
        .beat(KEY, Some(&format!(r#"{{"boot_id":"{}"}}"#, "ї".repeat(64))))
        .await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn missing_unknown_and_malformed_keys_get_401() {
    let h = Harness::start().await;
    let res = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let (status, v) = json_of(res).await;
    assert_eq!(
        (status, error_of(&v).as_str()),
        (
            401,
            "missing API key: send Authorization: Bearer <key> or X-API-Key"
        )
    );

    let (status, v) = h.beat("not-a-key", None).await;
    assert_eq!((status, error_of(&v).as_str()), (401, "unknown API key"));

    for auth in [
        "Basic aG9tZTprZXk=",
        "Bearer",
        "Bearer ",
        "Bearer two words",
        KEY,
        "Digest abc",
    ] {
        let res = h
            .client
            .post(h.url("/api/v1/heartbeat"))
            .header("authorization", auth)
            .send()
            .await
            .expect("send");
        let (status, v) = json_of(res).await;
        assert_eq!(status, 401, "{auth:?}: {v}");
        assert!(
            error_of(&v).starts_with("malformed Authorization header"),
            "{auth:?}: {v}"
        );
    }
    // Non-ASCII bytes in the header value.
    let out = raw(
        h.addr,
        b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(out.status, Some(401), "{out:?}");
    // The key is case-sensitive.
    let (status, _) = h.beat(&KEY.to_uppercase(), None).await;
    assert_eq!(status, 401);

    let text = h.metrics.render_prometheus(Default::default(), None);
    assert!(
        text.contains("outage_heartbeats_rejected_total{reason=\"unauthorized\"} 10"),
        "{text}"
    );
    assert_eq!(h.metrics.heartbeats_received(), 0);
    h.assert_alive().await;
}

#[tokio::test]
async fn disabled_location_gets_403() {
    let h = Harness::start().await;
    let (status, v) = h.beat(DISABLED_KEY, Some(r#"{"seq":1}"#)).await;
    assert_eq!(
        (status, error_of(&v).as_str()),
        (403, "location is disabled")
    );
    let text = h.metrics.render_prometheus(Default::default(), None);
    assert!(
        text.contains("outage_heartbeats_rejected_total{reason=\"disabled\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn declared_oversized_body_gets_413_before_it_is_read() {
    let h = Harness::start().await;
    let body = format!(r#"{{"fw":"{}"}}"#, "x".repeat(2000 - 9));
    assert_eq!(body.len(), 2000);
    let res = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let (status, v) = json_of(res).await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(error_of(&v), "body too large: at most 1024 bytes");

    // The declared length alone is enough: no body bytes are sent at all.
    let out = raw(
        h.addr,
        b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer home-key-0123456789\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(out.status, Some(413), "{out:?}");
    assert!(
        out.elapsed < TIMEOUT,
        "answered before any timeout: {out:?}"
    );

    // Exactly 1024 bytes are accepted.
    let body = format!(r#"{{"fw":"1","pad":"{}"}}"#, " ".repeat(1024 - 19));
    assert_eq!(body.len(), 1024);
    let (status, v) = h.beat(KEY, Some(&body)).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn chunked_body_over_the_limit_gets_413_while_reading() {
    let h = Harness::start().await;
    let mut req = b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer home-key-0123456789\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    // 3 chunks of 400 bytes: the third crosses 1 KiB.
    req.extend_from_slice(b"190\r\n{\"pad\":\"");
    req.extend_from_slice(&[b'x'; 400 - 8]);
    req.extend_from_slice(b"\r\n");
    for _ in 0..2 {
        req.extend_from_slice(b"190\r\n");
        req.extend_from_slice(&[b'x'; 400]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"2\r\n\"}\r\n0\r\n\r\n");
    let out = raw(h.addr, &req, Duration::from_secs(5)).await;
    assert_eq!(out.status, Some(413), "{out:?}");
    assert!(out.response.contains("body too large"), "{out:?}");

    // A small chunked body is fine.
    let ok = b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer home-key-0123456789\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\n{\"se\r\n5\r\nq\":7}\r\n0\r\n\r\n";
    let out = raw(h.addr, ok, Duration::from_secs(5)).await;
    assert_eq!(out.status, Some(200), "{out:?}");

    let text = h.metrics.render_prometheus(Default::default(), None);
    assert!(
        text.contains("outage_heartbeats_rejected_total{reason=\"too_large\"} 1"),
        "{text}"
    );
    h.assert_alive().await;
}

#[tokio::test]
async fn non_json_bodies_get_415() {
    let h = Harness::start().await;
    let text_plain = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .bearer_auth(KEY)
        .header("content-type", "text/plain")
        .body(r#"{"seq":1}"#)
        .send()
        .await
        .expect("send");
    let form = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .bearer_auth(KEY)
        .form(&[("seq", "1")])
        .send()
        .await
        .expect("send");
    let no_type = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .bearer_auth(KEY)
        .body(r#"{"seq":1}"#)
        .send()
        .await
        .expect("send");
    for (res, needle) in [
        (text_plain, "unsupported content type `text/plain`"),
        (form, "`application/x-www-form-urlencoded`"),
        (no_type, "missing Content-Type"),
    ] {
        let (status, v) = json_of(res).await;
        assert_eq!(status, 415, "{v}");
        assert!(error_of(&v).contains(needle), "{v}");
    }
    let text = h.metrics.render_prometheus(Default::default(), None);
    assert!(
        text.contains("outage_heartbeats_rejected_total{reason=\"unsupported_media_type\"} 3"),
        "{text}"
    );
}

#[tokio::test]
async fn unavailable_sink_gets_503() {
    let h = Harness::start_with_sink(std::sync::Arc::new(FakeSink {
        ready: true,
        answer: Err(outage_core::source::BeatRejection::Unavailable(
            "database unavailable".into(),
        )),
    }))
    .await;
    let (status, v) = h.beat("any", None).await;
    assert_eq!(
        (status, error_of(&v).as_str()),
        (503, "monitor unavailable: database unavailable")
    );
    let text = h.metrics.render_prometheus(Default::default(), None);
    assert!(
        text.contains("outage_heartbeats_rejected_total{reason=\"unavailable\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn fake_sink_ack_is_reported_as_is() {
    let h = Harness::start_with_sink(std::sync::Arc::new(FakeSink {
        ready: true,
        answer: Ok(up_ack()),
    }))
    .await;
    let (status, v) = h.beat("any", None).await;
    assert_eq!(status, 200);
    assert_eq!(v, serde_json::json!({"status": "up", "next_in_s": 7}));
}

#[tokio::test]
async fn engine_shut_down_means_503_not_a_crash() {
    let mut h = Harness::start().await;
    if let Some(t) = h.tasks.take() {
        t.shutdown().await;
    }
    let (status, v) = h.beat(KEY, None).await;
    assert_eq!(status, 503, "{v}");
    assert!(error_of(&v).starts_with("monitor unavailable: "), "{v}");
    h.assert_alive().await;
}

#[tokio::test]
async fn unknown_paths_get_404_and_wrong_methods_405() {
    let h = Harness::start().await;
    for path in ["/", "/api/v1/heartbeats", "/api/v2/heartbeat", "/nope?x=1"] {
        let res = h
            .client
            .post(h.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("send");
        let (status, v) = json_of(res).await;
        assert_eq!(status, 404, "{path}: {v}");
        assert!(error_of(&v).starts_with("not found"), "{v}");
    }
    let cases = [
        (reqwest::Method::GET, "/api/v1/heartbeat"),
        (reqwest::Method::PUT, "/api/v1/heartbeat"),
        (reqwest::Method::DELETE, "/api/v1/heartbeat"),
        (reqwest::Method::POST, "/healthz"),
        (reqwest::Method::POST, "/readyz"),
        (reqwest::Method::DELETE, "/metrics"),
    ];
    for (method, path) in cases {
        let res = h
            .client
            .request(method.clone(), h.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("send");
        let allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let (status, v) = json_of(res).await;
        assert_eq!(status, 405, "{method} {path}: {v}");
        assert!(error_of(&v).contains("not allowed"), "{v}");
        assert!(!allow.is_empty(), "{method} {path}: Allow header missing");
    }
    assert_eq!(h.metrics.heartbeats_received(), 0);
}

#[tokio::test]
async fn a_wedged_engine_gets_503_after_the_request_timeout() {
    let h = Harness::start_with_sink(std::sync::Arc::new(StuckSink)).await;
    let started = std::time::Instant::now();
    let (status, v) = h.beat(KEY, None).await;
    assert_eq!(
        (status, error_of(&v).as_str()),
        (503, "monitor unavailable: timed out")
    );
    assert!(started.elapsed() >= TIMEOUT, "{:?}", started.elapsed());
    h.assert_alive().await;
}

#[tokio::test]
async fn classic_design_path_is_an_alias_that_ignores_non_json_bodies() {
    let h = Harness::start().await;
    // Devices flashed for the classic design: its path (with and without the trailing
    // slash), its header schemes, and whatever body they send.
    type Case<'a> = (&'a str, (&'a str, String), Option<(&'a str, &'a str)>);
    let cases: [Case<'_>; 5] = [
        ("/api/heartbeat/", ("X-API-Key", KEY.to_string()), None),
        (
            "/api/heartbeat/",
            ("Authorization", format!("Api-Key {KEY}")),
            Some((
                "application/x-www-form-urlencoded",
                "status=alive&uptime=12",
            )),
        ),
        (
            "/api/heartbeat",
            ("Authorization", format!("Token {KEY}")),
            Some(("text/plain", "ping")),
        ),
        (
            "/api/heartbeat/",
            ("Authorization", format!("Bearer {KEY}")),
            Some(("application/json", r#"{"uptime_s":5,"boot_id":"b1"}"#)),
        ),
        (
            "/api/v1/heartbeat",
            ("Authorization", format!("Api-Key {KEY}")),
            None,
        ),
    ];
    for (path, (name, value), body) in &cases {
        let mut req = h.client.post(h.url(path)).header(*name, value);
        if let Some((ct, b)) = body {
            req = req.header("content-type", *ct).body(*b);
        }
        let (status, v) = json_of(req.send().await.expect("send")).await;
        assert_eq!(status, 200, "{path} {name} {body:?}: {v}");
        assert_eq!(v["status"], "up", "{v}");
    }
    assert_eq!(h.metrics.heartbeats_received(), 5);

    // Same keys, same refusals: a wrong key is 401, malformed JSON still 400, and the
    // current path stays strict about content types.
    let res = h
        .client
        .post(h.url("/api/heartbeat/"))
        .header("X-API-Key", "om_not-a-key")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 401);
    let res = h
        .client
        .post(h.url("/api/heartbeat/"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{\"seq\":")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 400);
    let res = h
        .client
        .post(h.url("/api/v1/heartbeat"))
        .bearer_auth(KEY)
        .header("content-type", "text/plain")
        .body("ping")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 415);
}
