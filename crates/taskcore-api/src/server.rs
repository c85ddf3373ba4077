//! The HTTP listener: HTTP/1.1 connections with bounded numbers and times.
//!
//! `axum::serve` has no header-read or idle timeout and no connection limit: a client that
//! opens connections and sends a byte a minute (slowloris) holds them for ever, and a graceful
//! shutdown waits for them. Here every connection holds one of [`HttpLimits::max_connections`]
//! permits (the next accept waits for one, so the kernel's backlog absorbs a burst), must send
//! each request's head within [`HttpLimits::header_read_timeout`] (which also closes a
//! keep-alive connection idle that long), and a shutdown closes idle connections at once and
//! gives the others [`HttpLimits::shutdown_grace`] before dropping them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Bounds on the HTTP listener.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Connections open at once, at most.
    pub max_connections: usize,
    /// Time allowed for a request's head, from the first byte of the connection or the end of
    /// the previous response: also the idle keep-alive timeout.
    pub header_read_timeout: Duration,
    /// How long a shutdown waits for requests under way.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, closes idle
/// connections, and waits at most `limits.shutdown_grace` for the requests under way.
///
/// # Errors
/// None yet: accept errors (out of file descriptors) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<crate::tls::TlsFiles>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    // Every connection's task lives here, so that none outlives the shutdown grace.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = loop {
            tokio::select! {
                accepted = listener.accept() => break Some(accepted),
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                () = &mut shutdown => break None,
            }
        };
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(a)) => a,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        match &tls {
            None => {
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                connections.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended");
                    }
                    drop(permit);
                });
            }
            Some(files) => {
                // The handshake runs in the connection's task, bounded like a request head, so
                // a slow or silent client never holds up the accept loop.
                let acceptor = tokio_rustls::TlsAcceptor::from(files.config());
                let (builder, watcher) = (builder.clone(), graceful.watcher());
                let handshake_timeout = limits.header_read_timeout;
                connections.spawn(async move {
                    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "no TLS handshake in time");
                            return;
                        }
                    };
                    let conn = watcher.watch(builder.serve_connection(TokioIo::new(tls), service));
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "HTTPS connection ended");
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?limits.shutdown_grace,
            open = connections.len(),
            "HTTP connections still open after the shutdown grace; closing them"
        );
    }
    connections.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests;
