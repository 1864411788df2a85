//! A local HTTP endpoint that records every request and answers as scripted: the other side of
//! the webhook and ntfy notifiers in tests.
//!
//! It runs on its own thread and runtime (like the fake Bot API), so it answers in real time even
//! when the test's runtime has tokio time paused, and it outlives monitor processes that a test
//! kills and restarts.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::watch;

/// Largest body recorded; larger requests are answered 413.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// One request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// `POST`, `GET`, ...
    pub method: String,
    /// Path and query, e.g. `/hook?x=1`.
    pub path: String,
    /// Headers, names lowercased; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl ReceivedRequest {
    /// A header by its (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: String,
}

impl Reply {
    /// A reply with this status and an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct State {
    requests: Vec<ReceivedRequest>,
    script: VecDeque<Reply>,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running receiver on `127.0.0.1:<port>`; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Binds 127.0.0.1:0 and starts answering every request `200` until told otherwise.
    pub fn start() -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let (addr, shutdown) =
            crate::local_http::serve("receiver", move |req| handle(shared.clone(), req))?;
        Ok(Self {
            addr,
            state,
            shutdown,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next `n` requests get `reply` (after replies scripted earlier).
    pub fn reply_next(&self, n: usize, reply: Reply) {
        let mut g = lock(&self.state);
        g.script.extend(std::iter::repeat_n(reply, n));
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.state).requests.clone()
    }

    /// Requests answered with a 2xx status.
    pub fn accepted(&self) -> Vec<ReceivedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// Waits (in real time) until `pred` holds for the requests so far, at most `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[ReceivedRequest]) -> bool,
    ) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if pred(&lock(&self.state).requests) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            crate::telegram::real_sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let (body, reply) = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => (b.to_bytes().to_vec(), None),
        Err(_) => (Vec::new(), Some(Reply::status(413))),
    };
    let reply = {
        let mut g = lock(&state);
        let reply = reply
            .or_else(|| g.script.pop_front())
            .unwrap_or_else(|| Reply::status(200));
        g.requests.push(ReceivedRequest {
            method,
            path,
            headers,
            body,
            status: reply.status,
        });
        reply
    };
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::try_from(k),
            hyper::header::HeaderValue::try_from(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_requests_and_answers_as_scripted() {
        let rx = Receiver::start().unwrap();
        rx.reply_next(1, Reply::status(500).header("Retry-After", "3"));
        let client = reqwest::Client::new();
        let first = client
            .post(format!("{}/hook?a=1", rx.url()))
            .header("X-Test", "yes")
            .body("{\"n\":1}")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status().as_u16(), 500);
        assert_eq!(first.headers()["retry-after"], "3");
        let second = client.post(rx.url()).body("x").send().await.unwrap();
        assert_eq!(second.status().as_u16(), 200);
        let got = rx.requests();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].path, "/hook?a=1");
        assert_eq!(got[0].header("x-test"), Some("yes"));
        assert_eq!(got[0].json()["n"], 1);
        assert_eq!(got[0].status, 500);
        assert_eq!(rx.accepted().len(), 1);
        assert!(rx.wait_for(Duration::from_secs(1), |r| r.len() == 2).await);
    }
}
