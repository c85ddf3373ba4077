//! Handing leadership over before a leader stops, so that a rolling restart costs a round trip
//! instead of an election timeout.
//!
//! openraft 0.9 has no leadership transfer, so it is built from what it has, as Raft's thesis
//! describes it (§3.10): the leader picks a voter whose log matches its own, and sends it
//! `TimeoutNow`; the voter checks the request comes from the leader it follows in the current term
//! and stands at once (`raft.trigger().elect()`, no pre-vote). openraft's vote rules are
//! untouched. The leader first stops taking writes, so that the log stops growing and the voter
//! can match it. The old leader grants the vote because the candidate's log is as long as its own
//! and its own lease, counted from its election, has run out; that vote and the candidate's make
//! a majority of three. In a larger cluster the other voters refuse until their lease (the longest
//! election timeout after the last heartbeat) runs out, so the leader repeats the request until a
//! new leader is known or `within` has passed. Safety rests on openraft's election alone; a
//! handover that fails leaves what a leader's failure leaves.

use std::time::Duration;

use openraft::ServerState;
use tokio::time::Instant;

use crate::wire::{PeerRequest, PeerResponse};
use crate::{ClusterHandle, NodeId};

impl ClusterHandle {
    /// If this node leads, hands leadership to the most up-to-date voter and waits (at most
    /// `within`) until another leader is known. Call it when the node stops serving writes.
    /// Answers the new leader, or `None` when nothing was handed over (not the leader, the only
    /// voter, or no voter caught up or elected in time).
    pub async fn hand_over(&self, within: Duration) -> Option<NodeId> {
        let inner = &self.inner;
        let until = Instant::now() + within;
        let mut metrics = inner.raft.metrics();
        // The old leader's vote counts only once its own lease has run out.
        let lease = inner.election_timeout.1 + Duration::from_millis(20);
        let (term, leading) = {
            let m = metrics.borrow();
            (m.current_term, m.state == ServerState::Leader)
        };
        if !leading {
            return None;
        }
        // Not seen leading yet (it is noted every heartbeat): it has just been elected.
        let age = inner.leader_contact.leading_for(term).unwrap_or_default();
        if age < lease {
            tokio::time::sleep_until((Instant::now() + (lease - age)).min(until)).await;
        }
        // Raft's transfer: no new writes, so that the chosen voter can catch up with a log that
        // stops growing (writes sent meanwhile wait for the next leader, as after a failure).
        inner.batcher.close();
        if !inner.batcher.drained(until).await {
            tracing::warn!("writes under way did not finish in time; not handing over");
            return None;
        }
        loop {
            let m = metrics.borrow().clone();
            if m.state != ServerState::Leader {
                return self.new_leader(until).await;
            }
            let membership = m.membership_config.membership().clone();
            let matched = m.replication.as_ref().and_then(|r| {
                r.iter()
                    .filter(|(id, _)| {
                        **id != inner.node_id && membership.voter_ids().any(|v| v == **id)
                    })
                    .filter_map(|(id, log)| log.map(|l| (l.index, *id)))
                    .max()
            });
            let Some((index, target)) = matched else {
                tracing::info!("no other voter to hand leadership to");
                return None;
            };
            if Instant::now() >= until {
                tracing::warn!("leadership not handed over in time");
                return None;
            }
            if Some(index) < m.last_log_index {
                // Wait for it to catch up (a metrics change), then look again.
                let _ = tokio::time::timeout_at(until, metrics.changed()).await;
                continue;
            }
            let addr = membership.get_node(&target)?.raft_addr.clone();
            let ask = PeerRequest::TimeoutNow {
                leader: inner.node_id,
                term: m.current_term,
            };
            let step = inner.election_timeout.0;
            match inner.peers.call(&addr, &ask, step).await {
                Ok(PeerResponse::TimeoutNow(true)) => {
                    tracing::info!(to = target, "handing leadership over");
                }
                other => tracing::debug!(to = target, answer = ?other, "TimeoutNow not taken"),
            }
            // Wait a little for the election; then look again (and ask again if need be).
            let wait = (Instant::now() + step).min(until);
            let _ = tokio::time::timeout_at(
                wait,
                inner
                    .raft
                    .wait(None)
                    .metrics(|m| m.state != ServerState::Leader, "stepped down"),
            )
            .await;
        }
    }

    /// Once this node stepped down: waits (until `until`) to hear from the new leader, which
    /// shows that leader is established.
    async fn new_leader(&self, until: Instant) -> Option<NodeId> {
        let me = self.inner.node_id;
        let left = until.saturating_duration_since(Instant::now());
        self.inner
            .raft
            .wait(Some(left))
            .metrics(
                |m| m.current_leader.is_some_and(|l| l != me),
                "a new leader is heard",
            )
            .await
            .ok()
            .and_then(|m| m.current_leader)
    }

    /// The answer to `TimeoutNow`: stands for election at once if `leader` is the leader this
    /// voter follows in `term`.
    pub(crate) async fn timeout_now(&self, leader: NodeId, term: u64) -> bool {
        let inner = &self.inner;
        let m = inner.raft.metrics().borrow().clone();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == inner.node_id);
        if !voter
            || m.state != ServerState::Follower
            || m.current_leader != Some(leader)
            || m.current_term != term
        {
            return false;
        }
        tracing::info!(
            from = leader,
            term,
            "the leader hands over: standing for election"
        );
        inner.raft.trigger().elect().await.is_ok()
    }
}
