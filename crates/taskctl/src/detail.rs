//! `taskctl tasks get`: one task as people read it (`--json` prints the body instead).

use std::fmt::Write as _;

use taskcore_wire::TaskBody;

use crate::commands::enum_name;

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("—")
}

/// The task's fields, its attempts and its JSON, one per line.
pub fn task(t: &TaskBody) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(out, "{k:<16} {v}");
    };
    line("task", &format!("{} (id {})", t.task_id, t.id));
    line("type", &t.task_type);
    line("status", &enum_name(&t.status));
    line("priority", &enum_name(&t.priority));
    line("progress", &format!("{}%", t.progress_percentage));
    line(
        "description",
        if t.description.is_empty() {
            "—"
        } else {
            &t.description
        },
    );
    line("brand", &format!("{} ({})", t.brand.name, t.brand.id));
    line("created by", &t.created_by.username);
    line(
        "retries",
        &format!("{} of {}", t.retry_count, t.max_retries),
    );
    line("timeout", &format!("{} min", t.timeout_minutes));
    line("created", &t.created_at);
    line("updated", &t.updated_at);
    line("scheduled for", opt(&t.scheduled_for));
    line("started", opt(&t.started_at));
    line("completed", opt(&t.completed_at));
    line("cancelled", opt(&t.cancelled_at));
    line("error", opt(&t.error_message));
    if let Some(p) = t.periodic_task {
        line("periodic task", &p.to_string());
    }
    line("context", &t.context_data.to_string());
    let result = t.result_data.as_ref().map(|r| r.to_string());
    line("result", opt(&result));
    if let Some(m) = &t.metrics {
        let ms = |v: Option<u64>| v.map_or("—".to_owned(), |v| format!("{v} ms"));
        line(
            "metrics",
            &format!(
                "execution {}, queue wait {}, cpu {}, memory {}",
                ms(m.execution_time_ms),
                ms(m.queue_wait_ms),
                ms(m.cpu_time_ms),
                m.memory_usage_mb
                    .map_or("—".to_owned(), |v| format!("{v} MB"))
            ),
        );
    }
    if let Some(j) = &t.persistent_job {
        let resume = if j.can_resume {
            "resumable"
        } else {
            "not resumable"
        };
        line(
            "checkpoint",
            &format!("{} ({resume}, {})", j.checkpoint, j.checkpointed_at),
        );
    }
    for a in t.attempts.iter().flatten() {
        let error = a
            .error_message
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        line(
            &format!("attempt {}", a.number),
            &format!(
                "{} by {}, {} → {}{error}",
                a.outcome,
                a.worker_id,
                a.started_at,
                opt(&a.finished_at)
            ),
        );
    }
    out
}
