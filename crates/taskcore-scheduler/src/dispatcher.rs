//! The root of the leader's actors: it hears every lease change the state machine applies and
//! hands each to the supervisor of the task's priority queue, wakes the periodic-task actor
//! when schedules change, and runs the retention actor when a retention age is set.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use taskcore_core::{LeaseEntry, Priority, TaskId};
use taskcore_store::{LeaseChanges, StateEvent};
use tokio::sync::broadcast;

use crate::periodic_actor::{PeriodicActor, PeriodicArgs, PeriodicMsg};
use crate::queue_supervisor::{QueueArgs, QueueMsg, QueueSupervisor};
use crate::retention_actor::{RetentionActor, RetentionArgs, Sweep};
use crate::scheduler::Context;

/// The priorities, in queue order.
const PRIORITIES: [Priority; 4] = Priority::ALL;

/// Routes lease changes to the four queue supervisors.
pub struct Dispatcher;

/// What the [`Dispatcher`] hears.
#[derive(Debug)]
pub enum DispatcherMsg {
    /// Leases one applied batch changed.
    Changes(LeaseChanges),
    /// Read every lease again (the state was replaced, or changes were missed).
    Resync,
    /// Periodic tasks changed.
    PeriodicChanged,
    /// The tasks whose attempts are supervised, per priority (low to critical).
    Tracked(RpcReplyPort<[Vec<TaskId>; 4]>),
}

/// What the [`Dispatcher`] starts from.
pub struct DispatcherArgs {
    pub(crate) ctx: Arc<Context>,
}

/// The queues and where each lease went.
pub struct DispatcherState {
    ctx: Arc<Context>,
    queues: Vec<ActorRef<QueueMsg>>,
    queue_of: HashMap<ActorId, usize>,
    placed: HashMap<TaskId, usize>,
    events: Option<JoinHandle<()>>,
    periodic: Option<ActorRef<PeriodicMsg>>,
    retention: Option<ActorRef<Sweep>>,
}

impl DispatcherState {
    async fn spawn_queue(
        &mut self,
        myself: &ActorRef<DispatcherMsg>,
        p: usize,
    ) -> Result<(), ActorProcessingErr> {
        let name = format!("{}-queue-{}", self.ctx.config.name, PRIORITIES[p].as_str());
        let args = QueueArgs {
            priority: PRIORITIES[p],
            ctx: self.ctx.clone(),
        };
        let (queue, _) =
            Actor::spawn_linked(Some(name), QueueSupervisor, args, myself.get_cell()).await?;
        self.queue_of.insert(queue.get_id(), p);
        if p < self.queues.len() {
            self.queues[p] = queue;
        } else {
            self.queues.push(queue);
        }
        Ok(())
    }

    async fn spawn_periodic(
        &mut self,
        myself: &ActorRef<DispatcherMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let name = format!("{}-periodic", self.ctx.config.name);
        let args = PeriodicArgs {
            ctx: self.ctx.clone(),
        };
        let (actor, _) =
            Actor::spawn_linked(Some(name), PeriodicActor, args, myself.get_cell()).await?;
        self.periodic = Some(actor);
        Ok(())
    }

    /// Starts the retention actor, when a retention age is set.
    async fn spawn_retention(
        &mut self,
        myself: &ActorRef<DispatcherMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let Some(keep) = self.ctx.config.keep_finished else {
            return Ok(());
        };
        let name = format!("{}-retention", self.ctx.config.name);
        let args = RetentionArgs {
            ctx: self.ctx.clone(),
            keep,
        };
        let (actor, _) =
            Actor::spawn_linked(Some(name), RetentionActor, args, myself.get_cell()).await?;
        self.retention = Some(actor);
        Ok(())
    }

    fn periodic_changed(&self) {
        if let Some(p) = &self.periodic {
            let _ = p.cast(PeriodicMsg::Changed);
        }
    }

    /// Every lease of the replicated state, by queue.
    fn leases(&self) -> [Vec<(TaskId, LeaseEntry)>; 4] {
        let sm = self.ctx.cluster.state_machine().read();
        let mut by_queue: [Vec<(TaskId, LeaseEntry)>; 4] = Default::default();
        for (id, entry) in sm.index().leases() {
            by_queue[entry.priority as usize].push((id, entry.clone()));
        }
        by_queue
    }

    fn resync(&mut self) {
        self.placed.clear();
        for (p, entries) in self.leases().into_iter().enumerate() {
            self.placed.extend(entries.iter().map(|(id, _)| (*id, p)));
            let _ = self.queues[p].cast(QueueMsg::Sync(entries));
        }
    }

    fn apply(&mut self, changes: &LeaseChanges) {
        for (id, entry) in changes.iter() {
            let was = self.placed.get(id).copied();
            match entry {
                Some(e) => {
                    let p = e.priority as usize;
                    if let Some(old) = was.filter(|&old| old != p) {
                        let _ = self.queues[old].cast(QueueMsg::Untrack(*id));
                    }
                    self.placed.insert(*id, p);
                    let _ = self.queues[p].cast(QueueMsg::Track(*id, e.clone()));
                }
                None => {
                    if let Some(old) = was {
                        self.placed.remove(id);
                        let _ = self.queues[old].cast(QueueMsg::Untrack(*id));
                    }
                }
            }
        }
    }
}

/// Whether `actor` is the one with this id.
fn is<M: ractor::Message>(actor: &Option<ActorRef<M>>, id: ActorId) -> bool {
    actor.as_ref().is_some_and(|a| a.get_id() == id)
}

/// Forwards the state machine's lease events to the dispatcher until either goes away.
fn forward(
    mut events: broadcast::Receiver<StateEvent>,
    dispatcher: ActorRef<DispatcherMsg>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let msg = match events.recv().await {
                Ok(StateEvent::Changed(changes)) => DispatcherMsg::Changes(changes),
                Ok(StateEvent::PeriodicChanged) => DispatcherMsg::PeriodicChanged,
                Ok(StateEvent::Replaced) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    DispatcherMsg::Resync
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if dispatcher.cast(msg).is_err() {
                return;
            }
        }
    })
}

impl Actor for Dispatcher {
    type Msg = DispatcherMsg;
    type State = DispatcherState;
    type Arguments = DispatcherArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<DispatcherMsg>,
        args: DispatcherArgs,
    ) -> Result<DispatcherState, ActorProcessingErr> {
        // Subscribe before reading the leases: a change applied in between arrives after the
        // full read, and replaying it converges on the same state.
        let events = args.ctx.cluster.state_machine().state_events();
        let mut state = DispatcherState {
            ctx: args.ctx,
            queues: Vec::with_capacity(4),
            queue_of: HashMap::new(),
            placed: HashMap::new(),
            events: None,
            periodic: None,
            retention: None,
        };
        for p in 0..PRIORITIES.len() {
            state.spawn_queue(&myself, p).await?;
        }
        state.spawn_periodic(&myself).await?;
        state.spawn_retention(&myself).await?;
        state.events = Some(forward(events, myself.clone()));
        state.resync();
        Ok(state)
    }

    async fn post_stop(
        &self,
        myself: ActorRef<DispatcherMsg>,
        state: &mut DispatcherState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(events) = state.events.take() {
            events.abort();
        }
        myself
            .stop_children_and_wait(None, Some(Duration::from_secs(5)))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<DispatcherMsg>,
        msg: DispatcherMsg,
        state: &mut DispatcherState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DispatcherMsg::Changes(changes) => state.apply(&changes),
            DispatcherMsg::Resync => {
                state.resync();
                state.periodic_changed();
            }
            DispatcherMsg::PeriodicChanged => state.periodic_changed(),
            DispatcherMsg::Tracked(reply) => {
                let mut tracked: [Vec<TaskId>; 4] = Default::default();
                for (p, queue) in state.queues.iter().enumerate() {
                    if let Ok(ractor::rpc::CallResult::Success(ids)) = queue
                        .call(QueueMsg::Tracked, Some(Duration::from_secs(5)))
                        .await
                    {
                        tracked[p] = ids;
                    }
                }
                let _ = reply.send(tracked);
            }
        }
        Ok(())
    }

    /// A queue supervisor that dies is started again and given its leases back.
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<DispatcherMsg>,
        evt: SupervisionEvent,
        state: &mut DispatcherState,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match evt {
            SupervisionEvent::ActorFailed(cell, _)
            | SupervisionEvent::ActorTerminated(cell, ..) => cell,
            _ => return Ok(()),
        };
        let id = cell.get_id();
        if is(&state.periodic, id) {
            tracing::warn!("the periodic-task actor died; restarting it");
            return state.spawn_periodic(&myself).await;
        }
        if is(&state.retention, id) {
            tracing::warn!("the retention actor died; restarting it");
            return state.spawn_retention(&myself).await;
        }
        let Some(p) = state.queue_of.remove(&id) else {
            return Ok(());
        };
        tracing::warn!(
            queue = PRIORITIES[p].as_str(),
            "a queue supervisor died; restarting it"
        );
        state.spawn_queue(&myself, p).await?;
        let entries = state.leases().into_iter().nth(p).unwrap_or_default();
        let _ = state.queues[p].cast(QueueMsg::Sync(entries));
        Ok(())
    }
}
