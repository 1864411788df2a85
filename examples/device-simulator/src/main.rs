//! `device-simulator`: the outage-monitor benchmark (a bench binary, not a test — it measures
//! and never asserts timing).
//!
//! One run:
//! 1. creates a fresh SQLite database with N locations whose keys it knows, through the
//!    library (`outage-store-sqlite`), and times that;
//! 2. starts the real `outage-monitor serve` on it as a child process (found next to this
//!    executable, or `--server-bin`) on a free loopback port and waits for `/readyz`;
//! 3. reads the server's idle memory, then drives the N devices open-loop at R heartbeats/s
//!    over a bounded set of keep-alive HTTP/1.1 connections (see [`load`]);
//! 4. stops a fraction of the devices while the rest keep beating, and measures how long after
//!    each deadline the outage was declared: from the `/metrics` histogram (bucket bound), from
//!    the stored events (exact) and from the console alerts the server printed (end to end);
//! 5. stops the server with SIGTERM, checks it exits within 5 s, and prints a summary.
//!
//! Build once, then run (see BENCHMARKS.md for the recorded runs):
//! ```text
//! cargo build --release -p outage-monitor -p device-simulator
//! target/release/device-simulator --devices 10000 --rate 10000 --duration 20s
//! ```
//!
//! The load generator runs on the same machine as the server and shares its cores.

mod http;
mod load;
mod prepare;
mod server;
mod stats;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Parser;

use crate::load::{LoadReport, Phase, Plan};
use crate::server::{Memory, Server};
use crate::stats::{Histogram, quantile_f64};

/// Drive N simulated devices against a real `outage-monitor serve` over loopback and report
/// heartbeats/s, latency, detection delay and the server's memory.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Simulated devices (= locations created).
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Aggregate heartbeats per second [default: min(devices, 10000)]; a device beats at most
    /// once a second, so this is capped at `devices`.
    #[arg(long)]
    rate: Option<f64>,
    /// Length of the steady phase (after the warm-up round).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Keep-alive connections, i.e. requests in flight at most (capped at `devices`).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Heartbeat timeout of every location [default: max(3 × beat period, 10 s)].
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Fraction of devices stopped to measure detection (0 skips the detection phase).
    #[arg(long, default_value_t = 0.01)]
    stop_fraction: f64,
    /// How long the others keep beating after the last stopped device's deadline.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    detect_margin: Duration,
    /// Idle time between readiness and the idle memory reading.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    idle: Duration,
    /// Client-side limit per request.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// Longest wait for `/readyz` after starting the server.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    ready_timeout: Duration,
    /// The `outage-monitor` binary [default: next to this executable].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Keep the database and the server log in this directory (must not hold a previous
    /// run's database) [default: a temporary directory, removed afterwards].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Warm up closed-loop: every device beats once, as fast as the server answers, before
    /// the paced schedule starts (measures how fast a restarted monitor absorbs its fleet).
    /// The timeout must exceed the warm-up time plus the beat period.
    #[arg(long)]
    closed_warmup: bool,
    /// Longest closed warm-up.
    #[arg(long, default_value = "600s", value_parser = humantime::parse_duration)]
    warmup_limit: Duration,
    /// Threads of the simulator's runtime (the server uses its own default).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .context("cannot build the tokio runtime")?;
    rt.block_on(run(args))
}

/// Everything the summary shows.
struct Outcome {
    devices: usize,
    rate: f64,
    timeout: Duration,
    connections: usize,
    create_time: Duration,
    ready_time: Duration,
    idle: Memory,
    after_warmup_rss_kib: Option<u64>,
    end: Memory,
    load: LoadReport,
    plan: Plan,
    detection: Option<Detection>,
    received_total: Option<f64>,
    stopped: server::Stopped,
    log_problems: (usize, Vec<String>),
    /// 1-minute load average before and after the load.
    load_avg: (Option<f64>, Option<f64>),
    /// Database size (main file + WAL) before the load and after the server stopped.
    db_bytes: (u64, u64),
}

/// Detection-delay figures.
struct Detection {
    stopped: usize,
    histogram: Histogram,
    /// Exact delays (s) from stored events: detected_at − (started_at + timeout), sorted.
    exact: Vec<f64>,
    /// End-to-end delays (s) to the console alert line, sorted.
    alert: Vec<f64>,
    missed: usize,
    false_outages: usize,
}

async fn run(args: Args) -> Result<()> {
    let n = args.devices;
    if n == 0 {
        bail!("--devices must be at least 1");
    }
    let rate = args.rate.unwrap_or(n.min(10_000) as f64);
    if !(rate.is_finite() && rate > 0.0) {
        bail!("--rate must be a positive number");
    }
    let rate = if rate > n as f64 {
        eprintln!("note: a device beats at most once a second: --rate capped at {n}");
        n as f64
    } else {
        rate
    };
    if !(0.0..=1.0).contains(&args.stop_fraction) {
        bail!("--stop-fraction must be between 0 and 1");
    }
    let period = Duration::from_secs_f64(n as f64 / rate);
    let timeout = args.timeout.unwrap_or_else(|| {
        Duration::from_secs((period.as_secs_f64() * 3.0).ceil().max(10.0) as u64)
    });
    if timeout <= period {
        bail!(
            "--timeout {timeout:?} is not longer than the beat period {period:?}: every device \
             would be declared down"
        );
    }
    let connections = args.connections.clamp(1, n);
    let bin = server::locate_binary(args.server_bin.as_deref())?;

    let (_tmp, dir) = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
            (None, std::path::absolute(d).context("absolute work dir")?)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("device-simulator-")
                .tempdir()
                .context("create a temporary directory")?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let db = dir.join("bench.db");
    if db.exists() {
        bail!(
            "{} already exists: use an empty --work-dir (results need a fresh database)",
            db.display()
        );
    }

    eprintln!(
        "device-simulator: {n} devices, {rate} beats/s (every {:.2} s each), timeout {}, \
         {connections} connections, server {}",
        period.as_secs_f64(),
        humantime::format_duration(timeout),
        bin.display()
    );
    eprintln!("[1/5] creating {n} locations in {}", db.display());
    let fleet = prepare::create(&db, n, timeout).await?;
    eprintln!(
        "  {n} locations in {:.2} s ({:.0}/s)",
        fleet.create_time.as_secs_f64(),
        n as f64 / fleet.create_time.as_secs_f64().max(1e-9)
    );

    let addr = server::free_port()?;
    eprintln!("[2/5] starting {} serve on {addr}", bin.display());
    let mut srv = Server::start(
        &bin,
        &prepare::store_url(&db),
        addr,
        &dir.join("server.log"),
    )?;
    let ready_time = srv.wait_ready(args.ready_timeout).await?;
    eprintln!("  ready after {:.2} s", ready_time.as_secs_f64());
    tokio::time::sleep(args.idle).await;
    let idle = server::memory(srv.pid())?;
    eprintln!(
        "  idle: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        mib(idle.rss_kib),
        mib(idle.hwm_kib)
    );
    let metrics_before = scrape(&srv).await?;

    let stopped_flags = choose_stopped(n, args.stop_fraction);
    let stopped_count = stopped_flags.iter().filter(|s| **s).count();
    let plan = Plan {
        devices: n,
        rate,
        steady: args.duration,
        detect: if stopped_count > 0 {
            timeout + args.detect_margin
        } else {
            Duration::ZERO
        },
        stopped: Arc::new(stopped_flags),
        connections,
        request_timeout: args.request_timeout,
        overrun: Duration::from_secs(30),
        closed_warmup: args.closed_warmup,
        warmup_limit: args.warmup_limit,
    };
    eprintln!(
        "[3/5] load: warm-up {}, steady {:.1} s, detect {:.1} s ({stopped_count} devices stop)",
        if plan.closed_warmup {
            "closed-loop".to_string()
        } else {
            format!("{:.1} s", plan.period().as_secs_f64())
        },
        plan.steady.as_secs_f64(),
        plan.detect.as_secs_f64()
    );
    let load_before = server::load_average();
    let db_before = db_size(&db);
    let report = load::run(&plan, srv.addr, srv.pid(), &fleet.keys).await?;
    let end = server::memory(srv.pid())?;
    let load_after = server::load_average();

    eprintln!("[4/5] reading /metrics");
    let metrics_after = scrape(&srv).await?;
    let histogram = parse_histogram(&metrics_after, "outage_detection_delay_seconds").since(
        &parse_histogram(&metrics_before, "outage_detection_delay_seconds"),
    );
    let received_total = parse_value(&metrics_after, "outage_heartbeats_received_total");
    let alerts = srv.alerts.lock().unwrap_or_else(|p| p.into_inner()).clone();

    eprintln!("[5/5] stopping the server (SIGTERM)");
    let log = srv.log.clone();
    let stopped = srv.stop(Duration::from_secs(5)).await?;
    let log_problems = server::log_problems(&log, 5);
    let db_after = db_size(&db);

    let detection = if stopped_count > 0 {
        let events = prepare::outages(&db, u32::try_from(n.max(1000)).unwrap_or(u32::MAX)).await?;
        Some(analyse_detection(
            &events,
            &fleet,
            &plan,
            timeout,
            report.stop_wall,
            histogram,
            &alerts,
        ))
    } else {
        None
    };

    let warm = report.window(Phase::Warmup);
    let after_warmup_rss_kib = report.max_rss(warm.0, warm.1);
    if plan.closed_warmup && warm.1 - warm.0 + period >= timeout {
        eprintln!(
            "WARNING: the closed warm-up took {:.1} s: with a {:.1} s beat period, devices warmed \
             first went more than the {} timeout without a beat (expect false outages)",
            (warm.1 - warm.0).as_secs_f64(),
            period.as_secs_f64(),
            humantime::format_duration(timeout)
        );
    }
    print_summary(&Outcome {
        devices: n,
        rate,
        timeout,
        connections,
        create_time: fleet.create_time,
        ready_time,
        idle,
        after_warmup_rss_kib,
        end,
        load: report,
        plan,
        detection,
        received_total,
        stopped,
        log_problems,
        load_avg: (load_before, load_after),
        db_bytes: (db_before, db_after),
    });
    if args.work_dir.is_some() {
        eprintln!("database and server log kept in {}", dir.display());
    }
    Ok(())
}

/// Bytes of the database file and its WAL.
fn db_size(db: &std::path::Path) -> u64 {
    let wal = db.with_extension("db-wal");
    [db, wal.as_path()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Evenly spread devices that stop: `round(n · fraction)` of them, at least one when the
/// fraction is positive.
fn choose_stopped(n: usize, fraction: f64) -> Vec<bool> {
    if fraction <= 0.0 {
        return vec![false; n];
    }
    let count = ((n as f64 * fraction).round() as usize).clamp(1, n);
    let stride = n / count;
    (0..n)
        .map(|i| i % stride == 0 && i / stride < count)
        .collect()
}

async fn scrape(srv: &Server) -> Result<String> {
    let r = http::get(srv.addr, "/metrics", Duration::from_secs(10)).await?;
    if !r.status.is_success() {
        bail!("GET /metrics answered {}", r.status);
    }
    Ok(String::from_utf8_lossy(&r.body).into_owned())
}

/// The cumulative buckets of histogram `name` in Prometheus text.
fn parse_histogram(text: &str, name: &str) -> Histogram {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (le, rest) = rest.split_once("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.trim().parse().ok()?))
        })
        .collect();
    Histogram { buckets }
}

/// The value of an unlabelled sample `name` in Prometheus text.
fn parse_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

fn analyse_detection(
    events: &[outage_core::PowerEvent],
    fleet: &prepare::Fleet,
    plan: &Plan,
    timeout: Duration,
    stop_wall: SystemTime,
    histogram: Histogram,
    alerts: &HashMap<String, SystemTime>,
) -> Detection {
    let timeout = chrono::TimeDelta::from_std(timeout).unwrap_or(chrono::TimeDelta::MAX);
    let mut exact = Vec::new();
    let mut alert = Vec::new();
    let mut detected = vec![false; plan.devices];
    let mut false_outages = 0;
    for e in events {
        let Some(&i) = fleet.index_of.get(&e.location_id) else {
            continue;
        };
        // An outage of a device that kept beating, or declared before the stop, is false.
        if !plan.stopped.get(i).copied().unwrap_or(false)
            || e.detected_at < DateTime::<Utc>::from(stop_wall)
        {
            false_outages += 1;
            continue;
        }
        let Some(started) = e.started_at else {
            continue;
        };
        detected[i] = true;
        let deadline = started + timeout;
        exact.push(secs(e.detected_at - deadline));
        if let Some(&seen) = alerts.get(&prepare::device_name(i)) {
            alert.push(secs(DateTime::<Utc>::from(seen) - deadline));
        }
    }
    exact.sort_by(f64::total_cmp);
    alert.sort_by(f64::total_cmp);
    let stopped = plan.stopped.iter().filter(|s| **s).count();
    let missed = plan
        .stopped
        .iter()
        .zip(&detected)
        .filter(|(s, d)| **s && !**d)
        .count();
    Detection {
        stopped,
        histogram,
        exact,
        alert,
        missed,
        false_outages,
    }
}

fn secs(d: chrono::TimeDelta) -> f64 {
    d.num_microseconds().map_or(f64::NAN, |us| us as f64 / 1e6)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

fn opt_s(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

fn print_summary(o: &Outcome) {
    let plan = &o.plan;
    println!();
    println!("== phases ==");
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>21}",
        "phase",
        "window s",
        "sent",
        "ok/s",
        "errors",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "svc p99",
        "client lag",
        "CPU srv/sim/oth/steal"
    );
    for p in Phase::ALL {
        let s = o.load.phase(p);
        let w = o.load.window(p);
        if w.1 <= w.0 {
            continue;
        }
        let cpu = o.load.cpu_share(w.0, w.1).map_or("-".into(), |c| {
            format!(
                "{:.2}/{:.2}/{:.2}/{:.2}",
                c.server, c.simulator, c.others, c.steal
            )
        });
        println!(
            "{:<8} {:>9} {:>9} {:>9.0} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>21}",
            p.name(),
            format!("{:.1}", (w.1 - w.0).as_secs_f64()),
            s.sent,
            s.achieved_rate(w),
            s.error_count(),
            ms(s.response.quantile(0.5)),
            ms(s.response.quantile(0.99)),
            ms(s.response.quantile(0.999)),
            ms(s.response.max()),
            ms(s.service.quantile(0.99)),
            ms(Some(s.max_lag)),
            cpu
        );
        for (kind, count) in &s.errors {
            println!("           {count} × {kind}");
        }
    }
    println!(
        "latency = due time → full reply (open loop); svc = send → reply; client lag = worst \
         send delay behind schedule; CPU in cores (server / simulator / other processes / hypervisor steal)"
    );
    // Over the whole load (every phase), so a backlog carried across phase boundaries does
    // not skew it.
    let all_ok: u64 = Phase::ALL.iter().map(|p| o.load.phase(*p).ok).sum();
    if let Some(c) = o.load.cpu_share(Duration::ZERO, Duration::MAX)
        && all_ok > 0
        && let (Some(first), Some(last)) = (o.load.samples.first(), o.load.samples.last())
    {
        let wall = (last.at - first.at).as_secs_f64();
        let per_beat = |cores: f64| cores * wall / all_ok as f64;
        println!(
            "CPU per heartbeat over the whole load: server {:.0} µs, simulator {:.0} µs \
             (so 10 000 beats/s need {:.2} server cores)",
            per_beat(c.server) * 1e6,
            per_beat(c.simulator) * 1e6,
            per_beat(c.server) * 10_000.0
        );
    }
    if o.load.unsent > 0 {
        println!(
            "UNSENT: {} beats dropped after the hard time limit",
            o.load.unsent
        );
    }
    println!(
        "connections opened: {} (of {}); heartbeats counted by the server: {}",
        o.load.connections_opened,
        o.connections,
        o.received_total.map_or("-".into(), |v| format!("{v:.0}"))
    );

    let steady = o.load.phase(Phase::Steady);
    let steady_w = o.load.window(Phase::Steady);
    let peak_sampled = o.load.max_rss(Duration::ZERO, Duration::MAX).unwrap_or(0);
    println!();
    println!("== detection ==");
    match &o.detection {
        None => println!("skipped (--stop-fraction 0)"),
        Some(d) => {
            println!(
                "stopped {} devices; outages found {} (missed {}), false outages {}",
                d.stopped,
                d.exact.len(),
                d.missed,
                d.false_outages
            );
            println!(
                "delay after deadline, s: metrics histogram n={} p50≤{} p99≤{}; \
                 stored events p50={} p99={} max={}; console alert ({} of {} printed before the \
                 stop) p50={} p99={} max={}",
                d.histogram.count(),
                opt_s(d.histogram.quantile_upper_bound(0.5)),
                opt_s(d.histogram.quantile_upper_bound(0.99)),
                opt_s(quantile_f64(&d.exact, 0.5)),
                opt_s(quantile_f64(&d.exact, 0.99)),
                opt_s(d.exact.last().copied()),
                d.alert.len(),
                d.exact.len(),
                opt_s(quantile_f64(&d.alert, 0.5)),
                opt_s(quantile_f64(&d.alert, 0.99)),
                opt_s(d.alert.last().copied()),
            );
        }
    }

    println!();
    println!("== memory and lifecycle ==");
    println!(
        "create {} locations: {:.2} s; server ready after {:.2} s",
        o.devices,
        o.create_time.as_secs_f64(),
        o.ready_time.as_secs_f64()
    );
    println!(
        "server RSS: idle {:.1} MiB (VmHWM {:.1}); after warm-up {}; max sampled under load \
         {:.1} MiB; at end {:.1} MiB; VmHWM at end {:.1} MiB",
        mib(o.idle.rss_kib),
        mib(o.idle.hwm_kib),
        o.after_warmup_rss_kib
            .map_or("-".into(), |k| format!("{:.1} MiB", mib(k))),
        mib(peak_sampled),
        mib(o.end.rss_kib),
        mib(o.end.hwm_kib)
    );
    match o.stopped.status {
        Some(s) => println!(
            "SIGTERM → exit in {:.2} s ({s}); within 5 s: {}",
            o.stopped.took.as_secs_f64(),
            if o.stopped.took <= Duration::from_secs(5) {
                "yes"
            } else {
                "NO"
            }
        ),
        None => println!("SIGTERM: server did NOT exit within 5 s (killed)"),
    }
    println!(
        "database: {:.1} MiB before the load, {:.1} MiB after (file + WAL)",
        o.db_bytes.0 as f64 / 1048576.0,
        o.db_bytes.1 as f64 / 1048576.0
    );
    println!(
        "machine: {} cores, 1-min load average {} before the load, {} after",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.load_avg.0.map_or("-".into(), |v| format!("{v:.2}")),
        o.load_avg.1.map_or("-".into(), |v| format!("{v:.2}"))
    );
    println!(
        "server stdout lines: {}; server log WARN/ERROR lines: {}",
        o.stopped.stdout_lines, o.log_problems.0
    );
    for l in &o.log_problems.1 {
        println!("  {l}");
    }

    println!();
    println!("== summary ==");
    let det_p99 = o.detection.as_ref().map_or("-".into(), |d| {
        format!(
            "≤{} (exact {})",
            opt_s(d.histogram.quantile_upper_bound(0.99)),
            opt_s(quantile_f64(&d.exact, 0.99))
        )
    });
    let errors: u64 = Phase::ALL
        .iter()
        .map(|p| o.load.phase(*p).error_count())
        .sum::<u64>()
        + o.load.unsent;
    println!(
        "| N | target/s | achieved/s (steady) | p50 ms | p99 ms | max ms | errors | detection p99 s | RSS idle MiB | RSS peak MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {:.1} | {:.1} |",
        o.devices,
        o.rate,
        steady.achieved_rate(steady_w),
        ms(steady.response.quantile(0.5)),
        ms(steady.response.quantile(0.99)),
        ms(steady.response.max()),
        errors,
        det_p99,
        mib(o.idle.rss_kib),
        mib(peak_sampled.max(o.end.hwm_kib)),
    );
    println!(
        "(timeout {}, {} connections, steady {:.0} s; latency of the steady phase, due → reply)",
        humantime::format_duration(o.timeout),
        o.connections,
        plan.steady.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_devices_are_spread_and_counted() {
        let s = choose_stopped(1000, 0.01);
        assert_eq!(s.iter().filter(|x| **x).count(), 10);
        assert!(s[0] && s[100] && !s[1]);
        assert_eq!(choose_stopped(10, 0.01).iter().filter(|x| **x).count(), 1);
        assert!(choose_stopped(10, 0.0).iter().all(|x| !*x));
        assert_eq!(choose_stopped(7, 1.0).iter().filter(|x| **x).count(), 7);
    }

    #[test]
    fn parses_prometheus_text() {
        let text = "# HELP x\n\
            outage_detection_delay_seconds_bucket{le=\"0.5\"} 3\n\
            outage_detection_delay_seconds_bucket{le=\"1\"} 4\n\
            outage_detection_delay_seconds_bucket{le=\"+Inf\"} 4\n\
            outage_heartbeats_received_total 1234\n\
            outage_heartbeats_received_total_other 1\n";
        let h = parse_histogram(text, "outage_detection_delay_seconds");
        assert_eq!(h.count(), 4);
        assert_eq!(h.quantile_upper_bound(0.99), Some(1.0));
        assert_eq!(
            parse_value(text, "outage_heartbeats_received_total"),
            Some(1234.0)
        );
    }
}
