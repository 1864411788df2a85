//! `serve`: composes store, engine, notifiers and the HTTP source, and runs until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use outage_core::clock::{SharedClock, SystemClock};
use outage_core::config::{Config, redact_url};
use outage_core::diagrams::DiagramScheduler;
use outage_core::engine::query::EngineQuery;
use outage_core::engine::{Engine, EngineConfig, EngineTasks};
use outage_core::metrics::Metrics;
use outage_core::notify::{ConsoleNotifier, Notifier};
use outage_core::registry;
use outage_core::source::{CancellationToken, SourceContext};
use outage_core::store::StatusStore;
use tokio::task::JoinHandle;

use crate::plugins::{HttpServer, ServeGuard};

/// Sets up logging from `RUST_LOG` (default: `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// A running monitor.
pub struct Monitor {
    /// The engine (for in-process callers such as the demo).
    pub engine: Engine,
    /// The store.
    pub store: Arc<dyn StatusStore>,
    /// Where HTTP listens.
    pub addr: SocketAddr,
    tasks: EngineTasks,
    source: JoinHandle<()>,
    panel: Option<JoinHandle<()>>,
    /// What only the leader runs (diagrams, bots, retention) and, on a shared store, the task
    /// that competes for the lead.
    leader: Arc<tokio::sync::Mutex<Duties>>,
    leadership: Option<JoinHandle<()>>,
    serve_lock: Option<Arc<ServeGuard>>,
    shutdown: CancellationToken,
}

/// The leader-only tasks: started when this instance leads, stopped the moment it does not.
struct Duties {
    cfg: Config,
    engine: Engine,
    store: Arc<dyn StatusStore>,
    renderer: Arc<dyn outage_core::render::DiagramRenderer>,
    notifiers: Vec<Arc<dyn Notifier>>,
    clock: SharedClock,
    running: Option<(CancellationToken, Vec<JoinHandle<()>>)>,
}

impl Duties {
    /// Starts the diagram scheduler, the chat bots and retention (once).
    fn start(&mut self, shutdown: &CancellationToken) -> Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let stop = shutdown.child_token();
        let mut tasks = Vec::new();
        let bots: Vec<_> = self
            .notifiers
            .iter()
            .filter(|n| n.answers_commands())
            .cloned()
            .collect();
        if !bots.is_empty() {
            // Bots answer from the leader only: one `getUpdates` poller per bot token.
            let query: Arc<dyn outage_core::notify::MonitorQuery> = Arc::new(EngineQuery::new(
                self.engine.clone(),
                self.store.clone(),
                self.renderer.clone(),
                self.clock.clone(),
                self.cfg.monitor.timezone,
            ));
            for n in bots {
                let (query, stop) = (query.clone(), stop.clone());
                tasks.push(tokio::spawn(
                    async move { n.answer_commands(query, stop).await },
                ));
            }
        }
        if self.cfg.diagram.enabled {
            let scheduler = DiagramScheduler::new(
                &self.cfg.diagram,
                self.cfg.monitor.timezone,
                self.cfg.monitor.language,
                self.store.clone(),
                self.renderer.clone(),
                self.notifiers.clone(),
                self.clock.clone(),
            )
            .context("[diagram] schedule")?;
            if scheduler.has_targets() {
                tasks.push(tokio::spawn(scheduler.run(stop.clone())));
            }
        }
        tasks.push(tokio::spawn(retention_loop(
            self.store.clone(),
            self.clock.clone(),
            self.cfg.retention.clone(),
            stop.clone(),
        )));
        self.running = Some((stop, tasks));
        Ok(())
    }

    /// Stops them; a post or edit in flight gets a moment (its stored state stays consistent
    /// either way: the next leader redraws whatever is due).
    async fn stop(&mut self) {
        if let Some((stop, tasks)) = self.running.take() {
            stop.cancel();
            for t in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
            }
        }
    }
}

impl Monitor {
    /// Opens the store, starts the engine and the HTTP source (on `listener` if given).
    pub async fn start(cfg: &Config, listener: Option<std::net::TcpListener>) -> Result<Monitor> {
        let serve_lock = crate::plugins::serve_guard(cfg).await?.map(Arc::new);
        let shared = serve_lock.as_ref().is_some_and(|g| g.shared());
        let leading = match &serve_lock {
            Some(g) if shared => match g.try_lead().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot ask for the lead; starting as a standby");
                    false
                }
            },
            _ => true,
        };
        let store = crate::context::open_store(cfg).await?;
        let mut notifiers = registry::build_notifiers(cfg).context("notifier configuration")?;
        if notifiers.is_empty() {
            tracing::info!("no [notifiers.*] configured: alerts are printed on the console");
            notifiers
                .push(Arc::new(ConsoleNotifier::new(cfg.monitor.timezone)) as Arc<dyn Notifier>);
        }
        let renderer = registry::build_renderer(cfg).context("renderer configuration")?;
        let source = HttpServer::bind(cfg, listener)?;
        let addr = source
            .local_addr()
            .context("the HTTP listener has no local address")?;
        let clock: SharedClock = Arc::new(SystemClock);
        let metrics = Arc::new(Metrics::default());
        let names: Vec<String> = notifiers.iter().map(|n| n.name().to_string()).collect();
        let duty_notifiers = notifiers.clone();
        let panel_notifiers = notifiers.clone();
        let engine_cfg = EngineConfig {
            shared_store: shared,
            ..EngineConfig::from_config(cfg)
        };
        let (engine, tasks) = Engine::start_as(
            store.clone(),
            notifiers,
            clock.clone(),
            metrics.clone(),
            engine_cfg,
            leading,
        )
        .await
        .context("cannot start the engine")?;
        let panel = crate::plugins::admin_panel(
            cfg,
            store.clone(),
            engine.clone(),
            panel_notifiers,
            renderer.clone(),
        )
        .await
        .context("admin panel")?;
        let mut source = source.with_read_api(
            cfg,
            store.clone(),
            renderer.clone(),
            clock.clone(),
            engine.clone(),
        );
        let shutdown = CancellationToken::new();
        let mut panel_task = None;
        if let Some(panel) = panel {
            match &cfg.admin.listen {
                None => {
                    source = source.with_panel(&panel);
                    tracing::info!("admin panel at /admin/");
                }
                Some(listen) => {
                    let listener = std::net::TcpListener::bind(listen.as_str())
                        .with_context(|| format!("admin panel: cannot listen on {listen}"))?;
                    let stop = shutdown.clone();
                    panel_task = Some(tokio::spawn(async move {
                        if let Err(e) = panel.serve(listener, stop).await {
                            tracing::error!(error = %e, "admin panel stopped");
                        }
                    }));
                    tracing::info!(%listen, "admin panel at http://{listen}/admin/");
                }
            }
        }
        let ctx = SourceContext {
            sink: Arc::new(engine.clone()),
            store: store.clone(),
            metrics,
            clock: clock.clone(),
            shutdown: shutdown.clone(),
        };
        let source = tokio::spawn(async move {
            if let Err(e) = source.into_source().run(ctx).await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        });
        let mut duties = Duties {
            cfg: cfg.clone(),
            engine: engine.clone(),
            store: store.clone(),
            renderer,
            notifiers: duty_notifiers,
            clock,
            running: None,
        };
        if leading {
            duties.start(&shutdown)?;
        }
        let leader = Arc::new(tokio::sync::Mutex::new(duties));
        let leadership = match &serve_lock {
            Some(g) if shared => Some(tokio::spawn(leadership_loop(
                g.clone(),
                engine.clone(),
                leader.clone(),
                shutdown.clone(),
            ))),
            _ => None,
        };
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            %addr,
            store = %redact_url(cfg.store.url.expose()),
            locations = engine.locations().len(),
            notifiers = %names.join(","),
            role = if !shared {
                "alone"
            } else if leading {
                "leader"
            } else {
                "standby (another instance leads)"
            },
            "outage-monitor is running"
        );
        Ok(Monitor {
            engine,
            store,
            addr,
            tasks,
            source,
            panel: panel_task,
            leader,
            leadership,
            serve_lock,
            shutdown,
        })
    }

    /// Stops taking heartbeats, flushes pending writes and stops every task.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.source).await;
        if let Some(p) = self.panel {
            let _ = tokio::time::timeout(Duration::from_secs(5), p).await;
        }
        if let Some(l) = self.leadership {
            let _ = l.await;
        }
        self.leader.lock().await.stop().await;
        self.tasks.shutdown().await;
        // Last: the pending writes are flushed, so a standby that takes over now sees them.
        if let Some(g) = &self.serve_lock {
            g.resign().await;
        }
    }
}

/// How often a standby asks for the lead and a leader checks it still holds it.
const LEAD_CHECK_EVERY: Duration = Duration::from_secs(1);

/// On a shared store: a standby asks for the lead every [`LEAD_CHECK_EVERY`] and, once it
/// holds it, takes over ([`Engine::promote`]) and starts the leader's duties; a leader checks
/// its lock connection as often and, the moment it cannot, stops detecting and delivering
/// ([`Engine::demote`]) and goes back to being a standby.
async fn leadership_loop(
    guard: Arc<ServeGuard>,
    engine: Engine,
    duties: Arc<tokio::sync::Mutex<Duties>>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(LEAD_CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut quiet_errors = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let held = guard.try_lead().await;
        if engine.is_leader() {
            if let Ok(true) = held {
                continue;
            }
            engine.demote();
            duties.lock().await.stop().await;
            match held {
                Err(e) => {
                    tracing::error!(error = %e, "lost the connection that holds the lead: this instance stopped detecting and delivering and is a standby now")
                }
                _ => tracing::error!(
                    "another instance holds the lead: this instance stopped detecting and delivering and is a standby now"
                ),
            }
            continue;
        }
        match held {
            Ok(true) => {
                let started = std::time::Instant::now();
                if let Err(e) = engine.promote().await {
                    tracing::error!(error = %e, "cannot take over from the store; giving the lead back");
                    guard.resign().await;
                    continue;
                }
                if let Err(e) = duties.lock().await.start(&shutdown) {
                    tracing::error!(error = %e, "cannot start the leader's diagrams and bots");
                }
                quiet_errors = false;
                tracing::info!(
                    took_ms = started.elapsed().as_millis() as u64,
                    locations = engine.locations().len(),
                    "this instance leads now: it detects outages and delivers alerts"
                );
            }
            Ok(false) => quiet_errors = false,
            Err(e) if !quiet_errors => {
                quiet_errors = true;
                tracing::warn!(error = %e, "cannot ask for the lead; staying a standby and retrying");
            }
            Err(_) => {}
        }
    }
}

async fn retention_loop(
    store: Arc<dyn StatusStore>,
    clock: SharedClock,
    r: outage_core::config::RetentionConfig,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = clock.now();
        let td = |d: Duration| chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
        let beats = now.checked_sub_signed(td(r.heartbeats)).unwrap_or(now);
        let outbox = now.checked_sub_signed(td(r.outbox)).unwrap_or(now);
        match store.prune(beats, outbox).await {
            Ok(s) if s.heartbeats + s.outbox > 0 => {
                tracing::info!(
                    heartbeats = s.heartbeats,
                    outbox = s.outbox,
                    "retention: old rows deleted"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention run failed"),
        }
    }
}

/// Runs until SIGTERM or SIGINT.
pub async fn serve(cfg: Config, listener: Option<std::net::TcpListener>) -> Result<()> {
    let monitor = Monitor::start(&cfg, listener).await?;
    eprintln!(
        "outage-monitor {} listening on http://{} — heartbeats go to POST /api/v1/heartbeat (Ctrl-C stops)",
        env!("CARGO_PKG_VERSION"),
        monitor.addr
    );
    wait_for_signal().await;
    tracing::info!("shutting down: flushing pending writes");
    monitor.stop().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
