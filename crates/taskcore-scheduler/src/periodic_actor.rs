//! The actor that fires periodic tasks on the leader: it sleeps until the earliest
//! `next_run_at` and proposes one fire per due schedule, keyed by that due time.

use std::sync::Arc;
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use taskcore_core::{task_id_from, Command, FirePeriodic, Outcome, PeriodicId, Timestamp};

use crate::scheduler::Context;

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
    timer: Option<JoinHandle<Result<(), ractor::MessagingErr<PeriodicMsg>>>>,
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

    fn arm(&mut self, myself: &ActorRef<PeriodicMsg>, after: Duration) {
        if let Some(t) = self.timer.take() {
            t.abort();
        }
        self.timer = Some(myself.send_after(after, || PeriodicMsg::Due));
    }

    /// Fires what is due, then sleeps until the next due time (no polling in between).
    async fn run(&mut self, myself: &ActorRef<PeriodicMsg>) {
        let now = self.ctx.cluster.now();
        let (due, next) = self.due(now);
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
            self.arm(myself, after);
            return;
        }
        // Applied fires changed the schedules: look again (a fire that moved `next_run_at`
        // into the past — a long pause — is fired on the next turn).
        let (due, next_after_fires) = self.due(self.ctx.cluster.now());
        let next = if due.is_empty() {
            next_after_fires.or(next)
        } else {
            Some(self.ctx.cluster.now())
        };
        match next {
            Some(t) => {
                let wait = t.0.saturating_sub(self.ctx.cluster.now().0);
                self.arm(
                    myself,
                    Duration::from_micros(u64::try_from(wait).unwrap_or(0)),
                );
            }
            None => {
                if let Some(t) = self.timer.take() {
                    t.abort();
                }
            }
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
            timer: None,
        };
        // Runs missed while no leader existed fire now, once each.
        state.arm(&myself, Duration::ZERO);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _: ActorRef<PeriodicMsg>,
        state: &mut PeriodicState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        Ok(())
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
