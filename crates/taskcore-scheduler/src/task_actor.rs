//! The actor of one running attempt: it owns the attempt's lease deadline and timeout, and
//! proposes the attempt's end when one of them passes.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use taskcore_core::{Command, EndAttempt, LeaseEntry, Outcome, Refusal, TaskId, Timestamp};

use crate::scheduler::Context;
use crate::timer::Timer;

/// One running attempt, as the leader tracks it.
pub struct TaskActor;

/// What a [`TaskActor`] hears.
#[derive(Debug)]
pub enum TaskMsg {
    /// The replicated state changed the lease (a heartbeat renewed it, a cancel came).
    Renewed(LeaseEntry),
    /// The attempt may be due to end: look at the clock.
    Due,
}

/// What a [`TaskActor`] starts from.
pub struct TaskArgs {
    pub(crate) id: TaskId,
    pub(crate) entry: LeaseEntry,
    pub(crate) ctx: Arc<Context>,
}

/// The attempt as its actor knows it.
pub struct TaskActorState {
    id: TaskId,
    entry: LeaseEntry,
    ctx: Arc<Context>,
    timer: Timer<TaskMsg>,
}

impl TaskActorState {
    /// When the attempt ends unless something changes: the lease's end or the timeout, not
    /// before the grace a new leader gives its workers.
    fn due(&self) -> Timestamp {
        self.entry.due().0.max(self.ctx.not_before)
    }

    fn arm_for_due(&mut self, myself: &ActorRef<TaskMsg>) {
        let (due, now) = (self.due(), self.ctx.cluster.now());
        self.timer.at(myself, due, now, || TaskMsg::Due);
    }
}

impl Actor for TaskActor {
    type Msg = TaskMsg;
    type State = TaskActorState;
    type Arguments = TaskArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<TaskMsg>,
        args: TaskArgs,
    ) -> Result<TaskActorState, ActorProcessingErr> {
        let mut state = TaskActorState {
            id: args.id,
            entry: args.entry,
            ctx: args.ctx,
            timer: Timer::new(),
        };
        state.arm_for_due(&myself);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<TaskMsg>,
        msg: TaskMsg,
        state: &mut TaskActorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TaskMsg::Renewed(entry) => {
                if entry != state.entry {
                    state.entry = entry;
                    state.arm_for_due(&myself);
                }
            }
            TaskMsg::Due if state.ctx.cluster.now() < state.due() => state.arm_for_due(&myself),
            TaskMsg::Due => end_attempt(&myself, state).await,
        }
        Ok(())
    }
}

/// Proposes the end of the attempt; `apply` checks again that it is due, against the lease as
/// replicated, so a heartbeat that won the race keeps the attempt alive.
async fn end_attempt(myself: &ActorRef<TaskMsg>, state: &mut TaskActorState) {
    let (_, outcome) = state.entry.due();
    let cmd = Command::EndAttempt(EndAttempt {
        id: state.id,
        lease_id: state.entry.lease_id.clone(),
        outcome,
        backoff: state.ctx.config.backoff(),
    });
    match state.ctx.cluster.propose(cmd).await {
        Ok(Outcome::AttemptEnded { will_retry, .. }) => {
            tracing::info!(task = state.id, ?outcome, will_retry, "attempt ended");
            myself.stop(None);
        }
        Ok(Outcome::Refused(Refusal::NotDue)) => {
            let now = state
                .ctx
                .cluster
                .state_machine()
                .read()
                .index()
                .lease(state.id)
                .cloned();
            match now {
                Some(entry) if entry.lease_id == state.entry.lease_id => {
                    state.entry = entry;
                    state.arm_for_due(myself);
                }
                _ => myself.stop(None),
            }
        }
        Ok(other) => {
            tracing::debug!(task = state.id, ?other, "the attempt had already ended");
            myself.stop(None);
        }
        Err(e) => {
            tracing::warn!(task = state.id, error = %e, "cannot end the attempt yet; will retry");
            let after = state.ctx.config.retry_propose_after;
            state.timer.after(myself, after, || TaskMsg::Due);
        }
    }
}
