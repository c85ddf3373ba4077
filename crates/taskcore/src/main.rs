//! `taskcore`: runs a Task Core node.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use taskcore::config::{NodeConfig, Overrides};

#[derive(Parser)]
#[command(
    name = "taskcore",
    version,
    about = "Task Core: a distributed job scheduler node"
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Command::Serve {
        config,
        node_id,
        http_addr,
        raft_addr,
        data_dir,
        dev,
        init,
    } = Cli::parse().command;
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
