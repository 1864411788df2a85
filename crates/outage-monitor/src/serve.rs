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
    retention: JoinHandle<()>,
    diagrams: Option<JoinHandle<()>>,
    panel: Option<JoinHandle<()>>,
    bots: Vec<JoinHandle<()>>,
    _serve_lock: Option<ServeGuard>,
    shutdown: CancellationToken,
}

impl Monitor {
    /// Opens the store, starts the engine and the HTTP source (on `listener` if given).
    pub async fn start(cfg: &Config, listener: Option<std::net::TcpListener>) -> Result<Monitor> {
        let serve_lock = crate::plugins::serve_guard(cfg).await?;
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
        let diagram_notifiers = notifiers.clone();
        let panel_notifiers = notifiers.clone();
        let bot_notifiers: Vec<_> = notifiers
            .iter()
            .filter(|n| n.answers_commands())
            .cloned()
            .collect();
        let (engine, tasks) = Engine::start(
            store.clone(),
            notifiers,
            clock.clone(),
            metrics.clone(),
            EngineConfig::from_config(cfg),
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
        // Chat bots answer from this process, which detects and delivers for the database.
        let bots = if bot_notifiers.is_empty() {
            Vec::new()
        } else {
            let query: Arc<dyn outage_core::notify::MonitorQuery> = Arc::new(EngineQuery::new(
                engine.clone(),
                store.clone(),
                renderer.clone(),
                clock.clone(),
                cfg.monitor.timezone,
            ));
            bot_notifiers
                .into_iter()
                .map(|n| {
                    let (query, stop) = (query.clone(), shutdown.clone());
                    tokio::spawn(async move { n.answer_commands(query, stop).await })
                })
                .collect()
        };
        let diagrams = if cfg.diagram.enabled {
            let scheduler = DiagramScheduler::new(
                &cfg.diagram,
                cfg.monitor.timezone,
                cfg.monitor.language,
                store.clone(),
                renderer,
                diagram_notifiers,
                clock.clone(),
            )
            .context("[diagram] schedule")?;
            scheduler
                .has_targets()
                .then(|| tokio::spawn(scheduler.run(shutdown.clone())))
        } else {
            None
        };
        let retention = tokio::spawn(retention_loop(
            store.clone(),
            clock,
            cfg.retention.clone(),
            shutdown.clone(),
        ));
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            %addr,
            store = %redact_url(cfg.store.url.expose()),
            locations = engine.locations().len(),
            notifiers = %names.join(","),
            "outage-monitor is running"
        );
        Ok(Monitor {
            engine,
            store,
            addr,
            tasks,
            source,
            retention,
            diagrams,
            panel: panel_task,
            bots,
            _serve_lock: serve_lock,
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
        self.retention.abort();
        for b in self.bots {
            let _ = tokio::time::timeout(Duration::from_secs(2), b).await;
        }
        if let Some(d) = self.diagrams {
            // A post or edit in flight gets a moment; its stored state stays consistent either
            // way (the next start redraws whatever is due).
            let _ = tokio::time::timeout(Duration::from_secs(2), d).await;
        }
        self.tasks.shutdown().await;
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
