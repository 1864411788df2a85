//! `report` and `diagram render`: availability figures and weekly diagrams from the stored
//! state intervals.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{NaiveDate, Utc};
use outage_core::availability::{AvailabilityRow, Granularity, IsoWeek, Timeline, periods};
use outage_core::config::Config;
use outage_core::diagrams::{load_week, render_blocking};
use outage_core::registry;
use outage_core::render::ImageFormat;
use outage_core::store::LocationRecord;

use super::json::availability_json;
use crate::cli::{ReportBy, ReportFormat};
use crate::context::{open_existing_store, print_json, resolve};

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
    let store = open_existing_store(cfg).await?;
    let rec = resolve(&*store, location).await?;
    let diagram = load_week(&*store, &rec.location, week, tz, cfg.monitor.language, now).await?;
    let bytes = render_blocking(registry::build_renderer(cfg)?, diagram, format).await?;
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
    if (to - from).num_days() > MAX_REPORT_DAYS {
        bail!(
            "--from {from} --to {to} spans more than {MAX_REPORT_DAYS} days; report at most about \
             ten years at a time"
        );
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
    let store = open_existing_store(cfg).await?;
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
                .map(|(name, row)| availability_json(row, name))
                .collect();
            print_json(&v);
        }
        ReportFormat::Csv => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = writeln!(out, "location,{}", AvailabilityRow::CSV_HEADER)
                .and_then(|()| {
                    rows.iter().try_for_each(|(name, row)| {
                        writeln!(out, "{},{}", csv_field(name), row.csv_line())
                    })
                })
                .and_then(|()| out.flush());
            match written {
                // `report … | head`: the reader has what it wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                r => r.context("cannot write the report")?,
            }
        }
    }
    Ok(())
}

/// The longest range `report` accepts (the read API has the same limit).
const MAX_REPORT_DAYS: i64 = 3700;

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
