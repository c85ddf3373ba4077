//! Replication of Task Core with openraft: the type configuration, the peer network on
//! `raft_addr`, forwarding of writes to the leader, read barriers, and membership changes.
//!
//! Every write reaches the state machine through [`ClusterHandle::propose`], which stamps the
//! command with the leader's time and proposes it through Raft (forwarding it to the leader
//! from a follower); every read waits on [`ClusterHandle::read_barrier`] first. A one-node
//! cluster (`--dev`) takes the same path. openraft's generic errors stay inside this crate. It
//! depends on core and store, and knows nothing of HTTP.

mod batcher;
mod clock;
mod config;
mod forwarding;
mod gather;
mod handover;
pub mod handshake;
pub mod identity;
mod network;
mod node;
mod peer_client;
mod peer_server;
pub mod peer_tls;
mod prevote;
mod read_index;
mod routing;
mod status;
mod types;
pub mod wire;

pub use batcher::{MAX_COMMAND_BYTES, MAX_ENTRY_BYTES};
pub use clock::Clock;
pub use config::ClusterConfig;
pub use forwarding::Forwarded;
pub use node::{ClusterGuard, ClusterHandle};
pub use peer_server::{HANDSHAKE_TIMEOUT, MAX_UNAUTHENTICATED};
pub use status::{ClusterStatus, MemberStatus};
pub use types::{NodeAddr, NodeId, Raft, TypeConfig};

/// Why a proposal, a read or a membership change could not be served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// No leader could take the request in time, or the node is shutting down. Nothing was
    /// applied, unless the message says the outcome is unknown.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The node's state machine stopped after a storage fault.
    #[error("storage fault: {0}")]
    Storage(String),
    /// `init` on a node that is already part of a cluster.
    #[error("the cluster is already initialised")]
    AlreadyInitialized,
    /// A membership change that cannot be made (unknown node, no voters left, …).
    #[error("{0}")]
    Invalid(String),
    /// A command too large to replicate: nothing was proposed.
    #[error("the write is {bytes} bytes encoded; at most {max} can be replicated")]
    TooLarge {
        /// Its encoded size.
        bytes: usize,
        /// [`MAX_COMMAND_BYTES`].
        max: usize,
    },
}
