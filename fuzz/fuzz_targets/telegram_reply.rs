//! Any Bot API answer: a result or an `ApiError`, never a panic, and the bot token never
//! appears in the error text even when the answer echoes it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outage_core::secret::Secret;

const TOKEN: &str = "123456:FUZZ-token-never-shown";

fuzz_target!(|data: &[u8]| {
    let token = Secret::new(TOKEN);
    let mut body = data.to_vec();
    // Half the inputs carry the token, as a confused proxy or a crafted answer could.
    if data.first().is_some_and(|b| b & 1 == 1) {
        body.extend_from_slice(TOKEN.as_bytes());
    }
    let r: Result<serde_json::Value, _> =
        outage_notify_telegram::api::decode_reply("sendMessage", 200, &body, &token);
    if let Err(e) = r {
        assert!(!e.to_string().contains(TOKEN), "token leaked: {e}");
    }
});
