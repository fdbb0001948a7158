//! Connecting to a destination: resolve, check the addresses, TCP (and TLS for `rtmps://`), then
//! the RTMP client session up to `NetStream.Publish.Start`. Also the one place that writes a
//! session's output to the socket ([`flush`]).

use super::config::RestreamConfig;
use super::error::PushError;
use super::url::{is_public_ip, ParsedUrl};
use crate::io::write_all_vectored;
use bytes::Bytes;
use ferrocast_rtmp::session::{ClientEvent, ClientSession};
use rustls::pki_types::ServerName;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read from a destination at once.
pub(super) const READ_BUF: usize = 16 * 1024;

/// Resolves, checks, connects (TLS for `rtmps://`) and runs the RTMP client session up to
/// `NetStream.Publish.Start`. The caller bounds it with the connect timeout.
pub(super) async fn connect_and_publish(
    url: &ParsedUrl,
    config: &RestreamConfig,
    stream_key: &str,
) -> Result<(Conn, ClientSession), PushError> {
    let mut conn = connect(url, config).await?;
    let mut session = ClientSession::new(&url.app, &url.tc_url, stream_key);
    let mut buf = vec![0u8; READ_BUF];
    let mut pending = Vec::new();
    loop {
        flush(&mut conn, &mut session, &mut pending, config.write_timeout).await?;
        // Either event ends the handshake.
        if let Some(ev) = session.poll_event() {
            match ev {
                ClientEvent::Publishing => return Ok((conn, session)),
                ClientEvent::Error(d) => {
                    tracing::debug!(description = %d.escape_debug(), "destination refused the stream");
                    return Err(PushError::Refused);
                }
            }
        }
        let n = conn.read(&mut buf).await.map_err(PushError::Read)?;
        if n == 0 {
            return Err(PushError::ClosedBeforePublish);
        }
        if let Err(e) = session.handle_input(&buf[..n]) {
            tracing::debug!(error = %e, "destination answered outside RTMP");
            return Err(PushError::NotRtmp);
        }
    }
}

async fn connect(url: &ParsedUrl, config: &RestreamConfig) -> Result<Conn, PushError> {
    let host = &url.host;
    if !config.allowed_ports.is_empty() && !config.allowed_ports.contains(&url.port) {
        return Err(PushError::PortNotAllowed { port: url.port });
    }
    let refused = || PushError::NotPublic { host: host.clone() };
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), url.port)).await {
        Ok(found) => found.collect(),
        Err(e) => {
            tracing::debug!(%host, error = %e, "restream destination does not resolve");
            return Err(refused());
        }
    };
    if addrs.is_empty() {
        return Err(refused());
    }
    // Checked after resolution, on the addresses we then connect to: DNS rebinding cannot
    // slip a private address past the check.
    if !config.allow_private_targets && addrs.iter().any(|a| !is_public_ip(a.ip())) {
        return Err(refused());
    }
    let mut tcp = None;
    let mut attempts = Vec::new();
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => attempts.push((*addr, e)),
        }
    }
    let Some(tcp) = tcp else {
        return Err(PushError::Connect {
            host: host.clone(),
            port: url.port,
            attempts,
        });
    };
    let _ = tcp.set_nodelay(true);
    if !url.tls {
        return Ok(Conn::Tcp(tcp));
    }
    let name = ServerName::try_from(host.clone())
        .map_err(|_| PushError::TlsName { host: host.clone() })?;
    let tls = tokio_rustls::TlsConnector::from(config.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|error| PushError::TlsHandshake {
            host: host.clone(),
            port: url.port,
            error,
        })?;
    Ok(Conn::Tls(Box::new(tls)))
}

/// Writes everything the session queued as vectored writes (no copying), within `timeout`;
/// returns the bytes written.
pub(super) async fn flush(
    conn: &mut Conn,
    session: &mut ClientSession,
    pending: &mut Vec<Bytes>,
    timeout: Duration,
) -> Result<u64, PushError> {
    pending.clear();
    while let Some(out) = session.poll_transmit() {
        pending.push(out);
    }
    if pending.is_empty() {
        return Ok(0);
    }
    let total = pending.iter().map(|b| b.len() as u64).sum();
    let write = async {
        write_all_vectored(conn, pending).await?;
        // TLS keeps records until flushed.
        conn.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(total),
        Ok(Err(e)) => Err(PushError::Write(e)),
        Err(_) => Err(PushError::WriteTimeout(timeout)),
    }
}

/// A connection to a destination: plain TCP or TLS over TCP.
pub(super) enum Conn {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Tcp(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
