//! Why a push attempt failed. Every message is shown to users (in the destination's status and
//! events) and says what to check; none carries the stream key, and the pushes scrub the
//! destination's own words of it too (see `push::redact`).

use super::config::{ALLOWED_PORTS_ENV, ALLOW_PRIVATE_ENV};
use ferrocast_rtmp::RtmpError;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// Why a push attempt failed, or why a destination cannot be pushed to at all.
#[derive(Debug, Error)]
pub(crate) enum PushError {
    /// The destination URL is invalid; the message says why (from
    /// [`parse_target_url`](super::parse_target_url)).
    #[error("{0}")]
    Url(String),
    /// The destination has no stream key.
    #[error("the stream key is empty; copy it from the destination's settings")]
    EmptyStreamKey,
    /// The stream key holds control characters (a bad paste).
    #[error("the stream key contains control characters; copy it again")]
    StreamKeyControl,
    /// The URL's port is not among [`RestreamConfig::allowed_ports`](super::RestreamConfig).
    #[error("port {port} is not allowed for destinations; set {ALLOWED_PORTS_ENV} to allow it")]
    PortNotAllowed {
        /// The URL's port.
        port: u16,
    },
    /// The host does not resolve, or resolves to an address that is not public. One answer for
    /// both: the difference would tell a user which private names exist.
    #[error(
        "{host} is not a public address ferrocast may restream to; check the host name \
         ({ALLOW_PRIVATE_ENV}=true allows private and local addresses)"
    )]
    NotPublic {
        /// The URL's host.
        host: String,
    },
    /// TCP connect failed to every address the host resolved to.
    #[error(
        "cannot connect to {host} port {port} ({}); check the host, the port and the firewall",
        join_attempts(.attempts)
    )]
    Connect {
        /// The URL's host.
        host: String,
        /// The URL's port.
        port: u16,
        /// Each address tried, with why it failed.
        attempts: Vec<(SocketAddr, io::Error)>,
    },
    /// The host cannot be a TLS server name.
    #[error("{host} is not a valid TLS server name")]
    TlsName {
        /// The URL's host.
        host: String,
    },
    /// The TLS handshake failed (often: the port does not serve TLS).
    #[error(
        "TLS handshake with {host} failed: {error}; check that port {port} serves RTMPS (or use \
         rtmp://)"
    )]
    TlsHandshake {
        /// The URL's host.
        host: String,
        /// The URL's port.
        port: u16,
        /// What the TLS client said.
        error: io::Error,
    },
    /// Connecting up to `NetStream.Publish.Start` took longer than the connect timeout.
    #[error(
        "no answer from {host}:{port} within {} s (connect, TLS and RTMP handshake); check \
         the host, the port and rtmp:// versus rtmps://",
        .timeout.as_secs_f32()
    )]
    ConnectTimeout {
        /// The URL's host.
        host: String,
        /// The URL's port.
        port: u16,
        /// The connect timeout.
        timeout: Duration,
    },
    /// The destination answered `connect` or `publish` with an error. Its own words are not
    /// repeated: they are its bytes, shown to users.
    #[error(
        "the destination refused the stream; check the stream key and the URL's application \
         path"
    )]
    Refused,
    /// The destination closed the connection before publishing started.
    #[error(
        "the destination closed the connection before publishing started; check rtmp:// versus \
         rtmps://, the port, the application path and the stream key"
    )]
    ClosedBeforePublish,
    /// The destination's answer to the handshake or `connect` is not RTMP.
    #[error(
        "the destination does not speak RTMP as expected; check rtmp:// versus rtmps:// and the \
         port"
    )]
    NotRtmp,
    /// Reading from the socket failed.
    #[error("reading from the destination failed: {0}")]
    Read(io::Error),
    /// Writing to the socket failed.
    #[error("writing to the destination failed: {0}")]
    Write(io::Error),
    /// One write took longer than the write timeout.
    #[error(
        "a write to the destination took over {} s: the destination or the upload is too slow",
        .0.as_secs_f32()
    )]
    WriteTimeout(Duration),
    /// The client session could not queue a frame.
    #[error("cannot send a frame: {0}")]
    Send(RtmpError),
    /// The hub dropped this push's reader: it fell too far behind the live stream.
    #[error(
        "the destination is too slow: the push fell behind the live stream; check the upload \
         bandwidth and the destination's ingest"
    )]
    TooSlow,
    /// The destination closed the connection while live.
    #[error("the destination closed the connection")]
    Closed,
    /// The destination sent something that is not RTMP while live.
    #[error("the destination broke the RTMP protocol")]
    Protocol,
    /// The destination sent an error status while live.
    #[error("the destination stopped the stream")]
    Stopped,
    /// The last error of a destination given up on after `attempts` failed attempts in a row.
    #[error(
        "{error} (gave up after {attempts} failed attempts; fix the destination, then retry it \
         now from the dashboard)"
    )]
    GaveUp {
        /// The last attempt's error.
        error: Box<PushError>,
        /// Attempts in a row that failed.
        attempts: u32,
    },
}

fn join_attempts(attempts: &[(SocketAddr, io::Error)]) -> String {
    let each: Vec<String> = attempts.iter().map(|(a, e)| format!("{a}: {e}")).collect();
    each.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages are part of the API (statuses, events): pinned word for word.
    #[test]
    fn messages() {
        let io = || io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let cases: Vec<(PushError, &str)> =
            vec![
            (PushError::Url("bad".into()), "bad"),
            (
                PushError::EmptyStreamKey,
                "the stream key is empty; copy it from the destination's settings",
            ),
            (
                PushError::StreamKeyControl,
                "the stream key contains control characters; copy it again",
            ),
            (
                PushError::PortNotAllowed { port: 2222 },
                "port 2222 is not allowed for destinations; set FERROCAST_RESTREAM_ALLOWED_PORTS \
                 to allow it",
            ),
            (
                PushError::NotPublic { host: "h".into() },
                "h is not a public address ferrocast may restream to; check the host name \
                 (FERROCAST_RESTREAM_ALLOW_PRIVATE_TARGETS=true allows private and local \
                 addresses)",
            ),
            (
                PushError::Connect {
                    host: "h".into(),
                    port: 1935,
                    attempts: vec![
                        ("1.2.3.4:1935".parse().unwrap_or_else(|_| unreachable!()), io()),
                        ("[::1]:1935".parse().unwrap_or_else(|_| unreachable!()), io()),
                    ],
                },
                "cannot connect to h port 1935 (1.2.3.4:1935: refused; [::1]:1935: refused); \
                 check the host, the port and the firewall",
            ),
            (
                PushError::TlsName { host: "h".into() },
                "h is not a valid TLS server name",
            ),
            (
                PushError::TlsHandshake {
                    host: "h".into(),
                    port: 443,
                    error: io(),
                },
                "TLS handshake with h failed: refused; check that port 443 serves RTMPS (or use \
                 rtmp://)",
            ),
            (
                PushError::ConnectTimeout {
                    host: "h".into(),
                    port: 1935,
                    timeout: Duration::from_millis(2500),
                },
                "no answer from h:1935 within 2.5 s (connect, TLS and RTMP handshake); check the \
                 host, the port and rtmp:// versus rtmps://",
            ),
            (
                PushError::Refused,
                "the destination refused the stream; check the stream key and the URL's \
                 application path",
            ),
            (
                PushError::ClosedBeforePublish,
                "the destination closed the connection before publishing started; check rtmp:// \
                 versus rtmps://, the port, the application path and the stream key",
            ),
            (
                PushError::NotRtmp,
                "the destination does not speak RTMP as expected; check rtmp:// versus rtmps:// \
                 and the port",
            ),
            (
                PushError::Read(io()),
                "reading from the destination failed: refused",
            ),
            (
                PushError::Write(io()),
                "writing to the destination failed: refused",
            ),
            (
                PushError::WriteTimeout(Duration::from_secs(10)),
                "a write to the destination took over 10 s: the destination or the upload is too \
                 slow",
            ),
            (
                PushError::TooSlow,
                "the destination is too slow: the push fell behind the live stream; check the \
                 upload bandwidth and the destination's ingest",
            ),
            (PushError::Closed, "the destination closed the connection"),
            (PushError::Protocol, "the destination broke the RTMP protocol"),
            (PushError::Stopped, "the destination stopped the stream"),
            (
                PushError::GaveUp {
                    error: Box::new(PushError::Closed),
                    attempts: 10,
                },
                "the destination closed the connection (gave up after 10 failed attempts; fix \
                 the destination, then retry it now from the dashboard)",
            ),
        ];
        for (error, want) in cases {
            assert_eq!(error.to_string(), want);
        }
    }
}
