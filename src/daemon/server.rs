//! The daemon's HTTP/1.1 server loop: hyper under our own accept loop, because the endpoints
//! must stay answerable while clients misbehave (axum's `serve` has no header or idle timeout
//! and no connection limit).
//!
//! - Header timeout: a connection must send a complete request head within
//!   [`HEADER_TIMEOUT`] of being accepted or of finishing its previous request; hyper's
//!   `header_read_timeout` runs while a keep-alive connection sits idle too, so it is also the
//!   idle timeout. Slow-loris and idle sockets are closed.
//! - Connection cap: at most [`connection_cap`] connections are served at once, below the
//!   process's descriptor limit (`RLIMIT_NOFILE`), so the gatherers (Docker, database, probes,
//!   the history database) always have descriptors left. Further connections wait in the
//!   kernel's listen queue, costing no descriptor, until a slot frees.
//! - Shutdown: on the stop signal, accepting stops and open connections finish their current
//!   request (graceful shutdown); the caller bounds how long it waits.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// How long a connection may take to send a request head, and may sit idle between requests.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Descriptors kept free for everything but HTTP connections.
const RESERVED_FDS: u64 = 128;

/// The most connections served at once: the soft `RLIMIT_NOFILE` less the 128 descriptors
/// kept for everything else, at least 16 and at most 4096 (896 under systemd's default limit
/// of 1024).
pub fn connection_cap() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    soft.saturating_sub(RESERVED_FDS).clamp(16, 4096) as usize
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves `app` on `listener` until `stop` turns true, with at most `cap` connections.
pub async fn run(listener: TcpListener, app: Router, cap: usize, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(cap));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let builder = Arc::new(builder);
    let mut warned_full = false;
    loop {
        if slots.available_permits() == 0 && !warned_full {
            tracing::warn!("{cap} HTTP connections open: new ones wait until one closes");
            warned_full = true;
        }
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
            _ = stopped(&mut stop) => return,
        };
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE/ENFILE and aborted handshakes: wait a moment, keep serving.
                    tracing::warn!("accepting an HTTP connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => return,
        };
        if slots.available_permits() > 0 {
            warned_full = false;
        }
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let r = tokio::select! {
                r = conn.as_mut() => r,
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = r {
                tracing::debug!("HTTP connection: {e}");
            }
            drop(slot);
        });
    }
}
