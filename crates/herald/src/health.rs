//! `herald healthcheck`: asks a health endpoint and exits 0 when it answers
//! 2xx. Container images run it as their health check, so they need
//! neither a shell nor curl (the image is distroless).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;

/// The URL to ask: `target` when it is a URL, else `target` (a path,
/// `/healthz` when absent) on `ops.listen`, with a wildcard address
/// (0.0.0.0, ::) replaced by loopback.
pub fn probe_url(ops_listen: SocketAddr, target: Option<&str>) -> String {
    match target {
        Some(url) if url.contains("://") => url.to_owned(),
        path => {
            let path = path.unwrap_or("/healthz");
            let mut address = ops_listen;
            if address.ip().is_unspecified() {
                address.set_ip(match address.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                });
            }
            let slash = if path.starts_with('/') { "" } else { "/" };
            format!("http://{address}{slash}{path}")
        }
    }
}

pub async fn check(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .context("building the HTTP client")?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(
        status.is_success(),
        "{url} answered {status}: {}",
        body.trim()
    );
    println!("{url}: {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_healthz_on_the_ops_listener_through_loopback() {
        let any: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert_eq!(probe_url(any, None), "http://127.0.0.1:9464/healthz");
        assert_eq!(
            probe_url(any, Some("/readyz")),
            "http://127.0.0.1:9464/readyz"
        );
        assert_eq!(
            probe_url(any, Some("metrics")),
            "http://127.0.0.1:9464/metrics"
        );
        let v6: SocketAddr = "[::]:9000".parse().unwrap();
        assert_eq!(probe_url(v6, None), "http://[::1]:9000/healthz");
        let own: SocketAddr = "10.1.2.3:9464".parse().unwrap();
        assert_eq!(probe_url(own, None), "http://10.1.2.3:9464/healthz");
        assert_eq!(
            probe_url(own, Some("http://web:8080/x")),
            "http://web:8080/x"
        );
    }
}
