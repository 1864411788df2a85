use serde::Deserialize;

use crate::Error;

/// Shortest interval between beats a device will use, whatever the server
/// or the settings say.
pub const MIN_INTERVAL_S: u32 = 5;
/// Longest interval between beats a device will use.
pub const MAX_INTERVAL_S: u32 = 3_600;
/// Interval used when nothing else is configured.
pub const DEFAULT_INTERVAL_S: u32 = 30;

/// The body of a `200` reply: `{"status":"up","next_in_s":30}`.
///
/// Unknown fields are ignored so the server may add some later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Reply<'a> {
    /// `"up"` when the beat was recorded.
    #[serde(borrow)]
    pub status: &'a str,
    /// Seconds until the server wants the next beat, if it said.
    #[serde(default)]
    pub next_in_s: Option<u64>,
}

impl Reply<'_> {
    /// Whether the server reported the location as up.
    pub fn is_up(&self) -> bool {
        self.status == "up"
    }

    /// The delay before the next beat: the server's `next_in_s` when given,
    /// else `fallback_s`, clamped by [`clamp_interval_s`].
    pub fn next_interval_s(&self, fallback_s: u32) -> u32 {
        match self.next_in_s {
            Some(n) => clamp_interval_s(n),
            None => clamp_interval_s(u64::from(fallback_s)),
        }
    }
}

/// Keeps an interval within [`MIN_INTERVAL_S`]..=[`MAX_INTERVAL_S`], so a
/// confused server can neither make a device hammer it nor fall silent.
pub fn clamp_interval_s(seconds: u64) -> u32 {
    let clamped = seconds.clamp(u64::from(MIN_INTERVAL_S), u64::from(MAX_INTERVAL_S));
    u32::try_from(clamped).unwrap_or(MAX_INTERVAL_S)
}

/// Parses the body of a `200` reply. Whitespace around the object is fine;
/// anything after it, a missing `status`, or a non-numeric `next_in_s` is
/// [`Error::ReplyMalformed`].
pub fn parse_reply(body: &[u8]) -> Result<Reply<'_>, Error> {
    let (reply, used) =
        serde_json_core::from_slice::<Reply<'_>>(body).map_err(|_| Error::ReplyMalformed)?;
    let rest = body.get(used..).unwrap_or(&[]);
    if rest.iter().all(u8::is_ascii_whitespace) {
        Ok(reply)
    } else {
        Err(Error::ReplyMalformed)
    }
}

/// What an HTTP status code means for a heartbeat client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx: the beat was recorded.
    Accepted,
    /// 401/403: the server does not know this key. Retrying will not help
    /// until the key is fixed, so back off to the maximum.
    BadKey,
    /// 400, 413, 415 and other 4xx: the client sent something the server
    /// refuses. A firmware bug; keep trying at the backoff pace.
    Refused,
    /// 5xx or anything else: the server (or a proxy) is unwell; retry with
    /// backoff.
    ServerError,
}

impl StatusClass {
    /// Classifies an HTTP status code.
    pub const fn from_status(code: u16) -> Self {
        match code {
            200..=299 => StatusClass::Accepted,
            401 | 403 => StatusClass::BadKey,
            400..=499 => StatusClass::Refused,
            _ => StatusClass::ServerError,
        }
    }

    /// A short hint for logs, in plain language.
    pub const fn hint(code: u16) -> &'static str {
        match code {
            200..=299 => "heartbeat recorded",
            400 => "server says the JSON body is malformed",
            401 | 403 => "server does not know this location key (check OUTAGE_API_KEY)",
            404 => "no heartbeat endpoint at this URL (check OUTAGE_SERVER_URL)",
            413 => "server says the body is too large",
            415 => "server wants Content-Type: application/json",
            402 | 405..=412 | 414 | 416..=499 => "server refused the request",
            503 => "server is up but its database is unreachable",
            500..=599 => "server error",
            _ => "unexpected HTTP status",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_reply() {
        let r = parse_reply(br#"{"status":"up","next_in_s":30}"#).unwrap();
        assert_eq!(r.status, "up");
        assert_eq!(r.next_in_s, Some(30));
        assert!(r.is_up());
        assert_eq!(r.next_interval_s(60), 30);
    }

    #[test]
    fn tolerates_whitespace_order_and_unknown_fields() {
        let body = b" {\n \"next_in_s\" : 45 , \"extra\": {\"a\":[1,2,\"x\"]}, \"status\": \"up\", \"n\": null, \"t\": true }\r\n";
        let r = parse_reply(body).unwrap();
        assert_eq!(r.next_in_s, Some(45));
        assert!(r.is_up());
    }

    #[test]
    fn missing_next_in_s_uses_fallback() {
        let r = parse_reply(br#"{"status":"up"}"#).unwrap();
        assert_eq!(r.next_in_s, None);
        assert_eq!(r.next_interval_s(30), 30);
        assert_eq!(r.next_interval_s(1), MIN_INTERVAL_S);
        let r = parse_reply(br#"{"status":"up","next_in_s":null}"#).unwrap();
        assert_eq!(r.next_in_s, None);
    }

    #[test]
    fn other_status_is_not_up() {
        let r = parse_reply(br#"{"status":"paused","next_in_s":300}"#).unwrap();
        assert!(!r.is_up());
        assert_eq!(r.next_interval_s(30), 300);
    }

    #[test]
    fn next_in_s_is_clamped() {
        let r = parse_reply(br#"{"status":"up","next_in_s":0}"#).unwrap();
        assert_eq!(r.next_interval_s(30), MIN_INTERVAL_S);
        let r = parse_reply(br#"{"status":"up","next_in_s":18446744073709551615}"#).unwrap();
        assert_eq!(r.next_interval_s(30), MAX_INTERVAL_S);
        assert_eq!(clamp_interval_s(3_600), 3_600);
        assert_eq!(clamp_interval_s(3_601), 3_600);
        assert_eq!(clamp_interval_s(4), 5);
    }

    #[test]
    fn malformed_replies_are_errors() {
        let bad: [&[u8]; 14] = [
            b"",
            b"   ",
            b"up",
            b"{",
            b"[]",
            b"{}",
            br#"{"next_in_s":30}"#,
            br#"{"status":1}"#,
            br#"{"status":"up","next_in_s":-1}"#,
            br#"{"status":"up","next_in_s":"30"}"#,
            br#"{"status":"up","next_in_s":1.5}"#,
            br#"{"status":"up"} trailing"#,
            br#"{"status":"up"}{"status":"up"}"#,
            b"\xff\xfe",
        ];
        for body in bad {
            assert_eq!(
                parse_reply(body),
                Err(Error::ReplyMalformed),
                "{:?}",
                core::str::from_utf8(body)
            );
        }
    }

    #[test]
    fn html_error_pages_are_errors() {
        let body = b"<html><body>502 Bad Gateway</body></html>";
        assert_eq!(parse_reply(body), Err(Error::ReplyMalformed));
    }

    #[test]
    fn status_classes() {
        assert_eq!(StatusClass::from_status(200), StatusClass::Accepted);
        assert_eq!(StatusClass::from_status(204), StatusClass::Accepted);
        assert_eq!(StatusClass::from_status(401), StatusClass::BadKey);
        assert_eq!(StatusClass::from_status(403), StatusClass::BadKey);
        for c in [400, 404, 413, 415, 429] {
            assert_eq!(StatusClass::from_status(c), StatusClass::Refused);
        }
        for c in [0, 100, 301, 500, 502, 503, 999] {
            assert_eq!(StatusClass::from_status(c), StatusClass::ServerError);
        }
        assert!(StatusClass::hint(401).contains("OUTAGE_API_KEY"));
        assert!(StatusClass::hint(404).contains("OUTAGE_SERVER_URL"));
    }
}
