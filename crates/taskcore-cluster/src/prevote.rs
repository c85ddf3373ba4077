//! Elections that only a node able to win may start: a pre-vote before every campaign.
//!
//! openraft 0.9 has no pre-vote: a follower cut off from its peers stands for election every
//! election timeout, raising its term each time (to 15–22 in 8 s of isolation, measured), and
//! when it comes back its term makes the healthy leader step down, stalling writes for an
//! election. So openraft's own election timer is off (`enable_elect = false`) and this task
//! drives elections instead: once a voter has heard no leader for a randomised election
//! timeout, it asks every voter whether it would vote now (`PeerRequest::PreVote`), without
//! changing any term. A voter says yes only when it has heard no leader itself for the longest
//! election timeout (a leader: when it has heard no quorum for that long). Only with a yes from
//! a majority of every voter set (joint consensus has two) does the node stand, through
//! `raft.trigger().elect()`; the election proper (terms, logs, votes) is openraft's, so safety
//! never rests on the pre-vote: it only decides when to try.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::storage::RaftLogStorage;
use openraft::{LogId, ServerState};
use rand::Rng;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::wire::{PeerRequest, PeerResponse};
use crate::{ClusterHandle, NodeId};

/// When this node last heard from a leader it accepted (or granted a vote), as milliseconds
/// since `epoch`.
pub(crate) struct LeaderContact {
    epoch: Instant,
    at_ms: AtomicU64,
    /// When a connection on which the leader's appends arrived was closed (0: never).
    lost_ms: AtomicU64,
    /// The term this node was last seen leading, and since when (within a poll).
    leading: std::sync::Mutex<Option<(u64, Instant)>>,
    /// Vote requests of other candidates being answered now.
    considering: AtomicU64,
}

/// A vote request being answered; see [`LeaderContact::considering_vote`].
pub(crate) struct Considering<'a>(&'a AtomicU64);

impl Drop for Considering<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LeaderContact {
    /// Counts from now: a node that just started has "heard" a leader now, so it waits an
    /// election timeout for the real one before asking anyone.
    pub(crate) fn new() -> Self {
        LeaderContact {
            epoch: Instant::now(),
            at_ms: AtomicU64::new(0),
            lost_ms: AtomicU64::new(0),
            leading: std::sync::Mutex::new(None),
            considering: AtomicU64::new(0),
        }
    }

    /// This node leads in `term` (noted the first time it is seen).
    pub(crate) fn leads(&self, term: u64) {
        let mut leading = self.leading.lock().unwrap_or_else(|e| e.into_inner());
        if leading.is_none_or(|(t, _)| t != term) {
            *leading = Some((term, Instant::now()));
        }
    }

    /// How long this node has led in `term`, if it was seen leading in it.
    pub(crate) fn leading_for(&self, term: u64) -> Option<Duration> {
        let leading = self.leading.lock().unwrap_or_else(|e| e.into_inner());
        leading
            .filter(|(t, _)| *t == term)
            .map(|(_, at)| at.elapsed())
    }

    /// A leader's append or snapshot was accepted, or a vote granted, now.
    pub(crate) fn heard(&self) {
        self.at_ms.fetch_max(self.now_ms(), Ordering::AcqRel);
    }

    /// A vote request from another candidate is being answered until the guard drops (a
    /// grant is noted with [`LeaderContact::heard`] before that).
    pub(crate) fn considering_vote(&self) -> Considering<'_> {
        self.considering.fetch_add(1, Ordering::AcqRel);
        Considering(&self.considering)
    }

    /// Whether this node may stand now, after a pre-vote that began when it had heard no
    /// leader for `timeout`: not if it has granted a vote since, nor while it answers one.
    ///
    /// Two followers that saw the leader die may run their pre-votes at the same moment, and
    /// both win them. If the other then stands first and this node grants it its vote,
    /// standing next would raise the term under the leader just elected, make it step down,
    /// and leave neither able to win a pre-vote for another election timeout (both have heard
    /// a leader since): that cost 0.8 s in one failover in twenty. A request counted only after
    /// this check can still reach Raft just before this node's campaign, but the window is the
    /// few microseconds until the campaign is sent, not the pre-vote's round trip and the
    /// vote's sync.
    pub(crate) fn may_stand(&self, timeout: Duration) -> bool {
        self.considering.load(Ordering::Acquire) == 0 && self.silence() >= timeout
    }

    /// A connection that carried the leader's appends was closed, now: a leader whose process
    /// dies closes them all at once (a crashed host or a cut network closes none, and is
    /// noticed by its silence alone).
    pub(crate) fn lost(&self) {
        let ms = self.now_ms().max(1);
        self.lost_ms.fetch_max(ms, Ordering::AcqRel);
    }

    /// Whether the leader's connection closed after it was last heard: it is probably gone, and
    /// this node stands as soon as the others may vote, with a fifth of the random part of the
    /// wait (see [`run`]). It changes nothing else: no voter says yes before the longest
    /// election timeout.
    pub(crate) fn leader_gone(&self) -> bool {
        self.lost_ms.load(Ordering::Acquire) > self.at_ms.load(Ordering::Acquire)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long since a leader was last heard.
    pub(crate) fn silence(&self) -> Duration {
        let at = Duration::from_millis(self.at_ms.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(at)
    }
}

impl ClusterHandle {
    /// The last entry of this node's log (`None`: empty, or unreadable).
    async fn last_log_id(&self) -> Option<LogId<NodeId>> {
        let mut log = self.inner.log.clone();
        log.get_log_state().await.ok().and_then(|s| s.last_log_id)
    }

    /// The answer to a peer's pre-vote: whether this node would vote now for a candidate whose
    /// log ends at `candidate`.
    pub(crate) async fn would_vote(&self, candidate: Option<LogId<NodeId>>) -> bool {
        // Raft's rule: a vote only for a log at least as up to date as ours. Without it, a
        // node missing the last entries keeps standing and splitting the votes.
        self.would_vote_now() && candidate >= self.last_log_id().await
    }

    fn would_vote_now(&self) -> bool {
        let inner = &self.inner;
        let m = inner.raft.metrics().borrow().clone();
        if m.state == ServerState::Leader {
            // A leader still heard by a quorum says no; one cut off says yes. One that has
            // heard no quorum yet has just been elected by one: no.
            let silence = u64::try_from(inner.election_timeout.1.as_millis()).unwrap_or(u64::MAX);
            return m.millis_since_quorum_ack.is_some_and(|ms| ms > silence);
        }
        inner.leader_contact.silence() >= inner.election_timeout.1
    }

    /// Asks every other voter whether it would vote; true when a majority of every voter set
    /// (this node's own yes included) would.
    async fn pre_vote(&self) -> bool {
        let inner = &self.inner;
        let m = inner.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        let me = inner.node_id;
        let last = self.last_log_id().await;
        let mut asks = JoinSet::new();
        for (id, node) in membership.nodes() {
            if *id == me || !membership.voter_ids().any(|v| v == *id) {
                continue;
            }
            let (id, addr, peers) = (*id, node.raft_addr.clone(), inner.peers.clone());
            let wait = inner.election_timeout.0;
            asks.spawn(async move {
                let answer = peers.call(&addr, &PeerRequest::PreVote(last), wait).await;
                (id, matches!(answer, Ok(PeerResponse::PreVote(true))))
            });
        }
        let won = |yes: &BTreeSet<NodeId>| {
            membership
                .get_joint_config()
                .iter()
                .all(|voters| voters.iter().filter(|v| yes.contains(v)).count() * 2 > voters.len())
        };
        let mut yes: BTreeSet<NodeId> = BTreeSet::from([me]);
        // Done at the first majority: a dead or cut-off peer's silence is not waited out.
        while !won(&yes) {
            match asks.join_next().await {
                Some(Ok((id, true))) => {
                    yes.insert(id);
                }
                Some(_) => {}
                None => return false,
            }
        }
        true
    }
}

/// Drives this node's elections until the task is aborted.
///
/// A voter waits, after the last leader it heard, the longest election timeout plus a random
/// part of the range, then asks. The longest election timeout is also what every voter requires
/// before it says yes, and openraft's leader lease: a voter refuses a real vote within that time
/// of hearing a leader, so asking earlier would only waste a term.
///
/// When the leader's connection closed (its process died), the random part shrinks to a
/// fifth, and a lost try is made again after half a heartbeat plus a random part of up to half
/// the range rather than a whole timeout later: the others may vote the moment their own wait
/// is over, and a node that asks the moment it may saves most of a second. (The random part of
/// the retry matters: two followers that both saw the leader die and split the votes would
/// otherwise retry in lockstep, and split them again.) The wait is slept to its end, not
/// polled. The only voter of a cluster does not wait: nobody else can lead.
pub(crate) async fn run(node: ClusterHandle, poll: Duration) {
    let (min, max) = node.inner.election_timeout;
    let spread = max.saturating_sub(min).as_millis() as u64;
    let draw = |part: u64| max + Duration::from_millis(rand::thread_rng().gen_range(0..=part));
    let mut wait = draw(spread);
    let mut quick = draw(spread / 5);
    let mut retry = Duration::ZERO;
    let mut last_try = Instant::now();
    let mut stood_alone: Option<Instant> = None;
    loop {
        let m = node.inner.raft.metrics().borrow().clone();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == node.inner.node_id);
        if m.state == ServerState::Leader {
            node.inner.leader_contact.leads(m.current_term);
        }
        if m.state == ServerState::Leader || !voter || m.running_state.is_err() {
            last_try = Instant::now();
            tokio::time::sleep(poll).await;
            continue;
        }
        let contact = &node.inner.leader_contact;
        let silence = contact.silence();
        // The only voter (a one-node cluster, or one with learners only) has no leader to wait
        // for and no vote to split: it stands at once (after a restart, where it does not lead
        // again under its old vote: see `vendor/openraft/TASKCORE-PATCH.md`), and again an
        // election timeout later if that did not make it leader (a stalled disk).
        let alone = m
            .membership_config
            .membership()
            .get_joint_config()
            .iter()
            .all(|voters| voters.len() == 1 && voters.contains(&node.inner.node_id));
        let due = if alone {
            stood_alone.map_or(Duration::ZERO, |at| max.saturating_sub(at.elapsed()))
        } else if contact.leader_gone() {
            // Asked again a fraction of a timeout after a lost try, not a whole one.
            let again = retry.saturating_sub(last_try.elapsed());
            quick.saturating_sub(silence).max(again)
        } else {
            wait.saturating_sub(silence.min(last_try.elapsed()))
        };
        if !due.is_zero() {
            tokio::time::sleep(due.min(poll)).await;
            continue;
        }
        last_try = Instant::now();
        if alone {
            stood_alone = Some(last_try);
        }
        wait = draw(spread);
        quick = draw(spread / 5);
        retry = poll / 2 + Duration::from_millis(rand::thread_rng().gen_range(0..=spread / 2));
        if node.pre_vote().await {
            if !alone && !contact.may_stand(max) {
                tracing::debug!("voted for another candidate meanwhile: not standing");
                continue;
            }
            tracing::info!(
                term = m.current_term,
                "a majority would vote: standing for election"
            );
            if let Err(e) = node.inner.raft.trigger().elect().await {
                tracing::warn!(error = %e, "could not start an election");
            }
        } else {
            tracing::debug!("pre-vote lost: not standing");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_closed_leader_connection_counts_until_the_leader_is_heard_again() {
        let contact = LeaderContact::new();
        assert!(!contact.leader_gone(), "nothing lost yet");
        tokio::time::advance(Duration::from_millis(5)).await;
        contact.heard();
        assert!(!contact.leader_gone());
        tokio::time::advance(Duration::from_millis(5)).await;
        contact.lost();
        assert!(contact.leader_gone(), "closed after it was last heard");
        // The silence still counts from the last append: losing a connection is not silence.
        assert_eq!(contact.silence(), Duration::from_millis(5));
        tokio::time::advance(Duration::from_millis(5)).await;
        contact.heard();
        assert!(!contact.leader_gone(), "a leader heard since is not gone");
        assert_eq!(contact.silence(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn no_campaign_after_a_vote_granted_or_while_one_is_answered() {
        let timeout = Duration::from_millis(800);
        let contact = LeaderContact::new();
        tokio::time::advance(Duration::from_millis(900)).await;
        assert!(
            contact.may_stand(timeout),
            "silent for longer than the timeout"
        );
        {
            let _one = contact.considering_vote();
            let two = contact.considering_vote();
            assert!(
                !contact.may_stand(timeout),
                "a vote request is being answered"
            );
            drop(two);
            assert!(!contact.may_stand(timeout), "one is still being answered");
        }
        assert!(contact.may_stand(timeout), "refused: nothing heard");
        // A grant (as the peer server notes it) restarts the wait.
        contact.heard();
        assert!(!contact.may_stand(timeout));
        tokio::time::advance(timeout).await;
        assert!(contact.may_stand(timeout));
    }
}
