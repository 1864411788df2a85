//! `outage-core`: the domain, the detection engine and the four plugin traits of outage-monitor.
//!
//! Devices send heartbeats; when they stop for a location's timeout the [`engine::Engine`]
//! declares an outage, writes it together with its notifications (the outbox) through a
//! [`StatusStore`], and a delivery worker hands them to [`Notifier`]s. Heartbeats arrive through
//! a [`HeartbeatSource`]; weekly diagrams are drawn by a [`DiagramRenderer`].
//!
//! This crate must never depend on an HTTP framework, an HTTP client or a database driver:
//! those live in plugin crates (`outage-source-http`, `outage-store-sqlite`, ...). It may
//! depend on tokio (timers, tasks) and on small pure-Rust utility crates.

#![deny(missing_docs)]

pub mod availability;
pub mod clock;
pub mod config;
pub mod device;
pub mod diagrams;
pub mod domain;
pub mod engine;
pub mod errors;
pub mod keys;
pub mod memory_store;
pub mod metrics;
pub mod notify;
pub mod registry;
pub mod render;
pub mod secret;
pub mod source;
pub mod store;
pub mod store_support;
pub mod text;
pub mod view;

pub use clock::{Clock, SystemClock, TokioClock};
pub use domain::*;
pub use notify::{Alert, AlertKind, Notifier, NotifyError};
pub use render::DiagramRenderer;
pub use source::{HeartbeatSink, HeartbeatSource};
pub use store::{StatusStore, StoreError};

/// Re-exported so plugin crates register descriptors with the same `inventory` version.
pub use inventory;
