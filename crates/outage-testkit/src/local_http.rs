//! The one way the testkit's fake servers listen: 127.0.0.1 on a free port, on a thread of
//! their own with a current-thread runtime, so they answer in real time even when a test's
//! runtime has tokio time paused, and outlive the monitor processes a test kills.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

/// Serves `handle` for every request (HTTP/1.1; an `Err` from it drops the connection) until the returned sender is sent `true` or
/// dropped; connections still open then are closed. `name` names the thread.
pub(crate) fn serve<H, F, E>(
    name: &str,
    handle: H,
) -> std::io::Result<(SocketAddr, watch::Sender<bool>)>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(format!("{name}-{}", addr.port()))
        .spawn(move || rt.block_on(accept_loop(std_listener, handle, shutdown_rx)))?;
    Ok((addr, shutdown))
}

async fn accept_loop<H, F, E>(
    std_listener: std::net::TcpListener,
    handle: H,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let listener = match tokio::net::TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "a fake server of the testkit cannot listen");
            return;
        }
    };
    loop {
        let stream = tokio::select! {
            _ = shutdown.changed() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
        };
        let handle = handle.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle));
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}
