//! Group commit on the leader: the writes waiting for it go to the log as one entry.
//!
//! While one batch is being replicated and flushed, the next fills up; two batches may be in
//! flight at once, so that one is appended while the other is replicated. Under load one
//! append, one replication round and one flush serve hundreds of writes.
//!
//! A batch is bounded in bytes as well as in count ([`MAX_ENTRY_BYTES`]). openraft 0.9 gives
//! every append the heartbeat interval to be sent and persisted, and retries one that times
//! out with the same entries: an entry too large to cross in that time would stall
//! replication for good. A single command over [`MAX_COMMAND_BYTES`] is refused before it is
//! proposed; the network sends at most `network::MAX_APPEND_BYTES` per append.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use taskcore_core::{Batch, Command, Outcome, Proposal, Timestamp};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::gather::gather;
use crate::wire::ForwardError;
use crate::Raft;

/// Writes in one log entry at most.
const MAX_BATCH: usize = 512;
/// Largest encoded command: above what the HTTP edge lets through (bodies of 1 MiB).
pub const MAX_COMMAND_BYTES: usize = 2 * 1024 * 1024;
/// Largest log entry, in its commands' encoded bytes (one command of [`MAX_COMMAND_BYTES`] always
/// fits: a batch never waits for room).
pub const MAX_ENTRY_BYTES: usize = MAX_COMMAND_BYTES;
/// Batches being replicated at once at most. Every batch costs each node one `fdatasync`, and
/// the nodes of a small cluster often share a disk: fewer, larger batches went further than
/// more, smaller ones (creates at 16 / 64 clients on three nodes sharing one disk: 7,144 /
/// 14,210 per second with 4, 8,861 / 16,530 with 2, 9,437 / 13,804 with 1).
const MAX_IN_FLIGHT: usize = 2;
/// Writes waiting for a batch at most; more wait in `propose`.
const QUEUE: usize = 16 * 1024;

type Reply = oneshot::Sender<Result<Outcome, ForwardError>>;

/// A command waiting for a batch, with its encoded size and where its outcome goes.
struct Waiting {
    cmd: Command,
    bytes: usize,
    reply: Reply,
}

impl crate::gather::Queued for Waiting {
    fn bytes(&self) -> usize {
        self.bytes
    }
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}

/// A cheap, clonable handle on the leader's batcher.
#[derive(Clone)]
pub(crate) struct Batcher {
    tx: mpsc::Sender<Waiting>,
    /// Set when a leader hands over: new writes go to the next leader.
    closed: Arc<AtomicBool>,
    /// Proposals under way (queued or awaiting their quorum), and a wake-up when the last ends.
    pending: Arc<(AtomicUsize, Notify)>,
}

/// Counts a proposal under way for as long as it lives.
struct Pending(Arc<(AtomicUsize, Notify)>);

impl Pending {
    fn new(count: &Arc<(AtomicUsize, Notify)>) -> Pending {
        count.0.fetch_add(1, Ordering::SeqCst);
        Pending(count.clone())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.0 .0.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0 .1.notify_waiters();
        }
    }
}

/// A command queued for the next batch: [`Queued::outcome`] waits for its answer.
pub(crate) struct Queued {
    answer: oneshot::Receiver<Result<Outcome, ForwardError>>,
    until: tokio::time::Instant,
    _pending: Pending,
}

impl Queued {
    /// The command's outcome, by its deadline at the latest.
    pub(crate) async fn outcome(self) -> Result<Outcome, ForwardError> {
        // Queued, then dropped while stopping: it may or may not have reached the log. Past
        // `until` the caller hears so; a write still queued then is dropped unproposed (see
        // `run`), one already proposed may still commit.
        match tokio::time::timeout_at(self.until, self.answer).await {
            Ok(answer) => answer.map_err(|_| {
                ForwardError::Failed("the node stopped; the write may or may not be applied".into())
            })?,
            Err(_) => Err(no_quorum()),
        }
    }
}

fn no_quorum() -> ForwardError {
    ForwardError::Failed(
        "no quorum confirmed the write in time; it may or may not be applied".into(),
    )
}

/// The encoded size of `cmd`, or why it cannot be proposed.
///
/// # Errors
/// [`ForwardError::TooLarge`] past [`MAX_COMMAND_BYTES`]; [`ForwardError::Failed`] for a
/// command that does not encode.
pub(crate) fn command_size(cmd: &Command) -> Result<usize, ForwardError> {
    let bytes =
        taskcore_store::codec::encoded_len(cmd).map_err(|e| ForwardError::Failed(e.to_string()))?;
    if bytes > MAX_COMMAND_BYTES {
        return Err(ForwardError::TooLarge(bytes, MAX_COMMAND_BYTES));
    }
    Ok(bytes)
}

impl Batcher {
    /// Starts batching for `raft`; each write waits for its quorum at most `deadline`.
    pub(crate) fn start(raft: Raft, deadline: Duration) -> (Batcher, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(raft, rx, deadline));
        let batcher = Batcher {
            tx,
            closed: Default::default(),
            pending: Default::default(),
        };
        (batcher, task)
    }

    /// Takes no new writes from now on (they are answered "not the leader"); those queued are
    /// still proposed.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// After [`Batcher::close`]: waits (until `until`) for every proposal under way to be
    /// answered, so that the log stops growing. True when none is left.
    pub(crate) async fn drained(&self, until: tokio::time::Instant) -> bool {
        let (count, last_ended) = &*self.pending;
        loop {
            // Registered before the count is read, so that an end in between is not missed.
            let ended = last_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if count.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, ended).await.is_err() {
                return count.load(Ordering::SeqCst) == 0;
            }
        }
    }

    /// Proposes one command of `bytes` encoded bytes (its [`command_size`]) in the next batch,
    /// on this node, which believes it leads, and answers by `until` at the latest, however long
    /// the queue or the batches in flight are.
    pub(crate) async fn propose(
        &self,
        cmd: Command,
        bytes: usize,
        until: tokio::time::Instant,
    ) -> Result<Outcome, ForwardError> {
        self.submit(cmd, bytes, until).await?.outcome().await
    }

    /// Queues one command (as [`Batcher::propose`]) and returns once it is queued, so that
    /// several can be queued in order before any is waited for.
    ///
    /// # Errors
    /// [`ForwardError::NotLeader`] when the batcher is closed or stopped, and the no-quorum
    /// error when the queue stayed full until `until`: nothing was proposed either way.
    pub(crate) async fn submit(
        &self,
        cmd: Command,
        bytes: usize,
        until: tokio::time::Instant,
    ) -> Result<Queued, ForwardError> {
        // Counted before the check: `close` then `drained` either sees it or it sees closed.
        let pending = Pending::new(&self.pending);
        if self.closed.load(Ordering::SeqCst) {
            return Err(ForwardError::NotLeader(None));
        }
        let (reply, answer) = oneshot::channel();
        // Not queued: nothing was proposed, so the caller may look for another leader.
        match tokio::time::timeout_at(until, self.tx.send(Waiting { cmd, bytes, reply })).await {
            Ok(Ok(())) => Ok(Queued {
                answer,
                until,
                _pending: pending,
            }),
            Ok(Err(_)) => Err(ForwardError::NotLeader(None)),
            Err(_) => Err(no_quorum()),
        }
    }
}

async fn run(raft: Raft, mut rx: mpsc::Receiver<Waiting>, deadline: Duration) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut clock = Clock::default();
    // A command that did not fit in the previous batch opens the next one.
    let mut carried: Option<Waiting> = None;
    loop {
        let first = match carried.take() {
            Some(w) => w,
            None => match rx.recv().await {
                Some(w) => w,
                None => break,
            },
        };
        // Waiting for a free slot is what lets the next batch grow.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (batch, next) = gather(&mut rx, first, MAX_BATCH, MAX_ENTRY_BYTES);
        carried = next;
        if batch.is_empty() {
            continue;
        }
        let at = clock.now();
        let raft = raft.clone();
        tokio::spawn(async move {
            write(&raft, at, batch, deadline).await;
            drop(permit);
        });
    }
}

async fn write(raft: &Raft, at: Timestamp, batch: Vec<Waiting>, deadline: Duration) {
    let (cmds, replies): (Vec<Command>, Vec<Reply>) =
        batch.into_iter().map(|w| (w.cmd, w.reply)).unzip();
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
        Err(_) => Err(no_quorum()),
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
