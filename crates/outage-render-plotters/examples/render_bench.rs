//! Rendering benchmark: time per weekly PNG and SVG, and peak memory.
//!
//! ```sh
//! cargo run --release -p outage-render-plotters --example render_bench -- [ITERATIONS]
//! ```
//!
//! Renders the "bad week" sample (many outages, Ukrainian text) ITERATIONS times (default 300)
//! per format after a warm-up, and prints mean / p50 / p99 / max per render, the output size,
//! and the process's peak resident set size (`VmHWM` from `/proc/self/status`, Linux only).
//! It measures and prints; it asserts nothing.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use outage_core::DiagramRenderer;
use outage_core::render::ImageFormat;
use outage_render_plotters::PlottersRenderer;

fn proc_status(field: &str) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim_start_matches(':').trim().to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iterations: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 300,
    };
    let renderer = PlottersRenderer::default();
    let week = common::bad_week();
    println!(
        "render_bench: {} iterations per format, {}x{} px, profile {}",
        iterations,
        renderer.config().width,
        renderer.config().height,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    for (format, name) in [(ImageFormat::Png, "PNG"), (ImageFormat::Svg, "SVG")] {
        let mut size = 0;
        for _ in 0..10 {
            size = renderer.render(&week, format)?.len();
        }
        let mut times = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let t = Instant::now();
            let out = renderer.render(&week, format)?;
            times.push(t.elapsed());
            std::hint::black_box(out);
        }
        times.sort();
        let mean = times.iter().sum::<Duration>() / iterations.max(1) as u32;
        println!(
            "{name}: mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} bytes",
            mean.as_secs_f64() * 1e3,
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            size
        );
    }
    match (proc_status("VmHWM"), proc_status("VmRSS")) {
        (Some(hwm), Some(rss)) => println!("peak RSS (VmHWM): {hwm}; current RSS: {rss}"),
        _ => println!("peak RSS: unavailable (no /proc/self/status)"),
    }
    Ok(())
}
