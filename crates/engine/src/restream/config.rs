//! How pushes connect and retry, and the TLS client settings for `rtmps://` destinations.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::ClientConfig;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable naming the ports destinations may use.
pub const ALLOWED_PORTS_ENV: &str = "FERROCAST_RESTREAM_ALLOWED_PORTS";

/// The environment variable (config `restream.allow_private_targets`) that lets pushes reach
/// private, loopback and other non-public addresses; named in the guard's error.
pub const ALLOW_PRIVATE_ENV: &str = "FERROCAST_RESTREAM_ALLOW_PRIVATE_TARGETS";

/// How pushes connect and retry.
#[derive(Debug, Clone)]
pub struct RestreamConfig {
    /// Allow destinations that resolve to loopback, private, link-local, CGNAT, unique-local
    /// and other non-public addresses (see [`is_public_ip`](super::is_public_ip)). Off by
    /// default: a user could otherwise make the server connect into its own network.
    pub allow_private_targets: bool,
    /// Ports destinations may use (empty: any). Default 1935, 443 and 80: a destination URL
    /// must not turn pushes into a port scanner.
    pub allowed_ports: Vec<u16>,
    /// TLS settings for `rtmps://` (see [`tls_config`]).
    pub tls: Arc<ClientConfig>,
    /// Time allowed for DNS, TCP, TLS and the RTMP handshake up to `NetStream.Publish.Start`.
    pub connect_timeout: Duration,
    /// Time allowed for one write.
    pub write_timeout: Duration,
    /// Backoff before the first retry; doubled after each failed attempt (or live session
    /// shorter than 30 s), with full jitter.
    pub initial_backoff: Duration,
    /// The backoff's ceiling.
    pub max_backoff: Duration,
    /// Attempts in a row that never reach live before the destination is
    /// [`PushState::Failed`](super::PushState::Failed) and no longer retried (while this stream
    /// lasts).
    pub max_failures: u32,
}

impl RestreamConfig {
    /// The defaults (private targets refused, 10 s timeouts, backoff 1 s doubling to 30 s,
    /// 10 failures) with `tls`.
    pub fn new(tls: Arc<ClientConfig>) -> Self {
        Self {
            allow_private_targets: false,
            allowed_ports: vec![1935, 443, 80],
            tls,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_failures: 10,
        }
    }
}

/// TLS client settings trusting the Mozilla root store (webpki-roots) plus, if given, the
/// certificates in `extra_ca_pem` (a private CA, or a self-signed destination).
pub fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("cannot read the extra CA certificates: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("cannot trust an extra CA certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(
                "the extra CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                    .to_owned(),
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tls_config_reads_extra_roots() {
        assert!(tls_config(None).is_ok());
        assert!(tls_config(Some(b"not pem")).unwrap_err().contains("no PEM"));
    }
}
