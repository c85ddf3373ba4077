//! Group commit on the leader: the writes waiting for it go to the log as one entry.
//!
//! While one batch is being replicated and flushed, the next fills up; a few batches may be in
//! flight at once, so that replication and flushing overlap. Under load one append, one
//! replication round and one flush serve hundreds of writes.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use taskcore_core::{Batch, Command, Outcome, Proposal, Timestamp};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::wire::ForwardError;
use crate::Raft;

/// Writes in one log entry at most.
const MAX_BATCH: usize = 512;
/// Batches being replicated at once at most.
const MAX_IN_FLIGHT: usize = 4;
/// Writes waiting for a batch at most; more wait in `propose`.
const QUEUE: usize = 16 * 1024;

type Reply = oneshot::Sender<Result<Outcome, ForwardError>>;

/// A cheap, clonable handle on the leader's batcher.
#[derive(Clone)]
pub(crate) struct Batcher {
    tx: mpsc::Sender<(Command, Reply)>,
}

impl Batcher {
    /// Starts batching for `raft`; each write waits for its quorum at most `deadline`.
    pub(crate) fn start(raft: Raft, deadline: Duration) -> (Batcher, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(raft, rx, deadline));
        (Batcher { tx }, task)
    }

    /// Proposes one command in the next batch, on this node, which believes it leads.
    pub(crate) async fn propose(&self, cmd: Command) -> Result<Outcome, ForwardError> {
        let (reply, answer) = oneshot::channel();
        // Not queued: nothing was proposed, so the caller may look for another leader.
        self.tx
            .send((cmd, reply))
            .await
            .map_err(|_| ForwardError::NotLeader(None))?;
        // Queued, then dropped while stopping: it may or may not have reached the log.
        let stopped =
            || ForwardError::Failed("the node stopped; the write may or may not be applied".into());
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(raft: Raft, mut rx: mpsc::Receiver<(Command, Reply)>, deadline: Duration) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut clock = Clock::default();
    while let Some(first) = rx.recv().await {
        // Waiting for a free slot is what lets the next batch grow.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let at = clock.now();
        let raft = raft.clone();
        tokio::spawn(async move {
            write(&raft, at, batch, deadline).await;
            drop(permit);
        });
    }
}

async fn write(raft: &Raft, at: Timestamp, batch: Vec<(Command, Reply)>, deadline: Duration) {
    let (cmds, replies): (Vec<Command>, Vec<Reply>) = batch.into_iter().unzip();
    let entry = Batch(cmds.into_iter().map(|cmd| Proposal { at, cmd }).collect());
    let result = match tokio::time::timeout(deadline, raft.client_write(entry)).await {
        Ok(Ok(resp)) if resp.data.len() == replies.len() => Ok(resp.data),
        Ok(Ok(resp)) => Err(ForwardError::Failed(format!(
            "{} outcomes for {} writes",
            resp.data.len(),
            replies.len()
        ))),
        // openraft answers so only for an entry it did not append, or one a new leader
        // truncated: never applied, safe to propose again.
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(ForwardError::NotLeader(f.leader_id))
        }
        Ok(Err(e)) => Err(ForwardError::Failed(e.to_string())),
        // Appended but not committed in time (no quorum): it may still commit later.
        Err(_) => Err(ForwardError::Failed(
            "no quorum confirmed the write in time; it may or may not be applied".into(),
        )),
    };
    match result {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller that went away does not need its answer; the write stands.
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
