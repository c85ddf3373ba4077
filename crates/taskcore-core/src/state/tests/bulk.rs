//! Bulk creates: order, ids, idempotency and its expiry.

use super::*;
use crate::CreateTasks;

fn bulk(brand: BrandId, n: usize, key: Option<(&str, u64)>) -> Command {
    Command::CreateMany(CreateTasks {
        tasks: (0..n)
            .map(|i| {
                let mut c = create_cmd(brand, &format!("task_bulk{i:07}"));
                c.description = format!("item {i}");
                c
            })
            .collect(),
        idempotency: key.map(|(key, digest)| IdempotencyClaim {
            key: key.into(),
            digest,
        }),
    })
}

fn created(o: Outcome) -> Vec<Task> {
    match o {
        Outcome::CreatedMany(tasks) => tasks,
        other => panic!("expected a bulk create, got {other:?}"),
    }
}

#[test]
fn a_bulk_creates_every_task_with_consecutive_ids_in_order() {
    let mut w = World::new();
    let before = w.create(1);
    let tasks = created(w.run(bulk(1, 5, None)));
    assert_eq!(tasks.len(), 5);
    for (i, t) in tasks.iter().enumerate() {
        assert_eq!(t.id, before.id + 1 + i as u64);
        assert_eq!(t.description, format!("item {i}"));
        assert_eq!(t.status, Status::Pending);
        assert_eq!(w.rec.tasks[&t.id], *t);
    }
    assert_eq!(w.state.next_id(), before.id + 6);
    assert_eq!(created(w.run(bulk(1, 0, None))), Vec::new());
}

#[test]
fn a_bulk_key_replays_the_tasks_and_refuses_another_body() {
    let mut w = World::new();
    let first = created(w.run(bulk(1, 3, Some(("k", 7)))));
    assert_eq!(
        w.run(bulk(1, 3, Some(("k", 7)))),
        Outcome::ReplayedMany(first.clone())
    );
    assert_eq!(
        refused(w.run(bulk(1, 2, Some(("k", 8))))),
        Refusal::IdempotencyKeyReused
    );
    // A single create with the same key is another key; so is the same key in another brand.
    let mut single = create_cmd(1, "task_single00000");
    single.idempotency = Some(IdempotencyClaim {
        key: "k".into(),
        digest: 7,
    });
    assert!(matches!(
        w.run(Command::Create(single)),
        Outcome::Created(_)
    ));
    assert_eq!(created(w.run(bulk(2, 3, Some(("k", 7))))).len(), 3);
    // Retention keeps every task a key names.
    assert!(first.iter().all(|t| w.state.keyed.contains(&t.id)));

    // A deleted task drops out of the replay; once none is left, the key starts afresh.
    w.run(Command::Delete {
        id: first[1].id,
        brand: 1,
    });
    assert_eq!(
        w.run(bulk(1, 3, Some(("k", 7)))),
        Outcome::ReplayedMany(vec![first[0].clone(), first[2].clone()])
    );
    for t in [&first[0], &first[2]] {
        w.run(Command::Delete { id: t.id, brand: 1 });
    }
    let again = created(w.run(bulk(1, 3, Some(("k", 7)))));
    assert!(again[0].id > first[2].id);
    assert_eq!(
        w.run(bulk(1, 3, Some(("k", 7)))),
        Outcome::ReplayedMany(again)
    );
}

#[test]
fn an_expired_bulk_key_starts_afresh_and_its_old_records_never_delete_the_new_ones() {
    let mut w = World::new();
    let first = created(w.run(bulk(1, 4, Some(("k", 7)))));
    w.at = w.at.plus_micros(IDEMPOTENCY_TTL_MICROS);
    // Another body under the expired key: a new bulk, smaller than the first.
    let second = created(w.run(bulk(1, 2, Some(("k", 8)))));
    assert!(second[0].id > first[3].id);
    // The old keys expired on the way in (a bulk expires as many as it could add).
    let bulk_keys = |w: &World| {
        w.rec
            .keys
            .iter()
            .filter(|((b, k), _)| *b == 1 && k.contains("bulk"))
            .map(|(_, r)| r.task)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        bulk_keys(&w),
        second.iter().map(|t| t.id).collect::<Vec<_>>()
    );
    assert_eq!(
        w.run(bulk(1, 2, Some(("k", 8)))),
        Outcome::ReplayedMany(second.clone())
    );
    // Later creates expire nothing of the new bulk before its time.
    for _ in 0..3 {
        w.create(1);
    }
    assert_eq!(bulk_keys(&w).len(), 2);
    w.at = w.at.plus_micros(IDEMPOTENCY_TTL_MICROS);
    w.create(1);
    assert!(bulk_keys(&w).is_empty());
    assert!(!w.state.keyed.contains(&second[0].id));
}
