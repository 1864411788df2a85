//! The [`Panel`]: what the pages are served from, and its salvo [`Router`].

use std::sync::Arc;

use outage_core::Role;
use outage_core::clock::{SharedClock, SystemClock};
use outage_core::engine::Engine;
use outage_core::notify::Notifier;
use outage_core::render::DiagramRenderer;
use outage_core::source::CancellationToken;
use outage_core::store::{StatusStore, StoreError};
use salvo::conn::tcp::TcpAcceptor;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, Server};

use crate::auth::Throttle;
use crate::config::PanelSettings;
use crate::routes::{Endpoint, Route};
use crate::state::Inner;

/// Why the panel could not start.
#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    /// `initial_password_file` could not be read or is empty.
    #[error("[admin] initial_password_file {path}: {reason}")]
    InitialPassword {
        /// The file named in the config.
        path: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password could not be hashed.
    #[error(transparent)]
    Hash(#[from] crate::auth::HashError),
    /// The panel's own listener (`[admin] listen`) failed.
    #[error("admin panel on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// The admin panel over a store and a running engine. Cheap to clone.
#[derive(Clone)]
pub struct Panel {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Panel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Panel")
            .field("settings", &self.inner.settings)
            .field("notifiers", &self.inner.notifiers.len())
            .finish_non_exhaustive()
    }
}

impl Panel {
    /// A panel over `store` that tells `engine` about changes, sends test alerts through
    /// `notifiers` and draws diagrams with `renderer`; system clock.
    pub fn new(
        store: Arc<dyn StatusStore>,
        engine: Engine,
        notifiers: Vec<Arc<dyn Notifier>>,
        renderer: Arc<dyn DiagramRenderer>,
        settings: PanelSettings,
    ) -> Self {
        Self::with_clock(
            store,
            engine,
            notifiers,
            renderer,
            settings,
            Arc::new(SystemClock),
        )
    }

    /// As [`Panel::new`] with a chosen clock (session expiry, "now" on the pages).
    pub fn with_clock(
        store: Arc<dyn StatusStore>,
        engine: Engine,
        notifiers: Vec<Arc<dyn Notifier>>,
        renderer: Arc<dyn DiagramRenderer>,
        settings: PanelSettings,
        clock: SharedClock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                engine,
                notifiers,
                renderer,
                clock,
                settings,
                throttle: Throttle::default(),
            }),
        }
    }

    /// When there is no user at all and `password_file` is given, makes the admin `admin`
    /// with the file's first line as password. Returns whether it made one.
    pub async fn ensure_first_user(
        &self,
        password_file: Option<&std::path::Path>,
    ) -> Result<bool, PanelError> {
        let Some(path) = password_file else {
            return Ok(false);
        };
        if !self.inner.store.list_users().await?.is_empty() {
            return Ok(false);
        }
        let err = |reason: String| PanelError::InitialPassword {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot be read ({e}); give a readable file")))?;
        let password = text.lines().next().unwrap_or("").trim_end_matches('\r');
        if password.len() < 8 {
            return Err(err(
                "its first line must be the password, at least 8 characters".into(),
            ));
        }
        let phc = crate::auth::hash_password(password)?;
        self.inner
            .store
            .create_user("admin", Role::Admin, &phc, self.inner.clock.now())
            .await?;
        tracing::info!("admin panel: made the first user `admin` from initial_password_file");
        Ok(true)
    }

    /// Serves only the panel on `listener` (`[admin] listen`) until `shutdown`, then drains
    /// requests in flight for up to 5 s. `/` redirects to `/admin/`.
    pub async fn serve(
        &self,
        listener: std::net::TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), PanelError> {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into());
        let err = |source: std::io::Error| PanelError::Listen {
            addr: addr.clone(),
            source,
        };
        listener.set_nonblocking(true).map_err(err)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(err)?;
        let acceptor = TcpAcceptor::try_from(listener).map_err(err)?;
        let server = Server::new(acceptor).max_connections(1024);
        let handle = server.handle();
        let stopper = tokio::spawn(async move {
            shutdown.cancelled().await;
            handle.stop_graceful(Some(std::time::Duration::from_secs(5)));
        });
        let root = Router::new().get(ToAdmin).push(self.router());
        tracing::info!(%addr, "admin panel listening");
        let served = server.try_serve(root).await;
        stopper.abort();
        served.map_err(err)
    }

    /// The routes under `/admin/` (see the crate's book chapter for the list).
    pub fn router(&self) -> Router {
        let ep = |route: Route| Endpoint {
            inner: self.inner.clone(),
            route,
        };
        Router::with_path("admin")
            .get(ep(Route::Home))
            .push(
                Router::with_path("login")
                    .get(ep(Route::LoginForm))
                    .post(ep(Route::Login)),
            )
            .push(Router::with_path("logout").post(ep(Route::Logout)))
            .push(Router::with_path("assets/admin.css").get(ep(Route::Css)))
            .push(Router::with_path("assets/admin.js").get(ep(Route::Js)))
            .push(Router::with_path("api/status").get(ep(Route::StatusJson)))
            .push(Router::with_path("notifiers").get(ep(Route::Notifiers)))
            .push(Router::with_path("users").get(ep(Route::Users)))
            .push(
                Router::with_path("locations")
                    .get(ep(Route::Home))
                    .post(ep(Route::Create))
                    .push(Router::with_path("new").get(ep(Route::NewForm)))
                    .push(
                        Router::with_path("{id}")
                            .get(ep(Route::Detail))
                            .push(
                                Router::with_path("edit")
                                    .get(ep(Route::EditForm))
                                    .post(ep(Route::Edit)),
                            )
                            .push(
                                Router::with_path("delete")
                                    .get(ep(Route::DeleteConfirm))
                                    .post(ep(Route::Delete)),
                            )
                            .push(Router::with_path("pause").post(ep(Route::Pause)))
                            .push(Router::with_path("resume").post(ep(Route::Resume)))
                            .push(Router::with_path("device").get(ep(Route::Device)))
                            .push(Router::with_path("rotate-key").post(ep(Route::RotateKey)))
                            .push(Router::with_path("test-alert").post(ep(Route::TestAlert)))
                            .push(Router::with_path("diagram.svg").get(ep(Route::Diagram))),
                    ),
            )
            .push(
                Router::with_path("{**rest}")
                    .get(ep(Route::NotFound))
                    .post(ep(Route::NotFound)),
            )
    }
}

/// `/` of the panel's own listener: to the panel.
struct ToAdmin;

#[async_trait::async_trait]
impl Handler for ToAdmin {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        res.render(salvo::writing::Redirect::found("/admin/"));
    }
}
