//! The replication seam of Task Core: every write reaches the state machine through
//! [`ClusterHandle::propose`], and every read waits on [`ClusterHandle::read_barrier`] first.
//!
//! Today a node is a cluster of one: proposals are stamped with the node's time, applied in
//! group commits (one sled batch and one flush for all the proposals waiting) and answered when
//! durable. The Raft issue replaces the inside of this crate — the applier becomes openraft's
//! `client_write` on the leader — and nothing outside it. It depends on core and store only, and
//! knows nothing of HTTP.

mod clock;
mod local;

pub use clock::Clock;
pub use local::{ApplierGuard, ClusterHandle};

/// Why a proposal or a read could not be served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// No leader could take the write in time, or the node is shutting down.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The node's state machine stopped after a storage fault.
    #[error("storage fault: {0}")]
    Storage(String),
}
