//! The HTTP accept loop. `axum::serve` sets no timer, so hyper's header-read timeout never fires
//! and a client that sends headers one byte a minute (slowloris) holds a connection forever; it
//! also caps nothing. This loop bounds both (connections per node and per client address),
//! and drains connections on shutdown.

use axum::extract::ConnectInfo;
use axum::Router;
use ferrocast_engine::addresses::{AddrLimiter, Refusal, RefusalLog};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// A client must send its complete request head within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open HTTP connections at most; further connections are closed at once.
pub const MAX_CONNECTIONS: usize = 10_000;
/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-address limits of the accept loop.
#[derive(Debug, Clone, Default)]
pub struct PerAddress {
    /// Open connections per client address (0: no cap).
    pub max: usize,
    /// Reverse proxies: their connections carry many clients, so they are not capped here
    /// (the proxy caps its clients; Socket.IO and rate limits see the forwarded address).
    pub trusted_proxies: Vec<ferrocast_config::IpNet>,
}

/// Serves `app` on `listener` until `shutdown` turns true, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    per_address: PerAddress,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let by_address = AddrLimiter::new(per_address.max, 0);
    let mut refusals = RefusalLog::new("HTTP");
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let builder = Arc::new(builder);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refusals.refused(peer, Refusal::NodeFull);
            drop(stream);
            continue;
        };
        let proxied = per_address
            .trusted_proxies
            .iter()
            .any(|n| n.contains(peer.ip()));
        let slot = if proxied {
            None
        } else {
            match by_address.admit(peer.ip()) {
                Ok(slot) => Some(slot),
                Err(refusal) => {
                    refusals.refused(peer, refusal);
                    drop(stream);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let svc = app
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
    Ok(())
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    // A closed channel (the sender dropped) also means stop.
    let _ = rx.wait_for(|stop| *stop).await;
}
