//! The actor that fires periodic tasks on the leader: it sleeps until the earliest
//! `next_run_at` and proposes one fire per due schedule, keyed by that due time.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use taskcore_core::{task_id_from, Command, FirePeriodic, Outcome, PeriodicId, Timestamp};

use crate::scheduler::Context;
use crate::timer::Timer;

/// Fires the periodic tasks that are due.
pub struct PeriodicActor;

/// What the [`PeriodicActor`] hears.
#[derive(Debug)]
pub enum PeriodicMsg {
    /// Periodic tasks changed: look at the schedules again.
    Changed,
    /// The earliest schedule may be due.
    Due,
}

/// The timer of the next fire.
pub struct PeriodicState {
    ctx: Arc<Context>,
    timer: Timer<PeriodicMsg>,
}

impl PeriodicState {
    /// The schedules to fire now, and the earliest time after now one is due.
    fn due(&self, now: Timestamp) -> (Vec<(PeriodicId, Timestamp)>, Option<Timestamp>) {
        let sm = self.ctx.cluster.state_machine().read();
        let mut due = Vec::new();
        let mut next = None::<Timestamp>;
        for p in sm.periodic().values().filter(|p| p.spec.enabled) {
            match p.next_run_at {
                Some(t) if t <= now => due.push((p.id, t)),
                Some(t) => next = Some(next.map_or(t, |n| n.min(t))),
                None => {}
            }
        }
        (due, next)
    }

    /// Fires what is due, then sleeps until the next due time (no polling in between).
    async fn run(&mut self, myself: &ActorRef<PeriodicMsg>) {
        let (due, _) = self.due(self.ctx.cluster.now());
        let mut failed = false;
        for (id, at) in due {
            let fire = FirePeriodic {
                id,
                due: Some(at),
                brand: None,
                task_id: task_id_from(rand::random()),
            };
            match self.ctx.cluster.propose(Command::FirePeriodic(fire)).await {
                Ok(Outcome::PeriodicFired { task, periodic }) => tracing::info!(
                    periodic = id,
                    task = %task.task_id,
                    due = %at.to_rfc3339(),
                    next = ?periodic.next_run_at.map(Timestamp::to_rfc3339),
                    "periodic task fired"
                ),
                // Changed, disabled or fired meanwhile: the state decides, once.
                Ok(other) => tracing::debug!(periodic = id, ?other, "periodic fire refused"),
                Err(e) => {
                    tracing::warn!(periodic = id, error = %e, "cannot fire yet; will retry");
                    failed = true;
                }
            }
        }
        if failed {
            let after = self.ctx.config.retry_propose_after;
            self.timer.after(myself, after, || PeriodicMsg::Due);
            return;
        }
        // Applied fires changed the schedules: look again (a fire that left `next_run_at` in
        // the past — after a long outage — is fired on the next turn, at once).
        let now = self.ctx.cluster.now();
        let (due, next) = self.due(now);
        match if due.is_empty() { next } else { Some(now) } {
            Some(when) => self.timer.at(myself, when, now, || PeriodicMsg::Due),
            None => self.timer.cancel(),
        }
    }
}

/// What a [`PeriodicActor`] starts from.
pub struct PeriodicArgs {
    pub(crate) ctx: Arc<Context>,
}

impl Actor for PeriodicActor {
    type Msg = PeriodicMsg;
    type State = PeriodicState;
    type Arguments = PeriodicArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PeriodicMsg>,
        args: PeriodicArgs,
    ) -> Result<PeriodicState, ActorProcessingErr> {
        let mut state = PeriodicState {
            ctx: args.ctx,
            timer: Timer::new(),
        };
        // Runs missed while no leader existed fire now, once each.
        state
            .timer
            .after(&myself, Duration::ZERO, || PeriodicMsg::Due);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<PeriodicMsg>,
        _: PeriodicMsg,
        state: &mut PeriodicState,
    ) -> Result<(), ActorProcessingErr> {
        state.run(&myself).await;
        Ok(())
    }
}
