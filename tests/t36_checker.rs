//! The fault tests' checker must be able to fail: fed histories with a stale read, a lost
//! write, a reused id, a minority that answered and a double completion, it objects to each.

mod common;

use std::collections::BTreeMap;

use common::history::{check, Event, Minority, Op, Res};

fn ev(node: usize, op: Op, invoked: u64, completed: u64, res: Res) -> Event {
    Event {
        node,
        op,
        invoked,
        completed,
        res,
    }
}

fn write(key: u64, seq: u64, invoked: u64, completed: u64, res: Res) -> Event {
    ev(0, Op::Write { key, seq }, invoked, completed, res)
}

fn read(node: usize, key: u64, invoked: u64, completed: u64, value: u64) -> Event {
    ev(
        node,
        Op::Read { key },
        invoked,
        completed,
        Res::Ok(Some(value)),
    )
}

fn create(id: u64, invoked: u64, completed: u64) -> Event {
    ev(0, Op::Create, invoked, completed, Res::Ok(Some(id)))
}

/// Every node ends with these registers.
fn finals(values: &[(u64, u64)]) -> Vec<BTreeMap<u64, u64>> {
    vec![values.iter().copied().collect(); 3]
}

/// A history that is fine: concurrent reads may see either value, an unknown write may land.
fn good() -> Vec<Event> {
    vec![
        create(1, 0, 10),
        write(1, 1, 20, 30, Res::Ok(None)),
        read(1, 1, 25, 28, 0), // concurrent with the write: either value
        read(2, 1, 26, 40, 1),
        write(1, 2, 50, 60, Res::Unknown),
        read(1, 1, 70, 80, 1), // the unknown write has not landed yet: fine
        read(2, 1, 90, 95, 2), // now it has
    ]
}

#[test]
fn a_linearizable_history_passes() {
    let violations = check(&good(), &[], &finals(&[(1, 2)]));
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn a_stale_read_is_caught() {
    let mut h = good();
    // Begins after the write of 1 was acknowledged (at 30), returns 0.
    h.push(read(2, 1, 35, 45, 0));
    let violations = check(&h, &[], &finals(&[(1, 2)]));
    assert!(
        violations.iter().any(|v| v.starts_with("stale read")),
        "{violations:?}"
    );
}

#[test]
fn a_read_older_than_an_earlier_read_is_caught() {
    let mut h = good();
    // The read at 90–95 saw 2; one beginning after it must not see 1.
    h.push(read(0, 1, 100, 110, 1));
    let violations = check(&h, &[], &finals(&[(1, 2)]));
    assert!(
        violations.iter().any(|v| v.starts_with("stale read")),
        "{violations:?}"
    );
}

#[test]
fn a_lost_write_is_caught() {
    let mut h = good();
    h.push(write(1, 3, 100, 110, Res::Ok(None)));
    // Every node ends at 2 though 3 was acknowledged.
    let violations = check(&h, &[], &finals(&[(1, 2)]));
    assert!(
        violations.iter().any(|v| v.starts_with("lost write")),
        "{violations:?}"
    );
}

#[test]
fn a_lost_create_and_a_reused_id_are_caught() {
    let mut h = good();
    h.push(create(7, 100, 110));
    h.push(create(1, 120, 130));
    let violations = check(&h, &[], &finals(&[(1, 2)]));
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("acknowledged create of task 7 is lost")),
        "{violations:?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("id 1 was given to two")),
        "{violations:?}"
    );
}

#[test]
fn nodes_that_disagree_are_caught() {
    let mut ends = finals(&[(1, 2)]);
    ends[2].insert(1, 1);
    let violations = check(&good(), &[], &ends);
    assert!(
        violations.iter().any(|v| v.contains("did not converge")),
        "{violations:?}"
    );
}

#[test]
fn a_value_never_written_or_refused_is_caught() {
    let mut h = good();
    h.push(write(1, 5, 100, 110, Res::Fail));
    h.push(read(1, 1, 120, 130, 5));
    h.push(read(1, 1, 140, 150, 9));
    let violations = check(&h, &[], &finals(&[(1, 2)]));
    assert!(
        violations
            .iter()
            .any(|v| v.ends_with("returned 5 was refused")),
        "{violations:?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.ends_with("9 was never written")),
        "{violations:?}"
    );
}

#[test]
fn a_minority_that_answers_is_caught() {
    let mut h = good();
    h.push(read(2, 1, 300, 310, 2));
    let cut = [Minority {
        node: 2,
        from: 200,
        to: 400,
    }];
    let violations = check(&h, &cut, &finals(&[(1, 2)]));
    assert!(
        violations
            .iter()
            .any(|v| v.contains("while it was cut off from the majority")),
        "{violations:?}"
    );
}

#[test]
fn a_double_completion_is_caught() {
    let mut h = good();
    for t in [100, 200] {
        h.push(ev(1, Op::Complete { key: 1 }, t, t + 5, Res::Ok(None)));
    }
    let violations = check(&h, &[], &finals(&[(1, 2)]));
    assert!(
        violations
            .iter()
            .any(|v| v == "task 1 was completed 2 times"),
        "{violations:?}"
    );
}
