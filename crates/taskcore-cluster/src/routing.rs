//! Sending a request to wherever the leader is: served here when this node leads, over the
//! peer protocol otherwise, and looked for again only when it provably was not served.

use std::time::Duration;

use tokio::time::Instant;

use crate::node::LEADER_POLL;
use crate::peer_client::CallError;
use crate::wire::ForwardError;
use crate::ClusterHandle;

/// How a request routed to the leader ended without an answer.
pub(crate) enum Routed {
    /// The leader refused or failed it.
    Failed(String),
    /// No leader served it in time, or its answer never came (it may have been served).
    Unavailable(String),
}

/// Why a call to the leader brought no answer: whether the request may have been served is
/// part of it.
#[derive(Clone, Debug)]
pub(crate) enum CallFailure {
    /// Nothing was sent: safe to look for the leader again.
    NotSent(String),
    /// Sent, but no answer came (or not in time): it may have been served.
    Unanswered(String),
    /// The leader answered something else than the request asks for.
    Unexpected,
}

impl From<CallError> for CallFailure {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Unreachable(_) => CallFailure::NotSent(e.to_string()),
            // Too large for a frame: nothing was sent, but sending it again would not help.
            CallError::NoAnswer(_) | CallError::Timeout | CallError::TooLarge(_) => {
                CallFailure::Unanswered(e.to_string())
            }
        }
    }
}

impl ClusterHandle {
    /// Runs a request on the leader until `until`: `here` when this node leads, else
    /// `send(leader's raft address, wait)`, which asks the leader over the peer protocol
    /// (each call waits `call_timeout`, or until `until`).
    pub(crate) async fn on_leader<T, F, S>(
        &self,
        until: Instant,
        call_timeout: Option<Duration>,
        send: impl Fn(&str, Duration) -> S,
        here: impl Fn() -> F,
    ) -> Result<T, Routed>
    where
        F: std::future::Future<Output = Result<T, ForwardError>>,
        S: std::future::Future<Output = Result<Result<T, ForwardError>, CallFailure>>,
    {
        let mut metrics = self.inner.raft.server_metrics();
        loop {
            match self.leader(&mut metrics) {
                Some((id, _)) if id == self.node_id() => match here().await {
                    Err(ForwardError::NotLeader(_)) => {}
                    Err(e) => return Err(Routed::Failed(e.to_string())),
                    Ok(value) => return Ok(value),
                },
                Some((id, Some(leader))) => {
                    let wait = call_timeout.unwrap_or_else(|| {
                        until
                            .saturating_duration_since(Instant::now())
                            .max(LEADER_POLL)
                    });
                    let call = send(&leader.raft_addr, wait);
                    // A leader replaced while it holds the request (paused, cut off) will not
                    // answer in time: say so now rather than at the deadline.
                    let called = tokio::select! {
                        called = call => called,
                        () = self.leader_replaced(id) => return Err(Routed::Unavailable(
                            "the leader changed while it held the request; it may or may not have been served".into(),
                        )),
                    };
                    match called {
                        Ok(Ok(value)) => return Ok(value),
                        Ok(Err(ForwardError::NotLeader(_))) => {}
                        Ok(Err(e)) => return Err(Routed::Failed(e.to_string())),
                        Err(CallFailure::Unexpected) => {
                            return Err(Routed::Unavailable("unexpected answer from the leader".into()))
                        }
                        // Nothing was sent: safe to look for the leader again.
                        Err(CallFailure::NotSent(why)) => {
                            tracing::debug!(%why, leader = id, "nothing sent to the leader; looking again");
                            self.inner.peers.forget(&leader.raft_addr);
                        }
                        Err(CallFailure::Unanswered(e)) => {
                            return Err(Routed::Unavailable(format!(
                                "the leader did not answer ({e}); the request may or may not have been served"
                            )))
                        }
                    }
                }
                _ => {}
            }
            if self.wait_for_change(&mut metrics, until).await.is_err() {
                return Err(Routed::Unavailable("no leader reachable in time".into()));
            }
        }
    }
}

impl ClusterHandle {
    /// Resolves once another node than `id` is known to lead.
    async fn leader_replaced(&self, id: crate::NodeId) {
        let mut metrics = self.inner.raft.server_metrics();
        loop {
            let now = metrics.borrow_and_update().current_leader;
            if now.is_some_and(|l| l != id) {
                return;
            }
            if metrics.changed().await.is_err() {
                // Raft stopped: nothing will change again.
                std::future::pending::<()>().await;
            }
        }
    }
}
