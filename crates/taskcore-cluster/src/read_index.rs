//! Read-index batching: concurrent linearizable reads share one confirmation of leadership.
//!
//! A linearizable read needs a read index taken *after* it arrived: the leader's commit index at
//! a moment it still led, confirmed by a quorum. Asking for one per read costs a round of
//! heartbeats to every follower per read. Instead, rounds run one at a time, and a read that
//! arrives while a round is under way waits for the next one, which serves every read that
//! queued behind it (etcd batches its `ReadIndex` requests the same way). A read never reuses a
//! round that began before it arrived, so nothing it could have to see is missed.
//!
//! The same holds on a follower, whose rounds are calls to the leader for its read index: one call
//! in flight per follower, serving every read that arrived before it was sent.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

/// Rounds of a read-index protocol, run one at a time and shared by the reads that wait for them.
pub(crate) struct ReadRounds<T, E> {
    /// Rounds begun so far; round `n` is the `n`-th to begin (from 1).
    begun: AtomicU64,
    /// The newest finished round: its number and its answer. Held while a round runs.
    last: Mutex<Option<(u64, Result<T, E>)>>,
}

impl<T: Clone, E: Clone> ReadRounds<T, E> {
    /// No round yet.
    pub(crate) fn new() -> Self {
        ReadRounds {
            begun: AtomicU64::new(0),
            last: Mutex::new(None),
        }
    }

    /// The answer of a round that began after this call: a finished one if some reader ran it
    /// meanwhile, else the one `round` runs now. A failed round's error is shared the same way
    /// (the callers retry as they would on their own failure), so a leader that does not answer
    /// costs the reads queued behind it one wait, not one each.
    pub(crate) async fn share<F, Fut>(&self, round: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Every round numbered above `seen` begins after this load.
        let seen = self.begun.load(Ordering::SeqCst);
        let mut last = self.last.lock().await;
        if let Some((number, answer)) = last.as_ref() {
            if *number > seen {
                return answer.clone();
            }
        }
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        // Dropped before it finishes (a caller's timeout), the round leaves `last` as it was, and
        // the next reader runs its own.
        let answer = round().await;
        *last = Some((number, answer.clone()));
        answer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::*;

    #[tokio::test]
    async fn reads_queued_behind_a_round_share_the_next_one() {
        let rounds = Arc::new(ReadRounds::<u64, String>::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());

        // The first read starts round 1 and holds it open.
        let first = {
            let (rounds, ran, release) = (rounds.clone(), ran.clone(), release.clone());
            tokio::spawn(async move {
                rounds
                    .share(|| async move {
                        ran.fetch_add(1, Ordering::SeqCst);
                        release.notified().await;
                        Ok(1)
                    })
                    .await
            })
        };
        while ran.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Ten reads arrive while it runs: round 1 began before them, so none may use its answer.
        let later: Vec<_> = (0..10)
            .map(|_| {
                let (rounds, ran) = (rounds.clone(), ran.clone());
                tokio::spawn(async move {
                    rounds
                        .share(|| async move { Ok(ran.fetch_add(1, Ordering::SeqCst) as u64 + 1) })
                        .await
                })
            })
            .collect();
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        assert_eq!(first.await.ok(), Some(Ok(1)));
        for read in later {
            assert_eq!(read.await.ok(), Some(Ok(2)), "all ten share round 2");
        }
        assert_eq!(ran.load(Ordering::SeqCst), 2, "two rounds for eleven reads");
    }

    #[tokio::test]
    async fn a_read_after_a_finished_round_runs_a_new_one() {
        let rounds = ReadRounds::<u64, String>::new();
        assert_eq!(rounds.share(|| async { Ok(7) }).await, Ok(7));
        assert_eq!(rounds.share(|| async { Ok(8) }).await, Ok(8));
        assert_eq!(
            rounds
                .share(|| async { Err("no leader".to_string()) })
                .await,
            Err("no leader".to_string())
        );
        assert_eq!(rounds.share(|| async { Ok(9) }).await, Ok(9));
    }

    #[tokio::test]
    async fn a_round_dropped_midway_leaves_the_next_reader_its_own() {
        let rounds = Arc::new(ReadRounds::<u64, String>::new());
        let stuck = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            rounds.share(std::future::pending::<Result<u64, String>>),
        )
        .await;
        assert!(stuck.is_err());
        assert_eq!(rounds.share(|| async { Ok(3) }).await, Ok(3));
    }
}
