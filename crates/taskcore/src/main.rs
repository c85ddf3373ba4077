//! `taskcore`: runs a Task Core node.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use taskcore::config::{NodeConfig, Overrides};
use taskcore::worker::WorkerArgs;

#[derive(Parser)]
#[command(
    name = "taskcore",
    version,
    about = "Task Core: a distributed job scheduler node and worker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node.
    Serve {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// This node's id.
        #[arg(long)]
        node_id: Option<u64>,
        /// Client address (port 0 picks a free port).
        #[arg(long)]
        http_addr: Option<SocketAddr>,
        /// Peer address.
        #[arg(long)]
        raft_addr: Option<SocketAddr>,
        /// Data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// One local node with a generated secret and a printed admin token.
        #[arg(long)]
        dev: bool,
        /// Initialise a one-node cluster if the data directory is new.
        #[arg(long)]
        init: bool,
    },
    /// Run tasks: lease them from the cluster and run them with the given handlers.
    Worker {
        /// Node URLs, comma-separated or repeated; the worker fails over between them.
        #[arg(long = "server", required = true)]
        servers: Vec<String>,
        /// A token with the worker role.
        #[arg(long, env = "TASKCORE_TOKEN", hide_env_values = true)]
        token: String,
        /// TYPE=noop, TYPE=sleep:MS or TYPE=exec:COMMAND; repeat for several types.
        #[arg(long = "handler", required = true)]
        handlers: Vec<String>,
        /// Handlers running at once (a finished attempt's report may still be on its way).
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Shown in the attempts history (default worker-PID).
        #[arg(long)]
        worker_id: Option<String>,
        /// Seconds one lease request waits for a task (0–30).
        #[arg(long, default_value_t = 5)]
        wait_seconds: u32,
        /// At shutdown, seconds running attempts get to finish before they are given back.
        #[arg(long, default_value_t = 30)]
        shutdown_grace_seconds: u64,
        /// Certificate authorities (PEM) to trust for `https://` nodes (a cluster's own CA).
        #[arg(long, env = "TASKCORE_CA_FILE")]
        ca_file: Option<PathBuf>,
    },
    /// Seed a new node's data directory from a backup (`taskctl backup`); then start it with
    /// `serve --init` (or join it to new nodes with `cluster init`): it starts a new cluster.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The new node's data directory (it must not hold a node's data).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Print a shell completion script (`taskcore completions zsh > _taskcore`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (`taskcore man > taskcore.1`).
    Man,
}

/// mimalloc instead of glibc's malloc: a node allocates and frees many small buffers per request
/// (bodies, JSON, sled's pages), and glibc spent about a fifth of a busy node's CPU in
/// `malloc`, `free` and their consolidation (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "taskcore", &mut std::io::stdout());
            Ok(())
        }
        Command::Restore { file, data_dir } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let restored = taskcore_store::restore(&data_dir.join("store"), &bytes)
                .map_err(|e| anyhow::anyhow!("cannot restore {}: {e}", file.display()))?;
            println!(
                "restored {} keys into {} as the new cluster {}; start it with `taskcore serve --init --data-dir {}`",
                restored.keys,
                data_dir.display(),
                taskcore_cluster::identity::show(&restored.cluster),
                data_dir.display()
            );
            Ok(())
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            Ok(())
        }
        Command::Serve {
            config,
            node_id,
            http_addr,
            raft_addr,
            data_dir,
            dev,
            init,
        } => {
            let flags = Overrides {
                config,
                node_id,
                http_addr,
                raft_addr,
                data_dir,
                dev,
                init,
            };
            let config = NodeConfig::resolve(&flags)?;
            taskcore::logging::init(&config.log_filter, config.log_json);
            taskcore::serve::run(config, shutdown_signal()).await
        }
        Command::Worker {
            servers,
            token,
            handlers,
            concurrency,
            worker_id,
            wait_seconds,
            shutdown_grace_seconds,
            ca_file,
        } => {
            let filter = std::env::var("TASKCORE_LOG").unwrap_or_else(|_| "info".into());
            let json = std::env::var("TASKCORE_LOG_FORMAT").is_ok_and(|f| f == "json");
            taskcore::logging::init(&filter, json);
            let args = WorkerArgs {
                servers,
                token,
                handlers,
                concurrency,
                worker_id,
                wait_seconds,
                shutdown_grace_seconds,
                ca_file,
            };
            taskcore::worker::run(args, shutdown_signal()).await
        }
    }
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
