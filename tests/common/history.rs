//! What clients did during a fault test, and the checks the history must pass.
//!
//! Every operation is recorded with the node it was sent to, when it was invoked and when it
//! completed (microseconds since the history began) and how it ended: `Ok`, `Fail` (definitely
//! not applied: the contract refused it) or `Unknown` (a timeout, a 503, a lost connection: it
//! may have been applied, now or later).
//!
//! The registers are tasks' descriptions: each task is written by one client only, with
//! increasing sequence numbers, so a value names the write that produced it and the writes of a
//! key are totally ordered. For such single-writer registers a history is linearizable exactly
//! when every read returns a value that was written before the read completed, no older than
//! the last write acknowledged before the read began, and no older than what any read that
//! completed before it began returned. Those are the checks of [`check`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Microseconds since the history began.
pub type Micros = u64;

/// What a client asked.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Create a task (its register starts at 0).
    Create,
    /// Write `seq` to register `key`.
    Write {
        /// The task.
        key: u64,
        /// The value.
        seq: u64,
    },
    /// Read register `key`.
    Read {
        /// The task.
        key: u64,
    },
    /// A worker reports the task `key` complete.
    Complete {
        /// The task.
        key: u64,
    },
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Res {
    /// Acknowledged; what a create made (its id) or a read returned (the sequence number).
    Ok(Option<u64>),
    /// Refused: it was not applied and never will be.
    Fail,
    /// No answer that says: it may have been applied.
    Unknown,
}

/// One operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The node it was sent to (0-based).
    pub node: usize,
    /// What it asked.
    pub op: Op,
    /// When it was sent.
    pub invoked: Micros,
    /// When its answer (or the client's giving up) came.
    pub completed: Micros,
    /// How it ended.
    pub res: Res,
}

/// A time during which `node` could not reach a majority (it was cut off or paused).
#[derive(Clone, Debug, PartialEq)]
pub struct Minority {
    /// The node.
    pub node: usize,
    /// When it was cut off.
    pub from: Micros,
    /// When it was joined again.
    pub to: Micros,
}

/// A history being recorded by concurrent clients.
pub struct History {
    start: Instant,
    events: Mutex<Vec<Event>>,
    minorities: Mutex<Vec<Minority>>,
    faults: Mutex<Vec<(Micros, String)>>,
    /// Answers outside the contract's table under faults (a 500, a 502): each is a violation.
    server_errors: Mutex<Vec<String>>,
}

impl Default for History {
    fn default() -> Self {
        History {
            start: Instant::now(),
            events: Mutex::default(),
            minorities: Mutex::default(),
            faults: Mutex::default(),
            server_errors: Mutex::default(),
        }
    }
}

impl History {
    /// Now, on the history's clock.
    pub fn now(&self) -> Micros {
        self.start.elapsed().as_micros() as Micros
    }

    /// Records an operation invoked at `invoked` that ends now with `res`.
    pub fn record(&self, node: usize, op: Op, invoked: Micros, res: Res) {
        let completed = self.now();
        let event = Event {
            node,
            op,
            invoked,
            completed,
            res,
        };
        self.events.lock().unwrap().push(event);
    }

    /// Records that a fault began now (for recovery times).
    pub fn fault(&self, what: &str) -> Micros {
        let at = self.now();
        self.faults.lock().unwrap().push((at, what.to_owned()));
        at
    }

    /// Records that `node` was in a minority from `from` until now.
    pub fn minority(&self, node: usize, from: Micros) {
        let to = self.now();
        self.minorities
            .lock()
            .unwrap()
            .push(Minority { node, from, to });
    }

    /// Records an answer no fault excuses (a 5xx other than 503).
    pub fn server_error(&self, what: String) {
        self.server_errors.lock().unwrap().push(what);
    }

    /// The answers no fault excuses, so far.
    pub fn server_errors(&self) -> Vec<String> {
        self.server_errors.lock().unwrap().clone()
    }

    /// The operations so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The minority windows so far.
    pub fn minorities(&self) -> Vec<Minority> {
        self.minorities.lock().unwrap().clone()
    }

    /// For each fault, how long until an operation that changes state and was sent after it was
    /// acknowledged (`None`: never).
    pub fn recoveries(&self) -> Vec<(String, Option<Duration>)> {
        let events = self.events();
        let faults = self.faults.lock().unwrap().clone();
        faults
            .into_iter()
            .map(|(at, what)| {
                let first = events
                    .iter()
                    .filter(|e| matches!(e.op, Op::Create | Op::Write { .. }))
                    .filter(|e| e.invoked >= at && matches!(e.res, Res::Ok(_)))
                    .map(|e| e.completed)
                    .min();
                (what, first.map(|t| Duration::from_micros(t - at)))
            })
            .collect()
    }
}

/// Checks a history against what every node holds at the end (task id → register value, one
/// map per node, read after the faults healed). Returns every violation found, in words.
pub fn check(
    events: &[Event],
    minorities: &[Minority],
    finals: &[BTreeMap<u64, u64>],
) -> Vec<String> {
    let mut violations = Vec::new();
    check_creates(events, finals, &mut violations);
    check_registers(events, finals, &mut violations);
    check_minorities(events, minorities, &mut violations);
    check_completions(events, &mut violations);
    violations
}

fn check_creates(events: &[Event], finals: &[BTreeMap<u64, u64>], out: &mut Vec<String>) {
    let mut ids = BTreeSet::new();
    for e in events.iter().filter(|e| e.op == Op::Create) {
        if let Res::Ok(Some(id)) = e.res {
            if !ids.insert(id) {
                out.push(format!("id {id} was given to two acknowledged creates"));
            }
            for (n, state) in finals.iter().enumerate() {
                if !state.contains_key(&id) {
                    out.push(format!(
                        "acknowledged create of task {id} is lost on node {n}"
                    ));
                }
            }
        }
    }
    for (n, state) in finals.iter().enumerate().skip(1) {
        if state != &finals[0] {
            out.push(format!("node {n} did not converge with node 0"));
        }
    }
}

/// Per register: its writes in sequence order.
fn writes_by_key(events: &[Event]) -> BTreeMap<u64, Vec<(u64, &Event)>> {
    let mut writes: BTreeMap<u64, Vec<(u64, &Event)>> = BTreeMap::new();
    for e in events {
        if let Op::Write { key, seq } = e.op {
            writes.entry(key).or_default().push((seq, e));
        }
    }
    for list in writes.values_mut() {
        list.sort_by_key(|(seq, _)| *seq);
    }
    writes
}

fn check_registers(events: &[Event], finals: &[BTreeMap<u64, u64>], out: &mut Vec<String>) {
    let writes = writes_by_key(events);
    let none = Vec::new();
    // Per register, values known by some time: acknowledged writes and values read, by the
    // time they completed, with the running maximum.
    let mut known: BTreeMap<u64, Vec<(Micros, u64)>> = BTreeMap::new();
    for e in events {
        match (&e.op, &e.res) {
            (Op::Write { key, seq }, Res::Ok(_)) => {
                known.entry(*key).or_default().push((e.completed, *seq))
            }
            (Op::Read { key }, Res::Ok(Some(v))) => {
                known.entry(*key).or_default().push((e.completed, *v))
            }
            _ => {}
        }
    }
    for list in known.values_mut() {
        list.sort_unstable();
        let mut max = 0;
        for item in list.iter_mut() {
            max = max.max(item.1);
            item.1 = max;
        }
    }
    // The newest value acknowledged (by a write, or seen by a read) before time t.
    let floor = |key: u64, t: Micros| -> u64 {
        let Some(list) = known.get(&key) else {
            return 0;
        };
        let before = list.partition_point(|(at, _)| *at < t);
        before.checked_sub(1).map_or(0, |i| list[i].1)
    };
    // Whether `value` may be read by something that completed at t.
    let possible = |key: u64, value: u64, t: Micros| -> Result<(), String> {
        if value == 0 {
            return Ok(());
        }
        match writes
            .get(&key)
            .unwrap_or(&none)
            .iter()
            .find(|(s, _)| *s == value)
        {
            None => Err(format!("{value} was never written")),
            Some((_, w)) if w.res == Res::Fail => Err(format!("{value} was refused")),
            Some((_, w)) if w.invoked > t => Err(format!("{value} was written only later")),
            Some(_) => Ok(()),
        }
    };
    for r in events {
        let (Op::Read { key }, Res::Ok(Some(value))) = (&r.op, &r.res) else {
            continue;
        };
        if let Err(why) = possible(*key, *value, r.completed) {
            out.push(format!(
                "read of task {key} on node {} returned {why}",
                r.node
            ));
        }
        let least = floor(*key, r.invoked);
        if *value < least {
            out.push(format!(
                "stale read: task {key} on node {} returned {value} at {} µs, but {least} was \
                 acknowledged before the read began",
                r.node, r.invoked
            ));
        }
    }
    let Some(state) = finals.first() else {
        return;
    };
    for key in writes.keys() {
        let value = state.get(key).copied().unwrap_or(0);
        let least = floor(*key, Micros::MAX);
        if value < least {
            out.push(format!(
                "lost write: task {key} ends at {value}, but {least} was acknowledged"
            ));
        }
        if let Err(why) = possible(*key, value, Micros::MAX) {
            out.push(format!("task {key} ends at a value that {why}"));
        }
    }
}

fn check_minorities(events: &[Event], minorities: &[Minority], out: &mut Vec<String>) {
    for m in minorities {
        for e in events {
            let inside = e.node == m.node && e.invoked >= m.from && e.completed <= m.to;
            if inside && matches!(e.res, Res::Ok(_)) {
                out.push(format!(
                    "node {} served {:?} while it was cut off from the majority",
                    e.node, e.op
                ));
            }
        }
    }
}

fn check_completions(events: &[Event], out: &mut Vec<String>) {
    let mut done: BTreeMap<u64, usize> = BTreeMap::new();
    for e in events {
        if let (Op::Complete { key }, Res::Ok(_)) = (&e.op, &e.res) {
            *done.entry(*key).or_default() += 1;
        }
    }
    for (key, n) in done.into_iter().filter(|(_, n)| *n > 1) {
        out.push(format!("task {key} was completed {n} times"));
    }
}
