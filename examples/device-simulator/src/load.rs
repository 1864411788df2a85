//! The open-loop load: N devices beating at an aggregate rate R over a bounded set of
//! keep-alive connections.
//!
//! # Schedule
//! Beat `k` (k = 0, 1, 2, …) is due at `t0 + k / R` and belongs to device `k mod N`, so every
//! device beats once every `N / R` seconds and the beats of the fleet are spread evenly. The
//! schedule never depends on responses (open loop): connection `w` of `C` owns the beats with
//! `k mod C = w` and sends each at its due time, or at once if it is late. Latency is reported
//! both as *service time* (send → response) and as *response time* (due → response), which
//! includes any time a beat waited for its connection; the latter does not hide a slow server
//! behind a slowed-down client ("coordinated omission").
//!
//! # Phases
//! 1. **warm-up**: each device's first beat. For the engine every one of them is a state change
//!    (`unknown → up`) written synchronously to the store — what a restarted monitor faces.
//!    Open (default): the first round of the schedule above (`k < N`). Closed
//!    (`Plan::closed_warmup`): before the schedule starts, every device beats once, each
//!    connection sending its next first beat as soon as the previous one is answered; this
//!    measures how fast the server absorbs a fleet after a restart, and lets the steady phase
//!    start on a settled server. The timeout must then exceed the warm-up time plus the beat
//!    period, or the first devices are declared down before their second beat.
//! 2. **steady**: `duration` of ordinary beats.
//! 3. **detect**: a chosen set of devices stops; the rest keep beating for the timeout plus a
//!    margin, so outages are detected under load.
//!
//! Every loop is bounded: by the schedule's end (or the fleet, for a closed warm-up), and by a
//! hard wall-clock limit after which remaining beats are counted as unsent instead of sent.
//!
//! All times in the report are relative to the start of the run (`origin`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use tokio::time::Instant;

use crate::http::Conn;
use crate::server::{self, Memory};
use crate::stats::Samples;

/// How often the server's memory and CPU are sampled during the load.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// A progress line is printed every this many samples.
const PROGRESS_EVERY_SAMPLES: u32 = 20;

/// Delay between planning and the first beat, so every connection is open before it.
const LEAD_IN: Duration = Duration::from_millis(500);

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Simulated devices.
    pub devices: usize,
    /// Aggregate heartbeats per second.
    pub rate: f64,
    /// Length of the steady phase.
    pub steady: Duration,
    /// Length of the detection phase (zero: none).
    pub detect: Duration,
    /// `stopped[i]`: device `i` stops beating when the detection phase begins.
    pub stopped: Arc<Vec<bool>>,
    /// Keep-alive connections (= requests in flight at most).
    pub connections: usize,
    /// Client-side limit per request.
    pub request_timeout: Duration,
    /// How long past the schedule's end the run may last before remaining beats are dropped.
    pub overrun: Duration,
    /// Warm up closed-loop before the schedule (see the module documentation).
    pub closed_warmup: bool,
    /// Longest closed warm-up before its remaining beats are dropped.
    pub warmup_limit: Duration,
}

impl Plan {
    /// Seconds between two beats of one device.
    pub fn period(&self) -> Duration {
        Duration::from_secs_f64(self.devices as f64 / self.rate)
    }

    /// Index of the first scheduled beat: the closed warm-up already sent the first round.
    fn first_k(&self) -> u64 {
        if self.closed_warmup {
            self.devices as u64
        } else {
            0
        }
    }

    /// Due time of beat `k` relative to the schedule start `t0`.
    fn due(&self, k: u64) -> Duration {
        Duration::from_secs_f64((k - self.first_k()) as f64 / self.rate)
    }

    /// Start of the steady phase relative to `t0`.
    pub fn steady_start(&self) -> Duration {
        if self.closed_warmup {
            Duration::ZERO
        } else {
            self.period()
        }
    }

    /// When the chosen devices stop (relative to `t0`).
    pub fn stop_at(&self) -> Duration {
        self.steady_start() + self.steady
    }

    /// End of the schedule (relative to `t0`).
    pub fn end(&self) -> Duration {
        self.stop_at() + self.detect
    }

    /// The phase of beat `k`, due at `at`.
    fn phase(&self, k: u64, at: Duration) -> Phase {
        if k < self.devices as u64 {
            Phase::Warmup
        } else if at < self.stop_at() {
            Phase::Steady
        } else {
            Phase::Detect
        }
    }
}

/// A phase of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// First beat of every device.
    Warmup,
    /// Ordinary beats.
    Steady,
    /// Some devices stopped; the others keep beating.
    Detect,
}

impl Phase {
    /// All phases in order.
    pub const ALL: [Phase; 3] = [Phase::Warmup, Phase::Steady, Phase::Detect];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Warmup => "warm-up",
            Phase::Steady => "steady",
            Phase::Detect => "detect",
        }
    }

    fn index(self) -> usize {
        match self {
            Phase::Warmup => 0,
            Phase::Steady => 1,
            Phase::Detect => 2,
        }
    }
}

/// What one phase measured.
#[derive(Debug, Default, Clone)]
pub struct PhaseStats {
    /// Requests sent.
    pub sent: u64,
    /// `200` replies with the expected body.
    pub ok: u64,
    /// Failures by kind (`HTTP 503`, `timeout`, `connection`, …).
    pub errors: BTreeMap<String, u64>,
    /// Send → full response.
    pub service: Samples,
    /// Due time → full response.
    pub response: Samples,
    /// Largest delay between a beat's due time and its send.
    pub max_lag: Duration,
    /// Completion of the last request (relative to the run's start).
    pub last_done: Duration,
}

impl PhaseStats {
    fn merge(&mut self, o: &PhaseStats) {
        self.sent += o.sent;
        self.ok += o.ok;
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.service.merge(&o.service);
        self.response.merge(&o.response);
        self.max_lag = self.max_lag.max(o.max_lag);
        self.last_done = self.last_done.max(o.last_done);
    }

    /// All failures.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Successful beats per second over the phase: from its start to the later of its end and
    /// its last completion (so a backlog drained after the window counts against it).
    pub fn achieved_rate(&self, window: (Duration, Duration)) -> f64 {
        let span = self.last_done.max(window.1).saturating_sub(window.0);
        if span.is_zero() {
            0.0
        } else {
            self.ok as f64 / span.as_secs_f64()
        }
    }

    /// Sorts the samples for quantiles.
    pub fn finish(&mut self) {
        self.service.finish();
        self.response.finish();
    }
}

/// One reading of the server's (and the simulator's) resources.
#[derive(Debug, Clone, Copy)]
pub struct ResourceSample {
    /// Relative to the run's start.
    pub at: Duration,
    /// Server memory.
    pub mem: Memory,
    /// Server CPU time so far.
    pub server_cpu: Duration,
    /// Simulator CPU time so far.
    pub self_cpu: Duration,
    /// CPU time of the whole machine so far (all processes, all cores).
    pub machine_cpu: server::MachineCpu,
}

/// CPU use over a window, in cores (1.0 = one core busy all the time).
#[derive(Debug, Clone, Copy)]
pub struct CpuShare {
    /// The server process.
    pub server: f64,
    /// This simulator.
    pub simulator: f64,
    /// Every other process on the machine.
    pub others: f64,
    /// Stolen by the hypervisor (the virtual cores wanted to run but did not).
    pub steal: f64,
}

/// What the whole load measured.
#[derive(Debug)]
pub struct LoadReport {
    /// Per phase, in [`Phase::ALL`] order.
    pub phases: Vec<PhaseStats>,
    /// Beats not sent because the run passed its hard limit.
    pub unsent: u64,
    /// Connections opened (equal to the connection count when keep-alive held).
    pub connections_opened: u64,
    /// Resource readings, oldest first.
    pub samples: Vec<ResourceSample>,
    /// `[start, end)` of each phase relative to the run's start, in [`Phase::ALL`] order.
    pub windows: Vec<(Duration, Duration)>,
    /// Wall-clock time at which the chosen devices stopped.
    pub stop_wall: SystemTime,
}

impl LoadReport {
    /// Stats of one phase.
    pub fn phase(&self, p: Phase) -> &PhaseStats {
        &self.phases[p.index()]
    }

    /// `[start, end)` of a phase relative to the run's start.
    pub fn window(&self, p: Phase) -> (Duration, Duration) {
        self.windows[p.index()]
    }

    /// CPU used over `[from, to)` (from the nearest samples), in cores: by the server, by the
    /// simulator, and by everything else on the machine.
    pub fn cpu_share(&self, from: Duration, to: Duration) -> Option<CpuShare> {
        let a = self.samples.iter().find(|s| s.at >= from)?;
        let b = self.samples.iter().rev().find(|s| s.at <= to)?;
        let wall = b.at.checked_sub(a.at)?.as_secs_f64();
        if wall <= 0.0 {
            return None;
        }
        let per = |x: Duration, y: Duration| y.saturating_sub(x).as_secs_f64() / wall;
        let server = per(a.server_cpu, b.server_cpu);
        let simulator = per(a.self_cpu, b.self_cpu);
        let machine = per(a.machine_cpu.busy, b.machine_cpu.busy);
        Some(CpuShare {
            server,
            simulator,
            others: (machine - server - simulator).max(0.0),
            steal: per(a.machine_cpu.steal, b.machine_cpu.steal),
        })
    }

    /// Largest sampled RSS within `[from, to]`, in KiB.
    pub fn max_rss(&self, from: Duration, to: Duration) -> Option<u64> {
        self.samples
            .iter()
            .filter(|s| s.at >= from && s.at <= to)
            .map(|s| s.mem.rss_kib)
            .max()
    }
}

/// Runs the plan against the server at `addr` (process `pid`), with `keys[i]` the key of
/// device `i`.
pub async fn run(plan: &Plan, addr: SocketAddr, pid: u32, keys: &[String]) -> Result<LoadReport> {
    let auth: Vec<HeaderValue> = keys
        .iter()
        .map(|k| HeaderValue::from_str(&format!("Bearer {k}")))
        .collect::<Result<_, _>>()
        .context("a device key is not a valid header value")?;
    let auth = Arc::new(auth);
    let origin = Instant::now();
    let origin_wall = SystemTime::now();
    // Until the schedule is known, the sampler is bounded by the longest possible run.
    let sample_limit = origin + plan.warmup_limit + LEAD_IN + plan.end() + plan.overrun;

    let done = Arc::new(AtomicBool::new(false));
    let ok_total = Arc::new(AtomicU64::new(0));
    let err_total = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn(sample_resources(
        pid,
        origin,
        sample_limit,
        done.clone(),
        ok_total.clone(),
        err_total.clone(),
    ));
    let counters = Counters {
        ok: ok_total,
        err: err_total,
    };

    let mut phases = vec![PhaseStats::default(); Phase::ALL.len()];
    let mut unsent = 0;
    let mut connections_opened = 0;
    let mut conns = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        conns.push(Conn::new(addr)?);
    }

    let (warm_window, t0) = if plan.closed_warmup {
        let warm_stop = Instant::now() + plan.warmup_limit;
        let mut tasks = Vec::with_capacity(conns.len());
        for (w, conn) in conns.drain(..).enumerate() {
            tasks.push(tokio::spawn(closed_warmup(
                conn,
                WarmupJob {
                    first: w,
                    step: plan.connections,
                    devices: plan.devices,
                    auth: auth.clone(),
                    origin,
                    stop: warm_stop,
                    request_timeout: plan.request_timeout,
                    counters: counters.clone(),
                },
            )));
        }
        for t in tasks {
            let (conn, stats, dropped) = t.await.context("a warm-up worker panicked")?;
            phases[Phase::Warmup.index()].merge(&stats);
            unsent += dropped;
            conns.push(conn);
        }
        let took = origin.elapsed();
        ((Duration::ZERO, took), Instant::now() + LEAD_IN)
    } else {
        let t0 = origin + LEAD_IN;
        ((LEAD_IN, LEAD_IN + plan.period()), t0)
    };
    let hard_stop = t0 + plan.end() + plan.overrun;
    let at = |d: Duration| (t0 - origin) + d;
    let windows = vec![
        warm_window,
        (at(plan.steady_start()), at(plan.stop_at())),
        (at(plan.stop_at()), at(plan.end())),
    ];
    let stop_wall = origin_wall + at(plan.stop_at());

    let mut workers = Vec::with_capacity(plan.connections);
    for (w, conn) in conns.into_iter().enumerate() {
        let worker = Worker {
            plan: plan.clone(),
            index: w as u64,
            auth: auth.clone(),
            origin,
            t0,
            hard_stop,
            counters: counters.clone(),
        };
        workers.push(tokio::spawn(worker.run(conn)));
    }
    for w in workers {
        let out = w.await.context("a load worker panicked")?;
        for (mine, theirs) in phases.iter_mut().zip(&out.phases) {
            mine.merge(theirs);
        }
        unsent += out.unsent;
        connections_opened += out.opened;
    }
    done.store(true, Ordering::Release);
    let samples = sampler.await.context("the sampler panicked")?;
    for p in &mut phases {
        p.finish();
    }
    Ok(LoadReport {
        phases,
        unsent,
        connections_opened,
        samples,
        windows,
        stop_wall,
    })
}

/// Run-wide success and failure counts (for progress lines).
#[derive(Clone)]
struct Counters {
    ok: Arc<AtomicU64>,
    err: Arc<AtomicU64>,
}

/// One beat's outcome, recorded into `stats`.
struct Beat {
    due: Instant,
    sent: Instant,
    finished: Instant,
}

impl Counters {
    /// Records a result; `Ok(())` is a proper acknowledgement.
    fn record(
        &self,
        stats: &mut PhaseStats,
        origin: Instant,
        b: &Beat,
        outcome: std::result::Result<(), String>,
    ) {
        stats.sent += 1;
        stats.max_lag = stats.max_lag.max(b.sent - b.due);
        stats.last_done = stats.last_done.max(b.finished - origin);
        match outcome {
            Ok(()) => {
                stats.ok += 1;
                stats.service.record(b.finished - b.sent);
                stats.response.record(b.finished - b.due);
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(kind) => {
                *stats.errors.entry(kind).or_default() += 1;
                self.err.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Sends one heartbeat of `device` on `conn`, bounded by `limit`.
async fn beat(
    conn: &mut Conn,
    auth: Option<&HeaderValue>,
    body: Bytes,
    limit: Duration,
) -> std::result::Result<(), String> {
    match tokio::time::timeout(
        limit,
        conn.send(Method::POST, "/api/v1/heartbeat", auth, Some(body)),
    )
    .await
    {
        Err(_) => {
            // The reply may still come on this connection: start a fresh one.
            conn.reset();
            Err("timeout".to_string())
        }
        Ok(Err(e)) => Err(format!("connection: {}", root_cause(&e))),
        Ok(Ok(r)) if r.status != StatusCode::OK => Err(format!("HTTP {}", r.status)),
        Ok(Ok(r)) if !looks_like_ack(&r.body) => Err("unexpected body".to_string()),
        Ok(Ok(_)) => Ok(()),
    }
}

/// The JSON a device sends: a stable boot id, its uptime and a counter.
fn beat_body(device: usize, uptime_s: u64, seq: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"boot_id":"sim-boot-{device}","uptime_s":{uptime_s},"seq":{seq}}}"#
    ))
}

/// What a closed warm-up worker does: first beats of devices `first, first + step, …`.
struct WarmupJob {
    first: usize,
    step: usize,
    devices: usize,
    auth: Arc<Vec<HeaderValue>>,
    origin: Instant,
    stop: Instant,
    request_timeout: Duration,
    counters: Counters,
}

/// Sends the first beat of each of its devices, one after the other. Returns the connection
/// (kept open for the schedule), the stats and how many beats were dropped at the time limit.
async fn closed_warmup(mut conn: Conn, job: WarmupJob) -> (Conn, PhaseStats, u64) {
    let mut stats = PhaseStats::default();
    let mut dropped = 0;
    for device in (job.first..job.devices).step_by(job.step.max(1)) {
        let now = Instant::now();
        if now >= job.stop {
            dropped += 1;
            continue;
        }
        let outcome = beat(
            &mut conn,
            job.auth.get(device),
            beat_body(device, 3600, 0),
            job.request_timeout,
        )
        .await;
        let b = Beat {
            due: now,
            sent: now,
            finished: Instant::now(),
        };
        job.counters.record(&mut stats, job.origin, &b, outcome);
    }
    (conn, stats, dropped)
}

/// What one worker measured.
struct WorkerOut {
    phases: Vec<PhaseStats>,
    unsent: u64,
    opened: u64,
}

/// One connection and the beats it owns.
struct Worker {
    plan: Plan,
    index: u64,
    auth: Arc<Vec<HeaderValue>>,
    origin: Instant,
    t0: Instant,
    hard_stop: Instant,
    counters: Counters,
}

impl Worker {
    async fn run(self, mut conn: Conn) -> WorkerOut {
        let plan = &self.plan;
        let mut out = WorkerOut {
            phases: vec![PhaseStats::default(); Phase::ALL.len()],
            unsent: 0,
            opened: 0,
        };
        // Open the connection before the clock starts (a failure here is retried by the
        // first beat and counted there).
        let _ = tokio::time::timeout(
            plan.request_timeout,
            conn.send(Method::GET, "/healthz", None, None),
        )
        .await;
        let n = plan.devices as u64;
        let step = plan.connections as u64;
        let end = plan.end();
        let mut k = plan.first_k() + self.index;
        loop {
            let at = plan.due(k);
            if at >= end {
                break;
            }
            let this = k;
            k += step;
            let device = (this % n) as usize;
            let phase = plan.phase(this, at);
            if phase == Phase::Detect && plan.stopped.get(device).copied().unwrap_or(false) {
                continue;
            }
            if Instant::now() >= self.hard_stop {
                out.unsent += 1;
                continue;
            }
            let due = self.t0 + at;
            tokio::time::sleep_until(due).await;
            let body = beat_body(device, 3600 + at.as_secs(), this / n);
            let sent = Instant::now();
            let outcome = beat(&mut conn, self.auth.get(device), body, plan.request_timeout).await;
            let b = Beat {
                due,
                sent,
                finished: Instant::now(),
            };
            self.counters
                .record(&mut out.phases[phase.index()], self.origin, &b, outcome);
        }
        out.opened = conn.opened;
        out
    }
}

/// `{"status":"up","next_in_s":N}` (or another status while a location is down).
fn looks_like_ack(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains("\"status\"") && text.contains("\"next_in_s\"")
}

/// The innermost error message (short enough to group errors by).
fn root_cause(e: &anyhow::Error) -> String {
    let msg = e.root_cause().to_string();
    msg.chars().take(80).collect()
}

/// Samples the server's memory and both processes' CPU until `done` (bounded by `hard_stop`),
/// printing a progress line now and then.
async fn sample_resources(
    pid: u32,
    origin: Instant,
    hard_stop: Instant,
    done: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    err: Arc<AtomicU64>,
) -> Vec<ResourceSample> {
    let mut out = Vec::new();
    let mut tick = tokio::time::interval_at(origin, SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n = 0u32;
    // Bounded: stops at `done`, or a little after the hard limit whatever happens.
    while !done.load(Ordering::Acquire) && Instant::now() < hard_stop + SAMPLE_EVERY * 8 {
        tick.tick().await;
        let at = Instant::now().saturating_duration_since(origin);
        if let (Ok(mem), Ok(server_cpu), Ok(self_cpu), Ok(machine_cpu)) = (
            server::memory(pid),
            server::cpu_time(Some(pid)),
            server::cpu_time(None),
            server::machine_cpu(),
        ) {
            out.push(ResourceSample {
                at,
                mem,
                server_cpu,
                self_cpu,
                machine_cpu,
            });
            n += 1;
            if n.is_multiple_of(PROGRESS_EVERY_SAMPLES) {
                eprintln!(
                    "  t={:>5.1}s  ok={}  errors={}  server RSS={:.1} MiB",
                    at.as_secs_f64(),
                    ok.load(Ordering::Relaxed),
                    err.load(Ordering::Relaxed),
                    mem.rss_kib as f64 / 1024.0
                );
            }
        }
    }
    out
}
