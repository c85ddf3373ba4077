//! How a node takes part in the cluster.

use std::time::Duration;

use crate::{NodeAddr, NodeId};

/// The cluster settings of one node.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// This node's id.
    pub node_id: NodeId,
    /// The addresses other nodes and clients reach it at.
    pub addr: NodeAddr,
    /// The secret every peer must present.
    pub secret: String,
    /// Leader heartbeat period.
    pub heartbeat: Duration,
    /// Election timeout range (a follower that hears no leader for this long stands).
    pub election_timeout: (Duration, Duration),
    /// A snapshot is built after this many applied entries since the last one.
    pub snapshot_after_logs: u64,
    /// Entries kept in the log below the last snapshot (for slow followers).
    pub logs_to_keep: u64,
    /// How long a write or a read barrier may wait for a leader before answering 503.
    pub request_deadline: Duration,
    /// How far ahead of the wall clock [`crate::ClusterHandle::now`] reads (zero). Tests set it
    /// to play a node whose clock runs ahead of the leader's; the time the leader stamps on
    /// proposals never includes it.
    pub clock_ahead: Duration,
    /// Mutual TLS on the peer port (none: plain TCP, the HMAC handshake only).
    pub peer_tls: Option<crate::peer_tls::PeerTls>,
}

impl ClusterConfig {
    /// Defaults for a node at `addr`: a heartbeat every 100 ms, an election after 400 to
    /// 800 ms of silence (sooner when the leader's connections close), a snapshot every 10,000 entries keeping 1,000 below it, and a 5 s
    /// request deadline.
    pub fn new(node_id: NodeId, addr: NodeAddr, secret: &str) -> Self {
        ClusterConfig {
            node_id,
            addr,
            secret: secret.to_owned(),
            heartbeat: Duration::from_millis(100),
            election_timeout: (Duration::from_millis(400), Duration::from_millis(800)),
            snapshot_after_logs: 10_000,
            logs_to_keep: 1_000,
            request_deadline: Duration::from_secs(5),
            clock_ahead: Duration::ZERO,
            peer_tls: None,
        }
    }

    pub(crate) fn raft_config(&self) -> Result<openraft::Config, crate::ClusterError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let config = openraft::Config {
            cluster_name: "taskcore".into(),
            heartbeat_interval: ms(self.heartbeat),
            election_timeout_min: ms(self.election_timeout.0),
            election_timeout_max: ms(self.election_timeout.1),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_after_logs),
            max_in_snapshot_log_to_keep: self.logs_to_keep,
            // Elections are started by `prevote` once a majority would vote.
            enable_elect: false,
            ..Default::default()
        };
        config
            .validate()
            .map_err(|e| crate::ClusterError::Invalid(e.to_string()))
    }
}
