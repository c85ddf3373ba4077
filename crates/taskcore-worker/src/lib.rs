//! Task Core workers: the [`Handler`] trait a Rust service implements, the built-in handlers
//! (`noop`, `sleep:MS`, `exec:COMMAND`), and the [`Worker`] runtime that leases tasks over HTTP
//! from any node (failing over between several), renews leases with heartbeats that carry
//! progress and checkpoints, reports results, and shuts down gracefully.
//!
//! It talks to the cluster only through HTTP and the wire types (via `taskcore-client`); it
//! knows nothing of the core, the store or Raft.

mod builtin;
mod completions;
mod exec;
mod handler;
mod runtime;
mod servers;

pub use builtin::{handler_from_spec, Noop, Sleep, SpecError};
pub use exec::Exec;
pub use handler::{AttemptHandle, BoxFuture, Handler, HandlerError, Job};
pub use runtime::{Worker, WorkerConfig};
pub use servers::Servers;
