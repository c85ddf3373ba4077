//! Cluster administration bodies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The addresses of a member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeAddrBody {
    /// Where clients reach it (`host:port`).
    pub http_addr: String,
    /// Where peers reach it (`host:port`).
    pub raft_addr: String,
}

/// A member's replication, as the leader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicationBody {
    /// The last log index known replicated to it.
    pub matched: Option<u64>,
    /// Entries it is behind the leader's log.
    pub lag: u64,
}

/// The voters, the learners and every member's addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MembershipBody {
    /// Voting members.
    pub voters: Vec<u64>,
    /// Non-voting members.
    pub learners: Vec<u64>,
    /// Node id (as a string key) → addresses.
    pub nodes: BTreeMap<String, NodeAddrBody>,
}

/// `GET /cluster/status/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterStatusBody {
    /// The answering node.
    pub node_id: u64,
    /// `leader`, `follower`, `candidate` or `learner`.
    pub state: String,
    /// The leader it knows.
    pub leader_id: Option<u64>,
    /// The current term.
    pub term: u64,
    /// The last log index it holds.
    pub last_log_index: Option<u64>,
    /// The last log index it applied.
    pub last_applied: Option<u64>,
    /// The membership.
    pub membership: MembershipBody,
    /// The last log index its snapshot covers.
    pub snapshot: Option<u64>,
    /// On the leader: node id → replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<BTreeMap<String, ReplicationBody>>,
}

/// `POST /cluster/init/`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitRequest {
    /// Node id → addresses of the first voters; absent or empty: the answering node alone.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeAddrBody>,
}

/// `POST /cluster/learners/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LearnerRequest {
    /// The new node's id.
    pub node_id: u64,
    /// Where clients reach it.
    pub http_addr: String,
    /// Where peers reach it.
    pub raft_addr: String,
}

/// `POST /cluster/membership/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MembershipRequest {
    /// The new voter set (every id already a member).
    pub voters: Vec<u64>,
}

/// `GET /status`: how one node is doing (no token needed, like `/metrics`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeStatusBody {
    /// It knows a leader and has applied what it committed (as `/readyz`).
    pub ready: bool,
    /// It leads the cluster.
    pub leader: bool,
    /// The leader's id, as this node knows it.
    pub leader_id: Option<u64>,
    /// The Raft term.
    pub term: u64,
    /// Last log index held.
    pub last_log_index: u64,
    /// Last log index applied.
    pub last_applied: u64,
    /// The leader's actors run here.
    pub scheduler_running: bool,
    /// Tasks in the replicated state.
    pub tasks: u64,
    /// Pending tasks per priority (`critical`, `high`, `normal`, `low`).
    pub queue_depth: BTreeMap<String, u64>,
    /// Attempts holding a lease.
    pub leases_held: u64,
    /// Lease requests waiting on this node.
    pub long_polls: u64,
    /// Attempts by how they ended (`leased`, `completed`, `failed`, `expired`, `timed_out`,
    /// `released`) and `retried`, `exhausted`, since the node started.
    pub attempts: BTreeMap<String, u64>,
    /// Finished tasks deleted by the retention policy, since the node started.
    pub purged: u64,
}
