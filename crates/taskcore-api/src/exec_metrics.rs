//! The execution figures of `/metrics`: queue depth per priority, leases held, the attempts
//! applied (leased, completed, failed, expired, timed out, released, retried, exhausted), attempt
//! durations, periodic fires, tasks purged, the scheduler and the long polls waiting here.

use std::fmt::Write;
use std::sync::atomic::AtomicU64;

use taskcore_core::Priority;
use taskcore_store::{ExecutionStats, DURATION_BUCKETS};

use crate::AppState;

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The attempt counters: name, help, counter (`/metrics` and `/status` show the same ones).
fn attempt_counters(stats: &ExecutionStats) -> [(&'static str, &'static str, &AtomicU64); 8] {
    [
        ("leased", "Attempts started.", &stats.leased),
        ("completed", "Attempts completed.", &stats.completed),
        (
            "failed",
            "Attempts a worker reported failed.",
            &stats.failed,
        ),
        (
            "expired",
            "Attempts ended by an expired lease.",
            &stats.expired,
        ),
        (
            "timed_out",
            "Attempts ended by their timeout.",
            &stats.timed_out,
        ),
        (
            "released",
            "Attempts given back unfinished by their worker.",
            &stats.released,
        ),
        ("retried", "Automatic retries decided.", &stats.retried),
        ("exhausted", "Tasks failed for good.", &stats.exhausted),
    ]
}

/// Appends the execution figures to `out`.
pub(crate) fn render(s: &AppState, out: &mut String) {
    let sm = s.cluster.state_machine();
    {
        let view = sm.read();
        let queued = view.index().pending_by_priority();
        header(
            out,
            "taskcore_queue_depth",
            "gauge",
            "Pending tasks per priority.",
        );
        for p in Priority::ALL {
            let _ = writeln!(
                out,
                "taskcore_queue_depth{{priority=\"{}\"}} {}",
                p.as_str(),
                queued[p as usize]
            );
        }
        header(
            out,
            "taskcore_leases_held",
            "gauge",
            "Attempts holding a lease.",
        );
        let _ = writeln!(out, "taskcore_leases_held {}", view.index().lease_count());
    }
    let stats = sm.execution_stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, counter) in attempt_counters(stats) {
        let metric = format!("taskcore_attempts_{name}_total");
        header(out, &metric, "counter", help);
        let _ = writeln!(out, "{metric} {}", load(counter));
    }
    header(
        out,
        "taskcore_periodic_fired_total",
        "counter",
        "Tasks created by periodic tasks.",
    );
    let _ = writeln!(
        out,
        "taskcore_periodic_fired_total {}",
        load(&stats.periodic_fired)
    );
    header(
        out,
        "taskcore_tasks_purged_total",
        "counter",
        "Finished tasks deleted by the retention policy.",
    );
    let _ = writeln!(out, "taskcore_tasks_purged_total {}", load(&stats.purged));
    let enabled = sm
        .read()
        .periodic()
        .values()
        .filter(|p| p.spec.enabled)
        .count();
    header(
        out,
        "taskcore_periodic_tasks_enabled",
        "gauge",
        "Periodic tasks that are enabled.",
    );
    let _ = writeln!(out, "taskcore_periodic_tasks_enabled {enabled}");
    let d = stats.durations();
    header(
        out,
        "taskcore_attempt_duration_seconds",
        "histogram",
        "How long ended attempts ran.",
    );
    for (bound, n) in DURATION_BUCKETS.iter().zip(d.buckets) {
        let _ = writeln!(
            out,
            "taskcore_attempt_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "taskcore_attempt_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
         taskcore_attempt_duration_seconds_sum {}\n\
         taskcore_attempt_duration_seconds_count {}",
        d.count, d.sum_seconds, d.count
    );
    header(
        out,
        "taskcore_scheduler_running",
        "gauge",
        "1 where the leader's actors run.",
    );
    let _ = writeln!(
        out,
        "taskcore_scheduler_running {}",
        u8::from(s.scheduler.is_running())
    );
    header(
        out,
        "taskcore_worker_long_polls",
        "gauge",
        "Lease requests waiting for a task on this node.",
    );
    let _ = writeln!(out, "taskcore_worker_long_polls {}", s.edge.long_polls());
}

/// The node's figures as JSON, for `GET /status` (the same sources as `/metrics`).
pub(crate) fn status(s: &AppState) -> taskcore_wire::NodeStatusBody {
    let st = s.cluster.status();
    let sm = s.cluster.state_machine();
    let (queue_depth, leases_held, tasks) = {
        let view = sm.read();
        let queued = view.index().pending_by_priority();
        let depth = Priority::ALL
            .into_iter()
            .map(|p| (p.as_str().to_owned(), queued[p as usize]))
            .collect();
        let tasks = u64::try_from(view.index().len()).unwrap_or(u64::MAX);
        let leases = u64::try_from(view.index().lease_count()).unwrap_or(u64::MAX);
        (depth, leases, tasks)
    };
    let stats = sm.execution_stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let attempts = attempt_counters(stats)
        .into_iter()
        .map(|(name, _, c)| (name.to_owned(), load(c)))
        .collect();
    taskcore_wire::NodeStatusBody {
        ready: s.cluster.is_ready(),
        leader: st.state == "leader",
        leader_id: st.leader_id,
        term: st.term,
        last_log_index: st.last_log_index.unwrap_or(0),
        last_applied: st.last_applied.unwrap_or(0),
        scheduler_running: s.scheduler.is_running(),
        tasks,
        queue_depth,
        leases_held,
        long_polls: u64::try_from(s.edge.long_polls()).unwrap_or(u64::MAX),
        attempts,
        purged: load(&stats.purged),
    }
}
