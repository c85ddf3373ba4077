//! The Task Core node and worker: configuration, wiring of store, cluster, scheduler and edge,
//! the embedded worker of `--dev`, signals and shutdown.
//!
//! `main.rs` only parses arguments; [`serve::run`] does the work, so that tests can run a node
//! in-process with their own shutdown signal.

pub mod config;
pub mod dev;
pub mod env_config;
pub mod logging;
pub mod secrets;
pub mod serve;
pub mod worker;
