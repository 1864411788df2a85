//! The server under test: the real `outage-monitor serve` as a child process, its readiness,
//! its memory and CPU from `/proc`, the alerts it prints, and its shutdown on SIGTERM.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use hyper::StatusCode;

use crate::http;

/// How often readiness is polled.
const READY_POLL: Duration = Duration::from_millis(50);

/// Where the `outage-monitor` binary is: `explicit`, else next to this executable (both are
/// built into the same `target/<profile>/`).
pub fn locate_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        bail!("--server-bin {} is not a file", p.display());
    }
    let me = std::env::current_exe().context("cannot find this executable's path")?;
    let dir = me.parent().context("this executable has no directory")?;
    let candidate = dir.join("outage-monitor");
    if candidate.is_file() {
        Ok(candidate)
    } else {
        bail!(
            "no outage-monitor binary next to {} — build it with \
             `cargo build --release -p outage-monitor -p device-simulator`, or pass --server-bin",
            me.display()
        )
    }
}

/// A free loopback port: bind port 0, note the port, release it. (Another process could take
/// it in between; on a benchmark machine that is unlikely, and the start-up would fail loudly.)
pub fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    l.local_addr().context("local address")
}

/// Memory of a process from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now.
    pub rss_kib: u64,
    /// Peak resident set size ("high water mark").
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Ok(Memory {
        rss_kib: field("VmRSS:").with_context(|| format!("no VmRSS in {path}"))?,
        hwm_kib: field("VmHWM:").with_context(|| format!("no VmHWM in {path}"))?,
    })
}

/// CPU time (user + system) a process has used so far: `/proc/<pid>/stat` for `Some(pid)`,
/// `/proc/self/stat` for `None`.
pub fn cpu_time(pid: Option<u32>) -> Result<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    // Fields after the command name (which may contain spaces) start after the last ')':
    // state is field 3, utime field 14 and stime field 15 (1-based, see proc(5)).
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .with_context(|| format!("unexpected {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .with_context(|| format!("unexpected {path}"))
    };
    // `rest` starts at field 3, so field f is at index f - 3.
    let ticks = tick(14 - 3)? + tick(15 - 3)?;
    let hz = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

/// CPU time of the whole machine so far, summed over cores: `busy` (user, nice, system, irq,
/// softirq) and `steal` (time the hypervisor gave to other guests while this one wanted to
/// run), from the first line of `/proc/stat`.
pub fn machine_cpu() -> Result<MachineCpu> {
    let text = std::fs::read_to_string("/proc/stat").context("read /proc/stat")?;
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("no cpu line in /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        bail!("unexpected /proc/stat cpu line: {line}");
    }
    // user nice system idle iowait irq softirq steal …
    let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
    let d = |ticks: u64| Duration::from_secs_f64(ticks as f64 / hz);
    Ok(MachineCpu {
        busy: d(v[0] + v[1] + v[2] + v[5] + v[6]),
        steal: d(v[7]),
    })
}

/// See [`machine_cpu`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    /// Time spent running processes (and interrupts).
    pub busy: Duration,
    /// Time stolen by the hypervisor.
    pub steal: Duration,
}

/// The 1-minute load average of the machine.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Outage alerts the console notifier printed, by location name, with their arrival time.
pub type Alerts = Arc<Mutex<HashMap<String, SystemTime>>>;

/// A running `outage-monitor serve`.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its stderr (tracing logs).
    pub log: PathBuf,
    /// Outage alerts seen on its stdout.
    pub alerts: Alerts,
    reader: Option<std::thread::JoinHandle<u64>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("pid", &self.child.id())
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// How the server stopped.
#[derive(Debug)]
pub struct Stopped {
    /// From SIGTERM to exit.
    pub took: Duration,
    /// Exit status, or `None` when it did not exit in time and was killed.
    pub status: Option<ExitStatus>,
    /// Lines printed on stdout in total.
    pub stdout_lines: u64,
}

impl Server {
    /// Starts `bin serve` on the database `store_url`, listening on `addr`, with every other
    /// setting at its default (no config file; inherited `OUTAGE_*` variables are removed).
    pub fn start(bin: &Path, store_url: &str, addr: SocketAddr, log: &Path) -> Result<Self> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OUTAGE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("OUTAGE_STORE__URL", store_url)
            .env("OUTAGE_SERVER__LISTEN", addr.to_string())
            .env(
                "RUST_LOG",
                std::env::var("SIM_SERVER_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {} serve", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let alerts: Alerts = Arc::default();
        let sink = alerts.clone();
        // Bounded by the child: the pipe reaches EOF when it exits.
        let reader = std::thread::spawn(move || {
            let mut lines = 0u64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines += 1;
                if let Some(name) = outage_alert_location(&line) {
                    let mut seen = sink.lock().unwrap_or_else(|p| p.into_inner());
                    seen.entry(name.to_string()).or_insert_with(SystemTime::now);
                }
            }
            lines
        });
        Ok(Self {
            child,
            addr,
            log: log.to_path_buf(),
            alerts,
            reader: Some(reader),
        })
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET /readyz` answers 200, at most `limit`. Fails early if the server exits.
    pub async fn wait_ready(&mut self, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().context("wait for the server")? {
                bail!(
                    "the server exited during start-up ({status}); its log: {}\n{}",
                    self.log.display(),
                    tail(&self.log, 20)
                );
            }
            if let Ok(r) = http::get(self.addr, "/readyz", Duration::from_secs(2)).await
                && r.status == StatusCode::OK
            {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(READY_POLL).await;
        }
        bail!(
            "the server was not ready within {limit:?}; its log: {}\n{}",
            self.log.display(),
            tail(&self.log, 20)
        )
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; kills it (SIGKILL) after that.
    pub async fn stop(mut self, limit: Duration) -> Result<Stopped> {
        let pid = rustix::process::Pid::from_child(&self.child);
        let started = Instant::now();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .context("send SIGTERM to the server")?;
        let mut status = None;
        while started.elapsed() < limit {
            if let Some(s) = self.child.try_wait().context("wait for the server")? {
                status = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = started.elapsed();
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let stdout_lines = self
            .reader
            .take()
            .and_then(|r| r.join().ok())
            .unwrap_or_default();
        Ok(Stopped {
            took,
            status,
            stdout_lines,
        })
    }
}

impl Drop for Server {
    /// A benchmark that fails half-way must not leave the server running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The location name in a console outage alert (`🔴 <name>: power is off …`).
fn outage_alert_location(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("🔴 ")?;
    let (name, what) = rest.split_once(": ")?;
    what.starts_with("power is off").then_some(name)
}

/// The last `n` lines of a file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Lines of the server log at WARN or ERROR level (tracing's default format), up to `keep` of
/// them, and how many there were.
pub fn log_problems(path: &Path, keep: usize) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    (
        bad.len(),
        bad.iter().take(keep).map(|s| s.to_string()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_console_outage_alerts() {
        assert_eq!(
            outage_alert_location("🔴 sim-000042: power is off since 12:00:01"),
            Some("sim-000042")
        );
        assert_eq!(
            outage_alert_location("🟢 sim-000042: power is back at 12:01:00 — it was off 1 min"),
            None
        );
        assert_eq!(outage_alert_location("🔴 sim-1: 5 min without power"), None);
    }

    #[test]
    fn reads_own_proc_entries() -> Result<()> {
        let m = memory(std::process::id())?;
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
        cpu_time(None)?;
        machine_cpu()?;
        assert!(load_average().is_some());
        Ok(())
    }
}
