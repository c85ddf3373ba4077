//! The execution figures of `/metrics`: queue depth per priority, leases held, the attempts
//! applied (leased, completed, failed, expired, timed out, released, retried, exhausted), attempt
//! durations, periodic fires, tasks purged, the scheduler and the long polls waiting here.

use std::fmt::Write;

use taskcore_core::Priority;
use taskcore_store::DURATION_BUCKETS;

use crate::AppState;

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
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
    for (name, help, counter) in [
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
    ] {
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
