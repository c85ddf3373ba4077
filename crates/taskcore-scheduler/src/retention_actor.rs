//! The actor that applies the retention policy on the leader: it purges the finished tasks
//! older than `keep_finished`, a bounded batch per Raft write, then sleeps until the oldest
//! remaining one comes of age (no polling in between).

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use taskcore_core::{Command, Outcome, PurgeFinished, Timestamp, MAX_PURGE};

use crate::scheduler::Context;
use crate::timer::Timer;

/// Purges finished tasks past the retention age.
pub struct RetentionActor;

/// What the [`RetentionActor`] hears: time to look.
#[derive(Debug)]
pub struct Sweep;

/// The policy and the timer of the next sweep.
pub struct RetentionState {
    ctx: Arc<Context>,
    keep: Duration,
    timer: Timer<Sweep>,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2)
}

impl RetentionState {
    /// Whether a purge may delete something at `now` (a finished task came of age, or a key
    /// that held one back expired).
    fn due(&self, now: Timestamp) -> bool {
        let sm = self.ctx.cluster.state_machine().read();
        sm.purge_due_at(self.keep).is_some_and(|t| t.0 <= now.0)
    }

    /// Purges what is due, batch after batch; then arms the timer.
    async fn sweep(&mut self, myself: &ActorRef<Sweep>) {
        let keep_ms = u64::try_from(self.keep.as_millis()).unwrap_or(u64::MAX);
        while self.due(self.ctx.cluster.now()) {
            let cmd = Command::Purge(PurgeFinished {
                keep_ms,
                max: MAX_PURGE,
            });
            match self.ctx.cluster.propose(cmd).await {
                Ok(Outcome::Purged { count }) => {
                    tracing::info!(count, "purged finished tasks past retention");
                    if count < MAX_PURGE {
                        break;
                    }
                }
                Ok(other) => {
                    tracing::warn!(?other, "unexpected answer to a purge");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot purge yet; will retry");
                    let after = self.ctx.config.retry_propose_after;
                    self.timer.after(myself, after, || Sweep);
                    return;
                }
            }
        }
        // The next purge is due when the oldest finished task comes of age or a key holding
        // one back expires; with neither, a task that finishes from now on comes of age `keep`
        // from now at the earliest. Sweeps are at least `retention_min_gap` apart, so that a
        // steady stream of completions is purged in batches.
        let now = self.ctx.cluster.now();
        let due_at = self
            .ctx
            .cluster
            .state_machine()
            .read()
            .purge_due_at(self.keep);
        let next = due_at
            .unwrap_or_else(|| now.plus_micros(micros(self.keep)))
            .max(now.plus_micros(micros(self.ctx.config.retention_min_gap)));
        self.timer.at(myself, next, now, || Sweep);
    }
}

/// What a [`RetentionActor`] starts from.
pub struct RetentionArgs {
    pub(crate) ctx: Arc<Context>,
    pub(crate) keep: Duration,
}

impl Actor for RetentionActor {
    type Msg = Sweep;
    type State = RetentionState;
    type Arguments = RetentionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Sweep>,
        args: RetentionArgs,
    ) -> Result<RetentionState, ActorProcessingErr> {
        let mut state = RetentionState {
            ctx: args.ctx,
            keep: args.keep,
            timer: Timer::new(),
        };
        state.timer.after(&myself, Duration::ZERO, || Sweep);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Sweep>,
        _: Sweep,
        state: &mut RetentionState,
    ) -> Result<(), ActorProcessingErr> {
        state.sweep(&myself).await;
        Ok(())
    }
}
