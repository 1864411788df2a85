//! `GET /healthz` (the process answers) and `GET /readyz` (the engine finished start-up and
//! the store answers a ping).

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

use crate::reply;
use crate::state::AppState;

/// Content type of the plain `ok` answers.
const TEXT: &str = "text/plain; charset=utf-8";

/// `GET /healthz`: `200 ok` whenever the process can answer at all.
pub(crate) struct Healthz;

#[async_trait]
impl Handler for Healthz {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        reply::text(res, StatusCode::OK, TEXT, "ok\n");
    }
}

/// `GET /readyz`: `200 ok` when the monitor can take heartbeats, else `503` saying why.
pub(crate) struct Readyz {
    pub(crate) state: Arc<AppState>,
}

#[async_trait]
impl Handler for Readyz {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        // Which role this instance has when several share a PostgreSQL store: `leader`
        // (detects and delivers; always so for one instance) or `standby`.
        let leader = self.state.ctx.metrics.is_leader();
        let role = if leader { "leader" } else { "standby" };
        res.headers_mut()
            .insert("x-outage-role", salvo::http::HeaderValue::from_static(role));
        match self.state.readiness().await {
            Ok(()) if leader => reply::text(res, StatusCode::OK, TEXT, "ok\n"),
            Ok(()) => reply::text(
                res,
                StatusCode::OK,
                TEXT,
                "ok: standby (takes heartbeats; another instance leads)\n",
            ),
            Err(why) => reply::error(res, StatusCode::SERVICE_UNAVAILABLE, why),
        }
    }
}

impl AppState {
    /// `Ok` when the sink is ready and the store answers within the request timeout.
    pub(crate) async fn readiness(&self) -> Result<(), String> {
        if !self.ctx.sink.is_ready() {
            return Err("not ready: the engine is starting or shutting down".into());
        }
        match tokio::time::timeout(self.cfg.request_timeout, self.ctx.store.ping()).await {
            Err(_) => Err("not ready: the store did not answer in time".into()),
            Ok(Err(e)) => Err(format!("not ready: the store is unreachable: {e}")),
            Ok(Ok(())) => Ok(()),
        }
    }
}
