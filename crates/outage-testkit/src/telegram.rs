//! A fake Telegram Bot API server for tests and examples.
//!
//! [`FakeTelegram::start`] binds `127.0.0.1:0` and serves `/bot<token>/<method>` for `getMe`,
//! `sendMessage`, `editMessageText`, `sendPhoto`, `editMessageMedia` and `deleteMessage`, with
//! JSON, `application/x-www-form-urlencoded` and `multipart/form-data` bodies (files, and
//! `attach://<name>` references inside `InputMedia`), like the real server.
//!
//! - **It validates every request against the Bot API spec** (the project's trimmed copy, see
//!   [`spec`]): an unknown method answers 404 `{"ok":false,"error_code":404,"description":"Not
//!   Found"}`, a missing required or an unknown parameter 400, a wrong token 401. Every request
//!   is recorded with its violations, and [`FakeTelegram::assert_all_valid`] fails a test that
//!   made any invalid request — even one whose answer was a scripted fault.
//! - **It keeps state**: messages per chat with ids counting from 1, so editing a message that
//!   does not exist answers 400 `Bad Request: message to edit not found`, and an edit that
//!   changes nothing answers 400 `Bad Request: message is not modified: …`. HTML parse mode is
//!   checked strictly (see [`html`]): an unescaped `<`, `>` or `&` is a 400.
//! - **It answers with realistic objects**: `Message` with `message_id`, `from`, `chat`, `date`,
//!   `text` (tags stripped) or `photo` sizes, `edit_date`, `reply_to_message`.
//! - **Faults can be scripted** per request ([`FakeTelegram::fail_next`]): 500, 429 with
//!   `parameters.retry_after`, hang until [`FakeTelegram::release_hung`], dropped connection,
//!   chat not found, bot blocked, "not modified", or any status and description. Chats can be
//!   made permanently missing or blocked.
//!
//! The server runs on its own thread with its own tokio runtime, so it answers in real time even
//! when the test's runtime has its clock paused (`tokio::time::pause()`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use outage_testkit::telegram::{FakeTelegram, Fault};
//! let fake = FakeTelegram::start()?;
//! fake.fail_next(2, Fault::ServerError);
//! // point the notifier at fake.base_url() with fake.token() ...
//! fake.assert_all_valid();
//! # Ok(()) }
//! ```

pub mod html;
mod server;
pub mod spec;
mod state;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::Value;

pub use state::NOT_MODIFIED;
use state::{Bot, World};

/// The token [`FakeTelegram::start`] accepts.
pub const DEFAULT_TOKEN: &str = "123456789:AAE-fakeTokenForOutageMonitorTests-x1";

/// The username of the fake bot.
pub const BOT_USERNAME: &str = "outage_test_bot";

/// A scripted answer for one request, taking the place of the normal one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 `Internal Server Error`.
    ServerError,
    /// 502 `Bad Gateway`.
    BadGateway,
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after = N`.
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Never answer, until [`FakeTelegram::release_hung`]; then the request is executed and
    /// answered as a slow server would (the client has usually given up by then).
    Hang,
    /// Close the connection without answering.
    Drop,
    /// 400 `Bad Request: chat not found`.
    ChatNotFound,
    /// 403 `Forbidden: bot was blocked by the user`.
    BotBlocked,
    /// 401 `Unauthorized`.
    Unauthorized,
    /// 400 `Bad Request: message is not modified: …`.
    NotModified,
    /// Any status with `{"ok":false,"error_code":status,"description":…}`.
    Error {
        /// HTTP status and `error_code`.
        status: u16,
        /// `description`.
        description: String,
    },
}

/// A file part of a multipart request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// Part name (`photo`, or the name an `attach://` reference uses).
    pub name: String,
    /// File name the client gave.
    pub filename: String,
    /// Content type the client gave.
    pub content_type: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// What happened to a recorded request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not answered yet (hung).
    Pending,
    /// Answered with this status and JSON body.
    Answered(u16, Value),
    /// The connection was closed without an answer.
    Dropped,
}

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Position among all requests, from 0.
    pub seq: u64,
    /// Method as spelled in the spec (`sendMessage`), or as requested when unknown.
    pub method: String,
    /// Whether the token was right (the token itself is not recorded).
    pub token_ok: bool,
    /// `json`, `form`, `multipart`, `query` (no body) or `invalid`.
    pub body_kind: &'static str,
    /// Parameters converted to their declared types (form strings to numbers, JSON-serialized
    /// objects parsed), whether they came as JSON, form fields or multipart text parts.
    pub params: std::collections::BTreeMap<String, Value>,
    /// Uploaded files.
    pub files: Vec<UploadedFile>,
    /// Everything wrong with the request by the spec (empty for a valid request).
    pub violations: Vec<String>,
    /// What the fake answered.
    pub outcome: Outcome,
    /// When it arrived (real time).
    pub received_at: SystemTime,
}

impl RecordedRequest {
    /// A parameter as a string (numbers printed, e.g. `chat_id`).
    pub fn param_str(&self, name: &str) -> Option<String> {
        match self.params.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => Some(other.to_string()),
        }
    }

    /// A parameter as an integer.
    pub fn param_i64(&self, name: &str) -> Option<i64> {
        let v = self.params.get(name)?;
        v.as_i64().or_else(|| v.as_str()?.parse().ok())
    }

    /// The HTTP status answered (`None` while hung or when dropped).
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Answered(s, _) => Some(*s),
            _ => None,
        }
    }
}

/// A photo the fake stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// `file_id` of the largest size.
    pub file_id: String,
    /// `file_unique_id` of the largest size.
    pub file_unique_id: String,
    /// Width in pixels (read from a PNG header when the upload is a PNG).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Upload size in bytes.
    pub size: u64,
    /// Hash of the bytes (an identical re-upload is "not modified").
    pub content_hash: u64,
    /// The uploaded bytes.
    pub bytes: Vec<u8>,
}

/// A message as it currently is in a fake chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMessage {
    /// Chat key: the `chat_id` as sent, integers in decimal (`"-1001234"`, `"@channel"`).
    pub chat: String,
    /// Id within the chat, counting from 1.
    pub message_id: i64,
    /// Unix time it was sent.
    pub date: i64,
    /// Unix time of the last edit.
    pub edit_date: Option<i64>,
    /// Text as the user sees it (HTML tags stripped, entities decoded).
    pub text: Option<String>,
    /// The markup as sent (text or caption), when the parse mode was HTML.
    pub html: Option<String>,
    /// Photo caption as the user sees it.
    pub caption: Option<String>,
    /// The photo of a photo message.
    pub photo: Option<Photo>,
    /// The message this one replies to.
    pub reply_to: Option<i64>,
    /// Sent with `disable_notification`.
    pub silent: bool,
    /// How many times it was edited.
    pub edits: u32,
}

#[derive(Debug)]
struct Shared {
    token: String,
    bot: Bot,
    requests: Vec<RecordedRequest>,
    /// Queued faults, each for any method (`None`) or one method.
    faults: VecDeque<(Option<String>, Fault)>,
    world: World,
}

fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running fake Bot API server; stops when dropped.
#[derive(Debug)]
pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    control: server::Control,
}

impl std::fmt::Debug for server::Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}

impl FakeTelegram {
    /// Starts a fake accepting [`DEFAULT_TOKEN`].
    pub fn start() -> std::io::Result<Self> {
        Self::start_with_token(DEFAULT_TOKEN)
    }

    /// Starts a fake accepting `token` (`<bot id>:<secret>`).
    pub fn start_with_token(token: &str) -> std::io::Result<Self> {
        spec::spec().map_err(std::io::Error::other)?;
        let id = token
            .split(':')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(123_456_789);
        let shared = Arc::new(Mutex::new(Shared {
            token: token.to_string(),
            bot: Bot {
                id,
                first_name: "Outage Test Bot".into(),
                username: BOT_USERNAME.into(),
            },
            requests: Vec::new(),
            faults: VecDeque::new(),
            world: World::default(),
        }));
        let (addr, control) = server::spawn(shared.clone())?;
        Ok(Self {
            addr,
            shared,
            control,
        })
    }

    /// `http://127.0.0.1:<port>`: the `api_base` to configure.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token it accepts.
    pub fn token(&self) -> String {
        lock(&self.shared).token.clone()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// Requests to one method (spec spelling, e.g. `sendMessage`).
    pub fn requests_to(&self, method: &str) -> Vec<RecordedRequest> {
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        lock(&self.shared).requests.len()
    }

    /// Every violation so far, as `#seq method: violation`.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.shared)
            .requests
            .iter()
            .flat_map(|r| {
                r.violations
                    .iter()
                    .map(move |v| format!("#{} {}: {v}", r.seq, r.method))
            })
            .collect()
    }

    /// Panics (failing the test) if any request so far broke the Bot API spec.
    #[track_caller]
    pub fn assert_all_valid(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "requests to the fake Telegram broke the Bot API spec:\n  {}",
            v.join("\n  ")
        );
    }

    /// Makes the next `n` requests (of any method) answer with `fault`, after faults already
    /// queued.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut g = lock(&self.shared);
        for _ in 0..n {
            g.faults.push_back((None, fault.clone()));
        }
    }

    /// Makes the next `n` requests to `method` (spec spelling, e.g. `sendMessage`) answer with
    /// `fault`; requests to other methods are served normally meanwhile.
    pub fn fail_next_for(&self, method: &str, n: usize, fault: Fault) {
        let mut g = lock(&self.shared);
        for _ in 0..n {
            g.faults
                .push_back((Some(method.to_string()), fault.clone()));
        }
    }

    /// Faults still queued.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared).faults.len()
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// Lets every request hung by [`Fault::Hang`] proceed.
    pub fn release_hung(&self) {
        self.control.release.send_modify(|g| *g += 1);
    }

    /// From now on, requests for `chat` answer 400 `Bad Request: chat not found`.
    pub fn set_chat_missing(&self, chat: &str) {
        lock(&self.shared)
            .world
            .missing_chats
            .insert(chat.to_string());
    }

    /// From now on, requests for `chat` answer 403 `Forbidden: bot was blocked by the user`.
    pub fn set_chat_blocked(&self, chat: &str) {
        lock(&self.shared)
            .world
            .blocked_chats
            .insert(chat.to_string());
    }

    /// A user (`from`) writes `text` in `chat`: the next `getUpdates` returns it. Returns the
    /// update id.
    pub fn push_text(&self, chat: &str, from: i64, text: &str) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        lock(&self.shared).world.push_text(chat, from, text, now)
    }

    /// Updates the bot has not confirmed yet (by a `getUpdates` offset past them).
    pub fn pending_updates(&self) -> usize {
        lock(&self.shared).world.pending_updates()
    }

    /// Every `setMyCommands` call so far: `(language_code, commands)`.
    pub fn my_commands(&self) -> Vec<(Option<String>, serde_json::Value)> {
        lock(&self.shared).world.my_commands.clone()
    }

    /// Messages of a chat that exist now, oldest first (`chat` as sent: `"42"`, `"@name"`).
    pub fn messages(&self, chat: &str) -> Vec<FakeMessage> {
        lock(&self.shared).world.messages(chat)
    }

    /// One message of a chat, if it exists.
    pub fn message(&self, chat: &str, message_id: i64) -> Option<FakeMessage> {
        self.messages(chat)
            .into_iter()
            .find(|m| m.message_id == message_id)
    }

    /// Deletes a message as a chat member would; returns whether it existed.
    pub fn delete_message(&self, chat: &str, message_id: i64) -> bool {
        lock(&self.shared).world.delete(chat, message_id)
    }

    /// Waits (in real time, without tokio timers, so it works with paused time) until at least
    /// `n` requests arrived; returns whether they did within `timeout`.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.request_count() >= n {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            real_sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        let _ = self.control.shutdown.send(true);
    }
}

/// Sleeps in real time without a tokio timer: the sleep runs on the blocking pool, which also
/// keeps a paused tokio clock from auto-advancing meanwhile.
pub async fn real_sleep(d: Duration) {
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(d)).await;
}

#[cfg(test)]
mod tests;
