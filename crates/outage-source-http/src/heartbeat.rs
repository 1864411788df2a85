//! `POST /api/v1/heartbeat`: authenticate the device, read its optional JSON facts, and hand
//! the beat to the engine.
//!
//! Order of checks (cheap ones first, nothing read from the socket before the head is judged):
//! 1. a key is present and well-formed (`401`);
//! 2. a declared `Content-Length` over the limit (`413`), a non-empty body that is not
//!    `application/json` (`415`);
//! 3. the body, read with the size limit enforced while reading (chunked bodies too) and
//!    bounded by the request timeout (`413`, `408`, `400`);
//! 4. the JSON facts (`400` naming the field);
//! 5. the engine: unknown key `401`, disabled location `403`, unavailable `503`.
//!
//! The key is never logged.

use std::sync::Arc;

use outage_core::domain::DeviceFacts;
use outage_core::metrics::RejectReason;
use outage_core::source::BeatRejection;
use salvo::http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE,
};
use salvo::http::{ParseError, StatusCode};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::config::MAX_FACT_CHARS;
use crate::reply;
use crate::state::{AppState, HEARTBEAT_PATH, LEGACY_HEARTBEAT_PATH};

/// Message for a request without any key.
pub(crate) const MISSING_KEY: &str =
    "missing API key: send Authorization: Bearer <key> or X-API-Key";

/// The heartbeat handler.
pub(crate) struct HeartbeatHandler {
    pub(crate) state: Arc<AppState>,
    /// Serving the deprecated `/api/heartbeat/` of the classic design: a body that is not JSON
    /// (those devices may send a form or plain text) counts as a beat without facts instead of
    /// a 415, and the first such beat logs a hint to move the device to the current path.
    pub(crate) legacy: Option<LegacyPath>,
}

/// State of the deprecated alias route.
#[derive(Default)]
pub(crate) struct LegacyPath {
    warned: std::sync::atomic::AtomicBool,
}

impl HeartbeatHandler {
    pub(crate) fn new(state: Arc<AppState>) -> Self {
        Self {
            state,
            legacy: None,
        }
    }

    pub(crate) fn legacy(state: Arc<AppState>) -> Self {
        Self {
            state,
            legacy: Some(LegacyPath::default()),
        }
    }
}

/// Why a request was refused before reaching the engine, or what the engine said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    status: StatusCode,
    reason: RejectReason,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            RejectReason::Unauthorized,
            message,
        )
    }

    fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, RejectReason::Malformed, message)
    }

    fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            RejectReason::TooLarge,
            format!("body too large: at most {limit} bytes"),
        )
    }
}

#[async_trait]
impl Handler for HeartbeatHandler {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        match self.accept(req).await {
            Ok(ack) => {
                if let Some(legacy) = &self.legacy
                    && !legacy
                        .warned
                        .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        remote = %req.remote_addr(),
                        "a device posts to the deprecated {LEGACY_HEARTBEAT_PATH}; it works, \
                         but point it at {HEARTBEAT_PATH} when it is next flashed"
                    );
                }
                reply::json(
                    res,
                    StatusCode::OK,
                    &serde_json::json!({
                        "status": ack.status.as_str(),
                        "next_in_s": ack.next_in.as_secs(),
                    }),
                )
            }
            Err(refusal) => {
                self.state.ctx.metrics.heartbeat_rejected(refusal.reason);
                tracing::debug!(
                    remote = %req.remote_addr(),
                    status = refusal.status.as_u16(),
                    reason = %refusal.message,
                    "heartbeat refused"
                );
                if refusal.status == StatusCode::UNAUTHORIZED {
                    res.headers_mut()
                        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                reply::error(res, refusal.status, refusal.message);
            }
        }
    }
}

impl HeartbeatHandler {
    async fn accept(&self, req: &mut Request) -> Result<outage_core::source::BeatAck, Refusal> {
        let cfg = &self.state.cfg;
        let key = api_key(req)?;
        let declared = declared_length(req)?;
        if declared.is_some_and(|n| n > cfg.body_limit as u64) {
            return Err(Refusal::too_large(cfg.body_limit));
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not text)").to_string());
        // The classic design's devices are kept as they are: whatever body they send that is
        // not JSON is read (within the limit) and then ignored.
        let lenient = self.legacy.is_some();
        let json = check_content_type(content_type.as_deref());
        if declared.is_some_and(|n| n > 0) && !lenient {
            json.clone()?;
        }
        let body = if declared == Some(0) {
            Vec::new()
        } else {
            self.read_body(req).await?
        };
        let facts = if is_blank(&body) || (lenient && json.is_err()) {
            DeviceFacts::default()
        } else {
            json?;
            parse_facts(&body).map_err(|e| Refusal::malformed(format!("invalid body: {e}")))?
        };
        self.deliver(key, facts).await
    }

    async fn read_body(&self, req: &mut Request) -> Result<Vec<u8>, Refusal> {
        let cfg = &self.state.cfg;
        let read = req.payload_with_max_size(cfg.body_limit);
        match tokio::time::timeout(cfg.request_timeout, read).await {
            Err(_) => Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                RejectReason::Malformed,
                "timed out reading the body",
            )),
            Ok(Err(ParseError::PayloadTooLarge)) => Err(Refusal::too_large(cfg.body_limit)),
            Ok(Err(e)) => Err(Refusal::malformed(format!("cannot read body: {e}"))),
            Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        }
    }

    /// Hands the beat to the sink on its own task, so a client that hangs up (or a server
    /// stopping) never cancels the engine half-way through applying it.
    async fn deliver(
        &self,
        key: String,
        facts: DeviceFacts,
    ) -> Result<outage_core::source::BeatAck, Refusal> {
        let sink = self.state.ctx.sink.clone();
        let task = tokio::spawn(async move { sink.heartbeat(&key, facts).await });
        let unavailable = |why: String| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                RejectReason::Unavailable,
                format!("monitor unavailable: {why}"),
            )
        };
        match tokio::time::timeout(self.state.cfg.request_timeout, task).await {
            Err(_) => Err(unavailable("timed out".into())),
            Ok(Err(join)) => {
                tracing::error!(error = %join, "heartbeat sink task failed");
                Err(unavailable("internal error".into()))
            }
            Ok(Ok(Ok(ack))) => Ok(ack),
            Ok(Ok(Err(BeatRejection::UnknownKey))) => {
                Err(Refusal::unauthorized(BeatRejection::UnknownKey.to_string()))
            }
            Ok(Ok(Err(BeatRejection::Disabled))) => Err(Refusal::new(
                StatusCode::FORBIDDEN,
                RejectReason::Disabled,
                BeatRejection::Disabled.to_string(),
            )),
            Ok(Ok(Err(BeatRejection::Unavailable(why)))) => Err(unavailable(why)),
        }
    }
}

/// The device key from `Authorization: Bearer <key>` or, when that header is absent,
/// `X-API-Key: <key>`.
fn api_key(req: &Request) -> Result<String, Refusal> {
    if let Some(value) = req.headers().get(AUTHORIZATION) {
        return bearer_token(value).map(str::to_string).ok_or_else(|| {
            Refusal::unauthorized("malformed Authorization header: expected `Bearer <key>`")
        });
    }
    if let Some(value) = req.headers().get("x-api-key") {
        return plain_token(value).map(str::to_string).ok_or_else(|| {
            Refusal::unauthorized("malformed X-API-Key header: expected the location key")
        });
    }
    Err(Refusal::unauthorized(MISSING_KEY))
}

/// `Bearer <token>` → token; schemes case-insensitive, as RFC 9110 says. `Api-Key <token>` and
/// `Token <token>`, which Django REST framework devices of the classic design send, are
/// accepted too.
fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let s = value.to_str().ok()?.trim();
    let (scheme, rest) = s.split_once(' ')?;
    if !["bearer", "api-key", "token"]
        .iter()
        .any(|known| scheme.eq_ignore_ascii_case(known))
    {
        return None;
    }
    token(rest)
}

fn plain_token(value: &HeaderValue) -> Option<&str> {
    token(value.to_str().ok()?)
}

/// A non-empty run of visible ASCII characters (surrounding blanks ignored).
fn token(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic())).then_some(t)
}

/// `Content-Length` when the client declared one. hyper already refuses unparsable or
/// conflicting values, so a bad one here is reported rather than trusted.
fn declared_length(req: &Request) -> Result<Option<u64>, Refusal> {
    match req.headers().get(CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| Refusal::malformed("invalid Content-Length header")),
    }
}

/// A body must be sent as `application/json` (parameters such as `charset` allowed).
fn check_content_type(content_type: Option<&str>) -> Result<(), Refusal> {
    let refuse = |message: String| {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectReason::UnsupportedMediaType,
            message,
        )
    };
    match content_type {
        None => Err(refuse(
            "missing Content-Type: a heartbeat body must be application/json".into(),
        )),
        Some(ct) => {
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if essence.eq_ignore_ascii_case("application/json") {
                Ok(())
            } else {
                let shown: String = essence
                    .chars()
                    .take(100)
                    .map(|c| if c.is_ascii_graphic() { c } else { '?' })
                    .collect();
                Err(refuse(format!(
                    "unsupported content type `{shown}`: send application/json"
                )))
            }
        }
    }
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

/// Parses a heartbeat body the way `POST /api/v1/heartbeat` does (an empty or blank body is
/// no facts). Any bytes give facts or an error message naming the field, never a panic; the
/// fuzz target `heartbeat_body` holds it to that.
pub fn parse_heartbeat_body(body: &[u8]) -> Result<DeviceFacts, String> {
    if is_blank(body) {
        return Ok(DeviceFacts::default());
    }
    parse_facts(body)
}

/// Parses the heartbeat JSON object. Errors name the field being read, e.g.
/// `uptime_s: invalid type: string "x", expected u64 at line 1 column 16`.
///
/// Unknown fields are ignored: devices evolve and older monitors must keep accepting them.
pub(crate) fn parse_facts(body: &[u8]) -> Result<DeviceFacts, String> {
    let mut field: Option<String> = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = FactsSeed { field: &mut field }
        .deserialize(&mut de)
        .and_then(|facts| de.end().map(|()| facts));
    result.map_err(|e| match field {
        Some(f) => format!("{f}: {e}"),
        None => e.to_string(),
    })
}

/// A whole number, also when JSON writes it as `12.0`: JSON Schema's `integer` (and so the
/// OpenAPI document) admits that spelling, so a client generated from it may send it.
struct Whole<T>(T);

impl<'de, T> de::Deserialize<'de> for Whole<T>
where
    T: TryFrom<u64> + TryFrom<i64>,
{
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<T: TryFrom<u64> + TryFrom<i64>> Visitor<'_> for V<T> {
            type Value = Whole<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(std::any::type_name::<T>())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Whole<T>, E> {
                T::try_from(v)
                    .map(Whole)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Whole<T>, E> {
                T::try_from(v)
                    .map(Whole)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Whole<T>, E> {
                // Exact whole values only, and only within the range where f64 is exact.
                if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
                    if v < 0.0 {
                        return self.visit_i64(v as i64);
                    }
                    return self.visit_u64(v as u64);
                }
                Err(E::invalid_value(de::Unexpected::Float(v), &self))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Deserializes [`DeviceFacts`] from a JSON object, recording the field being read so the
/// error can name it.
struct FactsSeed<'a> {
    field: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for FactsSeed<'_> {
    type Value = DeviceFacts;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<DeviceFacts, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FactsSeed<'_> {
    type Value = DeviceFacts;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object like {\"boot_id\":\"…\",\"uptime_s\":12,\"seq\":3}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DeviceFacts, A::Error> {
        let mut facts = DeviceFacts::default();
        let mut seen = [false; 5];
        loop {
            *self.field = None;
            let Some(key) = map.next_key::<String>()? else {
                break;
            };
            let slot = match key.as_str() {
                "boot_id" => 0,
                "uptime_s" => 1,
                "seq" => 2,
                "fw" => 3,
                "rssi" => 4,
                _ => {
                    *self.field = Some(printable(&key));
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *self.field = Some(key.clone());
            if std::mem::replace(&mut seen[slot], true) {
                return Err(de::Error::custom("duplicate field"));
            }
            match slot {
                0 => facts.boot_id = bounded(map.next_value()?)?,
                1 => facts.uptime_s = map.next_value::<Option<Whole<u64>>>()?.map(|w| w.0),
                2 => facts.seq = map.next_value::<Option<Whole<u64>>>()?.map(|w| w.0),
                3 => facts.fw = bounded(map.next_value()?)?,
                _ => facts.rssi = map.next_value::<Option<Whole<i32>>>()?.map(|w| w.0),
            }
        }
        Ok(facts)
    }
}

/// A string fact of at most [`MAX_FACT_CHARS`] characters.
fn bounded<E: de::Error>(v: Option<String>) -> Result<Option<String>, E> {
    match v {
        Some(s) if s.chars().count() > MAX_FACT_CHARS => Err(E::custom(format!(
            "too long: {} characters, at most {MAX_FACT_CHARS}",
            s.chars().count()
        ))),
        other => Ok(other),
    }
}

/// A client-chosen field name, shortened and made printable for the error message.
fn printable(key: &str) -> String {
    key.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fact() {
        let f = parse_facts(
            br#"{"boot_id":"b1","uptime_s":12,"seq":3,"fw":"1.2.3","rssi":-67,"extra":[1,{"a":2}]}"#,
        );
        assert_eq!(
            f,
            Ok(DeviceFacts {
                boot_id: Some("b1".into()),
                uptime_s: Some(12),
                seq: Some(3),
                fw: Some("1.2.3".into()),
                rssi: Some(-67),
            })
        );
        assert_eq!(parse_facts(b"{}"), Ok(DeviceFacts::default()));
        assert_eq!(
            parse_facts(br#"{"boot_id":null}"#),
            Ok(DeviceFacts::default())
        );
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats_but_fractions_are_refused() {
        let f = parse_facts(br#"{"uptime_s":120.0,"seq":7.0,"rssi":-67.0}"#).unwrap();
        assert_eq!((f.uptime_s, f.seq, f.rssi), (Some(120), Some(7), Some(-67)));
        let e = parse_facts(br#"{"seq":1.5}"#).err().unwrap_or_default();
        assert!(
            e.starts_with("seq: invalid value: floating point `1.5`, expected u64"),
            "{e}"
        );
        let e = parse_facts(br#"{"uptime_s":-1.0}"#)
            .err()
            .unwrap_or_default();
        assert!(
            e.starts_with("uptime_s: invalid value: integer `-1`"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_facts(br#"{"uptime_s":"x"}"#)
            .err()
            .unwrap_or_default();
        assert_eq!(
            e,
            "uptime_s: invalid type: string \"x\", expected u64 at line 1 column 15"
        );
        let e = parse_facts(br#"{"seq":-1}"#).err().unwrap_or_default();
        assert!(
            e.starts_with("seq: invalid value: integer `-1`, expected u64"),
            "{e}"
        );
        let e = parse_facts(br#"{"rssi":99999999999}"#)
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("rssi: "), "{e}");
        let long = format!(r#"{{"fw":"{}"}}"#, "a".repeat(65));
        let e = parse_facts(long.as_bytes()).err().unwrap_or_default();
        assert!(
            e.starts_with("fw: too long: 65 characters, at most 64"),
            "{e}"
        );
        let e = parse_facts(br#"{"seq":1,"seq":2}"#)
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("seq: duplicate field"), "{e}");
    }

    #[test]
    fn sixty_four_characters_are_fine_even_when_multibyte() {
        let s = "ї".repeat(64);
        let body = format!(r#"{{"boot_id":"{s}"}}"#);
        assert_eq!(parse_facts(body.as_bytes()).map(|f| f.boot_id), Ok(Some(s)));
    }

    #[test]
    fn only_objects_are_accepted() {
        for body in [&b"[\"b\",1]"[..], b"42", b"\"x\"", b"null", b"true"] {
            let e = parse_facts(body).err().unwrap_or_default();
            assert!(e.contains("expected a JSON object"), "{e}");
        }
        let e = parse_facts(b"{} x").err().unwrap_or_default();
        assert!(e.starts_with("trailing characters"), "{e}");
        let e = parse_facts(br#"{"seq":1"#).err().unwrap_or_default();
        assert!(e.contains("EOF"), "{e}");
    }

    #[test]
    fn keys_come_from_either_header() {
        let ok = |v: &'static str| bearer_token(&HeaderValue::from_static(v)).map(str::to_string);
        assert_eq!(ok("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(ok("bearer   abc ").as_deref(), Some("abc"));
        assert_eq!(ok("Api-Key abc").as_deref(), Some("abc"));
        assert_eq!(ok("token abc").as_deref(), Some("abc"));
        assert_eq!(ok("Basic abc"), None);
        assert_eq!(ok("Bearer"), None);
        assert_eq!(ok("Bearer "), None);
        assert_eq!(ok("Bearer a b"), None);
        assert_eq!(ok("abc"), None);
        let k1 = HeaderValue::from_static(" k1 ");
        assert_eq!(plain_token(&k1), Some("k1"));
        assert_eq!(plain_token(&HeaderValue::from_static("")), None);
    }

    #[test]
    fn content_type_must_be_json() {
        assert!(check_content_type(Some("application/json")).is_ok());
        assert!(check_content_type(Some("Application/JSON; charset=utf-8")).is_ok());
        for bad in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
            None,
        ] {
            let r = check_content_type(bad).err();
            assert_eq!(
                r.map(|r| r.status),
                Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                "{bad:?}"
            );
        }
    }
}
