use serde::Serialize;

use crate::Error;

/// The server refuses bodies larger than this many bytes (HTTP 413).
pub const MAX_BODY_LEN: usize = 1024;

/// The server refuses a `boot_id` or `fw` longer than this many characters.
pub const MAX_TEXT_CHARS: usize = 64;

/// The `Content-Type` to send with a body.
pub const CONTENT_TYPE: &str = "application/json";

/// The exact bytes [`Heartbeat::example`] encodes to.
///
/// ```text
/// {"boot_id":"3f2a9c4e8b7d4e1fa0c5d2b6e9f81734","uptime_s":86400,"seq":2880,"fw":"outage-heartbeat-esp32c3/0.1.0","rssi":-61}
/// ```
///
/// Field order is fixed (`boot_id`, `uptime_s`, `seq`, `fw`, `rssi`), there is
/// no whitespace and no trailing newline. The server workspace can post these
/// bytes in its own tests to prove it accepts what the firmware sends; the
/// example `print_example_payload` writes them to stdout.
pub const EXAMPLE_PAYLOAD: &str = concat!(
    r#"{"boot_id":"3f2a9c4e8b7d4e1fa0c5d2b6e9f81734","#,
    r#""uptime_s":86400,"seq":2880,"#,
    r#""fw":"outage-heartbeat-esp32c3/0.1.0","rssi":-61}"#
);

/// One heartbeat body. Every field is optional in the contract, but a device
/// should always send `boot_id` and `uptime_s`: without them the server cannot
/// tell a power cut from a network drop. Absent fields are left out of the
/// JSON (never written as `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Heartbeat<'a> {
    /// Random per boot, e.g. a [`BootId`](crate::BootId) (32 hex characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<&'a str>,
    /// Seconds since the device booted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
    /// Beats sent since boot: 1 for the first, then 2, 3, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Firmware name/version, free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fw: Option<&'a str>,
    /// WiFi signal strength in dBm (negative; closer to 0 is stronger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rssi: Option<i32>,
}

impl Heartbeat<'static> {
    /// The fixed input behind [`EXAMPLE_PAYLOAD`].
    pub const fn example() -> Self {
        Heartbeat {
            boot_id: Some("3f2a9c4e8b7d4e1fa0c5d2b6e9f81734"),
            uptime_s: Some(86_400),
            seq: Some(2_880),
            fw: Some("outage-heartbeat-esp32c3/0.1.0"),
            rssi: Some(-61),
        }
    }
}

impl Heartbeat<'_> {
    /// Writes the JSON body into `buf` and returns its length.
    ///
    /// Strings are escaped as JSON requires. Fails with
    /// [`Error::FieldTooLong`] when `boot_id` or `fw` has more than
    /// [`MAX_TEXT_CHARS`] characters, [`Error::BufferTooSmall`] when `buf`
    /// cannot hold the body and [`Error::BodyTooLarge`] when the body would
    /// exceed [`MAX_BODY_LEN`].
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.check_lengths()?;
        // Never produce more than the server accepts, whatever `buf`'s size.
        let limit = buf.len().min(MAX_BODY_LEN);
        match serde_json_core::to_slice(self, &mut buf[..limit]) {
            Ok(len) => Ok(len),
            Err(_) if buf.len() > MAX_BODY_LEN => Err(Error::BodyTooLarge),
            Err(_) => Err(Error::BufferTooSmall),
        }
    }

    /// Encodes into a fixed-capacity vector of [`MAX_BODY_LEN`] bytes.
    pub fn to_vec(&self) -> Result<heapless::Vec<u8, MAX_BODY_LEN>, Error> {
        self.check_lengths()?;
        let mut buf = [0u8; MAX_BODY_LEN];
        let len = match serde_json_core::to_slice(self, &mut buf) {
            Ok(len) => len,
            Err(_) => return Err(Error::BodyTooLarge),
        };
        heapless::Vec::from_slice(&buf[..len]).map_err(|_| Error::BufferTooSmall)
    }
}

impl Heartbeat<'_> {
    fn check_lengths(&self) -> Result<(), Error> {
        let too_long = |s: Option<&str>| s.is_some_and(|s| s.chars().count() > MAX_TEXT_CHARS);
        if too_long(self.boot_id) || too_long(self.fw) {
            Err(Error::FieldTooLong)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec;

    fn encode(hb: &Heartbeat<'_>) -> String {
        let mut buf = [0u8; MAX_BODY_LEN];
        let len = hb.encode(&mut buf).unwrap();
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn example_encodes_to_documented_bytes() {
        assert_eq!(encode(&Heartbeat::example()), EXAMPLE_PAYLOAD);
        let v = Heartbeat::example().to_vec().unwrap();
        assert_eq!(v.as_slice(), EXAMPLE_PAYLOAD.as_bytes());
    }

    #[test]
    fn example_payload_is_valid_json_with_expected_fields() {
        #[derive(serde::Deserialize)]
        struct Back<'a> {
            boot_id: &'a str,
            uptime_s: u64,
            seq: u64,
            fw: &'a str,
            rssi: i32,
        }
        let (b, used): (Back<'_>, usize) = serde_json_core::from_str(EXAMPLE_PAYLOAD).unwrap();
        assert_eq!(used, EXAMPLE_PAYLOAD.len());
        assert_eq!(b.boot_id.len(), 32);
        assert_eq!(b.uptime_s, 86_400);
        assert_eq!(b.seq, 2_880);
        assert_eq!(b.fw, "outage-heartbeat-esp32c3/0.1.0");
        assert_eq!(b.rssi, -61);
        assert!(!EXAMPLE_PAYLOAD.contains(char::is_whitespace));
    }

    #[test]
    fn absent_fields_are_omitted() {
        assert_eq!(encode(&Heartbeat::default()), "{}");
        let hb = Heartbeat {
            boot_id: Some("ab"),
            uptime_s: Some(0),
            ..Heartbeat::default()
        };
        assert_eq!(encode(&hb), r#"{"boot_id":"ab","uptime_s":0}"#);
        let hb = Heartbeat {
            seq: Some(1),
            rssi: Some(0),
            ..Heartbeat::default()
        };
        assert_eq!(encode(&hb), r#"{"seq":1,"rssi":0}"#);
    }

    #[test]
    fn extreme_numbers() {
        let hb = Heartbeat {
            uptime_s: Some(u64::MAX),
            seq: Some(u64::MAX),
            rssi: Some(i32::MIN),
            ..Heartbeat::default()
        };
        assert_eq!(
            encode(&hb),
            r#"{"uptime_s":18446744073709551615,"seq":18446744073709551615,"rssi":-2147483648}"#
        );
    }

    #[test]
    fn strings_are_escaped() {
        let hb = Heartbeat {
            fw: Some("a\"b\\c\nd\u{1}é"),
            ..Heartbeat::default()
        };
        let s = encode(&hb);
        assert_eq!(s, "{\"fw\":\"a\\\"b\\\\c\\nd\\u0001é\"}");
    }

    #[test]
    fn small_buffer_is_an_error_not_a_panic() {
        let hb = Heartbeat::example();
        for n in 0..EXAMPLE_PAYLOAD.len() {
            let mut buf = vec![0u8; n];
            assert_eq!(hb.encode(&mut buf), Err(Error::BufferTooSmall), "len {n}");
        }
        let mut buf = vec![0u8; EXAMPLE_PAYLOAD.len()];
        assert_eq!(hb.encode(&mut buf), Ok(EXAMPLE_PAYLOAD.len()));
    }

    #[test]
    fn long_text_fields_are_refused() {
        let at_limit = "é".repeat(MAX_TEXT_CHARS); // characters, not bytes
        let over = "x".repeat(MAX_TEXT_CHARS + 1);
        let mut buf = vec![0u8; 4 * MAX_BODY_LEN];
        for (boot_id, fw, ok) in [
            (Some(at_limit.as_str()), Some(at_limit.as_str()), true),
            (Some(over.as_str()), None, false),
            (None, Some(over.as_str()), false),
        ] {
            let hb = Heartbeat {
                boot_id,
                fw,
                ..Heartbeat::default()
            };
            let expected = if ok { Ok(()) } else { Err(Error::FieldTooLong) };
            assert_eq!(hb.encode(&mut buf).map(|_| ()), expected);
            assert_eq!(hb.to_vec().map(|_| ()), expected);
        }
    }

    #[test]
    fn body_never_exceeds_one_kib() {
        // 64 control characters escape to 6 bytes each (\u0001): 2 × 384 + framing
        // stays below the limit, so with the length checks a valid heartbeat
        // always fits in MAX_BODY_LEN.
        let nasty = "\u{1}".repeat(MAX_TEXT_CHARS);
        let hb = Heartbeat {
            boot_id: Some(&nasty),
            uptime_s: Some(u64::MAX),
            seq: Some(u64::MAX),
            fw: Some(&nasty),
            rssi: Some(i32::MIN),
        };
        let v = hb.to_vec().unwrap();
        assert!(v.len() <= MAX_BODY_LEN);
        let mut buf = vec![0u8; 4 * MAX_BODY_LEN];
        assert_eq!(hb.encode(&mut buf), Ok(v.len()));
    }
}
