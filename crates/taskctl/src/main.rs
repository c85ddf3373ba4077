//! `taskctl`: administer Task Core nodes and work with tasks from the command line.

mod bulk;
mod cli;
mod cluster;
mod commands;
mod detail;
mod node;
mod periodic;
mod table;

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = cli::Cli::parse();
    if let Err(e) = commands::run(cli).await {
        eprintln!("taskctl: {e:#}");
        std::process::exit(1);
    }
}
