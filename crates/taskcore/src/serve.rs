//! `taskcore serve`: runs one node until the shutdown signal.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use taskcore_api::{app, ApiConfig, AppState, AuthKeys, Edge, MAX_BODY_BYTES};
use taskcore_cluster::{ClusterConfig, ClusterHandle, NodeAddr};
use taskcore_scheduler::{SchedulerConfig, SchedulerHandle};
use taskcore_store::Storage;
use taskcore_worker::{Handler, Sleep, Worker, WorkerConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::NodeConfig;
use crate::dev;

/// How long a stopping leader tries to hand leadership over before it stops anyway.
const HAND_OVER_WITHIN: Duration = Duration::from_secs(5);

/// Runs a node until `shutdown` resolves, then stops accepting requests, lets those under way
/// finish (for at most `http.shutdown_grace_ms`), hands leadership over if it leads, shuts Raft
/// down and flushes the store.
///
/// # Errors
/// The data directory cannot be opened, an address cannot be bound, or the keys are unusable.
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
    let dev_token = prepare_dev(&mut config)?;
    let auth = AuthKeys::new(&config.auth)?;
    let http = bind(config.http_addr).await?;
    let raft = bind(config.raft_addr).await?;
    let addr = NodeAddr {
        http_addr: http.local_addr()?.to_string(),
        raft_addr: raft.local_addr()?.to_string(),
    };
    let storage = Storage::open(&config.data_dir.join("store"))
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    if let Some(images) = std::env::var_os("TASKCORE_TEST_SYNCED_IMAGES") {
        // The power-loss test double (tests only: a full copy of the store per sync).
        tracing::warn!("TASKCORE_TEST_SYNCED_IMAGES is set: copying the store after every sync");
        storage
            .keep_synced_images(std::path::Path::new(&images))
            .context("cannot keep synced images")?;
    }
    if let Some(file) = std::env::var_os("TASKCORE_TEST_SYNC_DELAY_FILE") {
        // The slow-disk test double (tests only).
        tracing::warn!("TASKCORE_TEST_SYNC_DELAY_FILE is set: syncs wait what the file says");
        storage.delay_syncs_by(std::path::Path::new(&file));
    }
    let fresh = storage.is_empty()?;
    let secret = config.cluster_secret.clone().unwrap_or_default();
    let peer_tls = match &config.peer_tls {
        None => None,
        Some(files) => Some(
            taskcore_cluster::peer_tls::PeerTls::open(files.clone())
                .map_err(|e| anyhow::anyhow!("cannot use the peer TLS files: {e}"))?,
        ),
    };
    let mut cluster_config = cluster_config(&config, addr.clone(), &secret);
    cluster_config.peer_tls = peer_tls.clone();
    let (cluster, guard) = ClusterHandle::start(cluster_config, &storage, raft)
        .await
        .context("cannot start the cluster node")?;
    if config.init && fresh {
        cluster
            .init(Default::default())
            .await
            .context("cannot initialise a one-node cluster")?;
        tracing::info!(
            node_id = config.node_id,
            "initialised a new one-node cluster"
        );
    }
    wait_if_alone(&cluster, config.node_id).await;
    let api_config = api_config(&config);
    let scheduler = SchedulerHandle::start(
        cluster.clone(),
        SchedulerConfig {
            retry_base_ms: api_config.retry_base_ms,
            retry_cap_ms: api_config.retry_cap_ms,
            takeover_grace: Duration::from_millis(api_config.lease_ttl_ms),
            keep_finished: config.retention.keep_finished(),
            retention_min_gap: config.retention.min_sweep_gap(),
            name: format!("node{}", config.node_id),
            ..SchedulerConfig::default()
        },
    );
    let edge = Edge::default();
    let handing_over = cluster.clone();
    let state = AppState {
        cluster,
        scheduler: scheduler.clone(),
        edge: edge.clone(),
        auth: Arc::new(auth),
        config: Arc::new(api_config),
    };
    announce(&config, &addr, dev_token.as_deref());
    tracing::info!(node_id = config.node_id, %addr, "serving");
    let embedded = if config.dev {
        embedded_worker(&config, &addr)
    } else {
        None
    };
    let stopping = async move {
        shutdown.await;
        // Long polls answer now, so that the graceful shutdown does not wait for them.
        edge.stop();
        if let Some((stop, worker)) = embedded {
            let _ = stop.send(());
            let _ = worker.await;
        }
    };
    let tls = match &config.tls {
        None => None,
        Some((cert, key)) => {
            let files = taskcore_api::tls::TlsFiles::open(cert, key)
                .context("cannot use the TLS certificate and key")?;
            Some(files)
        }
    };
    tls_reloads(tls.clone(), peer_tls);
    taskcore_api::serve(http, app(state), config.http.limits(), tls, stopping).await?;
    tracing::info!("shutting down: stopping the scheduler, raft, and flushing the store");
    scheduler.shutdown().await;
    // A leader hands over before it stops, so that writes pause for an election round trip
    // rather than an election timeout.
    if let Some(to) = handing_over.hand_over(HAND_OVER_WITHIN).await {
        tracing::info!(to, "leadership handed over");
    }
    guard.shutdown().await;
    storage.flush()?;
    Ok(())
}

/// A node that is the only voter of its cluster elects itself within an election timeout; it
/// waits for that before announcing, so the first request after "listening" is served. A node of
/// a larger cluster announces at once: its peers may be down, and `/readyz` tells when it can
/// serve.
async fn wait_if_alone(cluster: &ClusterHandle, node_id: u64) {
    let alone = cluster
        .raft()
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .eq([node_id]);
    if alone && !cluster.wait_ready(Duration::from_secs(10)).await {
        tracing::warn!("the one-node cluster has no leader after 10 s; serving anyway");
    }
}

/// In dev mode, a worker inside the node runs every task type with the built-in `sleep`
/// handler (progress in ten steps, then a result), so that tasks created by hand run. Answers
/// how to stop it and its task; `None` when no token can be minted (an RS256/ES256 setup).
fn embedded_worker(
    config: &NodeConfig,
    addr: &NodeAddr,
) -> Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)> {
    let secret = config.auth.hs256_secret.as_deref()?;
    let token = match dev::dev_token(secret) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "no embedded worker: cannot mint its token");
            return None;
        }
    };
    let mut wc = WorkerConfig::new(vec![format!("http://{}", addr.http_addr)], &token);
    wc.worker_id = format!("embedded-{}", config.node_id);
    wc.wait_seconds = 2;
    wc.shutdown_grace = Duration::from_secs(10);
    let mut worker = Worker::new(wc);
    let handler: Arc<dyn Handler> = Arc::new(Sleep {
        total: DEV_TASK_DURATION,
    });
    for task_type in &config.task_types.0 {
        worker = worker.handle(task_type, handler.clone());
    }
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    tracing::info!("dev mode: an embedded worker runs every task type");
    Some((stop, task))
}

/// The edge's settings from the node's configuration.
fn api_config(config: &NodeConfig) -> ApiConfig {
    let defaults = ApiConfig::default();
    let e = &config.execution;
    ApiConfig {
        task_types: config.task_types.clone(),
        max_body_bytes: MAX_BODY_BYTES,
        lease_ttl_ms: e.lease_ttl_ms.unwrap_or(defaults.lease_ttl_ms),
        retry_base_ms: e.retry_base_ms.unwrap_or(defaults.retry_base_ms),
        retry_cap_ms: e.retry_cap_ms.unwrap_or(defaults.retry_cap_ms),
        max_periodic_per_brand: config
            .periodic
            .max_per_brand
            .unwrap_or(defaults.max_periodic_per_brand),
    }
}

/// How long a task takes under the embedded worker of `--dev`.
const DEV_TASK_DURATION: Duration = Duration::from_secs(3);

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// In dev mode, secrets that were not configured are made and kept in the data directory;
/// answers the admin token to print.
fn prepare_dev(config: &mut NodeConfig) -> anyhow::Result<Option<String>> {
    if !config.dev {
        return Ok(None);
    }
    if config.cluster_secret.is_none() {
        config.cluster_secret = Some(dev::dev_secret(&config.data_dir, "dev-cluster-secret")?);
    }
    if config.auth.hs256_secret.is_some() || config.auth.public_key.is_some() {
        return Ok(None);
    }
    let secret = dev::dev_secret(&config.data_dir, "dev-jwt-secret")?;
    let token = dev::dev_token(&secret)?;
    config.auth.hs256_secret = Some(secret);
    Ok(Some(token))
}

fn cluster_config(config: &NodeConfig, addr: NodeAddr, secret: &str) -> ClusterConfig {
    let mut c = ClusterConfig::new(config.node_id, addr, secret);
    let r = &config.raft;
    if let Some(ms) = r.heartbeat_ms {
        c.heartbeat = Duration::from_millis(ms);
    }
    if let Some([lo, hi]) = r.election_timeout_ms {
        c.election_timeout = (Duration::from_millis(lo), Duration::from_millis(hi));
    }
    if let Some(n) = r.snapshot_after_logs {
        c.snapshot_after_logs = n;
    }
    if let Some(n) = r.logs_to_keep {
        c.logs_to_keep = n;
    }
    c
}

/// Reloads the client port's certificate on SIGHUP and when its files change, and the peer
/// port's certificates on SIGHUP (for the process's life).
fn tls_reloads(
    http: Option<taskcore_api::tls::TlsFiles>,
    peer: Option<taskcore_cluster::peer_tls::PeerTls>,
) {
    if http.is_none() && peer.is_none() {
        return;
    }
    if let Some(files) = &http {
        tokio::spawn(files.clone().watch());
    }
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("no SIGHUP handler: certificates reload only when their files change");
            return;
        };
        while hup.recv().await.is_some() {
            if let Some(Err(e)) = http.as_ref().map(|f| f.reload()) {
                tracing::error!(error = %e, "SIGHUP: the TLS files cannot be used; the previous certificate stays");
            }
            if let Some(Err(e)) = peer.as_ref().map(|p| p.reload()) {
                tracing::error!(error = %e, "SIGHUP: the peer TLS files cannot be used; the previous certificates stay");
            }
        }
    });
}

/// Prints where the node listens (a line tests and scripts wait for) and, in dev mode, how to
/// use it.
fn announce(config: &NodeConfig, addr: &NodeAddr, token: Option<&str>) {
    let mut out = std::io::stdout().lock();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let _ = writeln!(
        out,
        "taskcore: listening on {scheme}://{} (raft {})",
        addr.http_addr, addr.raft_addr
    );
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
            "taskcore: try  curl -H \"Authorization: Bearer $TOKEN\" -H \"X-Brand-ID: 1\" http://{}/tasks/",
            addr.http_addr
        );
    }
    let _ = out.flush();
}
