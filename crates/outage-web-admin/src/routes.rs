//! The request handling: one [`Endpoint`] per route, all sharing the session, CSRF, role and
//! header rules, so no route can forget one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use outage_core::availability::IsoWeek;
use outage_core::device::{DeviceKind, device_settings, send_test_alert};
use outage_core::keys::{KeyHash, generate_key};
use outage_core::notify::Notifier;
use outage_core::render::ImageFormat;
use outage_core::store::{EventFilter, StoreError};
use outage_core::{LocationId, LocationPatch, NewLocation, Role, Session, User};
use sailfish::TemplateSimple;
use salvo::http::cookie::{Cookie, SameSite};
use salvo::http::header::{self, HeaderValue};
use salvo::http::{Method, StatusCode};
use salvo::{Depot, FlowCtrl, Handler, Request, Response};

use crate::auth;
use crate::config::FORM_LIMIT;
use crate::i18n::T;
use crate::pages::*;
use crate::state::Inner;
use crate::views;

/// Name of the session cookie (a random token; the store keeps its SHA-256).
pub const SESSION_COOKIE: &str = "om_session";
/// Name of the cookie holding the login form's CSRF token.
pub const LOGIN_CSRF_COOKIE: &str = "om_login_csrf";
/// Name of the cookie carrying a flash code to the next page.
pub const FLASH_COOKIE: &str = "om_flash";

/// The content security policy of every panel response: no inline script or style, nothing
/// from elsewhere, never framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

const CSS: &str = include_str!("../assets/admin.css");
const JS: &str = include_str!("../assets/admin.js");

/// Every route of the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Home,
    LoginForm,
    Login,
    Logout,
    Css,
    Js,
    StatusJson,
    Notifiers,
    Users,
    NewForm,
    Create,
    Detail,
    EditForm,
    Edit,
    DeleteConfirm,
    Delete,
    Pause,
    Resume,
    Device,
    RotateKey,
    TestAlert,
    Diagram,
    NotFound,
}

/// A route bound to the panel.
pub struct Endpoint {
    pub inner: Arc<Inner>,
    pub route: Route,
}

/// What a handler answers.
enum Reply {
    /// A full HTML page with status.
    Page(StatusCode, String),
    /// `303 See Other` to a path, with an optional flash code.
    Redirect(String, Option<&'static str>),
    /// Bytes with a content type and a cache policy.
    Asset(&'static str, Vec<u8>, &'static str),
}

/// The logged-in user of a request.
struct Who {
    user: User,
    csrf: String,
    token_hash: KeyHash,
}

#[async_trait]
impl Handler for Endpoint {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let inner = &self.inner;
        let t = crate::i18n::texts(inner.settings.language);
        let reply = match handle(inner, t, self.route, req, res).await {
            Ok(r) => r,
            Err(Fail::Store(e)) => {
                tracing::warn!(error = %e, "admin panel: store error");
                let code = match e {
                    StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
                    StoreError::Conflict(_) | StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                };
                let text = match code {
                    StatusCode::NOT_FOUND => t.not_found.to_string(),
                    StatusCode::BAD_REQUEST => e.to_string(),
                    _ => t.unavailable.to_string(),
                };
                message(t, code, code.canonical_reason().unwrap_or("Error"), &text)
            }
            Err(Fail::Status(code)) => {
                let text = match code {
                    StatusCode::FORBIDDEN => t.forbidden,
                    StatusCode::NOT_FOUND => t.not_found,
                    _ => t.bad_request,
                };
                message(t, code, code.canonical_reason().unwrap_or("Error"), text)
            }
        };
        security_headers(res);
        match reply {
            Reply::Page(code, html) => {
                res.status_code(code);
                set(res, header::CONTENT_TYPE, "text/html; charset=utf-8");
                set(res, header::CACHE_CONTROL, "no-store");
                res.body(html);
            }
            Reply::Redirect(to, flash) => {
                res.status_code(StatusCode::SEE_OTHER);
                set(res, header::CACHE_CONTROL, "no-store");
                if let Ok(v) = HeaderValue::from_str(&to) {
                    res.headers_mut().insert(header::LOCATION, v);
                }
                if let Some(code) = flash {
                    res.add_cookie(cookie(inner, FLASH_COOKIE, code.to_string(), Some(60)));
                }
            }
            Reply::Asset(ctype, bytes, cache) => {
                res.status_code(StatusCode::OK);
                set(res, header::CONTENT_TYPE, ctype);
                set(res, header::CACHE_CONTROL, cache);
                res.body(bytes);
            }
        }
    }
}

enum Fail {
    Store(StoreError),
    Status(StatusCode),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<outage_core::engine::EngineError> for Fail {
    fn from(e: outage_core::engine::EngineError) -> Self {
        Fail::Store(StoreError::Other(e.to_string()))
    }
}

fn set(res: &mut Response, name: header::HeaderName, value: &'static str) {
    res.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn security_headers(res: &mut Response) {
    set(res, header::CONTENT_SECURITY_POLICY, CSP);
    set(res, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(res, header::REFERRER_POLICY, "same-origin");
    set(res, header::X_FRAME_OPTIONS, "DENY");
}

fn cookie(
    inner: &Inner,
    name: &'static str,
    value: String,
    max_age_s: Option<i64>,
) -> Cookie<'static> {
    let mut b = Cookie::build((name, value))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(inner.settings.secure_cookies);
    if let Some(s) = max_age_s {
        b = b.max_age(salvo::http::cookie::time::Duration::seconds(s));
    }
    b.build()
}

fn message(t: &'static T, code: StatusCode, heading: &str, text: &str) -> Reply {
    let body = MessagePage {
        heading: heading.to_string(),
        text: text.to_string(),
        back: t.back,
    }
    .render_once()
    .unwrap_or_default();
    Reply::Page(code, layout(t, heading, None, String::new(), None, body))
}

fn layout(
    t: &'static T,
    title: &str,
    who: Option<&Who>,
    csrf: String,
    flash: Option<&'static str>,
    body: String,
) -> String {
    Layout {
        t,
        title: title.to_string(),
        user: who.map(|w| CurrentUser {
            name: w.user.name.clone(),
            role: w.user.role.as_str(),
            admin: w.user.role == Role::Admin,
        }),
        csrf,
        flash,
        body,
    }
    .render_once()
    .unwrap_or_default()
}

fn render<P: TemplateSimple>(p: P) -> String {
    p.render_once().unwrap_or_else(|e| {
        tracing::error!(error = %e, "admin panel: template failed");
        String::new()
    })
}

/// The session of the request, if its cookie names a live one.
async fn session(inner: &Inner, req: &Request) -> Result<Option<Who>, Fail> {
    let Some(token) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(None);
    };
    if token.len() != 64 {
        return Ok(None);
    }
    let hash = auth::session_hash(&token);
    let found = inner.store.find_session(&hash, inner.clock.now()).await?;
    Ok(found.map(|(_, user)| Who {
        user,
        csrf: auth::csrf_for_session(&token),
        token_hash: hash,
    }))
}

async fn form(req: &mut Request) -> Result<HashMap<String, String>, Fail> {
    let body = req
        .payload_with_max_size(FORM_LIMIT)
        .await
        .map_err(|_| Fail::Status(StatusCode::PAYLOAD_TOO_LARGE))?;
    Ok(form_urlencoded::parse(body).into_owned().collect())
}

fn query(req: &Request, key: &str) -> Option<String> {
    let q = req.uri().query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn take_flash(
    t: &'static T,
    inner: &Inner,
    req: &Request,
    res: &mut Response,
) -> Option<&'static str> {
    let code = req.cookie(FLASH_COOKIE)?.value().to_string();
    res.add_cookie(cookie(inner, FLASH_COOKIE, String::new(), Some(0)));
    t.flash(&code)
}

fn client_ip(req: &Request) -> String {
    req.remote_addr()
        .clone()
        .into_std()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn location_id(req: &Request) -> Result<LocationId, Fail> {
    req.param::<i64>("id")
        .map(LocationId)
        .ok_or(Fail::Status(StatusCode::NOT_FOUND))
}

async fn handle(
    inner: &Inner,
    t: &'static T,
    route: Route,
    req: &mut Request,
    res: &mut Response,
) -> Result<Reply, Fail> {
    // Routes anyone may fetch.
    match route {
        Route::Css => {
            return Ok(Reply::Asset(
                "text/css; charset=utf-8",
                CSS.as_bytes().to_vec(),
                "public, max-age=31536000, immutable",
            ));
        }
        Route::Js => {
            return Ok(Reply::Asset(
                "text/javascript; charset=utf-8",
                JS.as_bytes().to_vec(),
                "public, max-age=31536000, immutable",
            ));
        }
        Route::LoginForm => return login_form(inner, t, req, res, None, String::new()).await,
        Route::Login => return login(inner, t, req, res).await,
        _ => {}
    }
    let who = session(inner, req).await?;
    let Some(who) = who else {
        if route == Route::StatusJson {
            return Err(Fail::Status(StatusCode::UNAUTHORIZED));
        }
        return Ok(Reply::Redirect("/admin/login".into(), None));
    };
    if req.method() == Method::POST {
        let f = form(req).await?;
        let sent = f.get("csrf_token").map(String::as_str).unwrap_or("");
        if !auth::tokens_match(sent, &who.csrf) {
            return Err(Fail::Status(StatusCode::FORBIDDEN));
        }
        if route == Route::Logout {
            inner.store.delete_session(&who.token_hash).await?;
            res.add_cookie(cookie(inner, SESSION_COOKIE, String::new(), Some(0)));
            return Ok(Reply::Redirect("/admin/login".into(), Some("logged_out")));
        }
        if who.user.role != Role::Admin {
            return Err(Fail::Status(StatusCode::FORBIDDEN));
        }
        return write(inner, t, route, req, &who, f).await;
    }
    let flash = take_flash(t, inner, req, res);
    read(inner, t, route, req, &who, flash).await
}

async fn login_form(
    inner: &Inner,
    t: &'static T,
    req: &Request,
    res: &mut Response,
    error: Option<(StatusCode, String)>,
    username: String,
) -> Result<Reply, Fail> {
    if inner.store.list_users().await?.is_empty() {
        let body = render(SetupPage { t });
        return Ok(Reply::Page(
            StatusCode::OK,
            layout(t, t.no_users_title, None, String::new(), None, body),
        ));
    }
    if error.is_none() && session(inner, req).await?.is_some() {
        return Ok(Reply::Redirect("/admin/".into(), None));
    }
    let csrf = auth::new_token();
    res.add_cookie(cookie(inner, LOGIN_CSRF_COOKIE, csrf.clone(), Some(3600)));
    let flash = take_flash(t, inner, req, res);
    let (code, error) = match error {
        Some((c, e)) => (c, Some(e)),
        None => (StatusCode::OK, None),
    };
    let body = render(LoginPage {
        t,
        csrf,
        username,
        error,
    });
    Ok(Reply::Page(
        code,
        layout(t, t.login, None, String::new(), flash, body),
    ))
}

async fn login(
    inner: &Inner,
    t: &'static T,
    req: &mut Request,
    res: &mut Response,
) -> Result<Reply, Fail> {
    let f = form(req).await?;
    let expected = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let sent = f.get("csrf_token").map(String::as_str).unwrap_or("");
    if !auth::tokens_match(sent, &expected) {
        return Err(Fail::Status(StatusCode::FORBIDDEN));
    }
    let username = f.get("username").cloned().unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    let keys = vec![
        format!("ip:{}", client_ip(req)),
        format!("user:{}", username.to_lowercase()),
    ];
    let now = Instant::now();
    if let Some(wait) = inner.throttle.wait(&keys, now) {
        let secs = wait.as_secs().max(1);
        return login_form(
            inner,
            t,
            req,
            res,
            Some((
                StatusCode::TOO_MANY_REQUESTS,
                format!("{} {secs} s.", t.throttled),
            )),
            username,
        )
        .await;
    }
    let user = inner.store.find_user(&username).await?;
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| auth::dummy_hash().to_string());
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &phc))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        inner.throttle.failed(&keys, now);
        tracing::info!(ip = %client_ip(req), "admin panel: failed login");
        return login_form(
            inner,
            t,
            req,
            res,
            Some((StatusCode::UNAUTHORIZED, t.wrong_login.to_string())),
            username,
        )
        .await;
    };
    inner.throttle.succeeded(&keys);
    let token = auth::new_token();
    let created = inner.clock.now();
    let ttl = chrono::TimeDelta::from_std(inner.settings.session_ttl)
        .unwrap_or(chrono::TimeDelta::days(7));
    inner
        .store
        .create_session(&Session {
            token_hash: auth::session_hash(&token),
            user_id: user.id,
            created_at: created,
            expires_at: created + ttl,
        })
        .await?;
    // Expired sessions are few; clearing them at each login keeps the table small.
    let _ = inner.store.prune_sessions(created).await;
    res.add_cookie(cookie(
        inner,
        SESSION_COOKIE,
        token,
        Some(ttl.num_seconds()),
    ));
    res.add_cookie(cookie(inner, LOGIN_CSRF_COOKIE, String::new(), Some(0)));
    Ok(Reply::Redirect("/admin/".into(), None))
}

fn page(t: &'static T, title: &str, who: &Who, flash: Option<&'static str>, body: String) -> Reply {
    Reply::Page(
        StatusCode::OK,
        layout(t, title, Some(who), who.csrf.clone(), flash, body),
    )
}

async fn read(
    inner: &Inner,
    t: &'static T,
    route: Route,
    req: &Request,
    who: &Who,
    flash: Option<&'static str>,
) -> Result<Reply, Fail> {
    let can_write = who.user.role == Role::Admin;
    match route {
        Route::Home => {
            let rows = views::rows(inner, t).await?;
            let body = render(ListPage { t, rows, can_write });
            Ok(page(t, t.locations, who, flash, body))
        }
        Route::StatusJson => {
            let body = views::status_json(inner, t).await?;
            Ok(Reply::Asset(
                "application/json",
                body.into_bytes(),
                "no-store",
            ))
        }
        Route::NewForm => {
            if !can_write {
                return Err(Fail::Status(StatusCode::FORBIDDEN));
            }
            let body = render(FormPage {
                t,
                heading: t.new_location.into(),
                action: "/admin/locations".into(),
                name: String::new(),
                timeout: humantime::format_duration(outage_core::DEFAULT_TIMEOUT).to_string(),
                chat_id: String::new(),
                routes: String::new(),
                instances: instance_names(inner),
                enabled: true,
                is_edit: false,
                error: None,
                csrf: who.csrf.clone(),
            });
            Ok(page(t, t.new_location, who, flash, body))
        }
        Route::Detail => {
            let id = location_id(req)?;
            let rec = views::record(inner, id).await?;
            let now = inner.clock.now();
            let tz = inner.settings.timezone;
            let current = IsoWeek::of_instant(now, tz);
            let week = match query(req, "week") {
                Some(w) => w
                    .parse::<IsoWeek>()
                    .map_err(|_| Fail::Status(StatusCode::BAD_REQUEST))?,
                None => current,
            };
            let row = views::row(inner, t, &rec, now).await?;
            let events = inner
                .store
                .list_events(&EventFilter {
                    location_id: Some(id),
                    from: Some(week.start(tz)),
                    to: Some(week.end(tz)),
                    limit: Some(1000),
                })
                .await?;
            let loc = &rec.location;
            let body = render(DetailPage {
                t,
                timeout: humantime::format_duration(loc.timeout).to_string(),
                chat_id: loc.chat_id.clone().unwrap_or_else(|| t.nothing.into()),
                routes: if loc.routes.is_empty() {
                    t.every_notifier.into()
                } else {
                    join_routes(&loc.routes)
                },
                paused_until: loc
                    .paused_until
                    .filter(|u| *u > now)
                    .map(|u| views::local(tz, u))
                    .unwrap_or_default(),
                week: week.to_string(),
                week_label: format!(
                    "{} ({} – {})",
                    week,
                    week.monday().format("%Y-%m-%d"),
                    week.sunday().format("%Y-%m-%d")
                ),
                prev_week: week.pred().to_string(),
                next_week: (week < current).then(|| week.succ().to_string()),
                events: events
                    .iter()
                    .map(|e| views::event_row(t, tz, e, now))
                    .collect(),
                can_write,
                csrf: who.csrf.clone(),
                pause_default: (now + chrono::TimeDelta::hours(2))
                    .with_timezone(&tz)
                    .format("%Y-%m-%dT%H:%M")
                    .to_string(),
                row,
            });
            Ok(page(t, &loc.name, who, flash, body))
        }
        Route::EditForm => {
            if !can_write {
                return Err(Fail::Status(StatusCode::FORBIDDEN));
            }
            let id = location_id(req)?;
            let rec = views::record(inner, id).await?;
            let loc = rec.location;
            let body = render(FormPage {
                t,
                heading: format!("{}: {}", t.edit, loc.name),
                action: format!("/admin/locations/{id}/edit"),
                name: loc.name.clone(),
                timeout: humantime::format_duration(loc.timeout).to_string(),
                chat_id: loc.chat_id.clone().unwrap_or_default(),
                routes: join_routes(&loc.routes),
                instances: instance_names(inner),
                enabled: loc.enabled,
                is_edit: true,
                error: None,
                csrf: who.csrf.clone(),
            });
            Ok(page(t, t.edit, who, flash, body))
        }
        Route::DeleteConfirm => {
            if !can_write {
                return Err(Fail::Status(StatusCode::FORBIDDEN));
            }
            let id = location_id(req)?;
            let rec = views::record(inner, id).await?;
            let body = render(ConfirmPage {
                t,
                id: id.0,
                name: rec.location.name,
                csrf: who.csrf.clone(),
            });
            Ok(page(t, t.confirm_delete, who, flash, body))
        }
        Route::Device => {
            let id = location_id(req)?;
            let rec = views::record(inner, id).await?;
            Ok(device_page(inner, t, who, &rec.location, None, flash))
        }
        Route::Diagram => {
            let id = location_id(req)?;
            let rec = views::record(inner, id).await?;
            let tz = inner.settings.timezone;
            let now = inner.clock.now();
            let week = match query(req, "week") {
                Some(w) => w
                    .parse::<IsoWeek>()
                    .map_err(|_| Fail::Status(StatusCode::BAD_REQUEST))?,
                None => IsoWeek::of_instant(now, tz),
            };
            let d = outage_core::diagrams::load_week(
                inner.store.as_ref(),
                &rec.location,
                week,
                tz,
                inner.settings.language,
                now,
            )
            .await?;
            let svg =
                outage_core::diagrams::render_blocking(inner.renderer.clone(), d, ImageFormat::Svg)
                    .await
                    .map_err(|e| Fail::Store(StoreError::Other(e.to_string())))?;
            Ok(Reply::Asset("image/svg+xml", svg, "private, max-age=60"))
        }
        Route::Notifiers => notifiers_page(inner, t, who, flash, Vec::new()).await,
        Route::Users => {
            if !can_write {
                return Err(Fail::Status(StatusCode::FORBIDDEN));
            }
            let users = inner
                .store
                .list_users()
                .await?
                .into_iter()
                .map(|u| {
                    (
                        u.name,
                        u.role.as_str().to_string(),
                        views::local(inner.settings.timezone, u.created_at),
                    )
                })
                .collect();
            let body = render(UsersPage { t, users });
            Ok(page(t, t.users, who, flash, body))
        }
        _ => Err(Fail::Status(StatusCode::NOT_FOUND)),
    }
}

fn device_page(
    inner: &Inner,
    t: &'static T,
    who: &Who,
    loc: &outage_core::Location,
    key: Option<String>,
    flash: Option<&'static str>,
) -> Reply {
    let base = &inner.settings.public_url;
    let settings = DeviceKind::ALL
        .iter()
        .map(|k| (k.as_str(), device_settings(base, loc, *k, key.as_deref())))
        .collect();
    let body = render(DevicePage {
        t,
        id: loc.id.0,
        name: loc.name.clone(),
        key,
        settings,
        can_write: who.user.role == Role::Admin,
        csrf: who.csrf.clone(),
    });
    page(t, t.device_setup, who, flash, body)
}

async fn notifiers_page(
    inner: &Inner,
    t: &'static T,
    who: &Who,
    flash: Option<&'static str>,
    results: Vec<(String, String, bool, String)>,
) -> Result<Reply, Fail> {
    let stats = inner.store.outbox_stats().await?;
    let locations = inner
        .store
        .list_locations()
        .await?
        .into_iter()
        .map(|r| (r.location.id.0, r.location.name))
        .collect();
    let body = render(NotifiersPage {
        t,
        notifiers: notifier_rows(inner, t).await?,
        pending: stats.pending,
        delivered: stats.delivered,
        failed: stats.failed,
        locations,
        results,
        can_write: who.user.role == Role::Admin,
        csrf: who.csrf.clone(),
    });
    Ok(page(t, t.notifiers, who, flash, body))
}

/// One row per configured notifier (zero counts when it has sent nothing yet), then the
/// notifiers that still have outbox rows but are no longer configured.
async fn notifier_rows(inner: &Inner, t: &'static T) -> Result<Vec<NotifierRow>, Fail> {
    let tz = inner.settings.timezone;
    let mut stats = inner.store.outbox_by_notifier().await?;
    let mut rows = Vec::new();
    let mut push = |name: String, st: Option<outage_core::store::NotifierOutboxStats>| {
        let st = st.unwrap_or(outage_core::store::NotifierOutboxStats {
            notifier: String::new(),
            pending: 0,
            delivered: 0,
            failed: 0,
            last_error: None,
            last_error_at: None,
        });
        rows.push(NotifierRow {
            name,
            pending: st.pending,
            delivered: st.delivered,
            failed: st.failed,
            last_error: st.last_error.unwrap_or_default(),
            last_error_at: st
                .last_error_at
                .map(|a| views::local(tz, a))
                .unwrap_or_default(),
        });
    };
    for n in &inner.notifiers {
        let found = stats
            .iter()
            .position(|s| s.notifier == n.name())
            .map(|i| stats.remove(i));
        push(n.name().to_string(), found);
    }
    for st in stats {
        push(format!("{} ({})", st.notifier, t.not_configured), Some(st));
    }
    Ok(rows)
}

/// The location form's fields, checked.
struct LocationForm {
    name: String,
    timeout: Duration,
    chat_id: Option<String>,
    /// Empty: every configured notifier.
    routes: Vec<outage_core::Route>,
}

/// Routes as the form shows them: `family, me:123456789`.
fn join_routes(routes: &[outage_core::Route]) -> String {
    routes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The configured notifier instances, for the form's hint.
fn instance_names(inner: &Inner) -> String {
    inner
        .notifiers
        .iter()
        .map(|n| n.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks the form the way `location add` checks its flags: the chat override and each route
/// must be accepted by the configured notifiers ([`outage_core::notify::check_routes`]).
fn parse_location_form(
    notifiers: &[Arc<dyn Notifier>],
    f: &HashMap<String, String>,
) -> Result<LocationForm, String> {
    let name = f.get("name").map(|s| s.trim()).unwrap_or("").to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err("name: give 1 to 200 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("name: control characters are not allowed".into());
    }
    let timeout_text = f.get("timeout").map(|s| s.trim()).unwrap_or("");
    let timeout = humantime::parse_duration(timeout_text).map_err(|e| {
        format!("timeout: {timeout_text:?} is not a duration ({e}); write e.g. 30s or 2m")
    })?;
    if timeout < Duration::from_secs(1) {
        return Err("timeout: give at least 1s".into());
    }
    let chat = f.get("chat_id").map(|s| s.trim()).unwrap_or("");
    if chat.contains(char::is_whitespace) {
        return Err("chat id: no spaces allowed".into());
    }
    if !chat.is_empty() {
        for n in notifiers {
            n.check_chat(chat).map_err(|e| format!("chat id: {e}"))?;
        }
    }
    let routes_text = f.get("routes").map(String::as_str).unwrap_or("");
    let routes = outage_core::notify::check_routes(
        notifiers,
        routes_text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|v| !v.is_empty()),
    )
    .map_err(|e| format!("alerts to: {e}"))?;
    Ok(LocationForm {
        name,
        timeout,
        chat_id: (!chat.is_empty()).then(|| chat.to_string()),
        routes,
    })
}

fn form_error(
    inner: &Inner,
    t: &'static T,
    who: &Who,
    f: &HashMap<String, String>,
    action: String,
    is_edit: bool,
    error: String,
) -> Reply {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let heading = if is_edit { t.edit } else { t.new_location };
    let body = render(FormPage {
        t,
        heading: heading.into(),
        action,
        name: get("name"),
        timeout: get("timeout"),
        chat_id: get("chat_id"),
        routes: get("routes"),
        instances: instance_names(inner),
        enabled: f.contains_key("enabled"),
        is_edit,
        error: Some(format!("{}: {error}", t.bad_request)),
        csrf: who.csrf.clone(),
    });
    Reply::Page(
        StatusCode::BAD_REQUEST,
        layout(t, heading, Some(who), who.csrf.clone(), None, body),
    )
}

async fn write(
    inner: &Inner,
    t: &'static T,
    route: Route,
    req: &Request,
    who: &Who,
    f: HashMap<String, String>,
) -> Result<Reply, Fail> {
    let now = inner.clock.now();
    match route {
        Route::Create => {
            let lf = match parse_location_form(&inner.notifiers, &f) {
                Ok(lf) => lf,
                Err(e) => {
                    return Ok(form_error(
                        inner,
                        t,
                        who,
                        &f,
                        "/admin/locations".into(),
                        false,
                        e,
                    ));
                }
            };
            let key = generate_key();
            let created = inner
                .store
                .create_location(
                    &NewLocation {
                        routes: lf.routes,
                        name: lf.name,
                        timeout: lf.timeout,
                        chat_id: lf.chat_id,
                    },
                    KeyHash::of(key.expose()),
                    now,
                )
                .await;
            let loc = match created {
                Ok(l) => l,
                Err(StoreError::Conflict(e)) => {
                    return Ok(form_error(
                        inner,
                        t,
                        who,
                        &f,
                        "/admin/locations".into(),
                        false,
                        e,
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            inner.engine.reload_location(loc.id).await?;
            Ok(device_page(
                inner,
                t,
                who,
                &loc,
                Some(key.expose().to_string()),
                Some(t.flash_created),
            ))
        }
        Route::Edit => {
            let id = location_id(req)?;
            views::record(inner, id).await?;
            let action = format!("/admin/locations/{id}/edit");
            let lf = match parse_location_form(&inner.notifiers, &f) {
                Ok(lf) => lf,
                Err(e) => return Ok(form_error(inner, t, who, &f, action, true, e)),
            };
            let patch = LocationPatch {
                name: Some(lf.name),
                timeout: Some(lf.timeout),
                chat_id: Some(lf.chat_id),
                enabled: Some(f.contains_key("enabled")),
                paused_until: None,
                routes: Some(lf.routes),
            };
            match inner.store.update_location(id, &patch, now).await {
                Ok(_) => {}
                Err(StoreError::Conflict(e)) => {
                    return Ok(form_error(inner, t, who, &f, action, true, e));
                }
                Err(e) => return Err(e.into()),
            }
            inner.engine.reload_location(id).await?;
            Ok(Reply::Redirect(
                format!("/admin/locations/{id}"),
                Some("saved"),
            ))
        }
        Route::Delete => {
            let id = location_id(req)?;
            if !inner.store.delete_location(id).await? {
                return Err(Fail::Status(StatusCode::NOT_FOUND));
            }
            inner.engine.reload_location(id).await?;
            Ok(Reply::Redirect("/admin/".into(), Some("deleted")))
        }
        Route::Pause => {
            let id = location_id(req)?;
            views::record(inner, id).await?;
            let until = f
                .get("until")
                .and_then(|s| parse_local(inner.settings.timezone, s))
                .filter(|u| *u > now)
                .ok_or(Fail::Status(StatusCode::BAD_REQUEST))?;
            let patch = LocationPatch {
                paused_until: Some(Some(until)),
                ..LocationPatch::default()
            };
            inner.store.update_location(id, &patch, now).await?;
            inner.engine.reload_location(id).await?;
            Ok(Reply::Redirect(
                format!("/admin/locations/{id}"),
                Some("paused"),
            ))
        }
        Route::Resume => {
            let id = location_id(req)?;
            views::record(inner, id).await?;
            let patch = LocationPatch {
                paused_until: Some(None),
                ..LocationPatch::default()
            };
            inner.store.update_location(id, &patch, now).await?;
            inner.engine.reload_location(id).await?;
            Ok(Reply::Redirect(
                format!("/admin/locations/{id}"),
                Some("resumed"),
            ))
        }
        Route::RotateKey => {
            let id = location_id(req)?;
            let rec = views::record(inner, id).await?;
            let key = generate_key();
            inner
                .store
                .set_key_hash(id, KeyHash::of(key.expose()))
                .await?;
            inner.engine.reload_location(id).await?;
            Ok(device_page(
                inner,
                t,
                who,
                &rec.location,
                Some(key.expose().to_string()),
                Some(t.flash_rotated),
            ))
        }
        Route::TestAlert => {
            let id = location_id(req)?;
            let rec = views::record(inner, id).await?;
            let results = send_test_alert(&inner.notifiers, &rec.location, now)
                .await
                .into_iter()
                .map(|r| (r.notifier, r.chat, r.ok, r.error.unwrap_or_default()))
                .collect();
            notifiers_page(inner, t, who, Some(t.flash_test_sent), results).await
        }
        _ => Err(Fail::Status(StatusCode::NOT_FOUND)),
    }
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`) in the monitor's time zone.
fn parse_local(tz: chrono_tz::Tz, s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}
