//! `outage-render-plotters`: the weekly availability diagram of outage-monitor, drawn with
//! [plotters](https://docs.rs/plotters) — PNG for Telegram, SVG for the web panel.
//!
//! [`PlottersRenderer`] implements [`outage_core::DiagramRenderer`]: seven rows (the local days
//! Monday to Sunday of the monitor's time zone, DST-correct) against a 24-hour wall-clock axis,
//! bars coloured by state with a colour-blind-safe palette (Okabe–Ito; "no power" is also
//! hatched), the hours without power per day and for the week, a title with the location and
//! dates, and a legend, in English or Ukrainian. See the `render` module docs for how days of
//! 23 and 25 hours are drawn.
//!
//! Text uses DejaVu Sans embedded from the `dejavu` crate and registered with plotters'
//! `ab_glyph` backend: no system fonts or fontconfig are needed. The font's licence
//! (Bitstream Vera + Arev, permissive) is in this crate's `FONT-LICENSE` and must ship with
//! binaries that include this crate.
//!
//! The renderer registers itself as the `renderer` plugin named `plotters`; its optional
//! settings are [`PlottersConfig`]. It is CPU-bound (a few milliseconds per image in release
//! builds): call it from `spawn_blocking`.
//!
//! This crate draws only; it never depends on HTTP frameworks, HTTP clients or database
//! drivers. Its data come in a [`outage_core::render::WeekDiagram`].

mod config;
mod render;
mod text;

use std::sync::Arc;

use outage_core::DiagramRenderer;
use outage_core::registry::{Factory, PluginContext, PluginDescriptor, PluginError, PluginKind};

pub use config::{EXAMPLE_CONFIG, HEIGHT_RANGE, PlottersConfig, Theme, WIDTH_RANGE};
pub use render::{FONT_FAMILY, PlottersRenderer};

/// The plugin name.
pub const NAME: &str = "plotters";

/// Builds the renderer from its optional table (`Null`: defaults).
pub fn factory(ctx: &PluginContext<'_>) -> Result<Arc<dyn DiagramRenderer>, PluginError> {
    let config = PlottersConfig::from_value(ctx.table).map_err(|reason| PluginError::Config {
        section: format!("renderer.{NAME}"),
        reason,
    })?;
    let renderer = PlottersRenderer::new(config).map_err(|reason| PluginError::Config {
        section: format!("renderer.{NAME}"),
        reason,
    })?;
    Ok(Arc::new(renderer))
}

outage_core::inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Renderer,
        name: NAME,
        description: "Weekly availability diagrams with plotters: PNG for Telegram, SVG for the web (embedded DejaVu Sans).",
        example_config: EXAMPLE_CONFIG,
        factory: Factory::Renderer(factory),
    }
}
