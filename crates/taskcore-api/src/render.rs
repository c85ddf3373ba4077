//! Renders core values as the contract's bodies.

use taskcore_core::{Priority, QueueStats, Status, Task, Timestamp, TypeStats};
use taskcore_wire as wire;

/// The wire form of a status.
pub fn wire_status(s: Status) -> wire::TaskStatus {
    match s {
        Status::Pending => wire::TaskStatus::Pending,
        Status::Running => wire::TaskStatus::Running,
        Status::Completed => wire::TaskStatus::Completed,
        Status::Failed => wire::TaskStatus::Failed,
        Status::Cancelled => wire::TaskStatus::Cancelled,
    }
}

/// The wire form of a priority.
pub fn wire_priority(p: Priority) -> wire::TaskPriority {
    match p {
        Priority::Low => wire::TaskPriority::Low,
        Priority::Normal => wire::TaskPriority::Normal,
        Priority::High => wire::TaskPriority::High,
        Priority::Critical => wire::TaskPriority::Critical,
    }
}

fn time(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}

/// A task as lists render it; `detail` adds the attempts.
pub fn task(t: &Task, detail: bool) -> wire::TaskBody {
    wire::TaskBody {
        id: t.id,
        task_id: t.task_id.clone(),
        task_type: t.task_type.clone(),
        status: wire_status(t.status),
        priority: wire_priority(t.priority),
        description: t.description.clone(),
        progress_percentage: t.progress_percentage,
        brand: wire::BrandBody {
            id: t.brand.id,
            name: t.brand.name.clone(),
        },
        created_by: wire::UserBody {
            id: t.created_by.id,
            username: t.created_by.username.clone(),
        },
        created_at: t.created_at.to_rfc3339(),
        updated_at: t.updated_at.to_rfc3339(),
        started_at: time(t.started_at),
        completed_at: time(t.completed_at),
        cancelled_at: time(t.cancelled_at),
        scheduled_for: time(t.scheduled_for),
        context_data: t.context_data.0.clone(),
        result_data: t.result_data.as_ref().map(|j| j.0.clone()),
        error_message: t.error_message.clone(),
        retry_count: t.retry_count,
        max_retries: t.max_retries,
        timeout_minutes: t.timeout_minutes,
        has_metrics: t.has_metrics(),
        is_resumable: t.is_resumable(),
        metrics: t.metrics.as_ref().map(|m| wire::MetricsBody {
            execution_time_ms: m.execution_time_ms,
            memory_usage_mb: m.memory_usage_mb,
            queue_wait_ms: m.queue_wait_ms,
            cpu_time_ms: m.cpu_time_ms,
            custom: m.custom.0.clone(),
        }),
        persistent_job: t.persistent_job.as_ref().map(|j| wire::PersistentJobBody {
            progress_percentage: j.progress_percentage,
            can_resume: j.can_resume,
            checkpoint: j.checkpoint.0.clone(),
            checkpointed_at: j.checkpointed_at.to_rfc3339(),
        }),
        periodic_task: t.periodic_task,
        attempts: detail.then(|| {
            t.attempts
                .iter()
                .map(|a| wire::AttemptBody {
                    number: a.number,
                    worker_id: a.worker_id.clone(),
                    started_at: a.started_at.to_rfc3339(),
                    finished_at: time(a.finished_at),
                    outcome: a.outcome.as_str().to_owned(),
                    error_message: a.error_message.clone(),
                })
                .collect()
        }),
    }
}

fn per_priority<T: Clone>(values: &[T; 4]) -> wire::PerPriority<T> {
    let at = |p: Priority| values[p.index()].clone();
    wire::PerPriority {
        critical: at(Priority::Critical),
        high: at(Priority::High),
        normal: at(Priority::Normal),
        low: at(Priority::Low),
    }
}

/// `GET /tasks/queue-stats/`.
pub fn queue_stats(s: &QueueStats) -> wire::QueueStats {
    let queues: [wire::QueueCounts; 4] = std::array::from_fn(|i| wire::QueueCounts {
        pending: s.pending[i],
        running: s.running[i],
        total_today: s.total_today[i],
    });
    let d = &s.status_distribution;
    wire::QueueStats {
        total_tasks: s.total_tasks,
        queues: per_priority(&queues),
        status_distribution: wire::PerStatus {
            pending: d[Status::Pending.index()],
            running: d[Status::Running.index()],
            completed: d[Status::Completed.index()],
            failed: d[Status::Failed.index()],
            cancelled: d[Status::Cancelled.index()],
        },
        avg_processing_time_minutes: per_priority(&s.avg_processing_time_minutes),
    }
}

/// `GET /tasks/type-stats/`.
pub fn type_stats(s: &TypeStats) -> wire::TypeStats {
    wire::TypeStats {
        task_types: s
            .types
            .iter()
            .map(|t| {
                let stat = wire::TypeStat {
                    total: t.total,
                    completed: t.completed,
                    failed: t.failed,
                    avg_duration_minutes: t.avg_duration_minutes,
                    success_rate: t.success_rate,
                };
                (t.task_type.clone(), stat)
            })
            .collect(),
    }
}

/// A periodic task as every endpoint renders it.
pub fn periodic(p: &taskcore_core::PeriodicTask) -> wire::PeriodicTaskBody {
    use taskcore_core::schedule::Schedule;
    let s = &p.spec;
    wire::PeriodicTaskBody {
        id: p.id,
        name: s.name.clone(),
        task_type: s.task_type.clone(),
        priority: wire_priority(s.priority),
        description: s.description.clone(),
        context_data: s.context_data.0.clone(),
        max_retries: s.max_retries,
        timeout_minutes: s.timeout_minutes,
        schedule: match &s.schedule {
            Schedule::Cron(c) => wire::ScheduleBody {
                cron: Some(c.clone()),
                interval_seconds: None,
            },
            Schedule::Interval(n) => wire::ScheduleBody {
                cron: None,
                interval_seconds: Some(*n),
            },
        },
        timezone: s.timezone.clone(),
        enabled: s.enabled,
        start_at: time(s.start_at),
        expires_at: time(s.expires_at),
        one_off: s.one_off,
        last_run_at: time(p.last_run_at),
        next_run_at: time(p.next_run_at),
        total_run_count: p.total_run_count,
        brand: wire::BrandBody {
            id: p.brand.id,
            name: p.brand.name.clone(),
        },
        created_at: p.created_at.to_rfc3339(),
        updated_at: p.updated_at.to_rfc3339(),
    }
}
