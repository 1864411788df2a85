//! Writes the exact heartbeat body the firmware would send for the fixed
//! input [`Heartbeat::example`] to stdout (no trailing newline), so other
//! tests or a shell can post those bytes to a real server:
//!
//! ```sh
//! cargo run -q -p heartbeat-proto --example print_example_payload > body.json
//! curl -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
//!      --data-binary @body.json http://127.0.0.1:8080/api/v1/heartbeat
//! ```

use std::io::Write as _;

use heartbeat_proto::{EXAMPLE_PAYLOAD, Heartbeat, MAX_BODY_LEN};

fn main() -> std::process::ExitCode {
    let mut buf = [0u8; MAX_BODY_LEN];
    let len = match Heartbeat::example().encode(&mut buf) {
        Ok(len) => len,
        Err(e) => {
            eprintln!("encoding failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if &buf[..len] != EXAMPLE_PAYLOAD.as_bytes() {
        eprintln!("encoding drifted from EXAMPLE_PAYLOAD");
        return std::process::ExitCode::FAILURE;
    }
    let mut out = std::io::stdout().lock();
    if out
        .write_all(&buf[..len])
        .and_then(|()| out.flush())
        .is_err()
    {
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
