//! A node of the cluster: the Raft instance, the peer server, and the paths every write and
//! read take through it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{ChangeMembers, ServerState};
use taskcore_core::{Command, Outcome, Timestamp};
use taskcore_store::{StateMachine, Storage};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::batcher::Batcher;
use crate::clock::wall_clock;
use crate::forwarding::Forwarder;
use crate::network::PeerNetwork;
use crate::peer_client::PeerClient;
use crate::read_index::ReadRounds;
use crate::routing::{CallFailure, Routed};
use crate::status::{ClusterStatus, MemberStatus};
use crate::wire::{AdminRequest, ForwardError, PeerRequest, PeerResponse};
use crate::{ClusterConfig, ClusterError, NodeAddr, NodeId, Raft};

/// How long adding a learner may wait for it to catch up.
const LEARNER_CATCH_UP: Duration = Duration::from_secs(600);

/// How long one wait for a leader lasts before the loop looks again.
pub(crate) const LEADER_POLL: Duration = Duration::from_millis(200);

/// A receiver of this node's server metrics: its state, leader, vote and membership. They
/// change only when one of those does, unlike the full metrics, which openraft sends again
/// after every batch of work (every append, commit and apply), waking each waiter each time.
pub(crate) type MetricsWatch =
    tokio::sync::watch::Receiver<openraft::metrics::RaftServerMetrics<NodeId, NodeAddr>>;

/// A cheap, clonable handle on this node's part in the cluster.
#[derive(Clone)]
pub struct ClusterHandle {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) raft: Raft,
    pub(crate) sm: StateMachine,
    pub(crate) node_id: NodeId,
    pub(crate) addr: NodeAddr,
    pub(crate) peers: PeerClient,
    /// The secret and cluster id this node presents to peers.
    pub(crate) credentials: crate::identity::Credentials,
    pub(crate) batcher: Batcher,
    /// A follower's lanes to the leader, in which its clients' writes travel together.
    pub(crate) forwarder: Forwarder,
    committed: Arc<AtomicU64>,
    pub(crate) deadline: Duration,
    clock_ahead: Duration,
    /// The election timeout range. The longest is also how long a leader may go without hearing
    /// a quorum and still serve: by then the others may have elected another.
    pub(crate) election_timeout: (Duration, Duration),
    /// When a leader was last heard (for pre-votes).
    pub(crate) leader_contact: crate::prevote::LeaderContact,
    /// The Raft log, read for its last entry (for pre-votes).
    pub(crate) log: taskcore_store::LogStore<crate::TypeConfig>,
    /// Leadership confirmations, shared by the reads that wait for them (when leading).
    leader_reads: ReadRounds<Option<u64>, ForwardError>,
    /// Calls to the leader for its read index, shared likewise (when following).
    follower_reads: ReadRounds<Option<u64>, ForwardError>,
}

/// Owns the peer server; [`ClusterGuard::shutdown`] stops it and Raft.
pub struct ClusterGuard {
    handle: ClusterHandle,
    server: JoinHandle<()>,
    batching: JoinHandle<()>,
    elections: JoinHandle<()>,
}

impl ClusterGuard {
    /// Stops serving peers and shuts Raft down.
    pub async fn shutdown(self) {
        self.server.abort();
        self.batching.abort();
        self.elections.abort();
        if let Err(e) = self.handle.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
    }
}

impl ClusterHandle {
    /// Starts the node: Raft over `storage`, and the peer server on `raft_listener`.
    ///
    /// # Errors
    /// An invalid configuration, or storage that cannot be opened.
    pub async fn start(
        config: ClusterConfig,
        storage: &Storage,
        raft_listener: TcpListener,
    ) -> Result<(ClusterHandle, ClusterGuard), ClusterError> {
        let storage_err = |e: taskcore_store::StoreError| ClusterError::Storage(e.to_string());
        let log_store = storage.log_store().map_err(storage_err)?;
        let committed = log_store.committed_index();
        let state_machine = storage.raft_state_machine().map_err(storage_err)?;
        let log = log_store.clone();
        let identity = storage
            .identity()
            .and_then(crate::identity::Identity::stored)
            .map_err(storage_err)?;
        let credentials = crate::identity::Credentials {
            secret: config.secret.as_str().into(),
            identity,
            tls: config.peer_tls.clone(),
        };
        let peers = PeerClient::new(credentials.clone());
        let network = PeerNetwork {
            client: peers.clone(),
        };
        let raft_config = Arc::new(config.raft_config()?);
        let raft = Raft::new(
            config.node_id,
            raft_config,
            network,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| ClusterError::Unavailable(format!("raft did not start: {e}")))?;
        let (batcher, batching) = Batcher::start(raft.clone(), config.request_deadline);
        let handle = ClusterHandle {
            inner: Arc::new(Inner {
                raft,
                sm: storage.state_machine().clone(),
                node_id: config.node_id,
                addr: config.addr.clone(),
                peers: peers.clone(),
                credentials,
                batcher,
                forwarder: Forwarder::new(peers.clone()),
                committed,
                deadline: config.request_deadline,
                clock_ahead: config.clock_ahead,
                election_timeout: config.election_timeout,
                leader_contact: crate::prevote::LeaderContact::new(),
                log,
                leader_reads: ReadRounds::new(),
                follower_reads: ReadRounds::new(),
            }),
        };
        let server = tokio::spawn(crate::peer_server::serve(raft_listener, handle.clone()));
        let elections = tokio::spawn(crate::prevote::run(handle.clone(), config.heartbeat));
        let guard = ClusterGuard {
            handle: handle.clone(),
            server,
            batching,
            elections,
        };
        Ok((handle, guard))
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// The Raft instance (for tests and metrics).
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// The node's state machine, for reads after [`ClusterHandle::read_barrier`].
    pub fn state_machine(&self) -> &StateMachine {
        &self.inner.sm
    }

    /// This node's reading of the current time (for reads that need "now"). It may differ
    /// from the time the leader stamps on the next proposal: a node's clock can run ahead.
    pub fn now(&self) -> Timestamp {
        let ahead = i64::try_from(self.inner.clock_ahead.as_micros()).unwrap_or(0);
        wall_clock().plus_micros(ahead)
    }

    /// Who leads, as `metrics` shows it now. The value is marked seen: a
    /// [`ClusterHandle::wait_for_change`] on the same receiver waits for the next change.
    pub(crate) fn leader(&self, metrics: &mut MetricsWatch) -> Option<(NodeId, Option<NodeAddr>)> {
        let m = metrics.borrow_and_update();
        let id = m.current_leader?;
        Some((id, m.membership_config.membership().get_node(&id).cloned()))
    }

    /// Waits until the metrics change after [`ClusterHandle::leader`] last read them from
    /// `metrics`, or `LEADER_POLL` passes, whichever is first.
    ///
    /// The receiver must be the one the leader was read from: a fresh clone of openraft's
    /// receiver counts every change since the node started as unseen, so its `changed()`
    /// returns at once and a loop waiting on it spins (it did, trying a dead leader's address
    /// tens of thousands of times a second until the next election).
    pub(crate) async fn wait_for_change(
        &self,
        metrics: &mut MetricsWatch,
        until: Instant,
    ) -> Result<(), ClusterError> {
        if Instant::now() >= until {
            return Err(ClusterError::Unavailable(
                "no leader reachable in time".into(),
            ));
        }
        let step = until
            .saturating_duration_since(Instant::now())
            .min(LEADER_POLL);
        let _ = tokio::time::timeout(step, metrics.changed()).await;
        Ok(())
    }

    /// Proposes a command; answers with its outcome once a majority has it and this node
    /// applied it. On a follower the command goes to the leader, which stamps it.
    ///
    /// # Errors
    /// [`ClusterError::Unavailable`] when no leader took it within the deadline. Nothing was
    /// applied then, except when the leader went silent after receiving it (the message says
    /// so): idempotency keys make a client's resend safe.
    pub async fn propose(&self, cmd: Command) -> Result<Outcome, ClusterError> {
        if let Some(fault) = self.inner.sm.fault() {
            return Err(ClusterError::Storage(fault));
        }
        // Measured once, here, before any forwarding: nothing too large to replicate is proposed.
        let bytes = match crate::batcher::command_size(&cmd) {
            Ok(bytes) => bytes,
            Err(ForwardError::TooLarge(bytes, max)) => {
                return Err(ClusterError::TooLarge { bytes, max })
            }
            Err(e) => return Err(ClusterError::Unavailable(e.to_string())),
        };
        let until = Instant::now() + self.inner.deadline;
        // Sent with the other writes bound for the leader (see `forwarding`).
        let forward = |addr: &str, wait| {
            let (addr, cmd) = (addr.to_owned(), cmd.clone());
            async move {
                let forwarder = &self.inner.forwarder;
                forwarder.forward(&addr, cmd, bytes, wait).await
            }
        };
        let here = || self.inner.batcher.propose(cmd.clone(), bytes, until);
        self.on_leader(until, None, forward, here)
            .await
            .map_err(|e| match e {
                Routed::Failed(why) | Routed::Unavailable(why) => ClusterError::Unavailable(why),
            })
    }

    /// Waits until this node has applied every write acknowledged before the call, on any node,
    /// so that a read that follows sees them: the leader confirms its leadership with a quorum;
    /// a follower asks the leader for its read index and waits to apply that far.
    ///
    /// # Errors
    /// [`ClusterError::Unavailable`] when no leader answered within the deadline.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        if let Some(fault) = self.inner.sm.fault() {
            return Err(ClusterError::Storage(fault));
        }
        let until = Instant::now() + self.inner.deadline;
        let mut metrics = self.inner.raft.server_metrics();
        loop {
            match self.leader(&mut metrics) {
                Some((id, _)) if id == self.inner.node_id => {
                    let left = until.saturating_duration_since(Instant::now());
                    if let Ok(Ok(index)) = tokio::time::timeout(left, self.read_index()).await {
                        return self.applied_up_to(index, until).await;
                    }
                }
                Some((_, Some(leader))) => {
                    // A read index is safe to ask again, of whoever leads by then: a leader
                    // that does not answer within an election timeout (cut off, paused) is
                    // given up on, so a read reaching the majority just as its leader is cut
                    // off is served by the next leader instead of waiting out the deadline.
                    let left = until
                        .saturating_duration_since(Instant::now())
                        .min(self.inner.election_timeout.1)
                        .max(LEADER_POLL);
                    // One call in flight serves every read that arrived before it was sent.
                    let asked = self.inner.follower_reads.share(|| async {
                        match self
                            .inner
                            .peers
                            .call(&leader.raft_addr, &PeerRequest::ReadIndex, left)
                            .await
                        {
                            Ok(PeerResponse::ReadIndex(answer)) => answer,
                            Ok(_) => Err(ForwardError::Failed("unexpected answer".into())),
                            Err(e) => Err(ForwardError::Failed(e.to_string())),
                        }
                    });
                    if let Ok(index) = asked.await {
                        return self.applied_up_to(index, until).await;
                    }
                }
                _ => {}
            }
            self.wait_for_change(&mut metrics, until).await?;
        }
    }

    /// Waits until this node has applied the log up to `index`.
    async fn applied_up_to(&self, index: Option<u64>, until: Instant) -> Result<(), ClusterError> {
        let left = until.saturating_duration_since(Instant::now());
        self.inner
            .raft
            .wait(Some(left))
            .applied_index_at_least(index, "read barrier")
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Unavailable(e.to_string()))
    }

    /// The read index of a leader: the log index a linearizable read must wait for, from a
    /// confirmation of leadership that began after the call (shared with the reads, local or
    /// forwarded, that arrived meanwhile: see [`crate::read_index`]).
    pub(crate) async fn read_index(&self) -> Result<Option<u64>, ForwardError> {
        self.inner
            .leader_reads
            .share(|| async {
                match self.inner.raft.get_read_log_id().await {
                    Ok((read, _applied)) => Ok(read.map(|l| l.index)),
                    Err(RaftError::APIError(
                        openraft::error::CheckIsLeaderError::ForwardToLeader(f),
                    )) => Err(ForwardError::NotLeader(f.leader_id)),
                    Err(e) => Err(ForwardError::Failed(e.to_string())),
                }
            })
            .await
    }

    /// Whether the node can serve: it knows a leader, has applied what it committed, and, if it
    /// leads, has heard from a quorum within the longest election timeout.
    pub fn is_ready(&self) -> bool {
        let m = self.inner.raft.metrics().borrow().clone();
        let applied = m.last_applied.map_or(0, |l| l.index + 1);
        m.running_state.is_ok()
            && m.current_leader.is_some()
            && self.inner.sm.fault().is_none()
            && applied >= self.inner.committed.load(Ordering::Acquire)
            && self.leads_a_quorum_or_follows(&m)
    }

    /// False for a leader that has not heard from a quorum within an election timeout: cut off
    /// from its followers, it still believes it leads but can serve nothing (every write and
    /// read waits for a quorum), so it must not call itself ready.
    fn leads_a_quorum_or_follows(&self, m: &openraft::RaftMetrics<NodeId, NodeAddr>) -> bool {
        let leads = m.current_leader == Some(self.inner.node_id);
        let alone = m
            .membership_config
            .membership()
            .voter_ids()
            .eq([self.inner.node_id]);
        if !leads || alone {
            return true;
        }
        let silence = u64::try_from(self.inner.election_timeout.1.as_millis()).unwrap_or(u64::MAX);
        m.millis_since_quorum_ack.is_some_and(|ms| ms <= silence)
    }

    /// Waits until the node is ready (see [`ClusterHandle::is_ready`]); false when `timeout`
    /// passed first.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut metrics = self.inner.raft.metrics();
        loop {
            if self.is_ready() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            // Applying and committing both show in the metrics; a short step covers the
            // committed index, which is saved outside them.
            let step = left.min(Duration::from_millis(20));
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(step, metrics.changed()).await;
        }
    }

    /// Initialises a new cluster with these voters (none: this node alone).
    ///
    /// # Errors
    /// [`ClusterError::AlreadyInitialized`] on a node that already belongs to a cluster.
    pub async fn init(&self, mut voters: BTreeMap<NodeId, NodeAddr>) -> Result<(), ClusterError> {
        if voters.is_empty() {
            voters.insert(self.inner.node_id, self.inner.addr.clone());
        }
        if self.is_initialized().await? {
            return Err(ClusterError::AlreadyInitialized);
        }
        let cluster = self
            .inner
            .credentials
            .identity
            .ensure()
            .map_err(ClusterError::Storage)?;
        tracing::info!(cluster = %crate::identity::show(&cluster), "initialising a cluster");
        match self.inner.raft.initialize(voters).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                Err(ClusterError::AlreadyInitialized)
            }
            Err(e) => Err(ClusterError::Invalid(e.to_string())),
        }
    }

    /// Whether this node has ever been part of an initialised cluster.
    ///
    /// # Errors
    /// Raft stopped.
    pub async fn is_initialized(&self) -> Result<bool, ClusterError> {
        self.inner
            .raft
            .is_initialized()
            .await
            .map_err(|e| ClusterError::Unavailable(e.to_string()))
    }

    /// Runs a membership change on the leader (forwarding it there); answers the members.
    ///
    /// # Errors
    /// [`ClusterError::Invalid`] for a change that cannot be made, `Unavailable` without a
    /// leader.
    pub async fn admin(
        &self,
        req: AdminRequest,
    ) -> Result<BTreeMap<NodeId, NodeAddr>, ClusterError> {
        let until = Instant::now() + self.inner.deadline;
        let forward = |addr: &str, wait| {
            let request = PeerRequest::Admin(req.clone());
            let peers = self.inner.peers.clone();
            let addr = addr.to_owned();
            async move {
                match peers.call(&addr, &request, wait).await {
                    Ok(PeerResponse::Admin(result)) => Ok(result),
                    Ok(_) => Err(CallFailure::Unexpected),
                    Err(e) => Err(e.into()),
                }
            }
        };
        let here = || self.admin_here(req.clone());
        // Adding a learner waits for it to catch up: no deadline on the call but the peer's.
        let call = Some(LEARNER_CATCH_UP);
        self.on_leader(until, call, forward, here)
            .await
            .map_err(|e| match e {
                Routed::Failed(why) => ClusterError::Invalid(why),
                Routed::Unavailable(why) => ClusterError::Unavailable(why),
            })
    }

    /// Runs a membership change on this node, which believes it leads.
    pub(crate) async fn admin_here(
        &self,
        req: AdminRequest,
    ) -> Result<BTreeMap<NodeId, NodeAddr>, ForwardError> {
        let raft = &self.inner.raft;
        let result = match req {
            AdminRequest::AddLearner { id, addr } => {
                // A node of another cluster (or secret, or protocol) is refused at once with
                // the handshake's reason; one that is not up yet may still come.
                if let Err(crate::wire::WireError::Refused(why)) = self
                    .inner
                    .peers
                    .probe(&addr.raft_addr, crate::HANDSHAKE_TIMEOUT)
                    .await
                {
                    return Err(ForwardError::Failed(format!(
                        "node {id} at {} refused this cluster: {why}",
                        addr.raft_addr
                    )));
                }
                let added = raft.add_learner(id, addr, true).await;
                if let Ok(resp) = &added {
                    self.wait_caught_up(id, resp.log_id.index).await?;
                }
                added
            }
            AdminRequest::ChangeVoters { voters } => {
                if voters.is_empty() {
                    return Err(ForwardError::Failed(
                        "a cluster needs at least one voter".into(),
                    ));
                }
                raft.change_membership(voters.into_iter().collect::<BTreeSet<_>>(), true)
                    .await
            }
            AdminRequest::RemoveNode { id } => {
                let m = raft.metrics().borrow().membership_config.clone();
                let voters: BTreeSet<NodeId> = m.membership().voter_ids().collect();
                if voters.contains(&id) {
                    if voters.len() == 1 {
                        return Err(ForwardError::Failed("cannot remove the last voter".into()));
                    }
                    let rest: BTreeSet<NodeId> =
                        voters.iter().copied().filter(|v| *v != id).collect();
                    if let Err(e) = raft.change_membership(rest, true).await {
                        return Err(admin_error(e));
                    }
                }
                if m.membership().get_node(&id).is_none() {
                    return Err(ForwardError::Failed(format!("node {id} is not a member")));
                }
                raft.change_membership(ChangeMembers::RemoveNodes([id].into()), false)
                    .await
            }
        };
        match result {
            Ok(_) => {
                let m = raft.metrics().borrow().membership_config.clone();
                Ok(m.membership()
                    .nodes()
                    .map(|(id, n)| (*id, n.clone()))
                    .collect())
            }
            Err(e) => Err(admin_error(e)),
        }
    }

    /// Waits until the leader has replicated up to `index` to `id`. openraft's own blocking
    /// `add_learner` returns once the lag is under its threshold (thousands of entries); the
    /// contract answers only when the learner has everything.
    async fn wait_caught_up(&self, id: NodeId, index: u64) -> Result<(), ForwardError> {
        let caught_up = move |m: &openraft::RaftMetrics<NodeId, NodeAddr>| {
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).copied().flatten());
            matched.is_some_and(|l| l.index >= index)
        };
        self.inner
            .raft
            .wait(Some(LEARNER_CATCH_UP))
            .metrics(caught_up, "learner caught up")
            .await
            .map(|_| ())
            .map_err(|e| ForwardError::Failed(format!("the learner did not catch up: {e}")))
    }

    /// This node's view of the cluster.
    pub fn status(&self) -> ClusterStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let learners: Vec<NodeId> = membership.learner_ids().collect();
        let state = match m.state {
            ServerState::Leader => "leader",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Follower if !voters.contains(&m.id) => "learner",
            ServerState::Follower => "follower",
            ServerState::Shutdown => "shutdown",
        };
        let last = m.last_log_index.unwrap_or(0);
        let replication = m.replication.as_ref().map(|r| {
            r.iter()
                .map(|(id, matched)| {
                    let matched = matched.map(|l| l.index);
                    (
                        *id,
                        MemberStatus {
                            matched,
                            lag: last.saturating_sub(matched.unwrap_or(0)),
                        },
                    )
                })
                .collect()
        });
        ClusterStatus {
            node_id: m.id,
            state: state.to_owned(),
            leader_id: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            voters,
            learners,
            nodes: membership.nodes().map(|(id, n)| (*id, n.clone())).collect(),
            snapshot: m.snapshot.map(|l| l.index),
            replication,
        }
    }
}

fn admin_error(e: RaftError<NodeId, ClientWriteError<NodeId, NodeAddr>>) -> ForwardError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            ForwardError::NotLeader(f.leader_id)
        }
        other => ForwardError::Failed(other.to_string()),
    }
}
