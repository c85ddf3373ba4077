//! openraft's type configuration for Task Core, and the address of a node.

use std::io::Cursor;

use serde::{Deserialize, Serialize};
use taskcore_core::{Batch, Outcome};

/// The addresses of a cluster member, as the membership records them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    /// Where clients reach the node (`host:port`).
    pub http_addr: String,
    /// Where peers reach the node (`host:port`).
    pub raft_addr: String,
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http={} raft={}", self.http_addr, self.raft_addr)
    }
}

openraft::declare_raft_types!(
    /// Entries carry a [`Batch`] of proposals (commands stamped with leader time); applying one
    /// answers their [`Outcome`]s in order (none for blank and membership entries).
    pub TypeConfig:
        D = Batch,
        R = Vec<Outcome>,
        NodeId = u64,
        Node = NodeAddr,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

/// The Raft node.
pub type Raft = openraft::Raft<TypeConfig>;
/// A node id.
pub type NodeId = u64;
