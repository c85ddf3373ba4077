//! Coalesced forwarding: a follower's writes travel to the leader together.
//!
//! A follower sends the writes its clients make to the leader. One peer request per write
//! costs a frame, a round trip and a connection each; instead, writes bound for the same
//! leader queue in a lane, and the lane sends what queued while its requests were in flight as
//! one [`PeerRequest::ForwardMany`] (a lone write still goes as [`PeerRequest::Forward`]). The
//! leader queues them in the same order for its next batch, so that under load many forwarded
//! writes share one request, one log entry and one flush.
//!
//! Each write keeps its own answer and its own routing rules (see `routing`): the lane's call
//! failing before anything was sent lets every write in it look for the leader again; failing
//! after, it tells each that it may or may not have been served.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskcore_core::{Command, Outcome};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use crate::gather::gather;
use crate::peer_client::PeerClient;
use crate::routing::CallFailure;
use crate::wire::{ForwardError, PeerRequest, PeerResponse};

/// Writes in one forwarded request at most (the leader's batches hold as many).
pub(crate) const MAX_FORWARD_WRITES: usize = 512;
/// Encoded bytes of the writes in one forwarded request at most (one write alone always fits).
const MAX_FORWARD_BYTES: usize = 2 * crate::MAX_ENTRY_BYTES;
/// Requests in flight per lane: while they are, the next writes gather behind them.
const IN_FLIGHT: usize = 4;
/// Writes waiting in a lane at most; more wait to be queued.
const QUEUE: usize = 4 * 1024;
/// A lane with nothing to send for this long ends (the leader may have changed for good).
const IDLE: Duration = Duration::from_secs(30);

type Answer = Result<Result<Outcome, ForwardError>, CallFailure>;

/// A write waiting in a lane.
struct Waiting {
    cmd: Command,
    bytes: usize,
    until: Instant,
    reply: oneshot::Sender<Answer>,
}

impl crate::gather::Queued for Waiting {
    fn bytes(&self) -> usize {
        self.bytes
    }
    // A caller that gave up (its deadline passed while it waited) was told it may not be
    // served: it is not sent.
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}

/// The lanes of this node, one per leader address written to recently.
pub(crate) struct Forwarder {
    peers: PeerClient,
    lanes: Mutex<HashMap<String, mpsc::Sender<Waiting>>>,
    sent: Arc<Counts>,
}

/// Writes this node forwarded to a leader, and the requests that carried them.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    writes: AtomicU64,
}

/// What a node forwarded to the leader since it started (see [`crate::ClusterHandle::forwarded`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Peer requests sent, each carrying one write or several.
    pub requests: u64,
    /// Writes they carried.
    pub writes: u64,
}

impl Forwarder {
    /// No lane yet; calls go out through `peers`.
    pub(crate) fn new(peers: PeerClient) -> Self {
        Forwarder {
            peers,
            lanes: Mutex::default(),
            sent: Arc::default(),
        }
    }

    /// What went out so far.
    pub(crate) fn forwarded(&self) -> Forwarded {
        Forwarded {
            requests: self.sent.requests.load(Ordering::Relaxed),
            writes: self.sent.writes.load(Ordering::Relaxed),
        }
    }

    /// Forwards `cmd` (of `bytes` encoded bytes) to the leader at `addr`, with the writes
    /// queued beside it, and waits at most `wait` for its answer.
    ///
    /// # Errors
    /// [`CallFailure`], as a call of its own would have failed.
    pub(crate) async fn forward(
        &self,
        addr: &str,
        cmd: Command,
        bytes: usize,
        wait: Duration,
    ) -> Answer {
        let until = Instant::now() + wait;
        let (reply, answer) = oneshot::channel();
        let mut waiting = Waiting {
            cmd,
            bytes,
            until,
            reply,
        };
        // A lane that just ended for idleness refuses the write: a new one takes it.
        for _ in 0..2 {
            let lane = self.lane(addr);
            match tokio::time::timeout_at(until, lane.send(waiting)).await {
                Ok(Ok(())) => {
                    return match tokio::time::timeout_at(until, answer).await {
                        Ok(Ok(answer)) => answer,
                        Ok(Err(_)) => Err(CallFailure::Unanswered("forwarding stopped".into())),
                        Err(_) => Err(CallFailure::Unanswered("timed out".into())),
                    };
                }
                Ok(Err(mpsc::error::SendError(back))) => {
                    self.ended(addr, &lane);
                    waiting = back;
                }
                Err(_) => return Err(CallFailure::NotSent("the forwarding queue is full".into())),
            }
        }
        Err(CallFailure::NotSent("no forwarding lane".into()))
    }

    /// The lane to `addr`, started if there is none.
    fn lane(&self, addr: &str) -> mpsc::Sender<Waiting> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lane) = lanes.get(addr).filter(|l| !l.is_closed()) {
            return lane.clone();
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let lane = Lane {
            peers: self.peers.clone(),
            addr: addr.to_owned(),
            sent: self.sent.clone(),
        };
        tokio::spawn(run(lane, rx));
        lanes.insert(addr.to_owned(), tx.clone());
        tx
    }

    /// Forgets `lane` (closed) unless another already replaced it.
    fn ended(&self, addr: &str, lane: &mpsc::Sender<Waiting>) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if lanes.get(addr).is_some_and(|l| l.same_channel(lane)) {
            lanes.remove(addr);
        }
    }
}

/// Forwarded writes as the leader receives them, and what a follower sent.
impl crate::ClusterHandle {
    /// What this node forwarded to a leader since it started: writes, and the peer requests
    /// that carried them (fewer when writes travelled together).
    pub fn forwarded(&self) -> crate::Forwarded {
        self.inner.forwarder.forwarded()
    }

    /// Proposes on this node, which believes it leads, in the next batch.
    /// (A forwarded write: the request deadline runs from its arrival here.)
    pub(crate) async fn propose_here(&self, cmd: Command) -> Result<Outcome, ForwardError> {
        let bytes = crate::batcher::command_size(&cmd)?;
        let until = Instant::now() + self.inner.deadline;
        self.inner.batcher.propose(cmd, bytes, until).await
    }

    /// Proposes forwarded commands on this node, which believes it leads: all are queued, in
    /// order, before any answer is awaited, so that they share batches.
    pub(crate) async fn propose_many_here(
        &self,
        cmds: Vec<Command>,
    ) -> Vec<Result<Outcome, ForwardError>> {
        let until = Instant::now() + self.inner.deadline;
        let mut queued = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            let submitted = match crate::batcher::command_size(&cmd) {
                Ok(bytes) => self.inner.batcher.submit(cmd, bytes, until).await,
                Err(e) => Err(e),
            };
            queued.push(submitted);
        }
        let mut answers = Vec::with_capacity(queued.len());
        for submitted in queued {
            answers.push(match submitted {
                Ok(queued) => queued.outcome().await,
                Err(e) => Err(e),
            });
        }
        answers
    }
}

/// Where a lane sends, and what it counts.
#[derive(Clone)]
struct Lane {
    peers: PeerClient,
    addr: String,
    sent: Arc<Counts>,
}

/// A lane: sends what queued as one request whenever one of its `IN_FLIGHT` slots is free.
async fn run(lane: Lane, mut rx: mpsc::Receiver<Waiting>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    // A write that did not fit in the previous request opens the next one.
    let mut carried: Option<Waiting> = None;
    loop {
        let first = match carried.take() {
            Some(w) => w,
            None => match tokio::time::timeout(IDLE, rx.recv()).await {
                Ok(Some(w)) => w,
                // Every sender is gone: the node stopped.
                Ok(None) => break,
                // Idle: no new write may come in, those that just did are still sent.
                Err(_) => {
                    rx.close();
                    continue;
                }
            },
        };
        // Waiting for a free slot is what lets the next request grow.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (writes, next) = gather(&mut rx, first, MAX_FORWARD_WRITES, MAX_FORWARD_BYTES);
        carried = next;
        if writes.is_empty() {
            continue;
        }
        let lane = lane.clone();
        tokio::spawn(async move {
            send(&lane, writes).await;
            drop(slot);
        });
    }
}

/// Sends `writes` to the lane's leader in one request and answers each.
async fn send(lane: &Lane, writes: Vec<Waiting>) {
    let Some(until) = writes.iter().map(|w| w.until).max() else {
        return;
    };
    let wait = until.saturating_duration_since(Instant::now());
    let (cmds, replies): (Vec<Command>, Vec<_>) =
        writes.into_iter().map(|w| (w.cmd, w.reply)).unzip();
    let request = match <[Command; 1]>::try_from(cmds) {
        Ok([cmd]) => PeerRequest::Forward(cmd),
        Err(cmds) => PeerRequest::ForwardMany(cmds),
    };
    lane.sent.requests.fetch_add(1, Ordering::Relaxed);
    lane.sent
        .writes
        .fetch_add(replies.len() as u64, Ordering::Relaxed);
    let called = lane.peers.call(&lane.addr, &request, wait).await;
    let answers: Result<Vec<_>, CallFailure> = match called {
        Ok(PeerResponse::Forward(answer)) if replies.len() == 1 => Ok(vec![answer]),
        Ok(PeerResponse::ForwardMany(answers)) if answers.len() == replies.len() => Ok(answers),
        Ok(_) => Err(CallFailure::Unexpected),
        Err(e) => Err(e.into()),
    };
    match answers {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
        }
        Err(failure) => {
            for reply in replies {
                let _ = reply.send(Err(failure.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests;
