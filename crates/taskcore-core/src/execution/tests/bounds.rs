//! What a worker can make a task hold, and when its reports stop counting.

use super::*;
use crate::Status;

fn with_custom(custom: serde_json::Value) -> Option<MetricsReport> {
    Some(MetricsReport {
        custom: Some(Json(custom)),
        ..Default::default()
    })
}

#[test]
fn custom_metrics_cannot_grow_past_their_cap_by_merging() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "t", None);
    let lease = w.lease(1, &[]).remove(0).lease.id;
    let chunk = "x".repeat(20 * 1024);
    // Each patch is small enough on its own; the third would make the merge too large.
    for (i, accepted) in [(0, true), (1, true), (2, true), (3, false)] {
        let outcome = w.run(Command::Heartbeat(Heartbeat {
            id,
            lease_id: lease.clone(),
            progress: None,
            checkpoint: None,
            metrics: with_custom(json!({ format!("k{i}"): chunk })),
            lease_ttl_ms: 30_000,
        }));
        match outcome {
            Outcome::HeartbeatAccepted { .. } => assert!(accepted, "patch {i} was accepted"),
            Outcome::Refused(Refusal::Validation(e)) => {
                assert!(!accepted, "patch {i} was refused");
                assert!(!e.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
    let task = w.rec.task(id).unwrap().unwrap();
    let custom = &task.metrics.unwrap().custom;
    assert!(custom.encoded_len() <= MAX_CUSTOM_METRICS_BYTES);
    assert!(
        custom.0.get("k3").is_none(),
        "a refused patch merges nothing"
    );
    // Removing figures with null makes room again.
    let outcome = w.run(Command::Complete(CompleteAttempt {
        id,
        lease_id: lease,
        result_data: Json::empty_object(),
        metrics: with_custom(json!({"k0": null, "k3": chunk})),
    }));
    assert!(
        matches!(outcome, Outcome::AttemptCompleted(_)),
        "{outcome:?}"
    );
}

#[test]
fn releases_keep_only_the_latest_attempts_and_numbers_go_on() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "t", None);
    for _ in 0..MAX_ATTEMPTS_KEPT + 5 {
        let lease = w.lease(1, &[]).remove(0).lease.id;
        let outcome = w.run(Command::Release(ReleaseAttempt {
            id,
            lease_id: lease,
            reason: "shutting down".into(),
            checkpoint: None,
        }));
        assert!(
            matches!(outcome, Outcome::AttemptReleased(_)),
            "{outcome:?}"
        );
    }
    let leased = w.lease(1, &[]).remove(0);
    assert_eq!(leased.lease.attempt as usize, MAX_ATTEMPTS_KEPT + 6);
    let task = w.rec.task(id).unwrap().unwrap();
    assert_eq!(task.attempts.len(), MAX_ATTEMPTS_KEPT);
    let numbers: Vec<u32> = task.attempts.iter().map(|a| a.number).collect();
    let first = (MAX_ATTEMPTS_KEPT + 6 - MAX_ATTEMPTS_KEPT + 1) as u32;
    assert_eq!(
        numbers,
        (first..=first + MAX_ATTEMPTS_KEPT as u32 - 1).collect::<Vec<_>>()
    );
}

#[test]
fn a_lease_past_its_expiry_takes_no_report_before_the_leader_ends_it() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "t", None);
    let lease = w.lease(1, &[]).remove(0).lease;
    // 30 s lease; every command moves the clock one second. Let it run out unreported.
    w.at = lease.expires_at;
    for outcome in [
        w.heartbeat(id, &lease.id, Some(50), None),
        w.complete(id, &lease.id),
        w.fail(id, &lease.id, true),
        w.run(Command::Release(ReleaseAttempt {
            id,
            lease_id: lease.id.clone(),
            reason: "late".into(),
            checkpoint: None,
        })),
    ] {
        assert!(
            matches!(outcome, Outcome::Refused(Refusal::LeaseLost)),
            "{outcome:?}"
        );
    }
    let task = w.rec.task(id).unwrap().unwrap();
    assert_eq!(task.status, Status::Running);
    assert_eq!(task.progress_percentage, 0);
    // The leader's end of the attempt still closes it.
    let ended = w.run(end(id, &lease.id, AttemptOutcome::LeaseExpired));
    assert!(
        matches!(
            ended,
            Outcome::AttemptEnded {
                will_retry: true,
                ..
            }
        ),
        "{ended:?}"
    );
}

#[test]
fn long_error_messages_are_cut_and_marked() {
    let short = "é".repeat(MAX_ERROR_MESSAGE_CHARS);
    assert_eq!(truncate_error_message(&short), short);
    let long = "é".repeat(MAX_ERROR_MESSAGE_CHARS + 1);
    let cut = truncate_error_message(&long);
    assert_eq!(cut.chars().count(), MAX_ERROR_MESSAGE_CHARS);
    assert!(cut.ends_with("[truncated]"));
}
