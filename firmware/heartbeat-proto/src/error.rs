use core::fmt;

/// Everything that can go wrong in this crate. Each variant's `Display` text
/// is a complete sentence fit for a log line or a build error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The output buffer (or fixed-capacity string) is too small.
    BufferTooSmall,
    /// The encoded body would exceed the server's limit of
    /// [`MAX_BODY_LEN`](crate::MAX_BODY_LEN) bytes.
    BodyTooLarge,
    /// `boot_id` or `fw` is longer than
    /// [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS) characters.
    FieldTooLong,
    /// The server URL is empty.
    UrlEmpty,
    /// The server URL does not start with `http://` or `https://`.
    UrlScheme,
    /// The server URL has no host name.
    UrlHost,
    /// The server URL's port is not a number from 1 to 65535.
    UrlPort,
    /// The server URL contains user info, a query, a fragment, spaces or
    /// control characters.
    UrlCharacters,
    /// The location key is empty.
    KeyEmpty,
    /// The location key is longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN).
    KeyTooLong,
    /// The location key contains spaces, control or non-ASCII characters.
    KeyCharacters,
    /// The server's reply is not the expected JSON object.
    ReplyMalformed,
    /// A setting is not a whole number.
    NotANumber,
    /// The heartbeat interval is outside
    /// [`MIN_INTERVAL_S`](crate::MIN_INTERVAL_S)..=[`MAX_INTERVAL_S`](crate::MAX_INTERVAL_S).
    IntervalOutOfRange,
    /// The WiFi network name is empty or longer than 32 bytes.
    SsidLength,
    /// The WiFi password is neither empty (open network), 8 to 63 printable
    /// ASCII characters, nor 64 hex digits.
    PasswordInvalid,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::BufferTooSmall => "the output buffer is too small",
            Error::BodyTooLarge => {
                "the heartbeat body would be larger than the server's 1 KiB limit"
            }
            Error::FieldTooLong => "boot_id and fw may have at most 64 characters each",
            Error::UrlEmpty => "the server URL is empty",
            Error::UrlScheme => {
                "the server URL must start with http:// or https:// (for example http://192.168.1.10:8080)"
            }
            Error::UrlHost => "the server URL has no host name",
            Error::UrlPort => "the server URL's port must be a number from 1 to 65535",
            Error::UrlCharacters => {
                "the server URL must not contain user:password@, ?query, #fragment, spaces or control characters"
            }
            Error::KeyEmpty => "the location key is empty",
            Error::KeyTooLong => "the location key is longer than 256 characters",
            Error::KeyCharacters => {
                "the location key may only contain printable ASCII characters without spaces"
            }
            Error::ReplyMalformed => {
                "the server's reply is not the expected JSON {\"status\":..,\"next_in_s\":N}"
            }
            Error::NotANumber => "the value is not a whole number",
            Error::IntervalOutOfRange => "the interval must be between 5 and 3600 seconds",
            Error::SsidLength => "the WiFi network name (SSID) must be 1 to 32 bytes long",
            Error::PasswordInvalid => {
                "the WiFi password must be empty (open network), 8 to 63 printable ASCII characters, or 64 hex digits"
            }
        };
        f.write_str(text)
    }
}

impl core::error::Error for Error {}
