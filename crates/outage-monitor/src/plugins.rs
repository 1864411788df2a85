//! Every plugin crate compiled into the binary. A plugin crate that nothing references is
//! dropped by the linker together with its `inventory` registration, so each is named here.

use outage_notify_telegram as _;
use outage_render_plotters as _;
use outage_source_http as _;
use outage_store_postgres as _;
use outage_store_sqlite as _;
use outage_web_admin as _;

use std::sync::Arc;

use outage_core::config::Config;
use outage_core::engine::Engine;
use outage_core::notify::Notifier;
use outage_core::render::DiagramRenderer;
use outage_core::store::{StatusStore, StoreError};

/// Checks `[admin]` as the panel would at start.
pub fn check_admin_config(cfg: &Config) -> anyhow::Result<()> {
    outage_web_admin::check_config(&cfg.admin).map_err(|e| anyhow::anyhow!("[admin] {e}"))
}

/// The admin panel for `serve`, or `None` when `[admin] enabled = false` or the store keeps no
/// users. Makes the first admin from `[admin] initial_password_file` when there is no user.
pub async fn admin_panel(
    cfg: &Config,
    store: Arc<dyn StatusStore>,
    engine: Engine,
    notifiers: Vec<Arc<dyn Notifier>>,
    renderer: Arc<dyn DiagramRenderer>,
) -> anyhow::Result<Option<outage_web_admin::Panel>> {
    if !cfg.admin.enabled {
        return Ok(None);
    }
    check_admin_config(cfg)?;
    match store.list_users().await {
        Err(StoreError::Unsupported(what)) => {
            tracing::warn!("admin panel off: {what} is not supported by this store yet");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    let panel = outage_web_admin::Panel::new(
        store,
        engine,
        notifiers,
        renderer,
        outage_web_admin::PanelSettings::from_config(cfg),
    );
    panel
        .ensure_first_user(cfg.admin.initial_password_file.as_deref())
        .await?;
    Ok(Some(panel))
}

/// Names of the plugins this binary must offer, checked by a test.
#[cfg(test)]
pub const EXPECTED: &[(&str, &str)] = &[
    ("notifier", "console"),
    ("notifier", "telegram"),
    ("panel", "admin"),
    ("renderer", "plotters"),
    ("source", "http"),
    ("store", "postgres"),
    ("store", "sqlite"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_plugin_crate_registered_its_descriptor() {
        let have: Vec<_> = outage_core::registry::all()
            .into_iter()
            .map(|d| (d.kind.as_str(), d.name))
            .collect();
        for want in super::EXPECTED {
            assert!(have.contains(want), "{want:?} missing from {have:?}");
        }
    }

    #[test]
    fn every_example_config_parses_as_part_of_a_config() {
        for d in outage_core::registry::all() {
            outage_core::config::Config::from_toml_str(d.example_config).unwrap_or_else(|e| {
                panic!(
                    "example config of {} {} does not parse: {e}",
                    d.kind.as_str(),
                    d.name
                )
            });
        }
    }
}
