//! HTTP-level stories of the admin panel: a MemoryStore, a real engine, salvo's test client.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use outage_core::config::Config;
use outage_core::engine::{Engine, EngineConfig, EngineTasks};
use outage_core::keys::KeyHash;
use outage_core::memory_store::MemoryStore;
use outage_core::metrics::Metrics;
use outage_core::registry::PluginContext;
use outage_core::store::StatusStore;
use outage_core::{NewLocation, Role, Session};
use outage_web_admin::{Panel, PanelSettings, auth};
use salvo::http::StatusCode;
use salvo::test::{ResponseExt, TestClient};
use salvo::{Router, Service};

struct Harness {
    service: Service,
    store: Arc<MemoryStore>,
    engine: Engine,
    _tasks: EngineTasks,
}

/// A browser's cookie jar, enough for the panel's cookies.
#[derive(Default, Clone)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
    /// The test client hands the cookies the handler set over in the response's jar.
    fn take(&mut self, res: &salvo::Response) {
        for c in res.cookies().iter() {
            let gone = c.value().is_empty() || c.max_age().is_some_and(|a| a.is_zero());
            if gone {
                self.0.remove(c.name());
            } else {
                self.0.insert(c.name().to_string(), c.value().to_string());
            }
        }
    }
}

struct Answer {
    status: StatusCode,
    location: String,
    body: String,
    res: salvo::Response,
}

impl Harness {
    async fn new() -> Harness {
        Self::with_settings(PanelSettings::default()).await
    }

    async fn with_settings(settings: PanelSettings) -> Harness {
        let store = Arc::new(MemoryStore::new());
        let dyn_store: Arc<dyn StatusStore> = store.clone();
        let (engine, tasks) = Engine::start(
            dyn_store.clone(),
            vec![],
            Arc::new(outage_core::SystemClock),
            Arc::new(Metrics::default()),
            EngineConfig::default(),
        )
        .await
        .unwrap();
        let renderer = outage_render_plotters::factory(&PluginContext {
            config: &Config::default(),
            table: &serde_json::Value::Null,
            instance: "plotters",
        })
        .unwrap();
        // Two notifier instances, so routes can be typed into the form and checked.
        let notifiers: Vec<Arc<dyn outage_core::notify::Notifier>> = ["family", "me"]
            .into_iter()
            .map(|name| {
                Arc::new(outage_core::notify::ConsoleNotifier::new(chrono_tz::UTC).named(name))
                    as Arc<dyn outage_core::notify::Notifier>
            })
            .collect();
        let panel = Panel::new(dyn_store, engine.clone(), notifiers, renderer, settings);
        let service = Service::new(Router::new().push(panel.router()));
        Harness {
            service,
            store,
            engine,
            _tasks: tasks,
        }
    }

    async fn user(&self, name: &str, role: Role, password: &str) {
        let phc = auth::hash_password(password).unwrap();
        self.store
            .create_user(name, role, &phc, Utc::now())
            .await
            .unwrap();
    }

    async fn location(&self, name: &str) -> i64 {
        let loc = self
            .store
            .create_location(
                &NewLocation {
                    routes: Vec::new(),
                    name: name.into(),
                    timeout: std::time::Duration::from_secs(30),
                    chat_id: None,
                },
                KeyHash::of(&format!("key-{name}")),
                Utc::now(),
            )
            .await
            .unwrap();
        self.engine.reload_location(loc.id).await.unwrap();
        loc.id.0
    }

    async fn get(&self, jar: &mut Jar, path: &str) -> Answer {
        let res = TestClient::get(format!("http://127.0.0.1{path}"))
            .add_header("cookie", jar.header(), true)
            .send(&self.service)
            .await;
        answer(jar, res).await
    }

    async fn post(&self, jar: &mut Jar, path: &str, form: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let res = TestClient::post(format!("http://127.0.0.1{path}"))
            .add_header("cookie", jar.header(), true)
            .add_header("content-type", "application/x-www-form-urlencoded", true)
            .body(body)
            .send(&self.service)
            .await;
        answer(jar, res).await
    }

    /// Logs in through the form and returns the jar and the page's CSRF token.
    async fn login(&self, name: &str, password: &str) -> (Jar, String) {
        let mut jar = Jar::default();
        let form = self.get(&mut jar, "/admin/login").await;
        let csrf = csrf_of(&form.body);
        let a = self
            .post(
                &mut jar,
                "/admin/login",
                &[
                    ("username", name),
                    ("password", password),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let home = self.get(&mut jar, "/admin/").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.location);
        let csrf = csrf_of(&home.body);
        (jar, csrf)
    }
}

async fn answer(jar: &mut Jar, mut res: salvo::Response) -> Answer {
    jar.take(&res);
    let status = res.status_code.unwrap_or(StatusCode::OK);
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = res.take_string().await.unwrap_or_default();
    Answer {
        status,
        location,
        body,
        res,
    }
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .unwrap_or_else(|| panic!("no csrf_token in {html}"));
    let rest = &html[at + "name=\"csrf_token\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Every page and write route, with `{id}` standing for a location.
const GET_ROUTES: &[&str] = &[
    "/admin/",
    "/admin/locations",
    "/admin/locations/new",
    "/admin/locations/{id}",
    "/admin/locations/{id}/edit",
    "/admin/locations/{id}/delete",
    "/admin/locations/{id}/device",
    "/admin/locations/{id}/diagram.svg",
    "/admin/notifiers",
    "/admin/users",
];

const WRITE_ROUTES: &[&str] = &[
    "/admin/locations",
    "/admin/locations/{id}/edit",
    "/admin/locations/{id}/delete",
    "/admin/locations/{id}/pause",
    "/admin/locations/{id}/resume",
    "/admin/locations/{id}/rotate-key",
    "/admin/locations/{id}/test-alert",
];

#[tokio::test]
async fn with_no_user_the_panel_only_says_how_to_make_one() {
    let h = Harness::new().await;
    let mut jar = Jar::default();
    let a = h.get(&mut jar, "/admin/login").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body
            .contains("outage-monitor user add &lt;NAME&gt; --role admin"),
        "{}",
        a.body
    );
    assert!(!a.body.contains("name=\"password\""));
}

#[tokio::test]
async fn every_route_without_a_session_goes_to_login() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    let id = h.location("Home").await.to_string();
    let mut jar = Jar::default();
    for r in GET_ROUTES {
        let a = h.get(&mut jar, &r.replace("{id}", &id)).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "GET {r}");
        assert_eq!(a.location, "/admin/login", "GET {r}");
    }
    for r in WRITE_ROUTES {
        let a = h
            .post(&mut jar, &r.replace("{id}", &id), &[("name", "x")])
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "POST {r}");
        assert_eq!(a.location, "/admin/login", "POST {r}");
    }
    let a = h.get(&mut jar, "/admin/api/status").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_admin_logs_in_sees_the_list_and_logging_out_ends_the_session() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    h.location("Home").await;
    let (mut jar, csrf) = h.login("anna", "anna-password").await;
    let home = h.get(&mut jar, "/admin/").await;
    assert!(
        home.body.contains("data-status=\"unknown\""),
        "{}",
        home.body
    );
    let old = jar.clone();
    let a = h
        .post(&mut jar, "/admin/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    // Even a copy of the old cookie no longer works: the session is gone from the store.
    let mut old = old;
    let a = h.get(&mut old, "/admin/").await;
    assert_eq!(a.location, "/admin/login");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    let mut jar = Jar::default();
    let form = h.get(&mut jar, "/admin/login").await;
    let csrf = csrf_of(&form.body);
    let a = h
        .post(
            &mut jar,
            "/admin/login",
            &[
                ("username", "anna"),
                ("password", "anna-password"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    let session = a.res.cookies().get("om_session").unwrap();
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site(),
        Some(salvo::http::cookie::SameSite::Lax)
    );
    assert_ne!(session.secure(), Some(true), "plain http in tests");
    assert_eq!(session.path(), Some("/admin"));
}

#[tokio::test]
async fn an_expired_session_goes_back_to_login() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    let user = h.store.find_user("anna").await.unwrap().unwrap();
    let token = auth::new_token();
    let now = Utc::now();
    h.store
        .create_session(&Session {
            token_hash: auth::session_hash(&token),
            user_id: user.id,
            created_at: now - chrono::TimeDelta::days(8),
            expires_at: now - chrono::TimeDelta::days(1),
        })
        .await
        .unwrap();
    let mut jar = Jar::default();
    jar.0.insert("om_session".into(), token);
    let a = h.get(&mut jar, "/admin/").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location, "/admin/login");
}

#[tokio::test]
async fn a_viewer_sees_pages_but_every_write_is_forbidden() {
    let h = Harness::new().await;
    h.user("olia", Role::Viewer, "olia-password").await;
    let id = h.location("Home").await.to_string();
    let (mut jar, csrf) = h.login("olia", "olia-password").await;
    let home = h.get(&mut jar, "/admin/").await;
    assert!(
        !home.body.contains("new-location"),
        "no create button for a viewer"
    );
    let detail = h.get(&mut jar, &format!("/admin/locations/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(!detail.body.contains("edit-link"));
    for r in WRITE_ROUTES {
        let a = h
            .post(
                &mut jar,
                &r.replace("{id}", &id),
                &[("csrf_token", &csrf), ("name", "x"), ("timeout", "30s")],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "POST {r}");
    }
    assert_eq!(
        h.store.list_locations().await.unwrap()[0].location.name,
        "Home"
    );
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_login_included() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    let mut jar = Jar::default();
    h.get(&mut jar, "/admin/login").await;
    let a = h
        .post(
            &mut jar,
            "/admin/login",
            &[("username", "anna"), ("password", "anna-password")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let (mut jar, _) = h.login("anna", "anna-password").await;
    let a = h
        .post(
            &mut jar,
            "/admin/locations",
            &[("name", "Dacha"), ("timeout", "30s")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = h
        .post(
            &mut jar,
            "/admin/locations",
            &[
                ("name", "Dacha"),
                ("timeout", "30s"),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(h.store.list_locations().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_repeated_failures_are_throttled() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    let mut jar = Jar::default();
    for attempt in 1..=5 {
        let form = h.get(&mut jar, "/admin/login").await;
        let csrf = csrf_of(&form.body);
        let a = h
            .post(
                &mut jar,
                "/admin/login",
                &[
                    ("username", "anna"),
                    ("password", "guess"),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert!(a.body.contains("Wrong user name or password."));
    }
    // Now even the right password waits.
    let form = h.get(&mut jar, "/admin/login").await;
    let csrf = csrf_of(&form.body);
    let a = h
        .post(
            &mut jar,
            "/admin/login",
            &[
                ("username", "anna"),
                ("password", "anna-password"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.body.contains("Too many failed logins"), "{}", a.body);
}

#[tokio::test]
async fn a_hostile_name_is_shown_as_text() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    let (mut jar, csrf) = h.login("anna", "anna-password").await;
    let name = "<script>alert(1)</script> Київ";
    let a = h
        .post(
            &mut jar,
            "/admin/locations",
            &[("name", name), ("timeout", "30s"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body.contains("id=\"api-key\""),
        "the key is shown once after create"
    );
    let id = h.store.list_locations().await.unwrap()[0].location.id.0;
    for path in ["/admin/".to_string(), format!("/admin/locations/{id}")] {
        let page = h.get(&mut jar, &path).await;
        assert!(!page.body.contains("<script>alert(1)"), "{path}");
        assert!(
            page.body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; Київ"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn every_panel_response_carries_the_security_headers() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    let mut jar = Jar::default();
    for path in [
        "/admin/login",
        "/admin/",
        "/admin/assets/admin.css",
        "/admin/nowhere",
    ] {
        let a = h.get(&mut jar, path).await;
        let hd = a.res.headers();
        let csp = hd.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(
            hd.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert!(hd.get("referrer-policy").is_some(), "{path}");
    }
    let a = h.get(&mut jar, "/admin/login").await;
    assert_eq!(a.res.headers().get("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn an_admin_creates_edits_pauses_resumes_and_deletes_a_location() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    let (mut jar, csrf) = h.login("anna", "anna-password").await;
    let a = h
        .post(
            &mut jar,
            "/admin/locations",
            &[
                ("name", "Dacha"),
                ("timeout", "45s"),
                ("chat_id", ""),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let key_at = a.body.find("id=\"api-key\"").unwrap();
    let key = a.body[key_at..]
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    let id = h
        .engine
        .authenticate(key)
        .expect("the shown key works at once");
    let path = format!("/admin/locations/{id}");
    let page = h.get(&mut jar, &path).await;
    assert!(
        page.body
            .contains("id=\"routes-value\">every configured notifier<"),
        "{}",
        page.body
    );
    let form = h.get(&mut jar, &format!("{path}/edit")).await;
    assert!(
        form.body
            .contains("id=\"routes\" name=\"routes\" type=\"text\" maxlength=\"1000\" value=\"\"")
            && form.body.contains("id=\"routes-instances\">family, me<"),
        "{}",
        form.body
    );

    let bad = h
        .post(
            &mut jar,
            &format!("{path}/edit"),
            &[
                ("name", "Dacha 2"),
                ("timeout", "1m"),
                ("routes", "family, nope:7"),
                ("enabled", "on"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains(
            "alerts to: `nope:7`: no notifier instance `nope` is configured; configured: family, me"
        ) && bad.body.contains("value=\"family, nope:7\""),
        "the error names the value and what is accepted, and the form keeps what was typed: {}",
        bad.body
    );
    assert!(
        h.store
            .get_location(id)
            .await
            .unwrap()
            .unwrap()
            .location
            .routes
            .is_empty(),
        "a refused form changes nothing"
    );

    let a = h
        .post(
            &mut jar,
            &format!("{path}/edit"),
            &[
                ("name", "Dacha 2"),
                ("timeout", "1m"),
                ("chat_id", "-100"),
                ("routes", " family,me:42  family "),
                ("enabled", "on"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (StatusCode::SEE_OTHER, path.as_str())
    );
    let page = h.get(&mut jar, &path).await;
    assert!(
        page.body.contains("Dacha 2") && page.body.contains("id=\"flash\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("id=\"routes-value\">family, me:42<"),
        "{}",
        page.body
    );
    let routes: Vec<outage_core::Route> = vec!["family".parse().unwrap(), "me:42".parse().unwrap()];
    let rec = h.store.get_location(id).await.unwrap().unwrap();
    assert_eq!(rec.location.timeout, std::time::Duration::from_secs(60));
    assert_eq!(
        rec.location.routes, routes,
        "routes typed in the form, repeats dropped"
    );
    let form = h.get(&mut jar, &format!("{path}/edit")).await;
    assert!(
        form.body.contains("value=\"family, me:42\""),
        "the edit form shows the routes: {}",
        form.body
    );

    // Emptying the field routes the location back to every configured notifier.
    let a = h
        .post(
            &mut jar,
            &format!("{path}/edit"),
            &[
                ("name", "Dacha 2"),
                ("timeout", "1m"),
                ("chat_id", "-100"),
                ("routes", ""),
                ("enabled", "on"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(
        h.store
            .get_location(id)
            .await
            .unwrap()
            .unwrap()
            .location
            .routes
            .is_empty()
    );

    let until = (Utc::now() + chrono::TimeDelta::days(1))
        .with_timezone(&chrono_tz::Europe::Kyiv)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let a = h
        .post(
            &mut jar,
            &format!("{path}/pause"),
            &[("until", &until), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let page = h.get(&mut jar, &path).await;
    assert!(
        page.body.contains("data-status=\"paused\""),
        "{}",
        page.body
    );
    h.post(
        &mut jar,
        &format!("{path}/resume"),
        &[("csrf_token", &csrf)],
    )
    .await;
    let page = h.get(&mut jar, &path).await;
    assert!(!page.body.contains("data-status=\"paused\""));

    let confirm = h.get(&mut jar, &format!("{path}/delete")).await;
    assert!(confirm.body.contains("id=\"confirm\""));
    let a = h
        .post(
            &mut jar,
            &format!("{path}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/")
    );
    assert!(h.store.get_location(id).await.unwrap().is_none());
    assert!(
        h.engine.authenticate(key).is_none(),
        "the engine forgot it at once"
    );
}

#[tokio::test]
async fn the_status_endpoint_reports_a_heartbeat_at_once() {
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "anna-password").await;
    let id = h.location("Home").await;
    let (mut jar, _) = h.login("anna", "anna-password").await;
    h.engine
        .heartbeat_for(outage_core::LocationId(id), Default::default())
        .await
        .unwrap();
    let a = h.get(&mut jar, "/admin/api/status").await;
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v[0]["id"], id);
    assert_eq!(v[0]["status"], "up");
}

#[tokio::test]
async fn with_monitor_language_uk_the_pages_speak_ukrainian() {
    let settings = PanelSettings {
        language: outage_core::render::Language::Uk,
        ..PanelSettings::default()
    };
    let h = Harness::with_settings(settings).await;
    h.user("olena", Role::Admin, "довгий пароль").await;
    let mut jar = Jar::default();
    let a = h.get(&mut jar, "/admin/login").await;
    assert!(a.body.contains("<html lang=\"uk\">"), "{}", a.body);
    assert!(a.body.contains("Увійти"), "{}", a.body);
    let (mut jar, _) = h.login("olena", "довгий пароль").await;
    h.location("Дача").await;
    let a = h.get(&mut jar, "/admin/").await;
    assert!(a.body.contains("Локації"), "{}", a.body);
    assert!(!a.body.contains(">Locations<"), "{}", a.body);
}

#[tokio::test]
async fn the_notifier_page_shows_counts_and_the_last_error_per_notifier() {
    use outage_core::store::{EventChange, NewNotification, Transition};
    use outage_core::{Alert, AlertKind, Cause, Status};
    let h = Harness::new().await;
    h.user("anna", Role::Admin, "long password").await;
    let id = h.location("Home").await;
    let now = Utc::now();
    let alert = Alert {
        kind: AlertKind::Test,
        location_id: outage_core::LocationId(id),
        location_name: "Home".into(),
        event_id: None,
        started_at: None,
        detected_at: None,
        ended_at: None,
        cause: Cause::Unknown,
        at: now,
    };
    h.store
        .apply_transition(&Transition {
            location_id: outage_core::LocationId(id),
            status: Status::Up,
            interval: None,
            event: EventChange::None,
            notifications: vec![NewNotification {
                notifier: "telegram".into(),
                chat: "-100".into(),
                alert,
            }],
        })
        .await
        .unwrap();
    let item = h.store.claim_notifications(now, 10).await.unwrap();
    h.store
        .fail_notification(item[0].id, "<b>chat not found</b>")
        .await
        .unwrap();
    let (mut jar, _) = h.login("anna", "long password").await;
    let a = h.get(&mut jar, "/admin/notifiers").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains("telegram (no longer configured)"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains("&lt;b&gt;chat not found&lt;/b&gt;"),
        "{}",
        a.body
    );
    assert!(a.body.contains("id=\"outbox-failed\">1<"), "{}", a.body);
}
