//! `report` and `diagram render`: availability figures and weekly diagrams from the stored
//! state intervals.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{NaiveDate, Utc};
use outage_core::availability::{AvailabilityRow, Granularity, IsoWeek, Timeline, periods};
use outage_core::config::Config;
use outage_core::diagrams::{load_week, render_blocking};
use outage_core::registry::{self, Factory, PluginContext, PluginKind};
use outage_core::render::{DiagramRenderer, ImageFormat};
use outage_core::store::LocationRecord;

use crate::cli::{ReportBy, ReportFormat};
use crate::commands::{open_store, print_json, resolve};

/// Builds the configured diagram renderer (the `plotters` plugin with its optional
/// `[renderer.plotters]` table); used by `diagram render` and by `serve` for the read API.
pub fn renderer(cfg: &Config) -> Result<std::sync::Arc<dyn DiagramRenderer>> {
    let d = registry::find(PluginKind::Renderer, "plotters")?;
    let table = cfg.renderer.get("plotters").cloned().unwrap_or_default();
    match d.factory {
        Factory::Renderer(f) => Ok(f(&PluginContext {
            config: cfg,
            table: &table,
        })?),
        _ => bail!("plugin {} is not a renderer", d.name),
    }
}

/// `diagram render --location L [--week YYYY-Www] --out FILE.{png,svg}`.
pub async fn render_diagram(
    cfg: &Config,
    location: &str,
    week: Option<&str>,
    out: &Path,
) -> Result<()> {
    let format = match out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => ImageFormat::Png,
        Some("svg") => ImageFormat::Svg,
        _ => bail!("--out {} must end in .png or .svg", out.display()),
    };
    let tz = cfg.monitor.timezone;
    let now = Utc::now();
    let week: IsoWeek = match week {
        Some(w) => w.parse().map_err(|e| anyhow!("--week {w}: {e}"))?,
        None => IsoWeek::of_instant(now, tz),
    };
    let store = open_store(cfg).await?;
    let rec = resolve(&*store, location).await?;
    let diagram = load_week(&*store, &rec.location, week, tz, cfg.monitor.language, now).await?;
    let bytes = render_blocking(renderer(cfg)?, diagram, format).await?;
    std::fs::write(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "{} ({} bytes): \"{}\", week {week}",
        out.display(),
        bytes.len(),
        rec.location.name
    );
    Ok(())
}

/// `report --from --to [--location] [--by] --format csv|json`.
pub async fn report(
    cfg: &Config,
    from: NaiveDate,
    to: NaiveDate,
    location: Option<&str>,
    by: ReportBy,
    format: ReportFormat,
) -> Result<()> {
    if from > to {
        bail!("--from {from} is after --to {to}");
    }
    let tz = cfg.monitor.timezone;
    let granularity = match by {
        ReportBy::Day => Granularity::Day,
        ReportBy::Week => Granularity::Week,
        ReportBy::Month => Granularity::Month,
    };
    let ps = periods(tz, from, to, granularity);
    let (Some(first), Some(last)) = (ps.first(), ps.last()) else {
        bail!("the range {from}..{to} holds no whole period");
    };
    let store = open_store(cfg).await?;
    let locations: Vec<LocationRecord> = match location {
        Some(l) => vec![resolve(&*store, l).await?],
        None => store.list_locations().await?,
    };
    let now = Utc::now();
    let mut rows: Vec<(String, AvailabilityRow)> = Vec::new();
    for rec in &locations {
        let intervals = store
            .list_intervals(rec.location.id, first.start, last.end)
            .await?;
        let timeline = Timeline::new(&intervals, now);
        for a in timeline.report(&ps) {
            rows.push((rec.location.name.clone(), a.row()));
        }
    }
    match format {
        ReportFormat::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(name, row)| {
                    let mut v = serde_json::to_value(row).unwrap_or_default();
                    v["location"] = serde_json::json!(name);
                    v
                })
                .collect();
            print_json(&v);
        }
        ReportFormat::Csv => {
            println!("location,{}", AvailabilityRow::CSV_HEADER);
            for (name, row) in &rows {
                println!("{},{}", csv_field(name), row.csv_line());
            }
        }
    }
    Ok(())
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
