//! `taskcore worker`: runs tasks for a cluster with the built-in handlers.

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context};
use taskcore_worker::{handler_from_spec, Worker, WorkerConfig};

/// The command line of `taskcore worker`, resolved.
#[derive(Clone, Debug)]
pub struct WorkerArgs {
    /// Node base URLs.
    pub servers: Vec<String>,
    /// A token with the worker role.
    pub token: String,
    /// `TYPE=noop|sleep:MS|exec:COMMAND`, one per task type.
    pub handlers: Vec<String>,
    /// Attempts at once.
    pub concurrency: usize,
    /// Shown in the attempts history.
    pub worker_id: Option<String>,
    /// Seconds one lease request waits.
    pub wait_seconds: u32,
    /// Seconds running attempts get to finish at shutdown.
    pub shutdown_grace_seconds: u64,
    /// A PEM file of certificate authorities to trust for `https://` nodes.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Builds the worker the arguments describe.
///
/// # Errors
/// No server, no handler, or a handler that does not parse.
pub fn build(args: &WorkerArgs) -> anyhow::Result<Worker> {
    let servers: Vec<String> = args
        .servers
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().trim_end_matches('/').to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if servers.is_empty() {
        bail!("give at least one --server URL");
    }
    if args.handlers.is_empty() {
        bail!("give at least one --handler TYPE=noop|sleep:MS|exec:COMMAND");
    }
    let mut config = WorkerConfig::new(servers, &args.token);
    config.concurrency = args.concurrency.max(1);
    config.wait_seconds = args.wait_seconds.min(30);
    config.shutdown_grace = Duration::from_secs(args.shutdown_grace_seconds);
    if let Some(id) = &args.worker_id {
        config.worker_id = id.clone();
    }
    if let Some(path) = &args.ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA file {}", path.display()))?;
        taskcore_client::Client::new("https://localhost", "")
            .with_ca_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        config.ca_pem = Some(pem);
    }
    let mut worker = Worker::new(config);
    for spec in &args.handlers {
        let (task_type, handler) = handler_from_spec(spec)?;
        worker = worker.handle(&task_type, handler);
    }
    Ok(worker)
}

/// Runs the worker until `shutdown`, then drains it.
///
/// # Errors
/// As [`build`].
pub async fn run(
    args: WorkerArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    build(&args)?.run(shutdown).await;
    Ok(())
}
