//! A cluster of one node: a group-committing applier thread in front of the state machine.

use std::sync::Arc;
use std::thread::JoinHandle;

use taskcore_core::{Command, Outcome, Proposal, Timestamp};
use taskcore_store::StateMachine;
use tokio::sync::{mpsc, oneshot};

use crate::clock::{wall_clock, Clock};
use crate::ClusterError;

/// Proposals applied together in one batch at most.
const MAX_BATCH: usize = 512;
/// Proposals waiting for the applier at most; more wait in `propose`.
const QUEUE_DEPTH: usize = 8192;

type Reply = oneshot::Sender<Result<Outcome, ClusterError>>;

/// A cheap, clonable handle on the node's replication: propose writes, wait for reads.
#[derive(Clone)]
pub struct ClusterHandle {
    inner: Arc<Inner>,
}

struct Inner {
    sm: StateMachine,
    tx: mpsc::Sender<(Command, Reply)>,
}

/// Owns the applier thread: dropping every [`ClusterHandle`] ends it, and dropping this guard
/// waits for it, so that the last batch is flushed before the process exits.
pub struct ApplierGuard {
    thread: Option<JoinHandle<()>>,
}

impl Drop for ApplierGuard {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the applier thread panicked");
            }
        }
    }
}

impl ClusterHandle {
    /// Starts a one-node cluster over this state machine.
    ///
    /// # Errors
    /// The applier thread could not be spawned.
    pub fn start_local(sm: StateMachine) -> std::io::Result<(ClusterHandle, ApplierGuard)> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let applier_sm = sm.clone();
        let thread = std::thread::Builder::new()
            .name("taskcore-applier".into())
            .spawn(move || run_applier(applier_sm, rx))?;
        let handle = ClusterHandle {
            inner: Arc::new(Inner { sm, tx }),
        };
        Ok((
            handle,
            ApplierGuard {
                thread: Some(thread),
            },
        ))
    }

    /// Proposes a command; answers with its outcome once it is applied and durable.
    ///
    /// # Errors
    /// [`ClusterError::Unavailable`] when the node is shutting down, [`ClusterError::Storage`]
    /// after a storage fault.
    pub async fn propose(&self, cmd: Command) -> Result<Outcome, ClusterError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .tx
            .send((cmd, reply))
            .await
            .map_err(|_| ClusterError::Unavailable("the node is shutting down".into()))?;
        answer
            .await
            .map_err(|_| ClusterError::Unavailable("the node is shutting down".into()))?
    }

    /// Waits until this node has applied every write acknowledged before the call, so that a
    /// read that follows sees them. On a cluster of one, an acknowledged write is applied.
    ///
    /// # Errors
    /// [`ClusterError::Storage`] after a storage fault.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        match self.inner.sm.fault() {
            Some(fault) => Err(ClusterError::Storage(fault)),
            None => Ok(()),
        }
    }

    /// The node's state machine, for reads after [`ClusterHandle::read_barrier`].
    pub fn state_machine(&self) -> &StateMachine {
        &self.inner.sm
    }

    /// Whether the node can serve: it knows a leader and has applied what it committed.
    pub fn is_ready(&self) -> bool {
        self.inner.sm.fault().is_none() && !self.inner.tx.is_closed()
    }

    /// The current time as the leader would stamp it (for reads that need "now").
    pub fn now(&self) -> Timestamp {
        wall_clock()
    }
}

fn run_applier(sm: StateMachine, mut rx: mpsc::Receiver<(Command, Reply)>) {
    let mut clock = Clock::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let at = clock.now();
        let (cmds, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let proposals: Vec<Proposal> = cmds.into_iter().map(|cmd| Proposal { at, cmd }).collect();
        match sm.apply_batch(&proposals) {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A client that went away does not need its answer; the write stands.
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(ClusterError::Storage(e.to_string())));
                }
            }
        }
    }
    if let Err(e) = sm.flush() {
        tracing::error!(error = %e, "final flush failed");
    }
}

#[cfg(test)]
mod tests {
    use taskcore_core::{CreateTask, Json, Priority, UserRef};

    use super::*;

    fn create(n: u64) -> Command {
        Command::Create(CreateTask {
            task_id: format!("task_{n:012}"),
            brand: 1,
            brand_name: None,
            created_by: UserRef {
                id: 1,
                username: "u".into(),
            },
            task_type: "data_export".into(),
            priority: Priority::Normal,
            description: String::new(),
            context_data: Json::empty_object(),
            scheduled_for: None,
            max_retries: 3,
            timeout_minutes: 60,
            periodic_task: None,
            idempotency: None,
        })
    }

    #[tokio::test]
    async fn concurrent_proposals_get_unique_ids_and_are_all_applied() {
        let dir = tempfile::tempdir().unwrap();
        let sm = StateMachine::open(dir.path()).unwrap();
        let (cluster, guard) = ClusterHandle::start_local(sm).unwrap();
        let mut joins = Vec::new();
        for n in 0..200 {
            let c = cluster.clone();
            joins.push(tokio::spawn(async move { c.propose(create(n)).await }));
        }
        let mut ids = Vec::new();
        for j in joins {
            match j.await.unwrap().unwrap() {
                Outcome::Created(t) => ids.push(t.id),
                other => panic!("{other:?}"),
            }
        }
        ids.sort_unstable();
        assert_eq!(ids, (1..=200).collect::<Vec<_>>());
        cluster.read_barrier().await.unwrap();
        assert_eq!(cluster.state_machine().read().index().len(), 200);
        drop(cluster);
        drop(guard);
        let sm = StateMachine::open(dir.path()).unwrap();
        assert_eq!(sm.read().index().len(), 200);
    }
}
