//! Writes the sample diagrams (PNG and SVG) into a directory, e.g. the book's images:
//!
//! ```sh
//! cargo run --release -p outage-render-plotters --example render_samples -- book/src/images
//! ```

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use outage_core::DiagramRenderer;
use outage_core::render::{ImageFormat, Language};
use outage_render_plotters::{PlottersConfig, PlottersRenderer, Theme};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let light = PlottersRenderer::default();
    let dark = PlottersRenderer::new(PlottersConfig {
        theme: Theme::Dark,
        ..PlottersConfig::default()
    })?;
    let large = PlottersRenderer::new(PlottersConfig {
        width: 1920,
        height: 1080,
        theme: Theme::Dark,
    })?;
    let samples = [
        ("diagram-quiet-week-en", common::quiet_week(), &light),
        ("diagram-bad-week-uk", common::bad_week(), &light),
        (
            "diagram-spring-dst-en",
            common::spring_dst_week(Language::En),
            &light,
        ),
        (
            "diagram-autumn-dst-uk",
            common::autumn_dst_week(Language::Uk),
            &dark,
        ),
        (
            "diagram-bad-week-uk-1920x1080-dark",
            common::bad_week(),
            &large,
        ),
    ];
    for (name, week, renderer) in samples {
        for (format, ext) in [(ImageFormat::Png, "png"), (ImageFormat::Svg, "svg")] {
            let bytes = renderer.render(&week, format)?;
            let path = dir.join(format!("{name}.{ext}"));
            std::fs::write(&path, &bytes)?;
            println!("{} ({} bytes)", path.display(), bytes.len());
        }
    }
    Ok(())
}
