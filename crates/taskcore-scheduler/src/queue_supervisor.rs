//! The supervisor of one priority queue: a [`TaskActor`] per attempt of that priority that
//! holds a lease, restarted from the replicated state when it dies unasked.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use taskcore_core::{LeaseEntry, Priority, TaskId};

use crate::scheduler::Context;
use crate::task_actor::{TaskActor, TaskArgs, TaskMsg};

/// Restarts of one task's actor beyond this many wait, doubling, before the next.
const QUICK_RESTARTS: u32 = 3;

/// Supervises the attempts of one priority.
pub struct QueueSupervisor;

/// What a [`QueueSupervisor`] hears.
#[derive(Debug)]
pub enum QueueMsg {
    /// Task `id` holds this lease: start its actor or tell it the lease changed.
    Track(TaskId, LeaseEntry),
    /// Task `id` holds no lease of this priority any more.
    Untrack(TaskId),
    /// The whole set of leases of this priority: stop the others, track these.
    Sync(Vec<(TaskId, LeaseEntry)>),
    /// Restart the actor of task `id` from the replicated state, if it still holds a lease.
    Restart(TaskId),
    /// The tasks whose attempts are supervised here.
    Tracked(RpcReplyPort<Vec<TaskId>>),
}

/// What a [`QueueSupervisor`] starts from.
pub struct QueueArgs {
    pub(crate) priority: Priority,
    pub(crate) ctx: Arc<Context>,
}

/// The actors of one queue.
pub struct QueueState {
    priority: Priority,
    ctx: Arc<Context>,
    actors: HashMap<TaskId, ActorRef<TaskMsg>>,
    ids: HashMap<ActorId, TaskId>,
    restarts: HashMap<TaskId, u32>,
}

impl QueueState {
    async fn track(&mut self, myself: &ActorRef<QueueMsg>, id: TaskId, entry: LeaseEntry) {
        if let Some(actor) = self.actors.get(&id) {
            if actor.cast(TaskMsg::Renewed(entry.clone())).is_ok() {
                return;
            }
            self.forget(id);
        }
        let name = format!("{}-task-{id}", self.ctx.config.name);
        let args = TaskArgs {
            id,
            entry,
            ctx: self.ctx.clone(),
        };
        match Actor::spawn_linked(Some(name), TaskActor, args, myself.get_cell()).await {
            Ok((actor, _)) => {
                self.ids.insert(actor.get_id(), id);
                self.actors.insert(id, actor);
            }
            Err(e) => {
                tracing::warn!(task = id, error = %e, "cannot start the attempt's actor");
                self.restart_later(myself, id);
            }
        }
    }

    /// Stops supervising task `id`; its actor, if any, is stopped.
    fn untrack(&mut self, id: TaskId) {
        if let Some(actor) = self.forget(id) {
            actor.stop(None);
        }
        self.restarts.remove(&id);
    }

    fn forget(&mut self, id: TaskId) -> Option<ActorRef<TaskMsg>> {
        let actor = self.actors.remove(&id)?;
        self.ids.remove(&actor.get_id());
        Some(actor)
    }

    fn restart_later(&mut self, myself: &ActorRef<QueueMsg>, id: TaskId) {
        let n = self.restarts.entry(id).or_insert(0);
        *n += 1;
        let after = if *n <= QUICK_RESTARTS {
            Duration::ZERO
        } else {
            self.ctx.config.retry_propose_after * (1 << (*n - QUICK_RESTARTS).min(6))
        };
        myself.send_after(after, move || QueueMsg::Restart(id));
    }

    /// The lease task `id` holds now in the replicated state, if it belongs to this queue.
    fn replicated(&self, id: TaskId) -> Option<LeaseEntry> {
        let sm = self.ctx.cluster.state_machine().read();
        sm.index()
            .lease(id)
            .filter(|e| e.priority == self.priority)
            .cloned()
    }
}

impl Actor for QueueSupervisor {
    type Msg = QueueMsg;
    type State = QueueState;
    type Arguments = QueueArgs;

    async fn pre_start(
        &self,
        _: ActorRef<QueueMsg>,
        args: QueueArgs,
    ) -> Result<QueueState, ActorProcessingErr> {
        Ok(QueueState {
            priority: args.priority,
            ctx: args.ctx,
            actors: HashMap::new(),
            ids: HashMap::new(),
            restarts: HashMap::new(),
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<QueueMsg>,
        _: &mut QueueState,
    ) -> Result<(), ActorProcessingErr> {
        myself
            .stop_children_and_wait(None, Some(Duration::from_secs(5)))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<QueueMsg>,
        msg: QueueMsg,
        state: &mut QueueState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            QueueMsg::Track(id, entry) => state.track(&myself, id, entry).await,
            QueueMsg::Untrack(id) => state.untrack(id),
            QueueMsg::Sync(entries) => {
                let keep: HashMap<TaskId, LeaseEntry> = entries.into_iter().collect();
                let gone: Vec<TaskId> = state
                    .actors
                    .keys()
                    .filter(|id| !keep.contains_key(id))
                    .copied()
                    .collect();
                for id in gone {
                    state.untrack(id);
                }
                for (id, entry) in keep {
                    state.track(&myself, id, entry).await;
                }
            }
            QueueMsg::Restart(id) => match state.replicated(id) {
                Some(entry) if !state.actors.contains_key(&id) => {
                    state.track(&myself, id, entry).await;
                }
                Some(_) => {}
                None => {
                    state.restarts.remove(&id);
                }
            },
            QueueMsg::Tracked(reply) => {
                let mut ids: Vec<TaskId> = state.actors.keys().copied().collect();
                ids.sort_unstable();
                let _ = reply.send(ids);
            }
        }
        Ok(())
    }

    /// A task actor that stopped by itself ended its attempt; one that failed, or was killed,
    /// is started again from the replicated state while its task still holds the lease.
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<QueueMsg>,
        evt: SupervisionEvent,
        state: &mut QueueState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match evt {
            SupervisionEvent::ActorFailed(cell, e) => (cell, Some(e.to_string())),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell, reason),
            _ => return Ok(()),
        };
        let Some(id) = state.ids.get(&cell.get_id()).copied() else {
            return Ok(());
        };
        state.forget(id);
        if state.replicated(id).is_some() {
            tracing::warn!(task = id, reason = ?failure, "an attempt's actor died; restarting it");
            state.restart_later(&myself, id);
        } else {
            state.restarts.remove(&id);
        }
        Ok(())
    }
}
