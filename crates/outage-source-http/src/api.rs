//! The read API: locations, their outages, availability figures and weekly diagrams, for
//! dashboards and scripts (Grafana, Home Assistant, `curl`).
//!
//! Build a [`ReadApi`] and mount [`ReadApi::router`] with
//! [`HttpSource::with_router`](crate::HttpSource::with_router):
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/locations` | array of locations |
//! | `GET /api/v1/locations/{id}` | one location |
//! | `GET /api/v1/locations/{id}/events?from=&to=&limit=` | its outages, newest first |
//! | `GET /api/v1/locations/{id}/availability?from=&to=&period=day\|week\|month` | availability rows |
//! | `GET /api/v1/locations/{id}/diagram.svg?week=YYYY-Www` (and `.png`) | the weekly diagram |
//! | `GET /api/v1/openapi.json` | the OpenAPI 3.1 document (no token needed) |
//!
//! Every route under `/api/v1/locations` needs `Authorization: Bearer <token>` with a token
//! made by `outage-monitor token create`; the token is looked up by its SHA-256 hash
//! ([`StatusStore::find_api_token`]) on every request, so a revoked token stops working at
//! once. A missing, malformed or unknown token gets `401` with `WWW-Authenticate: Bearer`.
//! Client mistakes get `400` (the message names the parameter) or `404`; a store that does not
//! answer within the timeout gets `503`. Every error body is `{"error": "..."}`. Tokens are
//! never logged.
//!
//! Bodies are the shared views of [`outage_core::view`], the same the CLI's `--json` prints: a
//! location is a [`LocationView`] (its status the engine's live one when an [`Engine`] is
//! attached, [`ReadApi::engine`], else the last one written to the store), an event an
//! [`OutageView`], an availability row an [`AvailabilityView`]. Times are RFC 3339 UTC or
//! `null`.
//!
//! `from` and `to` take an RFC 3339 time or a local date `YYYY-MM-DD` in the monitor's time
//! zone; a date as `to` includes that whole day. Diagrams and availability carry a strong
//! `ETag` (answering `If-None-Match` with `304`) and `Cache-Control: private, max-age=60` while
//! the period is not over, `private, max-age=86400` once it is.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use outage_core::availability::{
    Granularity, IsoWeek, Timeline, local_date, local_midnight, periods,
};
use outage_core::clock::{SharedClock, SystemClock};
use outage_core::diagrams::load_week;
use outage_core::engine::Engine;
use outage_core::keys::KeyHash;
use outage_core::render::{DiagramRenderer, ImageFormat, Language, WeekDiagram};
use outage_core::store::{EventFilter, LocationRecord, StatusStore, StoreError};
use outage_core::view::{AvailabilityView, LocationView, OutageView};
use outage_core::{ApiToken, LocationId, Status};
use salvo::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH, WWW_AUTHENTICATE,
};
use salvo::http::{ResBody, StatusCode};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

pub use crate::config::{DEFAULT_EVENTS, MAX_EVENTS};
use crate::openapi::OpenApiHandler;
use crate::reply;

/// Path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// Default bound on each store call and on each diagram rendering.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `from..to` an availability request may span, in days (about ten years).
pub const MAX_RANGE_DAYS: i64 = 3_700;

/// `Cache-Control` of diagrams and availability while their period is still going on.
const CACHE_CURRENT: &str = "private, max-age=60";

/// `Cache-Control` of diagrams and availability of periods that are over.
const CACHE_PAST: &str = "private, max-age=86400";

/// The read API, ready to be turned into a salvo [`Router`].
///
/// ```no_run
/// # fn demo(store: std::sync::Arc<dyn outage_core::StatusStore>,
/// #         renderer: std::sync::Arc<dyn outage_core::DiagramRenderer>,
/// #         engine: outage_core::engine::Engine,
/// #         source: outage_source_http::HttpSource) -> outage_source_http::HttpSource {
/// use outage_source_http::ReadApi;
/// let api = ReadApi::new(store, renderer)
///     .timezone(chrono_tz::Europe::Kyiv)
///     .engine(engine);
/// source.with_router(api.router())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ReadApi {
    store: Arc<dyn StatusStore>,
    renderer: Arc<dyn DiagramRenderer>,
    tz: Tz,
    language: Language,
    clock: SharedClock,
    engine: Option<Engine>,
    timeout: Duration,
    parallel_renders: usize,
}

impl ReadApi {
    /// An API over `store` drawing diagrams with `renderer`; time zone Europe/Kyiv, English,
    /// the system clock, statuses from the store, [`DEFAULT_TIMEOUT`].
    pub fn new(store: Arc<dyn StatusStore>, renderer: Arc<dyn DiagramRenderer>) -> Self {
        Self {
            store,
            renderer,
            tz: chrono_tz::Europe::Kyiv,
            language: Language::En,
            clock: Arc::new(SystemClock),
            engine: None,
            timeout: DEFAULT_TIMEOUT,
            parallel_renders: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }

    /// Time zone of local dates, ISO weeks and diagrams (`monitor.timezone`).
    #[must_use]
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.tz = tz;
        self
    }

    /// Language of diagram texts (`monitor.language`).
    #[must_use]
    pub fn language(mut self, language: Language) -> Self {
        self.language = language;
        self
    }

    /// Where "now" comes from.
    #[must_use]
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Answer statuses and last-seen times from the running engine (live) rather than from
    /// the store, which lags by up to a heartbeat batch.
    #[must_use]
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Bound on each store call and each rendering; past it the answer is `503`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The routes (see the [module docs](self)).
    pub fn router(self) -> Router {
        let renders = Arc::new(Semaphore::new(self.parallel_renders.max(1)));
        let api = Arc::new(Api { cfg: self, renders });
        let ep = |route: Route| Endpoint {
            api: api.clone(),
            route,
        };
        Router::with_path("api/v1")
            .push(Router::with_path("openapi.json").get(OpenApiHandler::new()))
            .push(
                Router::with_path("locations")
                    .hoop(Authenticate { api: api.clone() })
                    .get(ep(Route::List))
                    .push(
                        Router::with_path("{id}")
                            .get(ep(Route::One))
                            .push(Router::with_path("events").get(ep(Route::Events)))
                            .push(Router::with_path("availability").get(ep(Route::Availability)))
                            .push(
                                Router::with_path("diagram.svg")
                                    .get(ep(Route::Diagram(ImageFormat::Svg))),
                            )
                            .push(
                                Router::with_path("diagram.png")
                                    .get(ep(Route::Diagram(ImageFormat::Png))),
                            ),
                    ),
            )
    }
}

/// Shared by every handler of one router.
#[derive(Debug)]
struct Api {
    cfg: ReadApi,
    /// Bounds concurrent renderings to the number of cores.
    renders: Arc<Semaphore>,
}

/// An error answer: `{"error": message}` with `status`.
#[derive(Debug, PartialEq, Eq)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "read API: store call failed");
        match e {
            StoreError::NotFound { what } => ApiError::not_found(format!("{what} not found")),
            StoreError::Unavailable(_) | StoreError::Other(_) => {
                ApiError::unavailable("store unavailable")
            }
            StoreError::Conflict(_) | StoreError::Invalid(_) | StoreError::Unsupported(_) => {
                ApiError::internal("internal store error")
            }
        }
    }
}

/// A successful answer.
enum Reply {
    /// JSON, not cached.
    Json(Value),
    /// JSON or an image with an `ETag` and a `Cache-Control` policy.
    Cached {
        body: Vec<u8>,
        content_type: &'static str,
        cache_control: &'static str,
    },
}

impl Api {
    /// Runs a store call bounded by the timeout.
    async fn store<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.cfg.timeout, call).await {
            Err(_) => {
                tracing::warn!("read API: store call timed out");
                Err(ApiError::unavailable("store unavailable: timed out"))
            }
            Ok(r) => Ok(r?),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.cfg.clock.now()
    }

    /// The token of the request, or the `401` (or `503`) to answer.
    async fn authenticate(&self, req: &Request) -> Result<ApiToken, ApiError> {
        let unauthorized = |m: &str| ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: m.to_string(),
        };
        let Some(value) = req.headers().get(AUTHORIZATION) else {
            return Err(unauthorized(
                "missing API token: send Authorization: Bearer <token> (made with `outage-monitor token create`)",
            ));
        };
        let token = bearer_token(value).ok_or_else(|| {
            unauthorized("malformed Authorization header: expected `Bearer <token>`")
        })?;
        let hash = KeyHash::of(token);
        self.store(self.cfg.store.find_api_token(&hash))
            .await?
            .ok_or_else(|| unauthorized("unknown or revoked API token"))
    }

    async fn location(&self, id: LocationId) -> Result<LocationRecord, ApiError> {
        self.store(self.cfg.store.get_location(id))
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no location with id {id}")))
    }

    /// Live status and last-seen time: the engine's when it knows the location (a pause set
    /// from the CLI wins until the engine has synced it), else the store's.
    fn status(&self, r: &LocationRecord, now: DateTime<Utc>) -> (Status, Option<DateTime<Utc>>) {
        let stored = r.shown_status(now);
        let live = self
            .cfg
            .engine
            .as_ref()
            .and_then(|e| e.status_of(r.location.id));
        match live {
            Some((status, seen)) => {
                let status = if stored == Status::Paused {
                    Status::Paused
                } else {
                    status
                };
                (status, seen.max(r.runtime.last_seen))
            }
            None => (stored, r.runtime.last_seen),
        }
    }

    fn location_json(&self, r: &LocationRecord, now: DateTime<Utc>) -> Value {
        let (status, last_seen) = self.status(r, now);
        LocationView::with_status(r, status, last_seen).to_value()
    }

    async fn answer(&self, route: Route, req: &Request) -> Result<Reply, ApiError> {
        let now = self.now();
        if route == Route::List {
            let all = self.store(self.cfg.store.list_locations()).await?;
            let v: Vec<Value> = all.iter().map(|r| self.location_json(r, now)).collect();
            return Ok(Reply::Json(Value::Array(v)));
        }
        let id = location_id(req)?;
        let rec = self.location(id).await?;
        match route {
            Route::List | Route::One => Ok(Reply::Json(self.location_json(&rec, now))),
            Route::Events => self.events(req, &rec).await,
            Route::Availability => self.availability(req, &rec, now).await,
            Route::Diagram(format) => self.diagram(req, &rec, format, now).await,
        }
    }

    async fn events(&self, req: &Request, rec: &LocationRecord) -> Result<Reply, ApiError> {
        let tz = self.cfg.tz;
        let from = query(req, "from")
            .map(|s| parse_instant("from", s, tz, Edge::Start))
            .transpose()?;
        let to = query(req, "to")
            .map(|s| parse_instant("to", s, tz, Edge::End))
            .transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(ApiError::bad_request("from must be before to"));
        }
        let limit = match query(req, "limit") {
            None => DEFAULT_EVENTS,
            Some(s) => s
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_EVENTS).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "invalid limit `{}`: expected a number from 1 to {MAX_EVENTS}",
                        reply::sanitize(s)
                    ))
                })?,
        };
        let filter = EventFilter {
            location_id: Some(rec.location.id),
            from,
            to,
            limit: Some(limit),
        };
        let events = self.store(self.cfg.store.list_events(&filter)).await?;
        let v: Vec<Value> = events
            .iter()
            .map(|e| OutageView::new(e, &rec.location.name).to_value())
            .collect();
        Ok(Reply::Json(Value::Array(v)))
    }

    async fn availability(
        &self,
        req: &Request,
        rec: &LocationRecord,
        now: DateTime<Utc>,
    ) -> Result<Reply, ApiError> {
        let tz = self.cfg.tz;
        let granularity = match query(req, "period") {
            None => Granularity::Day,
            Some(s) => Granularity::parse(s.trim()).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid period `{}`: expected day, week or month",
                    reply::sanitize(s)
                ))
            })?,
        };
        let to = match query(req, "to") {
            Some(s) => parse_date("to", s, tz)?,
            None => local_date(tz, now),
        };
        let from = match query(req, "from") {
            Some(s) => parse_date("from", s, tz)?,
            None => default_from(to, granularity),
        };
        if from > to {
            return Err(ApiError::bad_request(format!(
                "from {from} is after to {to}"
            )));
        }
        if (to - from).num_days() > MAX_RANGE_DAYS {
            return Err(ApiError::bad_request(format!(
                "from..to spans more than {MAX_RANGE_DAYS} days"
            )));
        }
        let ps = periods(tz, from, to, granularity);
        let (Some(first), Some(last)) = (ps.first(), ps.last()) else {
            return Err(ApiError::bad_request(format!(
                "the range {from}..{to} holds no whole period"
            )));
        };
        let intervals = self
            .store(
                self.cfg
                    .store
                    .list_intervals(rec.location.id, first.start, last.end),
            )
            .await?;
        let rows: Vec<Value> = Timeline::new(&intervals, now)
            .report(&ps)
            .iter()
            .map(|a| AvailabilityView::new(&a.row(), &rec.location.name).to_value())
            .collect();
        let body = serde_json::to_vec(&rows).unwrap_or_else(|_| b"[]".to_vec());
        Ok(Reply::Cached {
            body,
            content_type: "application/json; charset=utf-8",
            cache_control: cache_policy(last.end, now),
        })
    }

    async fn diagram(
        &self,
        req: &Request,
        rec: &LocationRecord,
        format: ImageFormat,
        now: DateTime<Utc>,
    ) -> Result<Reply, ApiError> {
        let tz = self.cfg.tz;
        let week = match query(req, "week") {
            None => IsoWeek::of_instant(now, tz),
            Some(s) => s.parse::<IsoWeek>().map_err(|e| {
                ApiError::bad_request(format!("invalid week: {}", reply::sanitize(&e.to_string())))
            })?,
        };
        let diagram = self
            .store(load_week(
                &*self.cfg.store,
                &rec.location,
                week,
                tz,
                self.cfg.language,
                now,
            ))
            .await?;
        let body = self.render(diagram, format).await?;
        Ok(Reply::Cached {
            body,
            content_type: match format {
                ImageFormat::Svg => "image/svg+xml",
                ImageFormat::Png => "image/png",
            },
            cache_control: cache_policy(week.end(tz), now),
        })
    }

    /// Renders on the blocking pool, at most one rendering per core at a time.
    async fn render(&self, diagram: WeekDiagram, format: ImageFormat) -> Result<Vec<u8>, ApiError> {
        let renderer = self.cfg.renderer.clone();
        let renders = self.renders.clone();
        let work = async move {
            let permit = renders
                .acquire_owned()
                .await
                .map_err(|_| ApiError::unavailable("renderer stopped"))?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                renderer.render(&diagram, format)
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "read API: the renderer crashed");
                ApiError::internal("the renderer crashed")
            })?
            .map_err(|e| {
                tracing::error!(error = %e, "read API: rendering failed");
                ApiError::internal("cannot render the diagram")
            })
        };
        tokio::time::timeout(self.cfg.timeout, work)
            .await
            .unwrap_or_else(|_| Err(ApiError::unavailable("renderer busy: timed out")))
    }
}

/// Which route a handler answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    List,
    One,
    Events,
    Availability,
    Diagram(ImageFormat),
}

/// One route of the API.
struct Endpoint {
    api: Arc<Api>,
    route: Route,
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
        match self.api.answer(self.route, req).await {
            Ok(Reply::Json(v)) => reply::json(res, StatusCode::OK, &v),
            Ok(Reply::Cached {
                body,
                content_type,
                cache_control,
            }) => send_cached(req, res, body, content_type, cache_control),
            Err(e) => reply::error(res, e.status, e.message),
        }
    }
}

/// The hoop in front of every `/api/v1/locations` route: checks the bearer token.
struct Authenticate {
    api: Arc<Api>,
}

#[async_trait]
impl Handler for Authenticate {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        match self.api.authenticate(req).await {
            Ok(token) => {
                tracing::debug!(token = %token.name, path = %req.uri().path(), "read API request");
                depot.insert_typed(token);
            }
            Err(e) => {
                tracing::debug!(
                    remote = %req.remote_addr(),
                    status = e.status.as_u16(),
                    reason = %e.message,
                    "read API request refused"
                );
                if e.status == StatusCode::UNAUTHORIZED {
                    res.headers_mut()
                        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                reply::error(res, e.status, e.message);
                ctrl.skip_rest();
            }
        }
    }
}

/// Writes a cacheable answer: `ETag` (SHA-256 of the bytes), `Cache-Control`, and `304`
/// without a body when `If-None-Match` names the same tag.
fn send_cached(
    req: &Request,
    res: &mut Response,
    body: Vec<u8>,
    content_type: &'static str,
    cache_control: &'static str,
) {
    let tag = etag(&body);
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        headers.insert(ETAG, v);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    if if_none_match(req, &tag) {
        res.status_code(StatusCode::NOT_MODIFIED);
        return;
    }
    res.status_code(StatusCode::OK);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.replace_body(ResBody::Once(body.into()));
}

/// A strong entity tag: the first 128 bits of the SHA-256 of `body`, in hex and quotes.
fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether an `If-None-Match` header of the request matches `tag` (weak comparison, as RFC
/// 9110 §13.1.2 prescribes for this header; `*` matches anything).
fn if_none_match(req: &Request, tag: &str) -> bool {
    req.headers()
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// Past periods do not change any more; the current one does, a little every minute.
fn cache_policy(end: DateTime<Utc>, now: DateTime<Utc>) -> &'static str {
    if end <= now {
        CACHE_PAST
    } else {
        CACHE_CURRENT
    }
}

/// `Bearer <token>` (scheme case-insensitive) → token of visible ASCII characters.
fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let s = value.to_str().ok()?.trim();
    let (scheme, rest) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = rest.trim();
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic())).then_some(t)
}

/// The `{id}` path parameter as a location id.
fn location_id(req: &Request) -> Result<LocationId, ApiError> {
    let raw = req
        .params()
        .get("id")
        .map(String::as_str)
        .unwrap_or_default();
    raw.parse::<i64>().map(LocationId).map_err(|_| {
        ApiError::bad_request(format!(
            "invalid location id `{}`: expected a number",
            reply::sanitize(raw)
        ))
    })
}

/// A query parameter (the first one when repeated).
fn query<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.queries().get(name).map(String::as_str)
}

/// Which end of a range a bare date stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// Its local midnight.
    Start,
    /// The local midnight after it (the whole day is included).
    End,
}

fn bad_time(param: &str, value: &str) -> ApiError {
    ApiError::bad_request(format!(
        "invalid {param} `{}`: expected an RFC 3339 time (2026-03-01T00:00:00Z) or a date (2026-03-01)",
        reply::sanitize(value)
    ))
}

/// An RFC 3339 time, or a local date in `tz` read as the start or end of that day.
fn parse_instant(param: &str, s: &str, tz: Tz, edge: Edge) -> Result<DateTime<Utc>, ApiError> {
    let t = s.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad_time(param, s))?;
    match edge {
        Edge::Start => Ok(local_midnight(tz, date)),
        Edge::End => date
            .checked_add_days(Days::new(1))
            .map(|next| local_midnight(tz, next))
            .ok_or_else(|| bad_time(param, s)),
    }
}

/// A local date `YYYY-MM-DD`, or the local date of an RFC 3339 time, in `tz`.
fn parse_date(param: &str, s: &str, tz: Tz) -> Result<NaiveDate, ApiError> {
    let t = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d);
    }
    DateTime::parse_from_rfc3339(t)
        .map(|at| local_date(tz, at.with_timezone(&Utc)))
        .map_err(|_| bad_time(param, s))
}

/// Default start of an availability range ending on `to`: the last 7 days, 4 ISO weeks or
/// 3 months.
fn default_from(to: NaiveDate, granularity: Granularity) -> NaiveDate {
    match granularity {
        Granularity::Day => to - Days::new(6),
        Granularity::Week => to - Days::new(27),
        Granularity::Month => to
            .with_day(1)
            .and_then(|first| first.checked_sub_months(Months::new(2)))
            .unwrap_or(to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Kyiv;
    use outage_core::view::rfc3339;

    #[test]
    fn dates_cover_whole_local_days_and_times_are_exact() {
        let d = |s| parse_instant("from", s, Kyiv, Edge::Start);
        assert_eq!(
            d("2026-03-29").map(rfc3339).ok().as_deref(),
            Some("2026-03-28T22:00:00Z")
        );
        // 2026-03-29 has 23 hours in Kyiv: the day after starts at 21:00 UTC.
        assert_eq!(
            parse_instant("to", "2026-03-29", Kyiv, Edge::End)
                .map(rfc3339)
                .ok()
                .as_deref(),
            Some("2026-03-29T21:00:00Z")
        );
        assert_eq!(
            d("2026-03-29T10:00:00+02:00").map(rfc3339).ok().as_deref(),
            Some("2026-03-29T08:00:00Z")
        );
        let e = d("yesterday").err().map(|e| e.message).unwrap_or_default();
        assert!(e.starts_with("invalid from `yesterday`"), "{e}");
        assert_eq!(
            parse_date("to", "2026-03-28T23:30:00Z", Kyiv).ok(),
            NaiveDate::from_ymd_opt(2026, 3, 29)
        );
    }

    #[test]
    fn default_ranges() {
        let to = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap_or_default();
        assert_eq!(
            default_from(to, Granularity::Day),
            NaiveDate::from_ymd_opt(2026, 3, 9).unwrap_or_default()
        );
        assert_eq!(
            default_from(to, Granularity::Month),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default()
        );
    }

    #[test]
    fn etags_are_strong_and_stable() {
        let t = etag(b"abc");
        assert_eq!(t, "\"ba7816bf8f01cfea414140de5dae2223\"");
        assert_ne!(t, etag(b"abd"));
    }

    #[test]
    fn bearer_tokens() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(bearer_token(&v("Bearer omt_x")), Some("omt_x"));
        assert_eq!(bearer_token(&v("bearer   omt_x ")), Some("omt_x"));
        assert_eq!(bearer_token(&v("Basic omt_x")), None);
        assert_eq!(bearer_token(&v("Bearer")), None);
        assert_eq!(bearer_token(&v("Bearer a b")), None);
    }

    #[test]
    fn a_store_that_is_down_is_503_and_a_missing_row_404() {
        let status = |e: StoreError| ApiError::from(e).status;
        assert_eq!(
            status(StoreError::Unavailable("pool timed out".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(StoreError::Other("disk I/O error".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(StoreError::NotFound {
                what: "location 7".into()
            }),
            StatusCode::NOT_FOUND
        );
        // The database's words are logged, not sent.
        let e = ApiError::from(StoreError::Unavailable("secret path /var/db".into()));
        assert_eq!(e.message, "store unavailable");
    }

    #[test]
    fn past_periods_are_cached_for_a_day() {
        let now = Utc::now();
        assert_eq!(cache_policy(now, now), CACHE_PAST);
        assert_eq!(
            cache_policy(now + chrono::TimeDelta::seconds(1), now),
            CACHE_CURRENT
        );
    }
}
