//! The outage-monitor heartbeat contract, as seen from a device.
//!
//! A device proves it has power by sending
//!
//! ```text
//! POST {server}/api/v1/heartbeat
//! Authorization: Bearer <location key>
//! Content-Type: application/json
//!
//! {"boot_id":"…","uptime_s":123,"seq":4,"fw":"…","rssi":-60}
//! ```
//!
//! and the server answers `200 {"status":"up","next_in_s":N}`, asking for the
//! next beat in `N` seconds. `boot_id` (random per boot) and `uptime_s` let
//! the server tell a power cut (the device rebooted) from a network drop (the
//! device kept running), so every client must send both.
//!
//! This crate is `#![no_std]` and never allocates: everything is written into
//! caller-provided buffers or fixed-capacity [`heapless`] strings, so the same
//! code runs on an ESP32-C3 and in host unit tests. Nothing in here panics on
//! external input (server replies, build-time settings).
//!
//! Pieces:
//! - [`Heartbeat`]: the JSON body, [`Heartbeat::encode`] into a fixed buffer;
//!   [`EXAMPLE_PAYLOAD`] is the exact encoding of [`Heartbeat::example`].
//! - [`heartbeat_url`] / [`parse_server_url`]: `{base}/api/v1/heartbeat`.
//! - [`bearer_header`]: the `Authorization` header value.
//! - [`parse_reply`] / [`Reply`]: the server's answer, [`StatusClass`] for the
//!   HTTP status code.
//! - [`Backoff`]: capped exponential backoff with optional jitter.
//! - [`BootId`]: 32 lowercase hex characters from 16 random bytes.
//! - [`settings`]: validation of build-time settings (interval, WiFi
//!   credentials), shared by the firmware's `build.rs`.

#![no_std]

#[cfg(test)]
extern crate std;

mod auth;
mod backoff;
mod boot_id;
mod error;
mod payload;
mod reply;
pub mod settings;
mod url;

pub use auth::{AUTHORIZATION_HEADER, MAX_KEY_LEN, bearer_header, validate_key};
pub use backoff::{Backoff, backoff_delay_s};
pub use boot_id::BootId;
pub use error::Error;
pub use payload::{CONTENT_TYPE, EXAMPLE_PAYLOAD, Heartbeat, MAX_BODY_LEN, MAX_TEXT_CHARS};
pub use reply::{
    DEFAULT_INTERVAL_S, MAX_INTERVAL_S, MIN_INTERVAL_S, Reply, StatusClass, clamp_interval_s,
    parse_reply,
};
pub use url::{HEARTBEAT_PATH, Scheme, ServerUrl, heartbeat_url, parse_server_url};
