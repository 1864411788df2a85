//! What every page handler reads: the store, the engine, the notifiers, the renderer, the clock,
//! the settings and the login throttle. [`crate::panel::Panel`] owns it; the routes and views
//! borrow it, so they never import the panel.

use std::sync::Arc;

use outage_core::clock::SharedClock;
use outage_core::engine::Engine;
use outage_core::notify::Notifier;
use outage_core::render::DiagramRenderer;
use outage_core::store::StatusStore;

use crate::auth::Throttle;
use crate::config::PanelSettings;

pub(crate) struct Inner {
    pub store: Arc<dyn StatusStore>,
    pub engine: Engine,
    pub notifiers: Vec<Arc<dyn Notifier>>,
    pub renderer: Arc<dyn DiagramRenderer>,
    pub clock: SharedClock,
    pub settings: PanelSettings,
    pub throttle: Throttle,
}
