//! The listener: [`HttpSource`] binds (or takes) a TCP listener, serves the ingest, health and
//! metrics routes plus any routers mounted by the binary, and stops gracefully when the
//! monitor shuts down.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use outage_core::source::{HeartbeatSource, SourceContext, SourceError};
use salvo::catcher::Catcher;
use salvo::conn::tcp::TcpAcceptor;
use salvo::fuse::FuseConfig;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, Server, Service};

use crate::config::HttpConfig;
use crate::health::{Healthz, Readyz};
use crate::heartbeat::HeartbeatHandler;
use crate::metrics::MetricsHandler;
use crate::reply::JsonErrorGoal;
use crate::state::AppState;
pub use crate::state::{HEARTBEAT_PATH, LEGACY_HEARTBEAT_PATH};

/// The HTTP heartbeat source: `POST /api/v1/heartbeat`, `GET /healthz`, `GET /readyz`,
/// `GET /metrics`, and whatever routers were mounted with [`HttpSource::with_router`].
pub struct HttpSource {
    cfg: HttpConfig,
    listener: Option<std::net::TcpListener>,
    extra: Vec<Router>,
}

impl std::fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSource")
            .field("cfg", &self.cfg)
            .field("local_addr", &self.local_addr())
            .field("extra_routers", &self.extra.len())
            .finish()
    }
}

impl HttpSource {
    /// A source that binds `cfg.listen` when it starts running; a bind failure is returned by
    /// [`HeartbeatSource::run`] as [`SourceError::Listen`].
    pub fn new(cfg: HttpConfig) -> Self {
        Self {
            cfg,
            listener: None,
            extra: Vec::new(),
        }
    }

    /// Binds `cfg.listen` now, so the caller learns at once whether the address is usable
    /// (and, with port 0, which port it got).
    pub fn bind(cfg: HttpConfig) -> Result<Self, SourceError> {
        let listener =
            std::net::TcpListener::bind(cfg.listen.as_str()).map_err(|e| SourceError::Listen {
                addr: cfg.listen.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self::with_listener(listener, cfg))
    }

    /// A source serving on an already-bound listener (`cfg.listen` is then ignored). Tests
    /// bind `127.0.0.1:0`; a service manager may hand over a socket.
    pub fn with_listener(listener: std::net::TcpListener, cfg: HttpConfig) -> Self {
        Self {
            cfg,
            listener: Some(listener),
            extra: Vec::new(),
        }
    }

    /// Mounts another router next to the built-in routes (read API, admin panel, OpenAPI...).
    ///
    /// Built-in routes are matched first. Handlers of mounted routers find the
    /// [`SourceContext`] in the depot with [`source_context`]. They share the server's limits
    /// (header size, timeouts) and its JSON error bodies for statuses they leave without a
    /// body.
    #[must_use]
    pub fn with_router(mut self, router: Router) -> Self {
        self.extra.push(router);
        self
    }

    /// The bound address, when a listener is already held ([`HttpSource::bind`] or
    /// [`HttpSource::with_listener`]).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The settings in use.
    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }
}

/// The built-in routes (heartbeat, health, metrics) over `ctx`, without a listener: for
/// embedding in another salvo server or for in-process tests.
pub fn routes(ctx: &SourceContext, cfg: &HttpConfig) -> Router {
    let state = Arc::new(AppState {
        ctx: ctx.clone(),
        cfg: cfg.clone(),
    });
    Router::new()
        .push(
            Router::with_path(HEARTBEAT_PATH.trim_start_matches('/'))
                .post(HeartbeatHandler::new(state.clone())),
        )
        .push(
            Router::with_path(LEGACY_HEARTBEAT_PATH.trim_matches('/'))
                .post(HeartbeatHandler::legacy(state.clone())),
        )
        // HEAD too: some uptime checkers probe with it.
        .push(Router::with_path("healthz").get(Healthz).head(Healthz))
        .push(
            Router::with_path("readyz")
                .get(Readyz {
                    state: state.clone(),
                })
                .head(Readyz {
                    state: state.clone(),
                }),
        )
        .push(Router::with_path("metrics").get(MetricsHandler { state }))
}

/// The whole service: built-in routes, mounted routers (with the context in their depot) and
/// JSON error bodies.
fn service(ctx: &SourceContext, cfg: &HttpConfig, extra: Vec<Router>) -> Service {
    let mut root = routes(ctx, cfg);
    if !extra.is_empty() {
        let mut mounted = Router::new().hoop(InjectContext(ctx.clone()));
        for r in extra {
            mounted = mounted.push(r);
        }
        root = root.push(mounted);
    }
    Service::new(root).catcher(Catcher::new(JsonErrorGoal))
}

/// The [`SourceContext`] of the running source, for handlers of routers mounted with
/// [`HttpSource::with_router`].
pub fn source_context(depot: &Depot) -> Option<&SourceContext> {
    depot.get_typed::<SourceContext>().ok()
}

/// Puts the context into the depot of requests to mounted routers.
struct InjectContext(SourceContext);

#[async_trait]
impl Handler for InjectContext {
    async fn handle(
        &self,
        _req: &mut Request,
        depot: &mut Depot,
        _res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        depot.insert_typed(self.0.clone());
    }
}

/// Per-connection protection: a client gets `request_timeout` for its request head, for each
/// gap in its body and for each stalled write; a silent connection is closed after that.
fn fuse(cfg: &HttpConfig) -> FuseConfig {
    let t = cfg.request_timeout;
    FuseConfig::disabled()
        .with_http1_header_timeout(t)
        .with_request_body_timeout(t)
        .with_write_stall_timeout(t)
        // Idle keep-alive connections cost a descriptor each; let handlers that wait on the
        // store (bounded by `t` themselves) finish before the idle fuse trips.
        .with_connection_idle_timeout(t.saturating_mul(3))
}

#[async_trait]
impl HeartbeatSource for HttpSource {
    fn name(&self) -> &str {
        "http"
    }

    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let HttpSource {
            cfg,
            listener,
            extra,
        } = *self;
        cfg.validate().map_err(SourceError::Other)?;
        let listen_err = |addr: String, e: std::io::Error| SourceError::Listen {
            addr,
            reason: e.to_string(),
        };
        let listener = match listener {
            Some(l) => l,
            None => std::net::TcpListener::bind(cfg.listen.as_str())
                .map_err(|e| listen_err(cfg.listen.clone(), e))?,
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| cfg.listen.clone());
        listener
            .set_nonblocking(true)
            .map_err(|e| listen_err(addr.clone(), e))?;
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| listen_err(addr.clone(), e))?;
        let acceptor = TcpAcceptor::try_from(listener).map_err(|e| listen_err(addr.clone(), e))?;

        let mut server = Server::new(acceptor)
            .fuse_config(fuse(&cfg))
            .max_connections(cfg.max_connections);
        server
            .http1_mut()
            .max_header_size(cfg.max_header_bytes)
            .max_headers(cfg.max_headers);
        let service = service(&ctx, &cfg, extra);

        let handle = server.handle();
        let shutdown = ctx.shutdown.clone();
        let grace = cfg.shutdown_grace;
        let stopper = tokio::spawn(async move {
            shutdown.cancelled().await;
            tracing::info!("HTTP source stopping: draining in-flight requests");
            handle.stop_graceful(Some(grace));
        });
        tracing::info!(%addr, "HTTP source listening");
        let served = server.try_serve(service).await;
        stopper.abort();
        served.map_err(|e| SourceError::Other(format!("HTTP server on {addr} failed: {e}")))?;
        tracing::info!(%addr, "HTTP source stopped");
        Ok(())
    }
}
