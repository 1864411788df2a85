//! `outage-monitor healthcheck`: asks a running `serve` whether it is ready (`GET /readyz`).
//! Made for container health checks (`HEALTHCHECK CMD ["/outage-monitor", "healthcheck"]`),
//! where the image has no shell and no curl: exit 0 when ready, 1 with a one-line reason.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use outage_core::config::Config;

/// The base URL of the local `serve`: its `server.listen`, with an unspecified address
/// (`0.0.0.0`, `[::]`) replaced by the loopback of the same family.
pub fn local_url(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(addr) => {
            let ip = match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            format!("http://{}", SocketAddr::new(ip, addr.port()))
        }
        // A host name such as `localhost:8080`.
        Err(_) => format!("http://{listen}"),
    }
}

/// Checks `<url>/readyz` (or the local `serve` from the config) within `timeout`.
pub async fn run(cfg: Option<&Config>, url: Option<&str>, timeout: Duration) -> Result<()> {
    let base = match (url, cfg) {
        (Some(u), _) => u.trim_end_matches('/').to_string(),
        (None, Some(cfg)) => local_url(&cfg.server.listen),
        (None, None) => bail!("no --url and no configuration to take server.listen from"),
    };
    let target = if base.ends_with("/readyz") || base.ends_with("/healthz") {
        base
    } else {
        format!("{base}/readyz")
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .context("cannot make an HTTP client")?;
    let res = client.get(&target).send().await.map_err(|e| {
        let cause = anyhow::Error::new(e.without_url());
        anyhow::anyhow!("{target}: not reachable ({cause:#})")
    })?;
    let status = res.status();
    if status.is_success() {
        println!("ready ({target})");
        return Ok(());
    }
    let body = res.text().await.unwrap_or_default();
    let reason: String = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
        .chars()
        .take(200)
        .collect();
    if reason.is_empty() {
        bail!("{target}: not ready (HTTP {})", status.as_u16());
    }
    bail!("{target}: not ready (HTTP {}): {reason}", status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::local_url;

    #[test]
    fn unspecified_listen_addresses_become_loopback() {
        assert_eq!(local_url("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(local_url("[::]:9000"), "http://[::1]:9000");
        assert_eq!(local_url("127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(local_url("[::1]:80"), "http://[::1]:80");
        assert_eq!(local_url("localhost:8080"), "http://localhost:8080");
    }
}
