//! Giving a task back: released attempts, fencing, the next attempt's checkpoint.

use super::*;

impl World {
    fn release(&mut self, id: u64, lease: &str, checkpoint: Option<serde_json::Value>) -> Outcome {
        self.run(Command::Release(ReleaseAttempt {
            id,
            lease_id: lease.into(),
            reason: "worker stopping".into(),
            checkpoint: checkpoint.map(Json),
        }))
    }
}

#[test]
fn a_release_makes_the_task_pending_at_once_without_spending_a_retry() {
    let mut w = World::new();
    let a = w.create(1, Priority::Normal, "data_export", None);
    let b = w.create(1, Priority::Normal, "data_export", None);
    let first = w.lease(1, &[]);
    assert_eq!(ids(&first), vec![a]);
    let lease = first[0].lease.id.clone();
    let Outcome::AttemptReleased(t) = w.release(a, &lease, Some(json!({"row": 7}))) else {
        panic!("released");
    };
    assert_eq!(
        (t.status, t.retry_count, t.scheduled_for, t.lease.is_none()),
        (Status::Pending, 0, None, true)
    );
    let attempt = &t.attempts[0];
    assert_eq!(attempt.outcome, AttemptOutcome::Released);
    assert_eq!(attempt.error_message.as_deref(), Some("worker stopping"));
    assert_eq!(w.state.index().lease_count(), 0);
    // It keeps its place: ahead of the task created after it.
    let next = w.lease(1, &[]);
    assert_eq!(ids(&next), vec![a]);
    assert_eq!(next[0].lease.attempt, 2);
    assert_eq!(
        next[0]
            .task
            .persistent_job
            .as_ref()
            .map(|j| j.checkpoint.0.clone()),
        Some(json!({"row": 7})),
        "the next attempt resumes from the checkpoint sent with the release"
    );
    assert_eq!(ids(&w.lease(1, &[])), vec![b]);
}

#[test]
fn a_release_is_fenced_like_every_report() {
    let mut w = World::new();
    let a = w.create(1, Priority::Normal, "data_export", None);
    let lease = w.lease(1, &[])[0].lease.id.clone();
    assert_eq!(
        w.release(a, "not-the-lease", None),
        Outcome::Refused(Refusal::LeaseLost)
    );
    assert_eq!(
        w.release(999, &lease, None),
        Outcome::Refused(Refusal::NotFound)
    );
    assert!(matches!(
        w.release(a, &lease, None),
        Outcome::AttemptReleased(_)
    ));
    assert_eq!(
        w.release(a, &lease, None),
        Outcome::Refused(Refusal::LeaseLost),
        "a second release of the same lease"
    );
    assert_eq!(w.complete(a, &lease), Outcome::Refused(Refusal::LeaseLost));

    // A cancelled task keeps its lease for its holder to hear of the cancel; a release of it
    // changes nothing.
    let lease = w.lease(1, &[])[0].lease.id.clone();
    w.run(Command::Cancel { id: a, brand: 1 });
    assert_eq!(
        w.release(a, &lease, None),
        Outcome::Refused(Refusal::LeaseLost)
    );
    let t = w.rec.task(a).unwrap().unwrap();
    assert_eq!(t.status, Status::Cancelled);
}
