//! `GET /metrics`: the shared counters in the Prometheus text format (version 0.0.4).

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

use crate::reply;
use crate::state::AppState;

/// Content type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `/metrics` handler.
pub(crate) struct MetricsHandler {
    pub(crate) state: Arc<AppState>,
}

#[async_trait]
impl Handler for MetricsHandler {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let ctx = &self.state.ctx;
        // The outbox gauge is left out (rather than failing the scrape) when the store is
        // slow or down; `/readyz` reports that.
        let outbox =
            match tokio::time::timeout(self.state.cfg.request_timeout, ctx.store.outbox_stats())
                .await
            {
                Ok(Ok(stats)) => Some(stats),
                _ => None,
            };
        let text = ctx
            .metrics
            .render_prometheus(ctx.sink.status_counts(), outbox);
        reply::text(res, StatusCode::OK, PROMETHEUS_CONTENT_TYPE, text);
    }
}
