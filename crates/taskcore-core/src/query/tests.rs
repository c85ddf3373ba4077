//! The index's fast paths agree with a naive scan of the records on random data and queries.

use std::cmp::Ordering;

use proptest::prelude::*;

use super::*;
use crate::{BrandRef, Json, PersistentJob, Task, TaskMetrics, UserRef};

const TYPES: [&str; 4] = [
    "seo_keyword_analysis",
    "seo_content_audit",
    "data_export",
    "bulk_operations",
];
const WORDS: [&str; 4] = ["keyword", "analysis", "export", "report"];

fn task(id: u64, seed: (u8, u8, u8, u8, u8, bool, bool, u8)) -> Task {
    let (status, priority, ty, word, progress, metrics, resumable, time_step) = seed;
    // Several tasks share a time, as a batch does; time never goes back with the id.
    let created =
        Timestamp(1_700_000_000_000_000 + (id / (1 + u64::from(time_step % 3))) as i64 * 1_000_000);
    let maybe = |on: bool, t: Timestamp| on.then_some(t);
    Task {
        id,
        task_id: format!("task_{id:012}"),
        task_type: TYPES[ty as usize % 4].into(),
        status: Status::ALL[status as usize % 5],
        priority: Priority::ALL[priority as usize % 4],
        description: format!("{} item {}", WORDS[word as usize % 4], id % 3),
        progress_percentage: progress % 101,
        brand: BrandRef {
            id: 1 + id % 2,
            name: "b".into(),
        },
        created_by: UserRef {
            id: 1,
            username: "u".into(),
        },
        created_at: created,
        updated_at: created.plus_micros(i64::from(progress) * 7),
        started_at: maybe(progress % 2 == 0, created.plus_micros(5)),
        completed_at: maybe(progress % 3 == 0, created.plus_micros(i64::from(word) * 11)),
        cancelled_at: None,
        scheduled_for: maybe(progress % 5 == 0, created.plus_micros(-i64::from(progress))),
        context_data: Json::empty_object(),
        result_data: None,
        error_message: None,
        retry_count: 0,
        max_retries: 3,
        timeout_minutes: 60,
        metrics: metrics.then(TaskMetrics::default),
        persistent_job: resumable.then(|| PersistentJob {
            progress_percentage: 0,
            can_resume: true,
            checkpoint: Json::empty_object(),
            checkpointed_at: created,
        }),
        periodic_task: None,
        attempts: Vec::new(),
        lease: None,
        queued_at: created,
    }
}

fn naive_cmp(a: &Task, b: &Task, ordering: &[OrderKey]) -> Ordering {
    fn opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
        match (a, b) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    for key in ordering {
        let ord = match key.field {
            OrderField::Id => a.id.cmp(&b.id),
            OrderField::CreatedAt => a.created_at.cmp(&b.created_at),
            OrderField::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            OrderField::StartedAt => opt(a.started_at, b.started_at),
            OrderField::CompletedAt => opt(a.completed_at, b.completed_at),
            OrderField::ScheduledFor => opt(a.scheduled_for, b.scheduled_for),
            OrderField::Priority => a.priority.cmp(&b.priority),
            OrderField::Status => a.status.cmp(&b.status),
            OrderField::TaskType => a.task_type.cmp(&b.task_type),
            OrderField::Progress => a.progress_percentage.cmp(&b.progress_percentage),
        };
        let ord = if key.descending { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    let ord = a.id.cmp(&b.id);
    if ordering[0].descending {
        ord.reverse()
    } else {
        ord
    }
}

fn naive(tasks: &[Task], q: &TaskQuery) -> QueryPage {
    let default = [OrderKey {
        field: OrderField::CreatedAt,
        descending: true,
    }];
    let ordering: &[OrderKey] = if q.ordering.is_empty() {
        &default
    } else {
        &q.ordering
    };
    let mut hits: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.brand.id == q.brand)
        .filter(|t| q.statuses.as_ref().is_none_or(|s| s.contains(&t.status)))
        .filter(|t| {
            q.priorities
                .as_ref()
                .is_none_or(|p| p.contains(&t.priority))
        })
        .filter(|t| {
            q.task_types
                .as_ref()
                .is_none_or(|ty| ty.contains(&t.task_type))
        })
        .filter(|t| {
            q.task_type_prefix
                .as_ref()
                .is_none_or(|p| t.task_type.starts_with(p.as_str()))
        })
        .filter(|t| q.created_after.is_none_or(|a| t.created_at >= a))
        .filter(|t| q.created_before.is_none_or(|b| t.created_at <= b))
        .filter(|t| q.has_metrics.is_none_or(|m| m == t.has_metrics()))
        .filter(|t| q.is_resumable.is_none_or(|r| r == t.is_resumable()))
        .filter(|t| {
            q.search.iter().all(|term| {
                [&t.task_id, &t.task_type, &t.description]
                    .iter()
                    .any(|f| f.to_lowercase().contains(term))
            })
        })
        .collect();
    hits.sort_by(|a, b| naive_cmp(a, b, ordering));
    let ids = hits
        .iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|t| t.id)
        .collect();
    QueryPage {
        count: hits.len(),
        ids,
    }
}

fn subset<T: Clone>(all: &[T], bits: u8) -> Option<Vec<T>> {
    (bits != 0).then(|| {
        all.iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, v)| v.clone())
            .collect()
    })
}

fn query() -> impl Strategy<Value = TaskQuery> {
    let fields = prop::collection::vec((0usize..10, any::<bool>()), 0..4);
    (
        (
            1u64..3,
            0u8..32,
            0u8..16,
            0u8..16,
            prop::option::of(0usize..2),
        ),
        (
            prop::option::of(0i64..120),
            prop::option::of(0i64..120),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>()),
        ),
        (
            prop::collection::vec(0usize..5, 0..3),
            fields,
            0usize..30,
            1usize..25,
        ),
    )
        .prop_map(
            |(
                (brand, st, pr, ty, prefix),
                (after, before, metrics, resumable),
                (words, fields, offset, limit),
            )| {
                let at = |n: i64| Timestamp(1_700_000_000_000_000 + n * 1_000_000);
                TaskQuery {
                    brand,
                    statuses: subset(&Status::ALL, st),
                    priorities: subset(&Priority::ALL, pr),
                    task_types: subset(&TYPES.map(String::from), ty),
                    task_type_prefix: prefix.map(|p| ["seo", "data"][p].to_owned()),
                    created_after: after.map(at),
                    created_before: before.map(at),
                    has_metrics: metrics,
                    is_resumable: resumable,
                    search: words
                        .into_iter()
                        .map(|w| ["keyword", "item", "task_0000000000", "seo", "zzz"][w].to_owned())
                        .collect(),
                    ordering: fields
                        .into_iter()
                        .map(|(f, d)| OrderKey {
                            field: OrderField::parse(OrderField::NAMES[f]).unwrap(),
                            descending: d,
                        })
                        .collect(),
                    offset,
                    limit,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn queries_and_counts_agree_with_a_naive_scan(
        seeds in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<bool>(), any::<bool>(), any::<u8>()), 0..240),
        // Enough deletions, at times, to compact the columns.
        deletions in prop::collection::vec(1u64..240, 0..160),
        queries in prop::collection::vec(query(), 1..8),
    ) {
        let mut tasks: Vec<Task> = seeds.into_iter().enumerate().map(|(i, s)| task(i as u64 + 1, s)).collect();
        let mut index = Index::default();
        for t in &tasks {
            index.insert(t);
        }
        for id in deletions {
            index.remove(id);
            tasks.retain(|t| t.id != id);
        }
        for q in queries {
            let expected = naive(&tasks, &q);
            prop_assert_eq!(index.query(&q), expected.clone(), "query {:?}", q);
            prop_assert_eq!(index.count(&q), expected.count);
        }
    }
}
