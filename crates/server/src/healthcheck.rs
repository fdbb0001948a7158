//! `ferrocast healthcheck`: asks this node's `/ready` over HTTP, for container health checks
//! (the image has no curl). Healthy is 200; anything else, or no answer within 4 seconds, is not.

use ferrocast_config::Config;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The address to ask: `http_addr`, with a wildcard listen address (`0.0.0.0`, `::`) replaced by
/// the loopback address of its family.
pub fn ready_url(http_addr: SocketAddr) -> String {
    let ip = match http_addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/ready", SocketAddr::new(ip, http_addr.port()))
}

/// `Ok` with a line to print when the node answers 200, else `Err` saying what it answered.
pub async fn probe(config: &Config) -> Result<String, String> {
    let url = ready_url(config.http_addr);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(4))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let res = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: no answer: {e}"))?;
    let status = res.status();
    // The body is a short JSON answer; read at most a few KiB of it.
    let mut body = Vec::new();
    let mut res = res;
    while let Ok(Some(chunk)) = res.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > 4096 {
            body.truncate(4096);
            break;
        }
    }
    let body = String::from_utf8_lossy(&body);
    if status.is_success() {
        Ok(format!("{url}: {status} {body}"))
    } else {
        Err(format!("{url}: {status} {body}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_asked_on_loopback() {
        let url = |a: &str| ready_url(a.parse().expect("address"));
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/ready");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/ready");
        assert_eq!(url("10.1.2.3:9000"), "http://10.1.2.3:9000/ready");
    }
}
