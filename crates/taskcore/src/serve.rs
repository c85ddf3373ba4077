//! `taskcore serve`: runs one node until the shutdown signal.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use taskcore_api::{app, ApiConfig, AppState, AuthKeys, MAX_BODY_BYTES};
use taskcore_cluster::ClusterHandle;
use taskcore_store::StateMachine;

use crate::config::NodeConfig;
use crate::dev;

/// Runs a node until `shutdown` resolves, then stops accepting requests, lets those under way
/// finish, and flushes the store.
///
/// # Errors
/// The data directory cannot be opened, the address cannot be bound, or the keys are unusable.
pub async fn run(
    mut config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let mut dev_token = None;
    if config.dev && config.auth.hs256_secret.is_none() && config.auth.public_key.is_none() {
        let secret = dev::dev_secret(&config.data_dir)?;
        dev_token = Some(dev::dev_token(&secret)?);
        config.auth.hs256_secret = Some(secret);
    }
    let auth = AuthKeys::new(&config.auth)?;
    let sm = StateMachine::open(&config.data_dir.join("store"))
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    let (cluster, applier) = ClusterHandle::start_local(sm.clone())?;
    let state = AppState {
        cluster,
        auth: Arc::new(auth),
        config: Arc::new(ApiConfig {
            task_types: config.task_types.clone(),
            max_body_bytes: MAX_BODY_BYTES,
        }),
    };
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.http_addr))?;
    let addr = listener.local_addr()?;
    announce(&config, addr, dev_token.as_deref());
    tracing::info!(node_id = config.node_id, %addr, "serving");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("shutting down: flushing the store");
    drop(applier);
    sm.flush()?;
    Ok(())
}

/// Prints where the node listens (a line tests and scripts wait for) and, in dev mode, how to
/// use it.
fn announce(config: &NodeConfig, addr: std::net::SocketAddr, token: Option<&str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "taskcore: listening on http://{addr}");
    if let Some(token) = token {
        let _ = writeln!(
            out,
            "taskcore: dev mode, data in {}",
            config.data_dir.display()
        );
        let _ = writeln!(
            out,
            "taskcore: admin token for brand 1 (valid 30 days):\n{token}"
        );
        let _ = writeln!(
            out,
            "taskcore: try  curl -H \"Authorization: Bearer $TOKEN\" -H \"X-Brand-ID: 1\" http://{addr}/tasks/"
        );
    }
    let _ = out.flush();
}
