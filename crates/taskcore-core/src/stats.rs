//! Queue and task-type statistics of a brand, from the index's counters.

use std::borrow::Cow;

use crate::index::{round1, Counters};
use crate::{BrandId, Index, Priority, Status, Timestamp};

/// Counts per priority queue, per status, and mean processing times.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueStats {
    /// Tasks in all.
    pub total_tasks: u64,
    /// Pending tasks per priority (indexed by [`Priority::index`]).
    pub pending: [u64; 4],
    /// Running tasks per priority.
    pub running: [u64; 4],
    /// Tasks created since 00:00 UTC per priority.
    pub total_today: [u64; 4],
    /// Tasks per status (indexed by [`Status::index`]).
    pub status_distribution: [u64; 5],
    /// Mean `completed_at − started_at` of completed tasks, in minutes, per priority.
    pub avg_processing_time_minutes: [Option<f64>; 4],
}

/// The statistics of one task type.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeStat {
    /// The task type.
    pub task_type: String,
    /// Tasks in all.
    pub total: u64,
    /// Completed tasks.
    pub completed: u64,
    /// Failed tasks.
    pub failed: u64,
    /// Mean processing time of completed tasks, minutes, one decimal.
    pub avg_duration_minutes: Option<f64>,
    /// `completed / total × 100`, one decimal.
    pub success_rate: f64,
}

/// Statistics of every task type with at least one task, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TypeStats {
    /// One entry per type.
    pub types: Vec<TypeStat>,
}

impl Index {
    /// The counters of a brand, restricted to tasks created in `[after, before]` when given.
    fn counters_of(
        &self,
        brand: BrandId,
        after: Option<Timestamp>,
        before: Option<Timestamp>,
    ) -> Option<Cow<'_, Counters>> {
        let b = self.brands.get(&brand)?;
        if after.is_none() && before.is_none() {
            return Some(Cow::Borrowed(&b.counters));
        }
        let lo = after.map_or(i64::MIN, |t| t.0);
        let hi = before.map_or(i64::MAX, |t| t.0);
        let mut view = Counters::default();
        let cols = &b.cols;
        for slot in cols.created_slots(lo, hi) {
            if cols.is_alive(slot) && (lo..=hi).contains(&cols.created[slot]) {
                view.count(cols, slot, 1);
            }
        }
        Some(Cow::Owned(view))
    }

    /// Queue statistics of a brand; `now` decides what "today" is.
    pub fn queue_stats(
        &self,
        brand: BrandId,
        after: Option<Timestamp>,
        before: Option<Timestamp>,
        now: Timestamp,
    ) -> QueueStats {
        let mut stats = QueueStats::default();
        let Some(view) = self.counters_of(brand, after, before) else {
            return stats;
        };
        for status in Status::ALL {
            stats.status_distribution[status.index()] = view.counts[status.index()].iter().sum();
        }
        stats.total_tasks = stats.status_distribution.iter().sum();
        stats.pending = view.counts[Status::Pending.index()];
        stats.running = view.counts[Status::Running.index()];
        for p in Priority::ALL {
            stats.avg_processing_time_minutes[p.index()] = view.durations[p.index()].mean_minutes();
        }
        stats.total_today = view
            .per_day
            .get(&now.start_of_day().0)
            .copied()
            .unwrap_or_default();
        stats
    }

    /// Task-type statistics of a brand.
    pub fn type_stats(
        &self,
        brand: BrandId,
        after: Option<Timestamp>,
        before: Option<Timestamp>,
    ) -> TypeStats {
        let Some(view) = self.counters_of(brand, after, before) else {
            return TypeStats::default();
        };
        let mut types: Vec<TypeStat> = view
            .by_type
            .iter()
            .map(|(&ty, c)| {
                let total: u64 = c.per_status.iter().sum();
                let completed = c.per_status[Status::Completed.index()];
                TypeStat {
                    task_type: self.type_name(ty).to_owned(),
                    total,
                    completed,
                    failed: c.per_status[Status::Failed.index()],
                    avg_duration_minutes: c.durations.mean_minutes(),
                    success_rate: if total == 0 {
                        0.0
                    } else {
                        round1(completed as f64 * 100.0 / total as f64)
                    },
                }
            })
            .filter(|t| t.total > 0)
            .collect();
        types.sort_by(|a, b| a.task_type.cmp(&b.task_type));
        TypeStats { types }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BrandRef, Json, Task, UserRef};

    fn task(id: u64, ty: &str, status: Status, priority: Priority, minutes: i64) -> Task {
        let created = Timestamp(1_734_700_000_000_000 + id as i64);
        let start = created.plus_micros(60 * Timestamp::SECOND);
        Task {
            id,
            task_id: format!("task_{id:012}"),
            task_type: ty.into(),
            status,
            priority,
            description: String::new(),
            progress_percentage: 0,
            brand: BrandRef {
                id: 9,
                name: "Humari".into(),
            },
            created_by: UserRef {
                id: 1,
                username: "m".into(),
            },
            created_at: created,
            updated_at: created,
            started_at: Some(start),
            completed_at: (status == Status::Completed || status == Status::Failed)
                .then(|| start.plus_micros(minutes * 60 * Timestamp::SECOND)),
            cancelled_at: None,
            scheduled_for: None,
            context_data: Json::empty_object(),
            result_data: None,
            error_message: None,
            retry_count: 0,
            max_retries: 3,
            timeout_minutes: 60,
            metrics: None,
            persistent_job: None,
            periodic_task: None,
            attempts: Vec::new(),
            lease: None,
            queued_at: created,
        }
    }

    #[test]
    fn the_seed_success_rate_rule_gives_93_3_for_420_of_450() {
        let mut index = Index::default();
        let mut id = 0;
        let mut add = |index: &mut Index, status, n, minutes| {
            for _ in 0..n {
                id += 1;
                index.insert(&task(
                    id,
                    "seo_keyword_analysis",
                    status,
                    Priority::Normal,
                    minutes,
                ));
            }
        };
        add(&mut index, Status::Completed, 210, 10);
        add(&mut index, Status::Completed, 210, 15);
        add(&mut index, Status::Failed, 15, 3);
        add(&mut index, Status::Pending, 15, 0);
        let stats = index.type_stats(9, None, None);
        let s = &stats.types[0];
        assert_eq!((s.total, s.completed, s.failed), (450, 420, 15));
        assert_eq!(s.success_rate, 93.3);
        assert_eq!(s.avg_duration_minutes, Some(12.5));
        let q = index.queue_stats(9, None, None, Timestamp(1_734_700_000_000_000));
        assert_eq!(
            q.avg_processing_time_minutes[Priority::Normal.index()],
            Some(12.5)
        );
        assert_eq!(q.avg_processing_time_minutes[Priority::High.index()], None);
        assert_eq!(q.status_distribution, [15, 0, 420, 15, 0]);
        assert_eq!(q.total_today[Priority::Normal.index()], 450);
    }

    #[test]
    fn removing_a_completed_task_takes_its_duration_out_of_the_mean() {
        let mut index = Index::default();
        index.insert(&task(
            1,
            "data_export",
            Status::Completed,
            Priority::High,
            2,
        ));
        index.insert(&task(
            2,
            "data_export",
            Status::Completed,
            Priority::High,
            4,
        ));
        index.remove(2);
        let q = index.queue_stats(9, None, None, Timestamp(0));
        assert_eq!(
            q.avg_processing_time_minutes[Priority::High.index()],
            Some(2.0)
        );
        index.remove(1);
        assert_eq!(index.type_stats(9, None, None).types, vec![]);
        assert!(index.is_empty());
    }
}
