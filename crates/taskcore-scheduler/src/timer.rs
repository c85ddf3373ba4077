//! A one-shot timer an actor sends itself: arming it again replaces the pending shot, and
//! dropping it (with the actor's state) cancels it.

use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{ActorRef, Message, MessagingErr};
use taskcore_core::Timestamp;

/// At most one pending message to self.
pub(crate) struct Timer<M: Message> {
    pending: Option<JoinHandle<Result<(), MessagingErr<M>>>>,
}

impl<M: Message> Timer<M> {
    pub(crate) fn new() -> Self {
        Timer { pending: None }
    }

    /// Sends `msg()` to `myself` after `after`, instead of what was pending.
    pub(crate) fn after(
        &mut self,
        myself: &ActorRef<M>,
        after: Duration,
        msg: impl FnOnce() -> M + Send + 'static,
    ) {
        self.cancel();
        self.pending = Some(myself.send_after(after, msg));
    }

    /// Sends `msg()` to `myself` at `when` by the clock that says it is `now` (at once when
    /// that has passed), instead of what was pending.
    pub(crate) fn at(
        &mut self,
        myself: &ActorRef<M>,
        when: Timestamp,
        now: Timestamp,
        msg: impl FnOnce() -> M + Send + 'static,
    ) {
        let wait = u64::try_from(when.0.saturating_sub(now.0)).unwrap_or(0);
        self.after(myself, Duration::from_micros(wait), msg);
    }

    /// Drops what was pending.
    pub(crate) fn cancel(&mut self) {
        if let Some(t) = self.pending.take() {
            t.abort();
        }
    }
}

impl<M: Message> Drop for Timer<M> {
    fn drop(&mut self) {
        self.cancel();
    }
}
