//! The HTTP side of the fake: hyper on its own thread and runtime, body parsing (JSON, form,
//! multipart), fault injection and recording.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::spec::{self, RawParam};
use super::state::Answer;
use super::{Fault, Outcome, RecordedRequest, Shared, UploadedFile};

/// Largest request body accepted (Telegram allows 10 MB photos; multipart adds a little).
const MAX_BODY: usize = 20 * 1024 * 1024;

/// Why a connection is closed without an answer.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault injected: connection dropped")
    }
}

impl std::error::Error for DropConnection {}

pub(super) struct Control {
    pub shutdown: watch::Sender<bool>,
    pub release: watch::Sender<u64>,
}

/// Binds 127.0.0.1:0 and serves on a new thread with its own runtime, so the fake answers in
/// real time even when the test's runtime has tokio time paused.
pub(super) fn spawn(shared: Arc<Mutex<Shared>>) -> std::io::Result<(SocketAddr, Control)> {
    let (release, release_rx) = watch::channel(0u64);
    let (addr, shutdown) = crate::local_http::serve("fake-telegram", move |req| {
        handle(shared.clone(), release_rx.clone(), req)
    })?;
    Ok((addr, Control { shutdown, release }))
}

fn respond(a: &Answer) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(a.body.to_string())));
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// `/bot<token>/<method>` → `(token, method)`.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/bot")?;
    let (token, method) = rest.split_once('/')?;
    Some((token, method.trim_end_matches('/')))
}

struct Parsed {
    raw: BTreeMap<String, RawParam>,
    files: BTreeMap<String, UploadedFile>,
    kind: &'static str,
}

async fn handle(
    shared: Arc<Mutex<Shared>>,
    mut release: watch::Receiver<u64>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(respond(&Answer::err(413, "Request Entity Too Large"))),
    };
    let parsed = parse_body(&query, &content_type, &body);
    if path.ends_with("/getUpdates") {
        // Long polling: hold the call until an update is queued, at most a second (real
        // Telegram holds it for the `timeout` asked; a second keeps tests quick).
        let offset = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("offset").and_then(Value::as_i64))
            .unwrap_or(0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while super::lock(&shared).world.pending_from(offset) == 0
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    let (token, method) = split_path(&path).unwrap_or(("", ""));
    let (seq, fault, answer) = {
        let mut g = super::lock(&shared);
        let spec = spec::spec();
        let known = spec.as_ref().ok().and_then(|s| s.method(method));
        let token_ok = token == g.token;
        let mut violations = Vec::new();
        let mut params = BTreeMap::new();
        let method_name = known.map_or(method.to_string(), |m| m.name.clone());
        let parsed = match parsed {
            Ok(p) => Some(p),
            Err(e) => {
                violations.push(e);
                None
            }
        };
        let (files, kind) = match &parsed {
            Some(p) => (p.files.clone(), p.kind),
            None => (BTreeMap::new(), "invalid"),
        };
        match (&spec, known, &parsed) {
            (Err(e), _, _) => violations.push(e.clone()),
            (Ok(_), None, _) => violations.push(format!("unknown method \"{method}\"")),
            (Ok(spec), Some(m), Some(p)) => {
                let file_parts: BTreeSet<String> = p.files.keys().cloned().collect();
                let checked = spec::check_method(spec, m, &p.raw, &file_parts);
                params = checked.params;
                violations.extend(checked.violations.iter().map(|v| v.to_string()));
            }
            (Ok(_), Some(_), None) => {}
        }
        if !token_ok {
            violations.push("wrong bot token".into());
        }
        let seq = g.requests.len() as u64;
        let fault = g
            .faults
            .iter()
            .position(|(m, _)| m.as_ref().is_none_or(|m| *m == method_name))
            .and_then(|i| g.faults.remove(i))
            .map(|(_, f)| f);
        let answer = match (&fault, token_ok, known) {
            (Some(f), _, _) => f.answer(),
            (None, false, _) => Some(Answer::err(401, "Unauthorized")),
            (None, true, None) => Some(Answer::err(404, "Not Found")),
            (None, true, Some(_)) if !violations.is_empty() => {
                Some(Answer::err(400, bad_request(&violations)))
            }
            (None, true, Some(m)) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let bot = g.bot.clone();
                let a = g.world.execute(&bot, &m.name, &params, &files, now);
                if let Some(v) = &a.violation {
                    violations.push(v.clone());
                }
                Some(a)
            }
        };
        g.requests.push(RecordedRequest {
            seq,
            method: method_name,
            token_ok,
            body_kind: kind,
            params,
            files: files.into_values().collect(),
            violations,
            outcome: Outcome::Pending,
            received_at: std::time::SystemTime::now(),
        });
        (seq, fault, answer)
    };

    let answer = match fault {
        Some(Fault::Drop) => {
            set_outcome(&shared, seq, Outcome::Dropped);
            return Err(DropConnection);
        }
        Some(Fault::Hang) => {
            // The wait and the late execution run on their own task, so they happen even when
            // the client gives up and hyper drops this request's future with the connection.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let shared = shared.clone();
            tokio::spawn(async move {
                let answer = hang_then_execute(&shared, &mut release, seq).await;
                if let Some(a) = &answer {
                    set_outcome(&shared, seq, Outcome::Answered(a.status, a.body.clone()));
                }
                let _ = tx.send(answer);
            });
            return match rx.await {
                Ok(Some(a)) => Ok(respond(&a)),
                _ => Err(DropConnection),
            };
        }
        _ => answer.unwrap_or_else(|| Answer::err(500, "Internal Server Error")),
    };
    set_outcome(
        &shared,
        seq,
        Outcome::Answered(answer.status, answer.body.clone()),
    );
    Ok(respond(&answer))
}

/// Waits until [`super::FakeTelegram::release_hung`], then executes the request as a slow
/// server would have. `None` when the fake shut down first.
async fn hang_then_execute(
    shared: &Arc<Mutex<Shared>>,
    release: &mut watch::Receiver<u64>,
    seq: u64,
) -> Option<Answer> {
    let seen = *release.borrow_and_update();
    while *release.borrow_and_update() == seen {
        release.changed().await.ok()?;
    }
    let mut g = super::lock(shared);
    let g = &mut *g;
    let r = g.requests.get(seq as usize)?;
    if !r.violations.is_empty() {
        return Some(Answer::err(400, bad_request(&r.violations)));
    }
    let bot = g.bot.clone();
    let (method, params) = (r.method.clone(), r.params.clone());
    let files = r
        .files
        .iter()
        .map(|f| (f.name.clone(), f.clone()))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Some(g.world.execute(&bot, &method, &params, &files, now))
}

fn set_outcome(shared: &Arc<Mutex<Shared>>, seq: u64, outcome: Outcome) {
    if let Some(r) = super::lock(shared).requests.get_mut(seq as usize) {
        r.outcome = outcome;
    }
}

/// The 400 description for the first violation, worded like the real server where it has a
/// fixed wording.
fn bad_request(violations: &[String]) -> String {
    let first = violations
        .first()
        .map(String::as_str)
        .unwrap_or("invalid request");
    match first {
        "parameter \"text\" is required" => "Bad Request: message text is empty".into(),
        "parameter \"chat_id\" is required" => "Bad Request: chat_id is empty".into(),
        other if other.starts_with("Bad Request: ") => other.into(),
        other => format!("Bad Request: {other}"),
    }
}

impl Fault {
    fn answer(&self) -> Option<Answer> {
        Some(match self {
            Fault::ServerError => Answer::err(500, "Internal Server Error"),
            Fault::BadGateway => Answer::err(502, "Bad Gateway"),
            Fault::RateLimited { retry_after } => {
                let mut a =
                    Answer::err(429, format!("Too Many Requests: retry after {retry_after}"));
                if let Some(o) = a.body.as_object_mut() {
                    o.insert("parameters".into(), json!({"retry_after": retry_after}));
                }
                a
            }
            Fault::ChatNotFound => Answer::err(400, "Bad Request: chat not found"),
            Fault::BotBlocked => Answer::err(403, "Forbidden: bot was blocked by the user"),
            Fault::Unauthorized => Answer::err(401, "Unauthorized"),
            Fault::NotModified => Answer::err(400, super::state::NOT_MODIFIED),
            Fault::Error {
                status,
                description,
            } => Answer::err(*status, description.clone()),
            Fault::Hang | Fault::Drop => return None,
        })
    }
}

fn parse_body(query: &str, content_type: &str, body: &[u8]) -> Result<Parsed, String> {
    let mut raw = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        raw.insert(k.into_owned(), RawParam::Text(v.into_owned()));
    }
    let mut files = BTreeMap::new();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let kind = match mime.as_str() {
        _ if body.is_empty() => "query",
        "application/json" => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| format!("Bad Request: can't parse JSON body: {e}"))?;
            let Value::Object(obj) = v else {
                return Err("Bad Request: the JSON body must be an object".into());
            };
            for (k, v) in obj {
                raw.insert(k, RawParam::Json(v));
            }
            "json"
        }
        "application/x-www-form-urlencoded" => {
            for (k, v) in form_urlencoded::parse(body) {
                raw.insert(k.into_owned(), RawParam::Text(v.into_owned()));
            }
            "form"
        }
        "multipart/form-data" => {
            let boundary = content_type
                .split(';')
                .filter_map(|p| p.trim().strip_prefix("boundary="))
                .next()
                .map(|b| b.trim_matches('"').to_string())
                .ok_or("Bad Request: multipart body without a boundary")?;
            for part in multipart(body, &boundary)? {
                match part.filename {
                    Some(filename) => {
                        raw.insert(part.name.clone(), RawParam::File);
                        files.insert(
                            part.name.clone(),
                            UploadedFile {
                                name: part.name,
                                filename,
                                content_type: part.content_type,
                                bytes: part.data,
                            },
                        );
                    }
                    None => {
                        let text = String::from_utf8(part.data).map_err(|_| {
                            format!("Bad Request: part \"{}\" is not UTF-8 text", part.name)
                        })?;
                        raw.insert(part.name, RawParam::Text(text));
                    }
                }
            }
            "multipart"
        }
        other => return Err(format!("Bad Request: unsupported content type \"{other}\"")),
    };
    Ok(Parsed { raw, files, kind })
}

struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Splits a `multipart/form-data` body (RFC 7578) into its parts.
fn multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let err = |what: &str| format!("Bad Request: malformed multipart body ({what})");
    let delim = format!("--{boundary}").into_bytes();
    let next_delim = format!("\r\n--{boundary}").into_bytes();
    let mut pos = find(body, &delim, 0).ok_or_else(|| err("no opening boundary"))? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(err("boundary not followed by CRLF"));
        }
        pos += 2;
        let end = find(body, &next_delim, pos).ok_or_else(|| err("no closing boundary"))?;
        let part = &body[pos..end];
        let split = find(part, b"\r\n\r\n", 0).ok_or_else(|| err("part without headers"))?;
        let headers = std::str::from_utf8(&part[..split]).map_err(|_| err("headers not UTF-8"))?;
        let data = part[split + 4..].to_vec();
        let (mut name, mut filename, mut content_type) = (None, None, None);
        for line in headers.split("\r\n") {
            let Some((h, v)) = line.split_once(':') else {
                continue;
            };
            if h.trim().eq_ignore_ascii_case("content-disposition") {
                for attr in v.split(';').map(str::trim) {
                    if let Some(n) = attr.strip_prefix("name=") {
                        name = Some(n.trim_matches('"').to_string());
                    } else if let Some(f) = attr.strip_prefix("filename=") {
                        filename = Some(f.trim_matches('"').to_string());
                    }
                }
            } else if h.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_string());
            }
        }
        parts.push(Part {
            name: name.ok_or_else(|| err("part without a name"))?,
            filename,
            content_type,
            data,
        });
        pos = end + next_delim.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_split_into_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"d.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n";
        let parts = multipart(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "chat_id");
        assert_eq!(parts[0].data, b"42");
        assert_eq!(parts[1].filename.as_deref(), Some("d.png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].data, b"\x89PNG");
        assert!(multipart(b"--XyZ\r\nno end", "XyZ").is_err());
    }

    #[test]
    fn paths_split_into_token_and_method() {
        assert_eq!(
            split_path("/bot1:abc/sendMessage"),
            Some(("1:abc", "sendMessage"))
        );
        assert_eq!(split_path("/sendMessage"), None);
    }

    #[test]
    fn bodies_of_every_kind_parse() {
        let p = parse_body(
            "a=1",
            "application/x-www-form-urlencoded",
            b"text=h%C3%AD+there",
        )
        .unwrap();
        assert_eq!(p.raw["a"], RawParam::Text("1".into()));
        assert_eq!(p.raw["text"], RawParam::Text("hí there".into()));
        let p = parse_body("", "application/json; charset=utf-8", br#"{"chat_id":5}"#).unwrap();
        assert_eq!(p.raw["chat_id"], RawParam::Json(json!(5)));
        assert!(parse_body("", "application/json", b"[1]").is_err());
        assert!(parse_body("", "text/plain", b"x").is_err());
    }
}
