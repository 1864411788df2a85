//! The read API over a memory store and a running engine, with the real plotters renderer, on
//! 127.0.0.1:0: authentication, every route's shape, client mistakes, caching, OpenAPI.
// Helpers outside #[test] fns panic on failed steps, like assertions.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Europe::Kyiv;
use common::{KEY, client, error_of, json_of, test_config};
use outage_core::availability::IsoWeek;
use outage_core::domain::{Cause, IntervalKind, Status};
use outage_core::engine::{Engine, EngineConfig, EngineTasks};
use outage_core::keys::{KeyHash, generate_token};
use outage_core::memory_store::MemoryStore;
use outage_core::metrics::Metrics;
use outage_core::source::{CancellationToken, HeartbeatSink, HeartbeatSource, SourceContext};
use outage_core::store::{EventChange, IntervalSwitch, Transition};
use outage_core::{LocationId, StatusStore, SystemClock};
use outage_render_plotters::{PlottersConfig, PlottersRenderer};
use outage_source_http::salvo::Router;
use outage_source_http::salvo::routing::FilterInfo;
use outage_source_http::{HttpSource, ReadApi, routes};

/// The token "grafana" the tests use.
const TOKEN: &str = "omt_grafana0123456789abcdefghijkmnp";
/// A token that was revoked.
const REVOKED: &str = "omt_revoked0123456789abcdefghijkmnp";

struct Api {
    base: String,
    client: reqwest::Client,
    store: Arc<MemoryStore>,
    home: LocationId,
    /// The outage recorded in the week before last.
    outage_start: DateTime<Utc>,
    ctx: SourceContext,
    shutdown: CancellationToken,
    tasks: Option<EngineTasks>,
}

impl Api {
    /// "home" (created three weeks ago, up since, one 90-minute power cut two weeks ago) and a
    /// disabled "cabin"; tokens "grafana" (valid) and "old" (revoked); an engine; the read API
    /// mounted on the HTTP source.
    async fn start() -> Api {
        let store = Arc::new(MemoryStore::new());
        let now = Utc::now();
        let created = now - TimeDelta::days(21);
        let home = common::seed_home_and_cabin(&store, created).await;
        let switch = |at, kind| {
            Some(IntervalSwitch {
                at,
                kind,
                relabel_closed_as: None,
            })
        };
        let transition = |status, interval, event| Transition {
            location_id: home,
            status,
            interval,
            event,
            notifications: vec![],
        };
        store
            .apply_transition(&transition(
                Status::Up,
                switch(created, IntervalKind::Up),
                EventChange::None,
            ))
            .await
            .expect("up");
        let outage_start = IsoWeek::of_instant(now, Kyiv).pred().pred().start(Kyiv)
            + TimeDelta::days(2)
            + TimeDelta::hours(10);
        let event = store
            .apply_transition(&transition(
                Status::Down,
                switch(outage_start, IntervalKind::Down),
                EventChange::Open {
                    started_at: Some(outage_start),
                    detected_at: outage_start + TimeDelta::seconds(30),
                    cause: Cause::Unknown,
                },
            ))
            .await
            .expect("down")
            .expect("event id");
        let outage_end = outage_start + TimeDelta::minutes(90);
        store
            .apply_transition(&transition(
                Status::Up,
                switch(outage_end, IntervalKind::Up),
                EventChange::Close {
                    event_id: event,
                    ended_at: outage_end,
                    cause: Cause::Power,
                },
            ))
            .await
            .expect("restore");
        store
            .create_api_token("grafana", KeyHash::of(TOKEN), now)
            .await
            .expect("token");
        let old = store
            .create_api_token("old", KeyHash::of(REVOKED), now)
            .await
            .expect("old token");
        assert!(store.revoke_api_token(old.id).await.expect("revoke"));

        let metrics = Arc::new(Metrics::default());
        let (engine, tasks) = Engine::start(
            store.clone(),
            vec![],
            Arc::new(SystemClock),
            metrics.clone(),
            EngineConfig::default(),
        )
        .await
        .expect("engine");
        let renderer =
            Arc::new(PlottersRenderer::new(PlottersConfig::default()).expect("renderer"));
        let api = ReadApi::new(store.clone(), renderer)
            .timezone(Kyiv)
            .engine(engine.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let source = HttpSource::with_listener(listener, test_config()).with_router(api.router());
        let shutdown = CancellationToken::new();
        let ctx = SourceContext {
            sink: Arc::new(engine) as Arc<dyn HeartbeatSink>,
            store: store.clone(),
            metrics,
            clock: Arc::new(SystemClock),
            shutdown: shutdown.clone(),
        };
        tokio::spawn(Box::new(source).run(ctx.clone()));
        Api {
            base: format!("http://{addr}"),
            client: client(),
            store,
            home,
            outage_start,
            ctx,
            shutdown,
            tasks: Some(tasks),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    /// GET with the valid token; status and JSON body.
    async fn json(&self, path: &str) -> (u16, serde_json::Value) {
        json_of(self.get(path, Some(TOKEN)).await).await
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.tasks.take() {
            t.shutdown().await;
        }
    }
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn tokens_are_required_and_checked_by_hash() {
    let api = Api::start().await;
    let path = "/api/v1/locations";
    let revoked = format!("Bearer {REVOKED}");
    let location_key = format!("Bearer {KEY}");
    for (what, auth) in [
        ("none", None),
        ("wrong", Some("Bearer omt_nottherightone")),
        ("revoked", Some(revoked.as_str())),
        ("a location key", Some(location_key.as_str())),
        ("basic", Some("Basic dXNlcjpwYXNz")),
        ("empty bearer", Some("Bearer ")),
    ] {
        let mut req = api.client.get(api.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.expect("send");
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{what}"
        );
        let (status, v) = json_of(res).await;
        assert_eq!(status, 401, "{what}: {v}");
        assert!(!error_of(&v).contains("omt_"), "token echoed: {v}");
    }
    // Every route is guarded, not only the list.
    let home = api.home;
    for p in [
        format!("/api/v1/locations/{home}"),
        format!("/api/v1/locations/{home}/events"),
        format!("/api/v1/locations/{home}/availability"),
        format!("/api/v1/locations/{home}/diagram.svg"),
        format!("/api/v1/locations/{home}/diagram.png"),
        "/api/v1/locations/nope".to_string(),
    ] {
        let res = api.get(&p, None).await;
        assert_eq!(res.status().as_u16(), 401, "{p}");
    }
    let (status, v) = api.json(path).await;
    assert_eq!(status, 200, "{v}");
    // Revoking takes effect on the next request.
    let grafana = api
        .store
        .list_api_tokens()
        .await
        .expect("tokens")
        .into_iter()
        .find(|t| t.name == "grafana")
        .expect("grafana");
    assert!(
        api.store
            .revoke_api_token(grafana.id)
            .await
            .expect("revoke")
    );
    let (status, _) = json_of(api.get(path, Some(TOKEN)).await).await;
    assert_eq!(status, 401);
    // A new token works at once.
    let fresh = generate_token();
    api.store
        .create_api_token("fresh", KeyHash::of(fresh.expose()), Utc::now())
        .await
        .expect("create");
    let (status, _) = json_of(api.get(path, Some(fresh.expose())).await).await;
    assert_eq!(status, 200);
    api.stop().await;
}

#[tokio::test]
async fn locations_have_the_cli_shape_and_a_live_status() {
    let api = Api::start().await;
    let (status, v) = api.json("/api/v1/locations").await;
    assert_eq!(status, 200, "{v}");
    let list = v.as_array().expect("array");
    assert_eq!(list.len(), 2);
    let contract: BTreeSet<String> = ["id", "name", "status", "last_seen", "timeout_s"]
        .into_iter()
        .map(String::from)
        .collect();
    for l in list {
        assert!(keys(l).is_superset(&contract), "{l}");
        assert!(
            ["up", "down", "unknown", "paused"].contains(&l["status"].as_str().unwrap_or("")),
            "{l}"
        );
        assert_eq!(l["timeout_s"], 30);
    }
    assert_eq!(list[0]["name"], "home");
    assert_eq!(list[1]["name"], "cabin");
    assert_eq!(list[1]["enabled"], false);
    assert!(list[0]["created_at"].as_str().unwrap().ends_with('Z'));

    // A heartbeat shows at once: the engine's live view, not the batched store.
    let res = api
        .client
        .post(api.url("/api/v1/heartbeat"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("beat");
    assert_eq!(res.status().as_u16(), 200);
    let (status, one) = api.json(&format!("/api/v1/locations/{}", api.home)).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["status"], "up", "{one}");
    assert_eq!(one["id"], api.home.0);
    let seen = one["last_seen"].as_str().expect("last_seen set");
    let seen = DateTime::parse_from_rfc3339(seen).expect("RFC 3339");
    assert!((Utc::now() - seen.with_timezone(&Utc)).num_seconds() < 30);
    assert_eq!(keys(&one), keys(&list[0]));
    api.stop().await;
}

#[tokio::test]
async fn client_mistakes_are_400_or_404_never_5xx() {
    let api = Api::start().await;
    let home = api.home;
    let cases: Vec<(String, u16, &str)> = vec![
        (
            "/api/v1/locations/999".into(),
            404,
            "no location with id 999",
        ),
        ("/api/v1/locations/999/events".into(), 404, "999"),
        ("/api/v1/locations/999/diagram.svg".into(), 404, "999"),
        ("/api/v1/locations/999/availability".into(), 404, "999"),
        (
            "/api/v1/locations/abc".into(),
            400,
            "invalid location id `abc`",
        ),
        ("/api/v1/locations/1.5/events".into(), 400, "location id"),
        (
            "/api/v1/locations/99999999999999999999".into(),
            400,
            "location id",
        ),
        (
            format!("/api/v1/locations/{home}/events?from=yesterday"),
            400,
            "invalid from `yesterday`",
        ),
        (
            format!("/api/v1/locations/{home}/events?to=2026-13-01"),
            400,
            "invalid to",
        ),
        (
            format!("/api/v1/locations/{home}/events?from=2026-03-02&to=2026-03-01"),
            400,
            "from must be before to",
        ),
        (
            format!("/api/v1/locations/{home}/events?limit=0"),
            400,
            "invalid limit",
        ),
        (
            format!("/api/v1/locations/{home}/events?limit=x"),
            400,
            "invalid limit",
        ),
        (
            format!("/api/v1/locations/{home}/diagram.svg?week=2026-W54"),
            400,
            "invalid week",
        ),
        (
            format!("/api/v1/locations/{home}/diagram.png?week=last"),
            400,
            "invalid week",
        ),
        (
            format!("/api/v1/locations/{home}/availability?period=year"),
            400,
            "invalid period `year`",
        ),
        (
            format!("/api/v1/locations/{home}/availability?from=x"),
            400,
            "invalid from",
        ),
        (
            format!("/api/v1/locations/{home}/availability?from=2026-03-02&to=2026-03-01"),
            400,
            "after",
        ),
        (
            format!("/api/v1/locations/{home}/availability?from=1900-01-01&to=2026-01-01"),
            400,
            "spans more than",
        ),
        ("/api/v1/locations/1/nothing".into(), 404, "not found"),
        ("/api/v1/nothing".into(), 404, "not found"),
    ];
    for (path, want, needle) in cases {
        let (status, v) = api.json(&path).await;
        assert_eq!(status, want, "{path}: {v}");
        assert!(error_of(&v).contains(needle), "{path}: {v}");
    }
    // Wrong method on a read route.
    let res = api
        .client
        .post(api.url("/api/v1/locations"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send");
    let (status, v) = json_of(res).await;
    assert_eq!(status, 405, "{v}");
    api.stop().await;
}

#[tokio::test]
async fn events_are_filtered_by_local_dates_and_times() {
    let api = Api::start().await;
    let home = api.home;
    let (status, v) = api.json(&format!("/api/v1/locations/{home}/events")).await;
    assert_eq!(status, 200, "{v}");
    let events = v.as_array().expect("array");
    assert_eq!(events.len(), 1, "{v}");
    let e = &events[0];
    for k in [
        "id",
        "location",
        "started_at",
        "detected_at",
        "ended_at",
        "cause",
    ] {
        assert!(e.get(k).is_some(), "missing {k}: {e}");
    }
    assert_eq!(e["location"], "home");
    assert_eq!(e["cause"], "power");
    assert_eq!(e["duration_s"], 90 * 60);
    let start = api.outage_start;
    let day = start.with_timezone(&Kyiv).date_naive();
    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(e["started_at"], rfc(start));
    // The local date of the outage, as from and to, finds it.
    let (_, v) = api
        .json(&format!(
            "/api/v1/locations/{home}/events?from={day}&to={day}"
        ))
        .await;
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    // The day after does not.
    let next = day.succ_opt().unwrap();
    let (_, v) = api
        .json(&format!("/api/v1/locations/{home}/events?from={next}"))
        .await;
    assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
    // RFC 3339 (a `+` must be escaped in a query string; `Z` needs nothing).
    let before = rfc(start - TimeDelta::hours(1));
    let (_, v) = api
        .json(&format!("/api/v1/locations/{home}/events?to={before}"))
        .await;
    assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
    let (_, v) = api
        .json(&format!(
            "/api/v1/locations/{home}/events?from={before}&limit=1"
        ))
        .await;
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    api.stop().await;
}

#[tokio::test]
async fn availability_rows_match_the_report_and_are_cached() {
    let api = Api::start().await;
    let home = api.home;
    let week = IsoWeek::of_instant(api.outage_start, Kyiv);
    let (from, to) = (week.monday(), week.sunday());
    let path = format!("/api/v1/locations/{home}/availability?from={from}&to={to}&period=week");
    let res = api.get(&path, Some(TOKEN)).await;
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .expect("etag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong tag: {etag}"
    );
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("private, max-age=86400"),
        "a past week"
    );
    let (status, v) = json_of(res).await;
    assert_eq!(status, 200, "{v}");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 1, "{v}");
    let r = &rows[0];
    assert_eq!(r["period"], week.to_string());
    assert_eq!(r["location"], "home");
    assert_eq!(r["down_min"], 90);
    assert_eq!(r["outages"], 1);
    assert_eq!(r["longest_outage_min"], 90);
    for k in [
        "start",
        "end",
        "up_min",
        "network_min",
        "no_data_min",
        "power_pct",
    ] {
        assert!(r.get(k).is_some(), "missing {k}: {r}");
    }

    // Unchanged → 304 without a body, with the same tag; weak and listed tags match too.
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let res = api
            .client
            .get(api.url(&path))
            .bearer_auth(TOKEN)
            .header("if-none-match", &inm)
            .send()
            .await
            .expect("send");
        assert_eq!(res.status().as_u16(), 304, "{inm}");
        assert_eq!(
            res.headers().get("etag").and_then(|v| v.to_str().ok()),
            Some(etag.as_str())
        );
        assert!(res.bytes().await.expect("body").is_empty());
    }
    let res = api
        .client
        .get(api.url(&path))
        .bearer_auth(TOKEN)
        .header("if-none-match", "\"other\"")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status().as_u16(), 200);

    // Days by default: the last seven, up to today; the current period is cached briefly.
    let res = api
        .get(
            &format!("/api/v1/locations/{home}/availability"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("private, max-age=60")
    );
    let (status, v) = json_of(res).await;
    assert_eq!(status, 200, "{v}");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 7);
    let today = Utc::now().with_timezone(&Kyiv).date_naive().to_string();
    assert_eq!(rows[6]["period"], today);
    api.stop().await;
}

#[tokio::test]
async fn diagrams_are_svg_and_png_with_etags() {
    let api = Api::start().await;
    let home = api.home;
    let past = IsoWeek::of_instant(api.outage_start, Kyiv);
    let svg_path = format!("/api/v1/locations/{home}/diagram.svg?week={past}");
    let res = api.get(&svg_path, Some(TOKEN)).await;
    assert_eq!(res.status().as_u16(), 200);
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
            .unwrap_or_default()
    };
    assert_eq!(header(&res, "content-type"), "image/svg+xml");
    assert_eq!(header(&res, "cache-control"), "private, max-age=86400");
    let etag = header(&res, "etag");
    let body = res.text().await.expect("svg");
    assert!(body.trim_start().starts_with("<svg"), "{}", &body[..80]);
    assert!(body.contains("home"), "title names the location");

    // A past week draws the same bytes again: same tag, so 304.
    let res = api
        .client
        .get(api.url(&svg_path))
        .bearer_auth(TOKEN)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status().as_u16(), 304);

    // PNG of the current week (the default).
    let res = api
        .get(
            &format!("/api/v1/locations/{home}/diagram.png"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(header(&res, "content-type"), "image/png");
    assert_eq!(header(&res, "cache-control"), "private, max-age=60");
    assert_ne!(header(&res, "etag"), etag);
    let png = res.bytes().await.expect("png");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG magic");

    // A future week is blank but fine.
    let future = IsoWeek::of_instant(Utc::now(), Kyiv).succ();
    let res = api
        .get(
            &format!("/api/v1/locations/{home}/diagram.svg?week={future}"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(header(&res, "cache-control"), "private, max-age=60");
    api.stop().await;
}

/// `(method, path)` of every route with a handler under `router`.
fn mounted(router: &Router, prefix: &str, out: &mut BTreeSet<(String, String)>) {
    let mut path = prefix.to_string();
    let mut methods = Vec::new();
    for f in router.filters() {
        match f.info() {
            FilterInfo::Path(p) => {
                path = format!("{}/{}", prefix.trim_end_matches('/'), p.trim_matches('/'));
            }
            FilterInfo::Method(m) => methods.push(m.as_str().to_ascii_lowercase()),
            _ => {}
        }
    }
    if router.goal.is_some() {
        assert!(!methods.is_empty(), "{path}: a handler without a method");
        for m in &methods {
            out.insert((m.clone(), path.clone()));
        }
    }
    for r in router.routers() {
        mounted(r, &path, out);
    }
}

#[tokio::test]
async fn openapi_describes_every_mounted_route_without_a_token() {
    let api = Api::start().await;
    let res = api.get("/api/v1/openapi.json", None).await;
    let (status, doc) = json_of(res).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");

    let renderer = Arc::new(PlottersRenderer::new(PlottersConfig::default()).expect("renderer"));
    let read = ReadApi::new(api.store.clone(), renderer).router();
    let mut all = BTreeSet::new();
    mounted(&routes(&api.ctx, &test_config()), "", &mut all);
    mounted(&read, "", &mut all);
    assert!(all.len() >= 12, "{all:?}");
    // salvo matches a path with or without its trailing slash; the document spells the
    // classic `/api/heartbeat/` with it, as those devices do.
    let documented = |method: &str, path: &str| {
        doc["paths"][path][method].is_object()
            || doc["paths"][format!("{path}/")][method].is_object()
    };
    for (method, path) in &all {
        assert!(
            documented(method, path),
            "{method} {path} is not in openapi.json"
        );
    }
    // And nothing is documented that is not mounted.
    let paths = doc["paths"].as_object().expect("paths");
    for (path, ops) in paths {
        for method in ops.as_object().expect("operations").keys() {
            let bare = path.trim_end_matches('/').to_string();
            assert!(
                all.contains(&(method.clone(), bare)),
                "{method} {path} is documented but not mounted"
            );
        }
    }
    // The alias is marked deprecated and never answers 415; the current path does.
    let legacy = &doc["paths"]["/api/heartbeat/"]["post"];
    assert_eq!(legacy["deprecated"], true, "{legacy}");
    assert!(legacy["responses"]["415"].is_null(), "{legacy}");
    assert!(doc["paths"]["/api/v1/heartbeat"]["post"]["responses"]["415"].is_object());
    assert!(doc["paths"]["/api/v1/heartbeat"]["post"]["deprecated"].is_null());
    // Every read route needs the token; the documented 401 carries WWW-Authenticate.
    for (method, path) in &all {
        if path.starts_with("/api/v1/locations") {
            let op = &doc["paths"][path][method];
            assert_eq!(
                op["security"][0]["apiToken"],
                serde_json::json!([]),
                "{path}"
            );
            assert!(op["responses"]["401"].is_object(), "{path}");
        }
    }
    api.stop().await;
}
