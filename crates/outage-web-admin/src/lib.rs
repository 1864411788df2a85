//! `outage-web-admin`: the web admin panel of outage-monitor, served under `/admin/` on the
//! HTTP source's listener.
//!
//! Server-rendered pages (sailfish templates, Tailwind CSS compiled at development time and
//! embedded) that work without JavaScript: login, the locations list with live badges (a small
//! external polling script), create / edit / delete / pause / resume, the weekly diagram and
//! outage table, device set-up, notifiers with a test alert, users. Every read and write goes
//! through [`StatusStore`](outage_core::StatusStore); writes then call
//! [`Engine::reload_location`](outage_core::engine::Engine::reload_location) so they take effect
//! at once.
//!
//! Security (see [`auth`]): argon2id passwords, server-side sessions whose cookie holds a random
//! token and the store only its SHA-256, a CSRF token on every form checked on every POST, login
//! throttling per client address and per user name, strict response headers (CSP without inline
//! script). Role `viewer` sees everything but keys and gets `403` on every write.
//!
//! This crate must never depend on another plugin crate (the HTTP source, a store, a notifier
//! or a renderer): it is handed what it needs as `outage-core` trait objects, and the binary's
//! `plugins.rs` builds its [`Panel`] and mounts [`Panel::router`].

pub mod auth;
pub mod config;
mod i18n;
mod pages;
mod panel;
mod routes;
mod state;
mod views;

pub use config::{PanelSettings, check_config};
pub use panel::{Panel, PanelError};

use outage_core::registry::{Factory, PluginContext, PluginDescriptor, PluginError, PluginKind};

/// Example `[admin]` section shown by `plugins list`.
const EXAMPLE_CONFIG: &str = "[admin]\n\
enabled = true\n\
session_ttl = \"7days\"\n\
secure_cookies = false\n";

fn factory(ctx: &PluginContext<'_>) -> Result<(), PluginError> {
    check_config(&ctx.config.admin).map_err(|reason| PluginError::Config {
        section: "admin".into(),
        reason,
    })
}

outage_core::inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Panel,
        name: "admin",
        description: "Web admin panel under /admin/: locations, history, device set-up, users (salvo + sailfish + Tailwind).",
        example_config: EXAMPLE_CONFIG,
        factory: Factory::Panel(factory),
    }
}

#[cfg(test)]
mod tests {
    use outage_core::registry::{self, PluginKind};

    #[test]
    fn registered_as_the_admin_panel_and_its_example_parses() {
        let d = registry::find(PluginKind::Panel, "admin");
        assert!(d.is_ok(), "{:?}", d.err());
        let cfg = outage_core::config::Config::from_toml_str(super::EXAMPLE_CONFIG);
        assert!(cfg.is_ok(), "{:?}", cfg.err());
    }
}
