//! What `GET /cluster/status/` reports, read from openraft's metrics.

use std::collections::BTreeMap;

use crate::{NodeAddr, NodeId};

/// One member's replication, as the leader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    /// The last log index known to be replicated to it.
    pub matched: Option<u64>,
    /// How many entries it is behind the leader's log.
    pub lag: u64,
}

/// A node's view of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This node.
    pub node_id: NodeId,
    /// `leader`, `follower`, `candidate` or `learner` (`shutdown` once stopped).
    pub state: String,
    /// The leader it knows.
    pub leader_id: Option<NodeId>,
    /// The current term.
    pub term: u64,
    /// The last log index it holds.
    pub last_log_index: Option<u64>,
    /// The last log index it applied.
    pub last_applied: Option<u64>,
    /// The voters.
    pub voters: Vec<NodeId>,
    /// The learners.
    pub learners: Vec<NodeId>,
    /// Every member's addresses.
    pub nodes: BTreeMap<NodeId, NodeAddr>,
    /// The last log index its snapshot covers.
    pub snapshot: Option<u64>,
    /// On the leader: every other member's replication.
    pub replication: Option<BTreeMap<NodeId, MemberStatus>>,
}
