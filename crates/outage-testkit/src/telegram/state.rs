//! What the fake remembers about chats and messages, and how it executes each method.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};

use super::html;
use super::{FakeMessage, Photo, UploadedFile};

/// The "not modified" description of the real server.
pub const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

/// An answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// Set when the request broke a rule of the API that the spec's field list cannot express
    /// (e.g. `editMessageText` without a message id): recorded as a violation.
    pub violation: Option<String>,
}

impl Answer {
    /// `{"ok":true,"result":…}`.
    pub fn ok(result: Value) -> Self {
        Self {
            status: 200,
            body: json!({"ok": true, "result": result}),
            violation: None,
        }
    }

    /// `{"ok":false,"error_code":…,"description":…}` with the same HTTP status.
    pub fn err(code: u16, description: impl Into<String>) -> Self {
        Self {
            status: code,
            body: json!({"ok": false, "error_code": code, "description": description.into()}),
            violation: None,
        }
    }

    fn invalid(description: impl Into<String>) -> Self {
        let d = description.into();
        Self {
            violation: Some(d.clone()),
            ..Self::err(400, d)
        }
    }
}

#[derive(Debug, Default)]
struct Chat {
    next_id: i64,
    messages: BTreeMap<i64, Stored>,
}

#[derive(Debug, Clone)]
struct Stored {
    msg: FakeMessage,
    /// Formatting of the text or caption, for "not modified".
    tags: Vec<(usize, String)>,
}

/// Chats, messages and uploaded files.
#[derive(Debug, Default)]
pub struct World {
    chats: BTreeMap<String, Chat>,
    /// Chats that answer 400 "chat not found".
    pub missing_chats: BTreeSet<String>,
    /// Chats that answer 403 "bot was blocked by the user".
    pub blocked_chats: BTreeSet<String>,
    files: BTreeMap<String, Photo>,
    next_file: u64,
    /// Updates not yet confirmed by a `getUpdates` offset past them, oldest first.
    updates: std::collections::VecDeque<Value>,
    next_update: i64,
    /// Every `setMyCommands` call: `(language_code, commands)`.
    pub my_commands: Vec<(Option<String>, Value)>,
}

/// Who the fake bot is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bot {
    /// User id (the number before the colon of the token).
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Username without `@`.
    pub username: String,
}

impl Bot {
    fn user(&self) -> Value {
        json!({"id": self.id, "is_bot": true, "first_name": self.first_name, "username": self.username})
    }
}

/// Normalises a `chat_id` parameter: integers as decimal strings, `@names` as they are.
pub fn chat_key(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| n.to_string()),
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => Some(n.to_string()),
            Err(_) if s.starts_with('@') && s.len() > 1 => Some(s.clone()),
            Err(_) => None,
        },
        _ => None,
    }
}

fn chat_object(key: &str) -> Value {
    match key.parse::<i64>() {
        Ok(n) if n > 0 => {
            json!({"id": n, "type": "private", "first_name": "Test", "username": "tester"})
        }
        Ok(n) if n <= -1_000_000_000_000 => {
            json!({"id": n, "type": "supergroup", "title": "Test group"})
        }
        Ok(n) => json!({"id": n, "type": "group", "title": "Test group"}),
        Err(_) => {
            let name = key.trim_start_matches('@');
            let mut h = DefaultHasher::new();
            name.hash(&mut h);
            let id = -1_000_000_000_000 - (h.finish() % 1_000_000_000) as i64;
            json!({"id": id, "type": "channel", "title": name, "username": name})
        }
    }
}

fn text_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

fn int_of(v: Option<&Value>) -> Option<i64> {
    v.and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
}

/// Parses a text or caption in the requested parse mode.
fn formatted(
    text: &str,
    parse_mode: Option<&str>,
) -> Result<(String, Vec<(usize, String)>), String> {
    match parse_mode {
        None | Some("") => Ok((text.to_string(), vec![])),
        Some(m) if m.eq_ignore_ascii_case("html") => html::parse(text)
            .map(|p| (p.text, p.tags))
            .map_err(|e| format!("Bad Request: {e}")),
        Some(m) if m.eq_ignore_ascii_case("markdownv2") || m.eq_ignore_ascii_case("markdown") => {
            Ok((text.to_string(), vec![]))
        }
        Some(m) => Err(format!("Bad Request: unsupported parse_mode \"{m}\"")),
    }
}

/// Width and height of a PNG (from its IHDR chunk), or a typical diagram size.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    const SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() >= 24 && bytes.starts_with(SIG) && &bytes[12..16] == b"IHDR" {
        let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        return (w, h);
    }
    (800, 400)
}

fn photo_json(p: &Photo) -> Value {
    let thumb_w = 90.min(p.width.max(1));
    let thumb_h = (u64::from(p.height) * u64::from(thumb_w) / u64::from(p.width.max(1))) as u32;
    json!([
        {"file_id": format!("{}-s", p.file_id), "file_unique_id": format!("{}-s", p.file_unique_id),
         "width": thumb_w, "height": thumb_h.max(1), "file_size": (p.size / 20).max(1)},
        {"file_id": p.file_id, "file_unique_id": p.file_unique_id,
         "width": p.width, "height": p.height, "file_size": p.size},
    ])
}

impl World {
    /// Queues a text message from a user in `chat`, as `getUpdates` will return it; returns
    /// its update id. A leading `/command` gets its `bot_command` entity.
    pub fn push_text(&mut self, chat: &str, from: i64, text: &str, now: i64) -> i64 {
        self.next_update += 1;
        let id = self.next_update;
        let mut message = serde_json::json!({
            "message_id": 1_000_000 + id,
            "date": now,
            "chat": chat_object(chat),
            "from": {"id": from, "is_bot": false, "first_name": "Tester"},
            "text": text,
        });
        if text.starts_with('/') {
            let word = text.split_whitespace().next().unwrap_or(text);
            let length = word.encode_utf16().count();
            message["entities"] = serde_json::json!([
                {"type": "bot_command", "offset": 0, "length": length}
            ]);
        }
        self.updates
            .push_back(serde_json::json!({"update_id": id, "message": message}));
        id
    }

    /// Updates not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.updates.len()
    }

    /// Updates with an id of at least `offset` (what `getUpdates` with that offset returns).
    pub fn pending_from(&self, offset: i64) -> usize {
        self.updates
            .iter()
            .filter(|u| int_of(u.get("update_id")).is_some_and(|id| id >= offset))
            .count()
    }

    fn get_updates(&mut self, params: &BTreeMap<String, Value>) -> Answer {
        if let Some(offset) = int_of(params.get("offset")) {
            while self
                .updates
                .front()
                .is_some_and(|u| int_of(u.get("update_id")).is_some_and(|id| id < offset))
            {
                self.updates.pop_front();
            }
        }
        let limit = int_of(params.get("limit")).unwrap_or(100).clamp(1, 100) as usize;
        let list: Vec<Value> = self.updates.iter().take(limit).cloned().collect();
        Answer::ok(Value::Array(list))
    }

    fn message_json(&self, bot: &Bot, m: &FakeMessage, nested: bool) -> Value {
        let mut v = json!({
            "message_id": m.message_id,
            "from": bot.user(),
            "chat": chat_object(&m.chat),
            "date": m.date,
        });
        let Some(obj) = v.as_object_mut() else {
            return v;
        };
        if let Some(t) = &m.text {
            obj.insert("text".into(), json!(t));
        }
        if let Some(p) = &m.photo {
            obj.insert("photo".into(), photo_json(p));
        }
        if let Some(c) = &m.caption {
            obj.insert("caption".into(), json!(c));
        }
        if let Some(d) = m.edit_date {
            obj.insert("edit_date".into(), json!(d));
        }
        if !nested
            && let Some(r) = m.reply_to
            && let Some(orig) = self.chats.get(&m.chat).and_then(|c| c.messages.get(&r))
        {
            obj.insert(
                "reply_to_message".into(),
                self.message_json(bot, &orig.msg, true),
            );
        }
        v
    }

    /// Messages of a chat that still exist, oldest first.
    pub fn messages(&self, chat: &str) -> Vec<FakeMessage> {
        self.chats
            .get(chat)
            .map(|c| c.messages.values().map(|s| s.msg.clone()).collect())
            .unwrap_or_default()
    }

    /// Removes a message as if a user deleted it; returns whether it existed.
    pub fn delete(&mut self, chat: &str, id: i64) -> bool {
        self.chats
            .get_mut(chat)
            .is_some_and(|c| c.messages.remove(&id).is_some())
    }

    fn check_chat(&self, params: &BTreeMap<String, Value>) -> Result<String, Answer> {
        let Some(raw) = params.get("chat_id") else {
            return Err(Answer::invalid("Bad Request: chat_id is empty"));
        };
        let key = chat_key(raw).ok_or_else(|| Answer::err(400, "Bad Request: chat not found"))?;
        if self.missing_chats.contains(&key) {
            return Err(Answer::err(400, "Bad Request: chat not found"));
        }
        if self.blocked_chats.contains(&key) {
            return Err(Answer::err(403, "Forbidden: bot was blocked by the user"));
        }
        Ok(key)
    }

    fn upload(&mut self, bytes: &[u8]) -> Photo {
        self.next_file += 1;
        let (width, height) = png_size(bytes);
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let p = Photo {
            file_id: format!("AgACAgIAAxkBAAIfake{}", self.next_file),
            file_unique_id: format!("AQADfake{}", self.next_file),
            width,
            height,
            size: bytes.len() as u64,
            content_hash: h.finish(),
            bytes: bytes.to_vec(),
        };
        self.files.insert(p.file_id.clone(), p.clone());
        p
    }

    /// A photo given as an uploaded part, an `attach://` reference, or a known file id.
    fn photo_from(
        &mut self,
        v: Option<&Value>,
        own_part: Option<&UploadedFile>,
        files: &BTreeMap<String, UploadedFile>,
    ) -> Result<Photo, Answer> {
        if let Some(f) = own_part {
            return Ok(self.upload(&f.bytes));
        }
        let Some(s) = text_of(v) else {
            return Err(Answer::invalid(
                "Bad Request: there is no photo in the request",
            ));
        };
        if let Some(name) = s.strip_prefix("attach://") {
            let f = files.get(name).ok_or_else(|| {
                Answer::invalid(format!("Bad Request: can't find attached file \"{name}\""))
            })?;
            return Ok(self.upload(&f.bytes));
        }
        if let Some(p) = self.files.get(s) {
            return Ok(p.clone());
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(self.upload(s.as_bytes()));
        }
        Err(Answer::err(
            400,
            "Bad Request: wrong file identifier/HTTP URL specified",
        ))
    }

    fn add(&mut self, chat: &str, mut msg: FakeMessage, tags: Vec<(usize, String)>) -> i64 {
        let c = self.chats.entry(chat.to_string()).or_default();
        c.next_id += 1;
        msg.message_id = c.next_id;
        c.messages.insert(msg.message_id, Stored { msg, tags });
        c.next_id
    }

    fn target(
        &self,
        params: &BTreeMap<String, Value>,
        what: &str,
    ) -> Result<(String, i64), Answer> {
        if params.contains_key("inline_message_id") {
            return Err(Answer::err(
                400,
                "Bad Request: MESSAGE_ID_INVALID (the fake has no inline messages)",
            ));
        }
        let chat = self.check_chat(params)?;
        let id = int_of(params.get("message_id"))
            .ok_or_else(|| Answer::invalid("Bad Request: message identifier is not specified"))?;
        if !self
            .chats
            .get(&chat)
            .is_some_and(|c| c.messages.contains_key(&id))
        {
            return Err(Answer::err(
                400,
                format!("Bad Request: message to {what} not found"),
            ));
        }
        Ok((chat, id))
    }

    /// Executes a valid request of a known method.
    pub fn execute(
        &mut self,
        bot: &Bot,
        method: &str,
        params: &BTreeMap<String, Value>,
        files: &BTreeMap<String, UploadedFile>,
        now: i64,
    ) -> Answer {
        let r = match method {
            "getMe" => Ok(Answer::ok(json!({
                "id": bot.id, "is_bot": true, "first_name": bot.first_name,
                "username": bot.username, "can_join_groups": true,
                "can_read_all_group_messages": false, "supports_inline_queries": false,
            }))),
            "getChat" => self.check_chat(params).map(|chat| {
                let mut info = chat_object(&chat);
                if let Some(o) = info.as_object_mut() {
                    o.insert("accent_color_id".into(), json!(0));
                    o.insert("max_reaction_count".into(), json!(11));
                    o.insert(
                        "accepted_gift_types".into(),
                        json!({
                            "unlimited_gifts": false, "limited_gifts": false,
                            "unique_gifts": false, "premium_subscription": false,
                            "gifts_from_channels": false,
                        }),
                    );
                }
                Answer::ok(info)
            }),
            "sendMessage" => self.send_message(bot, params, now),
            "editMessageText" => self.edit_text(bot, params, now),
            "sendPhoto" => self.send_photo(bot, params, files, now),
            "editMessageMedia" => self.edit_media(bot, params, files, now),
            "getUpdates" => Ok(self.get_updates(params)),
            "setMyCommands" => {
                let lang = params
                    .get("language_code")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let commands = params.get("commands").cloned().unwrap_or(Value::Null);
                self.my_commands.push((lang, commands));
                Ok(Answer::ok(json!(true)))
            }
            "deleteMessage" => self.target(params, "delete").map(|(chat, id)| {
                self.delete(&chat, id);
                Answer::ok(json!(true))
            }),
            other => Ok(Answer::err(
                404,
                format!("Not Found ({other} is not faked)"),
            )),
        };
        r.unwrap_or_else(|a| a)
    }

    fn reply_target(
        &self,
        chat: &str,
        params: &BTreeMap<String, Value>,
    ) -> Result<Option<i64>, Answer> {
        let Some(rp) = params.get("reply_parameters") else {
            return Ok(None);
        };
        let id = int_of(rp.get("message_id"));
        let in_chat = rp
            .get("chat_id")
            .and_then(chat_key)
            .unwrap_or(chat.to_string());
        let exists = id.is_some_and(|id| {
            self.chats
                .get(&in_chat)
                .is_some_and(|c| c.messages.contains_key(&id))
        });
        let allow = rp
            .get("allow_sending_without_reply")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match (exists, allow) {
            (true, _) => Ok(id),
            (false, true) => Ok(None),
            (false, false) => Err(Answer::err(
                400,
                "Bad Request: message to be replied not found",
            )),
        }
    }

    fn send_message(
        &mut self,
        bot: &Bot,
        params: &BTreeMap<String, Value>,
        now: i64,
    ) -> Result<Answer, Answer> {
        let chat = self.check_chat(params)?;
        let raw = text_of(params.get("text")).unwrap_or_default();
        let (text, tags) =
            formatted(raw, text_of(params.get("parse_mode"))).map_err(|e| Answer::err(400, e))?;
        check_len(&text, 4096, "message text is empty", "message is too long")?;
        let reply_to = self.reply_target(&chat, params)?;
        let msg = FakeMessage {
            chat: chat.clone(),
            message_id: 0,
            date: now,
            edit_date: None,
            text: Some(text),
            html: is_html(params).then(|| raw.to_string()),
            caption: None,
            photo: None,
            reply_to,
            silent: params
                .get("disable_notification")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            edits: 0,
        };
        let id = self.add(&chat, msg, tags);
        Ok(self.answer_message(bot, &chat, id))
    }

    fn answer_message(&self, bot: &Bot, chat: &str, id: i64) -> Answer {
        match self.chats.get(chat).and_then(|c| c.messages.get(&id)) {
            Some(s) => Answer::ok(self.message_json(bot, &s.msg, false)),
            None => Answer::err(500, "Internal Server Error (fake lost a message)"),
        }
    }

    fn stored_mut(&mut self, chat: &str, id: i64) -> Result<&mut Stored, Answer> {
        self.chats
            .get_mut(chat)
            .and_then(|c| c.messages.get_mut(&id))
            .ok_or_else(|| Answer::err(500, "Internal Server Error (fake lost a message)"))
    }

    fn edit_text(
        &mut self,
        bot: &Bot,
        params: &BTreeMap<String, Value>,
        now: i64,
    ) -> Result<Answer, Answer> {
        let Some(raw) = text_of(params.get("text")) else {
            return Err(Answer::invalid("Bad Request: message text is empty"));
        };
        let (chat, id) = self.target(params, "edit")?;
        let (text, tags) =
            formatted(raw, text_of(params.get("parse_mode"))).map_err(|e| Answer::err(400, e))?;
        check_len(&text, 4096, "message text is empty", "message is too long")?;
        let html = is_html(params).then(|| raw.to_string());
        let s = self.stored_mut(&chat, id)?;
        if s.msg.text.is_none() {
            return Err(Answer::err(
                400,
                "Bad Request: there is no text in the message to edit",
            ));
        }
        if s.msg.text.as_deref() == Some(text.as_str()) && s.tags == tags {
            return Err(Answer::err(400, NOT_MODIFIED));
        }
        s.msg.text = Some(text);
        s.msg.html = html;
        s.tags = tags;
        s.msg.edit_date = Some(now);
        s.msg.edits += 1;
        Ok(self.answer_message(bot, &chat, id))
    }

    fn send_photo(
        &mut self,
        bot: &Bot,
        params: &BTreeMap<String, Value>,
        files: &BTreeMap<String, UploadedFile>,
        now: i64,
    ) -> Result<Answer, Answer> {
        let chat = self.check_chat(params)?;
        let (caption, html, tags) = caption_of(params)?;
        let reply_to = self.reply_target(&chat, params)?;
        let photo = self.photo_from(params.get("photo"), files.get("photo"), files)?;
        let msg = FakeMessage {
            chat: chat.clone(),
            message_id: 0,
            date: now,
            edit_date: None,
            text: None,
            html,
            caption,
            photo: Some(photo),
            reply_to,
            silent: params
                .get("disable_notification")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            edits: 0,
        };
        let id = self.add(&chat, msg, tags);
        Ok(self.answer_message(bot, &chat, id))
    }

    fn edit_media(
        &mut self,
        bot: &Bot,
        params: &BTreeMap<String, Value>,
        files: &BTreeMap<String, UploadedFile>,
        now: i64,
    ) -> Result<Answer, Answer> {
        let media = params.get("media").cloned().unwrap_or(Value::Null);
        if media.get("type").and_then(Value::as_str) != Some("photo") {
            return Err(Answer::err(
                400,
                "Bad Request: the fake only supports photo media",
            ));
        }
        let (chat, id) = self.target(params, "edit")?;
        let fields: BTreeMap<String, Value> = media
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let (caption, html, tags) = caption_of(&fields)?;
        let photo = self.photo_from(fields.get("media"), None, files)?;
        let s = self.stored_mut(&chat, id)?;
        let same_photo = s
            .msg
            .photo
            .as_ref()
            .is_some_and(|p| p.content_hash == photo.content_hash);
        if same_photo && s.msg.caption == caption && s.tags == tags {
            return Err(Answer::err(400, NOT_MODIFIED));
        }
        s.msg.photo = Some(photo);
        s.msg.text = None;
        s.msg.caption = caption;
        s.msg.html = html;
        s.tags = tags;
        s.msg.edit_date = Some(now);
        s.msg.edits += 1;
        Ok(self.answer_message(bot, &chat, id))
    }
}

type Caption = (Option<String>, Option<String>, Vec<(usize, String)>);

fn caption_of(params: &BTreeMap<String, Value>) -> Result<Caption, Answer> {
    let Some(raw) = text_of(params.get("caption")) else {
        return Ok((None, None, vec![]));
    };
    let (text, tags) =
        formatted(raw, text_of(params.get("parse_mode"))).map_err(|e| Answer::err(400, e))?;
    if text.chars().count() > 1024 {
        return Err(Answer::err(400, "Bad Request: message caption is too long"));
    }
    Ok((
        (!text.is_empty()).then_some(text),
        is_html(params).then(|| raw.to_string()),
        tags,
    ))
}

fn is_html(params: &BTreeMap<String, Value>) -> bool {
    text_of(params.get("parse_mode")).is_some_and(|m| m.eq_ignore_ascii_case("html"))
}

fn check_len(text: &str, max: usize, empty: &str, long: &str) -> Result<(), Answer> {
    if text.trim().is_empty() {
        return Err(Answer::err(400, format!("Bad Request: {empty}")));
    }
    if text.chars().count() > max {
        return Err(Answer::err(400, format!("Bad Request: {long}")));
    }
    Ok(())
}
