//! The proposer's clock: the only place the state machine's time comes from.

use std::time::{SystemTime, UNIX_EPOCH};

use taskcore_core::Timestamp;

/// Wall-clock time that never goes backwards across the proposals of one proposer.
#[derive(Debug, Default)]
pub struct Clock {
    last: i64,
}

impl Clock {
    /// The current time, or the last time handed out if the wall clock stepped back.
    pub fn now(&mut self) -> Timestamp {
        let wall = wall_clock().0;
        self.last = self.last.max(wall);
        Timestamp(self.last)
    }
}

/// The wall clock, in microseconds since the epoch.
pub fn wall_clock() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp(micros)
}
