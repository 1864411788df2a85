//! A minimal HTTP/1.1 keep-alive client over hyper's connection API: one [`Conn`] is one TCP
//! connection carrying one request at a time, exactly like a device (or a pooled client slot).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// Largest response body read (the heartbeat reply is ~30 bytes; `/metrics` a few KiB).
const MAX_BODY: usize = 1 << 20;

/// One keep-alive connection to the server; reconnects lazily after an error.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened so far (1 when keep-alive held throughout).
    pub opened: u64,
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Body (at most [`MAX_BODY`] bytes).
    pub body: Bytes,
}

impl Conn {
    /// A connection slot for `addr` (connects on first use).
    pub fn new(addr: SocketAddr) -> Result<Self> {
        let host = HeaderValue::from_str(&addr.to_string()).context("server address")?;
        Ok(Self {
            addr,
            host,
            sender: None,
            opened: 0,
        })
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connect {}", self.addr))?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        // The connection task ends when the server closes the socket or the sender is dropped.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.opened += 1;
        Ok(self.sender.insert(sender))
    }

    /// Drops the connection (e.g. after a timeout left a reply in flight on it); the next
    /// request opens a new one.
    pub fn reset(&mut self) {
        self.sender = None;
    }

    /// Sends one request and reads the whole response. Any error drops the connection, so the
    /// next call starts on a fresh one.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&HeaderValue>,
        json: Option<Bytes>,
    ) -> Result<Reply> {
        let result = self.try_send(method, path, auth, json).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&HeaderValue>,
        json: Option<Bytes>,
    ) -> Result<Reply> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        let body = match json {
            Some(b) => {
                req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                b
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(body)).context("build request")?;
        let reusable = match &mut self.sender {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        let sender = match (reusable, self.sender.as_mut()) {
            (true, Some(s)) => s,
            _ => self.connect().await?,
        };
        let resp = sender.send_request(req).await.context("send request")?;
        let status = resp.status();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| anyhow!("read response body: {e}"))?
            .to_bytes();
        Ok(Reply { status, body })
    }
}

/// One `GET` on a fresh connection, bounded by `timeout`.
pub async fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Reply> {
    let mut conn = Conn::new(addr)?;
    tokio::time::timeout(timeout, conn.send(Method::GET, path, None, None))
        .await
        .map_err(|_| anyhow!("GET {path} timed out after {timeout:?}"))?
}
